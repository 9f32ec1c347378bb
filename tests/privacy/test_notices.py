from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from privacy.errors import RevealDenied
from privacy.models import NoticeChannel, PrivacyNotice
from privacy.notices import publish_notice, record_notice_shown
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import DataSubjectFactory, PrivacyNoticeFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
SYSTEM = SystemActor("tests")
TEXTS = {
    "purpose_zh": "配送",
    "purpose_en": "Delivery",
    "scope_zh": "姓名电话地址",
    "scope_en": "Name, phone, address",
    "use_zh": "仅配送",
    "use_en": "Delivery only",
}


def test_notices_are_versioned_per_tenant() -> None:
    tenant = TenantFactory()
    first, second = PrivacyNoticeFactory(tenant=tenant), PrivacyNoticeFactory(tenant=tenant)
    other = PrivacyNoticeFactory()
    assert (first.version, second.version, other.version) == (1, 2, 1)


def test_the_notice_shown_is_recorded_with_time_and_channel() -> None:
    notice = PrivacyNoticeFactory()
    subject = DataSubjectFactory(tenant=notice.tenant)
    record = record_notice_shown(
        tenant=notice.tenant, version=1, subject=subject, channel=NoticeChannel.PHONE, actor=SYSTEM
    )
    assert (record.notice_id, record.channel, record.shown_at is not None) == (
        notice.pk,
        "phone",
        True,
    )


@pytest.mark.parametrize(
    ("version", "channel", "errors"),
    [
        (7, NoticeChannel.API, {"privacy_notice_version": ["Unknown privacy notice version 7."]}),
        ("1", NoticeChannel.API, {"privacy_notice_version": ["Must be a whole number."]}),
        (True, NoticeChannel.API, {"privacy_notice_version": ["Must be a whole number."]}),
        (1, "carrier-pigeon", {"channel": ["Unknown channel."]}),
    ],
)
def test_bad_notice_records_are_refused(version: object, channel: str, errors: dict) -> None:
    notice = PrivacyNoticeFactory()
    with pytest.raises(ValidationError) as error:
        record_notice_shown(
            tenant=notice.tenant, version=version, subject=None, channel=channel, actor=SYSTEM
        )
    assert error.value.message_dict == errors


@pytest.mark.parametrize("days", [-1, 366, "7"])
def test_retention_must_be_0_to_365_days(days: object) -> None:
    with pytest.raises(ValidationError) as error:
        publish_notice(tenant=TenantFactory(), actor=SYSTEM, retention_days=days, **TEXTS)
    assert error.value.message_dict == {"retention_days": ["Between 0 and 365 days."]}


def test_every_text_is_required_in_both_languages() -> None:
    with pytest.raises(ValidationError) as error:
        publish_notice(
            tenant=TenantFactory(), actor=SYSTEM, retention_days=7, **{**TEXTS, "use_en": " "}
        )
    assert error.value.message_dict == {"use_en": ["This field is required."]}


@pytest.mark.parametrize(
    ("role", "allowed"), [(r, r in {Role.TENANT_ADMIN, Role.PRIVACY_OFFICER}) for r in Role]
)
def test_who_may_publish_a_notice(role: Role, allowed: bool) -> None:
    user = UserFactory(roles=[role])
    try:
        publish_notice(tenant=user.tenant, actor=user, retention_days=7, **TEXTS)
        published = True
    except RevealDenied:
        published = False
    assert published is allowed


def test_published_notices_cannot_be_edited_in_the_admin(client: Client) -> None:
    notice = PrivacyNoticeFactory()
    client.force_login(UserFactory(tenant=notice.tenant, roles=[Role.PRIVACY_OFFICER]))
    client.post(
        reverse("admin:privacy_privacynotice_change", args=[notice.pk]),
        {**TEXTS, "retention_days": 30},
    )
    with tenant_scope(notice.tenant):
        assert PrivacyNotice.objects.get().retention_days == 7


def test_privacy_officer_publishes_a_notice_in_the_admin(client: Client) -> None:
    officer = UserFactory(roles=[Role.PRIVACY_OFFICER])
    client.force_login(officer)
    response = client.post(
        reverse("admin:privacy_privacynotice_add"), {**TEXTS, "retention_days": 14}
    )
    with tenant_scope(officer.tenant):
        assert (response.status_code, PrivacyNotice.objects.get().version) == (302, 1)
