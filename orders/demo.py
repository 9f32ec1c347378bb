"""A few dozen demo orders in various states, so the back office looks alive."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from orders.intake import create_order
from orders.lifecycle import mark_food_ready, transition_order
from orders.models import Order, Status
from privacy.api import NoticeChannel, current_notice
from tenants.actors import SystemActor
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"]
STREETS = [
    "上海市浦东新区张江路",
    "上海市徐汇区漕溪北路",
    "北京市朝阳区建国路",
    "杭州市西湖区文三路",
    "广州市天河区体育西路",
    "深圳市南山区科技园路",
]
DISHES = ["宫保鸡丁", "麻婆豆腐", "小笼包", "扬州炒饭", "酸辣汤", "红烧肉", "清炒时蔬", "牛肉面"]
NOTES = ["", "", "少辣", "放门口", "不要香菜", "请打电话前先敲门"]


def _actor_with(tenant: Tenant, role: Role) -> User | None:
    for user in User.objects.filter(tenant=tenant, is_active=True).order_by("pk"):
        if has_role(user, role):
            return user
    return None


def seed_orders(tenant: Tenant, actor: SystemActor, count: int = 36) -> str | None:
    with tenant_scope(tenant):
        if Order.objects.exists():
            return None
    notice = current_notice(tenant)
    agent, cook, packer = (
        _actor_with(tenant, r) for r in (Role.CUSTOMER_SERVICE, Role.KITCHEN, Role.PACKER)
    )
    if notice is None or agent is None or cook is None or packer is None:
        return None
    rng = random.Random(tenant.pk)  # noqa: S311 - demo data, not security
    created = []
    for _ in range(count):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        new = create_order(
            tenant=tenant,
            actor=agent,
            customer={
                "name": name,
                "phone": f"13{rng.randint(0, 9)}{rng.randint(10**7, 10**8 - 1)}",
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室",
            },
            items=[
                {"name": dish, "quantity": rng.randint(1, 3)}
                for dish in rng.sample(DISHES, rng.randint(1, 4))
            ],
            note=rng.choice(NOTES),
            privacy_notice_version=notice.version,
            channel=NoticeChannel.PHONE,
        )
        created.append(new.order)
    # Spread them over the lifecycle: received, preparing, ready, packed, cancelled.
    for n, order in enumerate(created):
        stage = n % 6
        if stage in (1, 2, 3):
            transition_order(order=order, to=Status.PREPARING, actor=cook)
        if stage in (2, 3):
            mark_food_ready(order=order, actor=cook)
        if stage == 3:
            transition_order(
                order=order, to=Status.PACKED, actor=packer, seal_number=f"SEAL-{1000 + n}"
            )
        if stage == 5:
            transition_order(order=order, to=Status.CANCELLED, actor=agent)
            # Demo only: these were cancelled "ten days ago", so the retention sweep (every
            # minute in the demo) visibly erases their customers.
            with tenant_scope(tenant):
                Order.objects.filter(pk=order.pk).update(
                    status_changed_at=timezone.now() - timedelta(days=10)
                )
    return f"{len(created)} demo orders taken."
