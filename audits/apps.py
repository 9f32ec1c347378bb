from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = _("Audits and supervision")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # audits/audit_actions.py
        from audits import receivers
        from tenants.models import Role
        from tenants.roles import grant_permissions

        receivers.connect()
        # Reading the log is supervision; nobody may change it (the admin offers no edits).
        # Tenant administrators supervise too (issue 20): the dashboard's numbers link to the
        # log, their evidence pack holds its reveal log, and an alert shows the events that
        # fired it (decision 0013). The log holds no customer's data.
        for role in (Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN):
            grant_permissions(role, "audits.view_auditevent")
        # violations (issue 20)
        from audits.violations import notices as violation_notices
        from audits.violations import reports as violation_reports
        from audits.violations.evidence import register_audit_event_kind

        register_audit_event_kind()  # evidence: an event of the tenant's audit log
        violation_notices.register_kinds()  # the person is told (tenants.notifications)
        violation_reports.register()  # dashboard panel, §6.3.1 indicator, evidence pack
        # inspections (issue 20)
        from audits.checklists import ItemKind, register_checklist_item
        from audits.compliance import register_indicator
        from audits.inspections import jobs, tasks  # noqa: F401 - a worker knows the tasks
        from audits.inspections.supervision import (
            INDICATOR_TITLE,
            PACK_TITLE,
            PANEL_TITLE,
            inspection_indicator,
            inspections_pack,
            inspections_panel,
        )
        from audits.pack_sections import register_pack_section
        from audits.panels import SUPERVISORS, register_panel

        register_checklist_item(
            "audits.logs_reviewed",
            clause="6.1.2",
            kind=ItemKind.RECORDS,
            text=_("System operation logs are reviewed regularly"),
            scopes=("records",),
        )
        jobs.register_kinds()
        # A finding can be the evidence of a violation (audits.violations.evidence).
        from audits.inspections.supervision import register_finding_evidence

        register_finding_evidence()
        register_panel(
            "audits.inspections",
            title=PANEL_TITLE,
            roles=SUPERVISORS,
            order=70,
            template="audits/inspections/panel.html",
            context=inspections_panel,
        )
        register_indicator(
            "audits.inspections",
            clause="6.1.1",
            title=INDICATOR_TITLE,
            order=611,
            compute=inspection_indicator,
        )
        register_pack_section(
            "audits.inspections", title=PACK_TITLE, order=70, build=inspections_pack
        )
        for role in SUPERVISORS:
            grant_permissions(
                role,
                "audits.view_inspection",
                "audits.add_inspection",
                "audits.view_followup",
            )
        # access statistics (issue 20): the dashboard's reveals panels, read from the
        # roll-up the beat keeps (audits.access_rollups; docs/decisions/0014), the audit
        # list's "access" filter their numbers link to, and the roll-up's tasks.
        from audits import access_tasks  # noqa: F401  (registers the tasks on workers)
        from audits.access_panels import denied_panel, reveals_panel
        from audits.panels import SUPERVISORS, register_panel

        register_panel(
            "audits.reveals",
            title=_("Reveals"),
            roles=SUPERVISORS,
            order=10,
            template="audits/panels/reveals.html",
            context=reveals_panel,
        )
        register_panel(
            "audits.denied_reveals",
            title=_("Denied reveals"),
            roles=SUPERVISORS,
            order=11,
            template="audits/panels/denied_reveals.html",
            context=denied_panel,
        )
        # anchoring (issue 20): the chain heads' anchors outside the database (audits' own
        # local sink; privacy adds its sinks), the nightly verification's notification,
        # the dashboard's integrity panel, its compliance indicator and evidence-pack section.
        from audits import integrity_panels
        from audits.anchor_sinks import LOCAL_SINK, register_anchor_sink
        from audits.integrity import register_kinds
        from audits.panels import SUPERVISORS

        register_anchor_sink(LOCAL_SINK)
        register_kinds()
        integrity_panels.register()
        for role in SUPERVISORS:
            grant_permissions(role, "audits.view_chainanchor", "audits.view_chainverification")
        # evidence (issue 20): the evidence pack's task, known to every worker.
        # alerts (issue 20): the anomalous-access rules, their notification, the signals they
        # read (token networks, list paging), the back office's panels.
        from audits import (
            alert_tasks,  # noqa: F401  (registers the Celery tasks)
            evidence_tasks,  # noqa: F401
        )
        from audits.alert_evaluation import register_kinds
        from audits.alert_panels import register_alert_panels
        from audits.alert_rules import register_builtin_rules
        from audits.alert_signals import record_token_network
        from tenants.signals import integration_token_used

        register_builtin_rules()
        register_kinds()
        integration_token_used.connect(record_token_network, dispatch_uid="audits.token_network")
        # The audit log is not counted: it holds no customer's data, and supervisors page
        # through it following the dashboard's numbers (a walk raised an alert on itself).
        register_alert_panels()
        # An alert can be the evidence of a violation (audits.violations.evidence).
        from audits.alert_panels import register_alert_evidence

        register_alert_evidence()
        # dashboard (issue 20): the supervisor dashboard at /supervisor/, where a supervisor
        # lands at /admin/ (privacy officers and tenant administrators keep their own landing
        # page and find it in the sidebar), and its first panel, the compliance summary.
        from audits.dashboard import compliance_panel
        from audits.panels import SUPERVISORS, register_panel
        from tenants.landing import register_landing

        for role in SUPERVISORS:
            register_landing(
                role,
                "audits:dashboard",
                _("Supervisor dashboard"),
                "dashboard",
                primary=role == Role.SUPERVISOR,
            )
        register_panel(
            "audits.compliance",
            title=_("Compliance summary"),
            roles=SUPERVISORS,
            order=0,
            template="audits/panels/compliance.html",
            context=compliance_panel,
        )
