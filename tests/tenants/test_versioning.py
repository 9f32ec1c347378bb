"""tenants.versioning: one mechanism for every versioned document (privacy notices, rider
agreements; pledges and courses next)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from audits.models import AuditEvent
from core.errors import Conflict
from privacy.models import PrivacyNotice
from privacy.notices import publish_notice
from riders.agreements import publish_agreement, sign_agreement
from riders.models import ConfidentialityAgreement
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tenants.versioning import (
    VersionedDocument,
    current_version,
    publish_next_version,
    require_current,
    text_sha256,
)
from tests.factories import TenantFactory, UserFactory
from tests.privacy.test_notices import TEXTS

SYSTEM = SystemActor("tests")


def _publish(kind: str, tenant: Any) -> VersionedDocument:
    if kind == "notice":
        return publish_notice(tenant=tenant, actor=SYSTEM, retention_days=30, **TEXTS)
    return publish_agreement(tenant=tenant, actor=SYSTEM, text_zh="保密", text_en="Keep it secret")


MODELS: dict[str, type[VersionedDocument]] = {
    "notice": PrivacyNotice,
    "agreement": ConfidentialityAgreement,
}


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("kind", ["notice", "agreement"])
def test_versions_count_up_per_tenant_with_one_event_each(kind: str) -> None:
    tenant, other = TenantFactory(), TenantFactory()
    first, second, elsewhere = _publish(kind, tenant), _publish(kind, tenant), _publish(kind, other)
    assert (first.version, second.version, elsewhere.version) == (1, 2, 1)
    assert current_version(MODELS[kind], tenant) == second
    with tenant_scope(tenant):
        events = AuditEvent.objects.filter(object_id__in=[str(first.pk), str(second.pk)])
        assert sorted(e.details["version"] for e in events) == [1, 2]


@pytest.mark.django_db(databases="__all__")
def test_nothing_is_written_when_the_record_step_fails() -> None:
    tenant = TenantFactory()

    def fail(_document: Any) -> None:
        raise RuntimeError("audit append failed")

    with pytest.raises(RuntimeError):
        publish_next_version(
            ConfidentialityAgreement,
            tenant=tenant,
            actor=SYSTEM,
            values={"text_zh": "保密", "text_en": "Secret"},
            record=fail,
        )
    assert current_version(ConfidentialityAgreement, tenant) is None


@pytest.mark.django_db(databases="__all__")
def test_require_current_refuses_an_outdated_or_unknown_version() -> None:
    tenant = TenantFactory()
    _publish("agreement", tenant)
    second = _publish("agreement", tenant)
    assert require_current(ConfidentialityAgreement, tenant, 2, "stale") == second
    for version in (1, 3, True, "2", None):
        with pytest.raises(Conflict, match="stale"):
            require_current(ConfidentialityAgreement, tenant, version, "stale")


@pytest.mark.django_db(databases="__all__")
def test_a_signature_stores_the_hash_of_the_exact_text_shown() -> None:
    from riders.profiles import ensure_rider_profile
    from tenants.models import Role
    from tests.factories import UserFactory

    user = UserFactory(roles=[Role.RIDER])
    rider = ensure_rider_profile(user=user, actor=SYSTEM)
    agreement = publish_agreement(
        tenant=rider.tenant, actor=SYSTEM, text_zh="我承诺保密。", text_en="I keep it secret."
    )
    signature = sign_agreement(rider=rider, version=agreement.version, language="en", ip=None)
    assert signature.text_sha256 == text_sha256("I keep it secret.")
    assert signature.text_sha256 != text_sha256(agreement.text_for("zh-hans")[1])


@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.parametrize("kind", ["notice", "agreement"])
@pytest.mark.parametrize("existing", [0, 1])
def test_two_publishers_racing_for_one_number_get_a_conflict(kind: str, existing: int) -> None:
    """Two publishers read the same latest number: one publishes it, the other gets a
    Conflict (409), not an IntegrityError (500); the versions stay 1..n without a gap."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    tenant = TenantFactory()
    for _ in range(existing):
        _publish(kind, tenant)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def publish() -> None:
        try:
            start.wait()
            _publish(kind, tenant)
            outcomes.append("published")
        except Conflict:
            outcomes.append("conflict")
        finally:
            for conn in connections.all():
                conn.close()

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with tenant_scope(tenant):
        versions = sorted(MODELS[kind].objects.values_list("version", flat=True))
    # Either the second publisher waited and then collided (conflict), or it came after
    # the first had committed and published the next number: never a 500, never a gap.
    assert sorted(outcomes) in (["conflict", "published"], ["published", "published"])
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == existing + outcomes.count("published")


PUBLISHERS = {
    "notice": "privacy.notices.publish_next_version",
    "agreement": "tenants.versioning.publish_next_version",  # through publish_bilingual_text
}
ADMIN_FORMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "notice": (
        "admin:privacy_privacynotice_add",
        Role.PRIVACY_OFFICER,
        {**TEXTS, "retention_days": 14},
    ),
    "agreement": (
        "admin:riders_confidentialityagreement_add",
        Role.TENANT_ADMIN,
        {"text_zh": "我承诺保密。", "text_en": "I keep it secret."},
    ),
}


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("kind", ["notice", "agreement"])
def test_the_admin_names_the_version_it_published(client: Client, kind: str) -> None:
    url, role, data = ADMIN_FORMS[kind]
    user = UserFactory(roles=[role])
    client.force_login(user)
    _publish(kind, user.tenant)
    page = client.post(reverse(url), data, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "v2" in page.content.decode()
    assert "vNone" not in page.content.decode()
    assert current_version(MODELS[kind], user.tenant).version == 2  # type: ignore[union-attr]


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("kind", ["notice", "agreement"])
def test_a_publishing_race_in_the_admin_is_a_message_not_a_500(
    client: Client, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race itself is proven above on PostgreSQL; here, how the back office shows the
    Conflict it ends in: the add page again, with the message, and nothing published."""
    url, role, data = ADMIN_FORMS[kind]
    user = UserFactory(roles=[role])
    client.force_login(user)

    def lose_the_race(model: Any, **_: Any) -> None:
        raise Conflict("Another version was published at the same moment; publish again.")

    monkeypatch.setattr(PUBLISHERS[kind], lose_the_race)
    response = client.post(reverse(url), data, HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (response.status_code, response["Location"]) == (302, reverse(url))
    assert "Another version was published at the same moment" in page
    assert current_version(MODELS[kind], user.tenant) is None
