from __future__ import annotations

from riders.agreements import publish_agreement
from riders.models import Rider
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


def seed_riders(tenant: Tenant, actor: SystemActor) -> str | None:
    """The confidentiality agreement v1 and an on-shift profile for each demo rider (who
    still signs the agreement on first login)."""
    made = []
    if current_agreement(tenant) is None:
        publish_agreement(tenant=tenant, actor=actor, text_zh=AGREEMENT_ZH, text_en=AGREEMENT_EN)
        made.append("confidentiality agreement v1")
    for user in User.objects.filter(tenant=tenant, is_active=True):
        if has_role(user, Role.RIDER):
            rider = ensure_rider_profile(user=user, actor=actor)
            with tenant_scope(tenant):
                Rider.objects.filter(pk=rider.pk).update(on_shift=True)
    return f"Riders: {', '.join(made)}." if made else None
