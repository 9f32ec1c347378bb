from __future__ import annotations

from privacy.notices import publish_notice
from privacy.selectors import current_notice
from tenants.actors import SystemActor
from tenants.models import Tenant


def seed_notice(tenant: Tenant, actor: SystemActor) -> str | None:
    if current_notice(tenant) is not None:
        return None
    notice = publish_notice(
        tenant=tenant,
        actor=actor,
        retention_days=7,
        purpose_zh="仅用于制作和配送您的订单、在配送中联系您。",
        purpose_en="Only to prepare and deliver your order and to contact you about it.",
        scope_zh="姓名、电话、配送地址、订单内容和备注；不收集其他信息。",
        scope_en="Name, phone, delivery address, order contents and note; nothing else.",
        use_zh="加密保存，仅授权员工因配送需要查看，每次查看均有记录；不复制、不导出、不出售。订单完成 7 天后删除，您也可随时要求删除。",
        use_en="Stored encrypted; seen only by authorised staff when delivery needs it, every view recorded; never copied, exported or sold. Erased 7 days after completion, or at once on request.",
    )
    return f"Privacy notice v{notice.version} published."
