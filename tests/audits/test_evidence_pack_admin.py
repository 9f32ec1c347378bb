"""The evidence packs' back-office page (issue 20, point 6; audits.evidence_admin): who may
list, request and download packs; the request form's bad inputs (400 naming the field);
a double submit makes one pack; the download is audited and another tenant's pack is a
404; the list refreshes itself while a pack is pending, with no inline script."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.evidence_packs import request_evidence_pack
from audits.models import AuditEvent, EvidencePack
from audits.panels import SUPERVISORS
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.audits.evidence_helpers import built_pack
from tests.factories import EvidencePackFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

LIST = "/admin/audits/evidencepack/"
REQUEST = "/admin/audits/evidencepack/request/"
OTHERS = [role for role in Role if role not in SUPERVISORS and role != Role.RIDER]


@pytest.fixture(autouse=True)
def packs_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.EVIDENCE_PACK_DIR = tmp_path / "evidence-packs"
    return settings.EVIDENCE_PACK_DIR


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def supervisor(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.SUPERVISOR], username="sup-zhao")


def _client(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def _download(pack: EvidencePack) -> str:
    return f"/admin/audits/evidencepack/{pack.pk}/download/"


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action))


def _packs(tenant: Tenant) -> list[EvidencePack]:
    with tenant_scope(tenant):
        return list(EvidencePack.objects.order_by("pk"))


def test_the_urls_are_the_admins() -> None:
    assert (
        reverse("admin:audits_evidencepack_changelist"),
        reverse("admin:audits_evidencepack_request"),
    ) == (LIST, REQUEST)


# --- who -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", SUPERVISORS)
def test_supervisors_see_the_packs_page(tenant: Tenant, role: Role) -> None:
    user = UserFactory(tenant=tenant, roles=[role])
    response = _client(user).get(LIST)
    assert (response.status_code, 'id="evidence-request"' in response.content.decode()) == (
        200,
        True,
    )


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_are_refused_the_packs_page(tenant: Tenant, role: Role) -> None:
    user = UserFactory(tenant=tenant, roles=[role])
    assert _client(user).get(LIST).status_code == 403


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_cannot_request_a_pack(tenant: Tenant, role: Role) -> None:
    user = UserFactory(tenant=tenant, roles=[role])
    response = _client(user).post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    assert (response.status_code, _packs(tenant)) == (403, [])


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_cannot_download_a_pack(tenant: Tenant, role: Role) -> None:
    pack = built_pack(tenant)
    user = UserFactory(tenant=tenant, roles=[role])
    assert _client(user).get(_download(pack)).status_code == 403


def test_a_platform_operator_without_a_tenant_is_refused(tenant: Tenant) -> None:
    from tests.factories import OperatorFactory

    assert _client(OperatorFactory()).get(LIST).status_code == 403


# --- requesting ------------------------------------------------------------------------------


def test_requesting_a_pack_queues_it_audited_and_redirects(
    tenant: Tenant, supervisor: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _client(supervisor).post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    (pack,) = _packs(tenant)
    (event,) = _events(tenant, "evidence.pack_requested")
    assert (
        response.status_code,
        response["Location"],
        pack.state,
        pack.language,
        event.details,
        event.actor,
        len(callbacks),
    ) == (
        302,
        LIST,
        "queued",
        "en",
        {"pack": pack.pk, "start": "2026-01-01", "end": "2026-01-31"},
        f"user:{supervisor.pk}",
        1,
    )


def test_a_pack_requested_in_chinese_is_written_in_chinese(
    tenant: Tenant, supervisor: User
) -> None:
    _client(supervisor, "zh-hans").post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    assert [p.language for p in _packs(tenant)] == ["zh-hans"]


def test_a_double_submit_makes_one_pack(tenant: Tenant, supervisor: User) -> None:
    client = _client(supervisor)
    first = client.post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    second = client.post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    assert (first.status_code, second.status_code, len(_packs(tenant))) == (302, 302, 1)


def test_the_same_period_can_be_asked_again_once_the_pack_is_done(
    tenant: Tenant, supervisor: User
) -> None:
    built_pack(
        tenant, requester=supervisor, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)
    )
    _client(supervisor).post(REQUEST, {"start": "2026-01-01", "end": "2026-01-31"})
    assert [p.state for p in _packs(tenant)] == ["done", "queued"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_concurrent_requests_make_one_pack(tenant: Tenant, supervisor: User) -> None:
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []

    def ask() -> None:
        try:
            with tenant_scope(tenant):
                barrier.wait()
                pack, created = request_evidence_pack(
                    tenant=tenant,
                    actor=supervisor,
                    first_day=date(2026, 2, 1),
                    last_day=date(2026, 2, 28),
                    language="en",
                )
            results.append((pack.pk, created))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len({pk for pk, _created in results}), sorted(c for _pk, c in results)) == (
        1,
        [False, True],
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"start": "2026-02-01", "end": "2026-01-01"},
            "end",
            "The end date is before the start date.",
        ),
        ({"start": "2025-01-01", "end": "2026-01-02"}, "end", "A pack covers at most 366 days."),
        ({"start": "2026-13-01", "end": "2026-01-02"}, "start", "Enter a valid date."),
        ({"start": "2026-01-01", "end": ""}, "end", "This field is required."),
        (
            {"start": "2026-01-01\x00", "end": "2026-01-02"},
            "start",
            "Enter a valid date.",
        ),
        ({"start": "二〇二六年", "end": "2026-01-02"}, "start", "Enter a valid date."),
    ],
)
def test_a_bad_period_is_a_400_naming_the_field(
    tenant: Tenant, supervisor: User, data: dict[str, str], field: str, message: str
) -> None:
    response = _client(supervisor).post(REQUEST, data)
    page = response.content.decode()
    assert (
        response.status_code,
        f'id="id_{field}-error" role="alert">{message}</p>' in page,
        _packs(tenant),
    ) == (400, True, [])


def test_a_period_starting_in_the_future_is_a_400(tenant: Tenant, supervisor: User) -> None:
    tomorrow = timezone.localdate(timezone=tenant.zone) + timedelta(days=1)
    response = _client(supervisor).post(
        REQUEST, {"start": tomorrow.isoformat(), "end": tomorrow.isoformat()}
    )
    assert (
        response.status_code,
        'id="id_start-error" role="alert">The start date is in the future.</p>'
        in response.content.decode(),
    ) == (400, True)


def test_a_period_in_year_one_is_a_400_not_a_failed_pack(tenant: Tenant, supervisor: User) -> None:
    response = _client(supervisor).post(REQUEST, {"start": "0001-01-01", "end": "0001-01-02"})
    assert (
        response.status_code,
        'id="id_start-error" role="alert">The start date is before 2000-01-01.</p>'
        in response.content.decode(),
        _packs(tenant),
    ) == (400, True, [])


def test_a_get_on_the_request_url_is_refused(tenant: Tenant, supervisor: User) -> None:
    assert _client(supervisor).get(REQUEST).status_code == 405


# --- the list --------------------------------------------------------------------------------


def test_the_list_refreshes_itself_while_a_pack_is_pending(
    tenant: Tenant, supervisor: User
) -> None:
    EvidencePackFactory(tenant=tenant, requested_by=supervisor)
    page = _client(supervisor).get(LIST).content.decode()
    assert ('<meta http-equiv="refresh" content="3">' in page, "<script>" in page) == (True, False)


def test_the_list_stops_refreshing_once_every_pack_is_done(
    tenant: Tenant, supervisor: User
) -> None:
    built_pack(tenant, requester=supervisor)
    page = _client(supervisor).get(LIST).content.decode()
    assert ('http-equiv="refresh"' in page, "Download" in page) == (False, True)


def test_the_list_shows_progress_and_a_failure_reason(tenant: Tenant, supervisor: User) -> None:
    EvidencePackFactory(
        tenant=tenant, requested_by=supervisor, state="running", sections_done=2, sections_total=8
    )
    EvidencePackFactory(
        tenant=tenant, requested_by=supervisor, state="failed", failure="The section “X” failed."
    )
    page = _client(supervisor).get(LIST).content.decode()
    assert (
        '<progress max="100" value="25"' in page,
        "2 of 8 sections" in page,
        "The section “X” failed." in page,
    ) == (True, True, True)


def test_the_list_lists_only_the_tenants_packs(tenant: Tenant, supervisor: User) -> None:
    EvidencePackFactory(tenant=TenantFactory(), period_start=date(2024, 3, 3))
    page = _client(supervisor).get(LIST).content.decode()
    assert ("2024-03-03" in page, "No evidence pack yet." in page) == (False, True)


def test_the_list_takes_a_bounded_number_of_queries(
    tenant: Tenant, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    for day in range(1, 11):
        EvidencePackFactory(
            tenant=tenant,
            requested_by=UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]),
            period_start=date(2026, 1, day),
            state="done",
        )
    client = _client(supervisor)
    client.get(LIST)
    with django_assert_max_num_queries(14):
        client.get(LIST)


def test_the_page_is_served_in_the_users_language(tenant: Tenant, supervisor: User) -> None:
    page = _client(supervisor, "zh-hans").get(LIST).content.decode()
    assert '<html lang="zh-hans"' in page


# --- downloading -----------------------------------------------------------------------------


def test_a_done_pack_downloads_as_an_attachment_audited(tenant: Tenant, supervisor: User) -> None:
    pack = built_pack(tenant, requester=supervisor)
    response = _client(supervisor).get(_download(pack))
    body = b"".join(response.streaming_content)
    (event,) = _events(tenant, "evidence.pack_downloaded")
    assert (
        response.status_code,
        response["Content-Disposition"],
        response["Content-Type"],
        len(body),
        event.details,
    ) == (
        200,
        f'attachment; filename="{Path(pack.path).name}"',
        "application/zip",
        pack.size,
        {"pack": pack.pk, "sha256": pack.sha256},
    )


def test_another_tenants_pack_is_a_404(tenant: Tenant, supervisor: User) -> None:
    theirs = built_pack(TenantFactory())
    response = _client(supervisor).get(_download(theirs))
    assert (response.status_code, _events(tenant, "evidence.pack_downloaded")) == (404, [])


def test_an_unknown_pack_is_a_404(tenant: Tenant, supervisor: User) -> None:
    assert _client(supervisor).get("/admin/audits/evidencepack/999999/download/").status_code == 404


def test_a_pack_not_ready_is_a_404(tenant: Tenant, supervisor: User) -> None:
    pack = EvidencePackFactory(tenant=tenant, requested_by=supervisor)
    assert _client(supervisor).get(_download(pack)).status_code == 404
