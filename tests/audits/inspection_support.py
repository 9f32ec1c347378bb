"""Helpers of the inspection tests (issue 20, point 3): evidence bytes, the evidence
folder in a per-test directory, and a moved clock for due dates in the past."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from audits.inspections import services
from audits.models import Finding, FollowUp, Inspection, InspectionItem
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import InspectionFactory, UserFactory

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def evidence_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.INSPECTION_EVIDENCE_DIR = tmp_path / "inspection-evidence"


@contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """``timezone.now()`` is ``moment`` inside (a due date in the past is then a date
    that was in the future)."""
    with mock.patch("django.utils.timezone.now", lambda: moment):
        yield


def supervisor(tenant: Tenant, name: str = "") -> User:
    if name:
        return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username=name)
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])


def items_of(inspection: Inspection) -> list[InspectionItem]:
    with tenant_scope(inspection.tenant_id):
        return list(InspectionItem.objects.filter(inspection=inspection).order_by("position"))


def started(tenant: Tenant, inspector: User, **kwargs: Any) -> Inspection:
    inspection = InspectionFactory(tenant=tenant, inspector=inspector, **kwargs)
    return services.start_inspection(inspection=inspection, actor=inspector)


def fail(
    inspection: Inspection, item: InspectionItem, actor: User, owner: User, due: Any, **kwargs: Any
) -> Finding:
    return services.record_finding(
        inspection=inspection,
        item_id=item.pk,
        actor=actor,
        result="fail",
        note=kwargs.pop("note", "Label printed with the full name"),
        follow_up_owner_id=owner.pk,
        follow_up_due=due,
        **kwargs,
    )


def follow_up_of(finding: Finding) -> FollowUp:
    with tenant_scope(finding.tenant_id):
        return FollowUp.objects.get(finding=finding)


def overdue_follow_up(tenant: Tenant, inspector: User, owner: User, *, days: int = 3) -> FollowUp:
    """A follow-up due ``days`` days ago: recorded as due tomorrow, ``days + 1`` days ago."""
    past = timezone.now() - (days + 1) * DAY
    with clock(past):
        inspection = started(tenant, inspector)
        item = items_of(inspection)[0]
        finding = fail(inspection, item, inspector, owner, services.local_today(tenant) + DAY)
    return follow_up_of(finding)
