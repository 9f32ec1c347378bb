from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # orders/audit_actions.py
        from orders.demo import seed_orders
        from orders.forms import FIELD_LABELS
        from orders.models import Order, Status
        from orders.selectors import order_with_code, subjects_done_before
        from privacy.api import register, register_reference_resolver, register_retention_source
        from tenants.demo import register_demo_seeder
        from tenants.landing import register_landing
        from tenants.models import Role
        from tenants.roles import grant_permissions

        register(
            Order,
            fields=Order.SEALED_FIELDS,
            subject_id=lambda order: order.subject_id,
            object_permission="orders.deliver_order",
            masks=("recipient_masked", "phone_masked", "address_masked", "district"),
            # Reveal rules limited to stages (privacy.permissions) follow the status.
            stage=lambda order: order.status,
            stage_labels=dict(Status.choices),
            field_labels=FIELD_LABELS,
        )
        register_retention_source(subjects_done_before)
        register_landing(Role.KITCHEN, "orders:kitchen", _("Kitchen station"), "skillet")
        register_landing(Role.PACKER, "orders:packing", _("Packing station"), "package_2")
        # Customer service's work page: the search-first order desk (orders.desk).
        register_landing(
            Role.CUSTOMER_SERVICE,
            "admin:orders_order_desk",
            _("Order desk"),
            "support_agent",
            primary=True,
        )
        register_reference_resolver(order_with_code)
        # Back-office (admin) model permissions; what each role may do with an order beyond
        # viewing it is decided by orders.permissions.
        for role in (
            Role.TENANT_ADMIN,
            Role.CUSTOMER_SERVICE,
            Role.DISPATCHER,
            Role.SUPERVISOR,
            Role.PRIVACY_OFFICER,
        ):
            grant_permissions(role, "orders.view_order")
        grant_permissions(Role.CUSTOMER_SERVICE, "orders.add_order")
        register_demo_seeder(seed_orders)
        from orders.lifecycle import on_subjects_erased
        from privacy.api import subjects_erased

        # An erased customer's live orders leave the kitchen and rider flow.
        subjects_erased.connect(on_subjects_erased, dispatch_uid="orders.withdraw_erased")
        # Inspection checklist items (issue 20, point 3; audits.checklists).
        from orders.checklist import register as register_checklist

        register_checklist()

        # evidence (issue 20): the evidence pack's reveal log (orders/evidence.py).
        from orders.evidence import register as register_evidence

        register_evidence()
        # alerts (issue 20): reveals of orders at a state the revealer's role does not
        # handle, and the order lists whose bulk paging raises an alert.
        from audits.alert_rules import register_assignment_checker
        from audits.alert_signals import register_paged_list
        from orders.alert_checks import orders_not_handled

        register_assignment_checker(orders_not_handled)
        register_paged_list("admin:orders_order_changelist")
        register_paged_list("api:order-list")
