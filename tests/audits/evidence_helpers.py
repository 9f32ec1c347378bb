"""Shared by the evidence pack's tests: a tenant whose customers' values are known, their
orders revealed (singly and as a station's batch), and a pack built through the service."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from django.utils import timezone

from audits.evidence_build import build_evidence_pack
from audits.evidence_packs import archive_path
from audits.models import EvidencePack
from orders.models import Order
from privacy.api import Purpose, reveal, reveal_many
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import EvidencePackFactory, OrderFactory, UserFactory

#: The seeded customers' values: none may appear anywhere in a pack.
CUSTOMERS = [
    {
        "customer": {
            "name": "司马懿测试",
            "phone": "13800138001",
            "address": "北京市海淀区知春路99号3单元502室",
        },
        "note": "请敲门三次再放门口",
        "items": [{"name": "秘制红烧肉", "quantity": 1}],
    },
    {
        "customer": {
            "name": "Evangeline Testwright",
            "phone": "13700137002",
            "address": "88 Nanjing West Road, Flat 12B, Jing'an",
        },
        "note": "Leave with the concierge Mr Oduya",
        "items": [{"name": "Peking duck pancakes", "quantity": 2}],
    },
]


def seeded_values() -> list[str]:
    values = []
    for seed in CUSTOMERS:
        values.extend(seed["customer"].values())
        values.append(seed["note"])
        values.extend(item["name"] for item in seed["items"])
    return values


def seed_revealed_orders(tenant: Tenant) -> tuple[list[Order], User]:
    """Orders with the known values, each revealed by customer service (name and phone)
    and together by the kitchen's station page (a batch reveal of items and note)."""
    orders = [OrderFactory(tenant=tenant, **seed) for seed in CUSTOMERS]
    agent = UserFactory(tenant=tenant, username="agent-li", roles=[Role.CUSTOMER_SERVICE])
    for order in orders:
        reveal(
            order,
            fields=["name", "phone", "address", "note"],
            actor=agent,
            purpose=Purpose.CUSTOMER_SERVICE_CALL,
        )
    cook = UserFactory(tenant=tenant, username="cook-wang", roles=[Role.KITCHEN])
    reveal_many(orders, fields=["items", "note"], actor=cook, purpose=Purpose.FOOD_PREPARATION)
    return orders, agent


def built_pack(tenant: Tenant, requester: User | None = None, **kwargs: Any) -> EvidencePack:
    """A pack of today's period built by the background job's service (called directly)."""
    requester = requester or UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    today = timezone.localdate(timezone=tenant.zone)
    pack = EvidencePackFactory(
        tenant=tenant,
        requested_by=requester,
        period_start=kwargs.pop("period_start", date(today.year, 1, 1)),
        period_end=kwargs.pop("period_end", today),
        **kwargs,
    )
    build_evidence_pack(tenant=tenant, pack_id=pack.pk)
    return refreshed(pack)


def refreshed(pack: EvidencePack) -> EvidencePack:
    with tenant_scope(pack.tenant_id):
        return EvidencePack.objects.get(pk=pack.pk)


def archive_of(pack: EvidencePack) -> Path:
    return archive_path(pack)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """A copy of the archive at ``path`` with the members in ``changes`` replaced (or
    added)."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        names = source.namelist()
        for name in names:
            out.writestr(name, changes.get(name, source.read(name)))
        for name in changes.keys() - set(names):
            out.writestr(name, changes[name])
    return target
