from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Privacy vault")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions, register_purposes
        from privacy.permissions import Purpose

        register_app_actions(self)  # privacy/audit_actions.py
        register_purposes(self.label, Purpose.choices)  # the audit list shows their labels
        from django.core import checks

        from privacy import receivers
        from privacy.checks import check_sms_backend
        from privacy.demo import seed_notice
        from privacy.models import DataSubject
        from privacy.registry import register
        from tenants.demo import register_demo_seeder
        from tenants.models import Role
        from tenants.roles import grant_permissions

        register(
            DataSubject,
            fields=DataSubject.ENCRYPTED_FIELDS,
            subject_id=lambda s: s.id,
            subject_lookup="id",
            masks=("name_masked", "phone_masked", "address_masked"),
        )
        receivers.connect()
        register_demo_seeder(seed_notice)
        for role in (Role.TENANT_ADMIN, Role.PRIVACY_OFFICER):
            grant_permissions(role, "privacy.view_privacynotice", "privacy.add_privacynotice")
        grant_permissions(
            Role.PRIVACY_OFFICER,
            "privacy.view_datasubject",
            "privacy.view_erasurerequest",
            "privacy.add_erasurerequest",
            "privacy.view_erasureledgerentry",
        )
        for role in (Role.TENANT_ADMIN, Role.PRIVACY_OFFICER):
            grant_permissions(
                role,
                "privacy.view_retentionpolicy",
                "privacy.add_retentionpolicy",
                "privacy.change_retentionpolicy",
            )
        grant_permissions(
            Role.SUPERVISOR, "privacy.view_erasureledgerentry", "privacy.view_erasurerequest"
        )
        # check --deploy (defence in depth: production settings refuse the same).
        checks.register(check_sms_backend, checks.Tags.security, deploy=True)
        # Inspection checklist items of customers' data (issue 20, point 3; policy §2):
        # audits' checklist registry (here, not a privacy module: the vault's boundary).
        from audits.checklists import ItemKind, register_checklist_item

        register_checklist_item(
            "privacy.minimal_collection",
            clause="2.1",
            kind=ItemKind.INTERVIEW,
            text=_("Only the data delivery needs is collected, and customers are told why"),
            scopes=("intake", "records"),
        )
        register_checklist_item(
            "privacy.encrypted_storage",
            clause="2.2.1",
            kind=ItemKind.RECORDS,
            text=_("Customers' data is stored encrypted"),
            scopes=("records",),
        )
        register_checklist_item(
            "privacy.backups_verified",
            clause="2.2.2",
            kind=ItemKind.RECORDS,
            text=_("Backups are made regularly, kept safe and verified"),
            scopes=("records",),
        )
        register_checklist_item(
            "privacy.use_for_delivery",
            clause="2.3",
            kind=ItemKind.INTERVIEW,
            text=_("Staff use customers' data for delivery only, and never copy or share it"),
            scopes=("intake", "dispatch", "records"),
        )
        register_checklist_item(
            "privacy.erasure_recorded",
            clause="2.4",
            kind=ItemKind.RECORDS,
            text=_("Data is erased on time, and each erasure is recorded"),
            scopes=("records",),
        )
        # The audit chain's anchors (issue 20, point 5): kept at the backup location and on
        # the erasure ledger's side too (audits.anchor_sinks; audits imports no privacy).
        from privacy.anchor_sinks import register_sinks

        register_sinks()

        # evidence (issue 20): the evidence pack's erasure section (privacy/evidence_pack.py).
        from privacy.evidence_pack import register as register_evidence

        register_evidence()
        # The supervisor dashboard (issue 20): the erasure panel and the indicators of
        # §2.2.2, §2.4.1 and §2.4.2 (privacy.supervision; audits imports nothing of privacy).
        from privacy import supervision

        supervision.register()
