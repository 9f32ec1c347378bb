from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RidersConfig(AppConfig):
    name = "riders"
    verbose_name = _("Riders")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # riders/audit_actions.py
        from django.core import checks

        from orders.signals import order_transitioned
        from privacy.api import register
        from riders.checks import check_call_relay_backend
        from riders.demo import seed_riders
        from riders.dispatch import end_assignment_of_finished_order
        from riders.models import Assignment, HandoverCode
        from tenants.demo import register_demo_seeder
        from tenants.landing import register_landing
        from tenants.models import Role
        from tenants.roles import grant_permissions

        register(
            Assignment,
            fields=("held_note",),
            subject_id=lambda a: a.order.subject_id,
            subject_lookup="order__subject_id",
        )
        # Customer service's free-text reason for a handover code is cleared on erasure too.
        register(
            HandoverCode,
            fields=(),
            subject_id=lambda code: code.order.subject_id,
            subject_lookup="order__subject_id",
            masks=("reason",),
        )
        order_transitioned.connect(
            end_assignment_of_finished_order, dispatch_uid="riders.end_assignment"
        )
        register_demo_seeder(seed_riders)
        # Customer service's relay call from an order anomaly's page.
        from incidents.anomaly_actions import register_customer_caller
        from riders.delivery import call_customer_for_service

        register_customer_caller(call_customer_for_service)
        register_landing(Role.RIDER, "riders:home", _("Rider page"), "two_wheeler")
        register_landing(
            Role.DISPATCHER,
            "admin:orders_order_dispatch_board",
            _("Dispatch board"),
            "local_shipping",
            primary=True,
        )
        for role in (Role.TENANT_ADMIN, Role.DISPATCHER):
            grant_permissions(role, "riders.view_rider", "riders.change_rider")
        grant_permissions(
            Role.TENANT_ADMIN,
            "riders.view_confidentialityagreement",
            "riders.add_confidentialityagreement",
            "riders.view_agreementsignature",
        )
        grant_permissions(
            Role.SUPERVISOR,
            "riders.view_rider",
            "riders.view_agreementsignature",
            "riders.view_confidentialityagreement",
        )
        # check --deploy (defence in depth: production settings refuse the same).
        checks.register(check_call_relay_backend, checks.Tags.security, deploy=True)
        # Inspection checklist items (issue 20, point 3; audits.checklists).
        from riders.checklist import register as register_checklist

        register_checklist()
        # alerts (issue 20): riders' reveals judged by their assignment and their shift.
        from audits.alert_rules import register_assignment_checker, register_shift_checker
        from riders.alert_checks import off_shift, orders_not_assigned

        register_assignment_checker(orders_not_assigned)
        register_shift_checker(off_shift)
        # The supervisor dashboard's compliance summary (issue 20): §4.1.1, riders' signed
        # agreements (riders.supervision; audits imports nothing of riders).
        from riders import supervision

        supervision.register()
