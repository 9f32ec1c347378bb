from __future__ import annotations

from incidents.models import AnomalyKind
from orders.models import Order, Status
from riders.agreements import publish_agreement, sign_agreement
from riders.delivery import (
    confirm_pickup,
    hand_over_with_code,
    hold_order,
    issue_handover_code,
    report_problem,
)
from riders.dispatch import assign_rider
from riders.models import HeldLocation, Rider
from riders.profiles import ensure_rider_profile
from riders.selectors import current_agreement
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

AGREEMENT_ZH = (
    "本人承诺：仅为完成配送查看和使用客户信息；不拍照、不复制、不转告他人；不在包裹上书写客户姓名；"
    "只在核对取餐码或客服核验后交付；发现信息泄露或包裹异常立即报告。违反本协议将按公司制度处理。"
)
AGREEMENT_EN = (
    "I will see and use customers' information only to complete deliveries; I will not photograph, copy "
    "or pass it on; I will not write customers' names on packages; I will hand over only against the "
    "delivery PIN or after customer service has verified the customer; I will report any leak or "
    "package problem at once. Breaches are dealt with under company rules."
)


def _user_with(tenant: Tenant, role: Role) -> User | None:
    for user in User.objects.filter(tenant=tenant, is_active=True).order_by("pk"):
        if has_role(user, role):
            return user
    return None


def seed_riders(tenant: Tenant, actor: SystemActor) -> str | None:
    """The confidentiality agreement v1, signed by the demo rider (on shift), and the
    demo orders carried on along the rider's flow: assigned, picked up, held, delivered —
    so every role has work the moment the demo starts."""
    made = []
    if current_agreement(tenant) is None:
        agreement = publish_agreement(
            tenant=tenant, actor=actor, text_zh=AGREEMENT_ZH, text_en=AGREEMENT_EN
        )
        made.append("confidentiality agreement v1")
        for user in User.objects.filter(tenant=tenant, is_active=True):
            if has_role(user, Role.RIDER):
                rider = ensure_rider_profile(user=user, actor=actor)
                with tenant_scope(tenant):
                    Rider.objects.filter(pk=rider.pk).update(on_shift=True)
                rider.on_shift = True
                # Demo only: signed on the rider's behalf, so dispatch works out of the box.
                sign_agreement(rider=rider, version=agreement.version, language="zh-hans", ip=None)
                carried = _carry_orders(tenant, rider)
                if carried:
                    made.append(carried)
    return f"Riders: {', '.join(made)}." if made else None


def _carry_orders(tenant: Tenant, rider: Rider) -> str | None:
    """Four packed demo orders given to ``rider``: one assigned, one picked up, one held
    at a parcel locker after the customer could not be reached (an open anomaly), one
    delivered (with a handover code from customer service)."""
    dispatcher = _user_with(tenant, Role.DISPATCHER)
    agent = _user_with(tenant, Role.CUSTOMER_SERVICE)
    if dispatcher is None or agent is None:
        return None
    with tenant_scope(tenant):
        packed = list(Order.objects.filter(status=Status.PACKED).order_by("created_at")[:4])
    for n, order in enumerate(packed):
        assign_rider(order=order, rider=rider, actor=dispatcher)
        if n == 0:
            continue
        confirm_pickup(order=order, user=rider.user, code=order.code, seal_number=order.seal_number)
        if n == 2:
            # The customer did not answer: the rider leaves the food at a locker and tells
            # customer service (an open anomaly on the order desk).
            report_problem(order=order, user=rider.user, kind=AnomalyKind.CUSTOMER_UNREACHABLE)
            hold_order(order=order, user=rider.user, location=HeldLocation.PARCEL_LOCKER)
        if n == 3:
            code = issue_handover_code(
                order=order, actor=agent, reason="demo: customer verified on a relay call"
            )
            hand_over_with_code(order=order, user=rider.user, code=code)
    return f"{len(packed)} orders given to {rider.user.username}" if packed else None
