from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = _("Incidents")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # incidents/audit_actions.py
        from incidents.staff_notifications import register_kinds

        register_kinds()  # back-office notifications (tenants.notifications)
        from incidents.models import OrderAnomaly
        from privacy.api import register
        from tenants.models import Role
        from tenants.roles import grant_permissions

        # The resolution's short note is free text: cleared if the customer's data is erased.
        register(
            OrderAnomaly,
            fields=(),
            subject_id=lambda anomaly: anomaly.order.subject_id,
            subject_lookup="order__subject_id",
            masks=("note",),
        )
        for role in (
            Role.CUSTOMER_SERVICE,
            Role.DISPATCHER,
            Role.SUPERVISOR,
            Role.PRIVACY_OFFICER,
            Role.TENANT_ADMIN,
        ):
            grant_permissions(role, "incidents.view_orderanomaly")
        from incidents.selectors import OPEN_ANOMALIES_QUEUE
        from orders.desk import register_desk_queue

        # Customer service's order desk lists the orders with an open anomaly, and the
        # sidebar shows how many things wait beside the desk.
        register_desk_queue(OPEN_ANOMALIES_QUEUE)
        # ...and the customers' privacy reports waiting for an answer (§6.2).
        from incidents.selectors import WAITING_REPORTS_QUEUE, desk_waiting_count
        from tenants.landing import register_landing_badge

        register_desk_queue(WAITING_REPORTS_QUEUE)
        register_landing_badge("admin:orders_order_desk", desk_waiting_count)
        from incidents.services import open_anomalies_for_withdrawn_orders
        from orders.signals import orders_withdrawn

        orders_withdrawn.connect(
            open_anomalies_for_withdrawn_orders, dispatch_uid="incidents.data_erased"
        )

        # --- Customers' privacy reports (§6.2) ---
        from incidents.models import PrivacyReport

        # The customer's own words, sealed under their key; staff read them through reveal.
        # Staff's answer is about the customer's case: erasure clears it like an anomaly's note.
        register(
            PrivacyReport,
            fields=("description",),
            subject_id=lambda r: r.subject_id,
            masks=("answer",),
        )
        for role in (Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER, Role.SUPERVISOR):
            grant_permissions(role, "incidents.view_privacyreport")
        # Leak incident cases (issue 18, point 1): the back office's list and add form for
        # those who handle cases; incidents.cases checks the roles again on every write.
        from incidents.cases import CASE_MANAGERS

        for role in CASE_MANAGERS:
            grant_permissions(role, "incidents.view_incidentcase", "incidents.add_incidentcase")
        # Issue 18: the end of a tenant key rotation a case started, on its timeline.
        from incidents.case_actions import rotation_finished
        from privacy.api import tenant_key_rotated

        tenant_key_rotated.connect(rotation_finished, dispatch_uid="incidents.key_rotated")
        # Issue 19: training's drills run as incident cases in drill mode.
        from incidents.drill_cases import register as register_drill_cases

        register_drill_cases()
        # Issue 19, point 7: training's case studies are written from closed cases' facts.
        from incidents.case_studies import register as register_case_studies

        register_case_studies()
        # Issue 20, point 4: an incident case as evidence of a violation (audits' registry).
        from incidents.violation_evidence import register as register_violation_evidence

        register_violation_evidence()
        # Inspection checklist items (issue 20, point 3; audits.checklists).
        from incidents.checklist import register as register_checklist

        register_checklist()

        # evidence (issue 20): the evidence pack's incident section (incidents/evidence.py).
        from incidents.evidence import register as register_evidence

        register_evidence()
        # Issue 20: an anomalous-access alert is promoted to a case linked to it (audits
        # defines the seam; it does not import incidents).
        from audits.alerts import register_alert_promoter
        from incidents.case_actions import case_page, promote_alert_to_case

        register_alert_promoter(promote_alert_to_case, case_url=case_page)
        # The supervisor dashboard (issue 20): the incidents panel and the indicators of
        # §5.1 and §6.2.2 (incidents.supervision; audits imports nothing of incidents).
        from incidents import supervision

        supervision.register()
