"""The investigation of a leak case: linked audit events, responsible staff and findings
on its page, evidence files sealed under the backup key ring with their SHA-256 and size,
downloads checked and audited, and who may (issue 18, point 1)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.cases import move_case, open_case
from incidents.investigation import (
    add_evidence,
    add_finding,
    add_staff,
    clean_evidence_name,
    download_evidence,
    link_audit_event,
)
from incidents.models import EvidenceFile, IncidentCase, InvestigationItem
from privacy.api import open_evidence
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor

pytestmark = pytest.mark.django_db(databases="__all__")

MANAGERS = [Role.PRIVACY_OFFICER, Role.SUPERVISOR, Role.TENANT_ADMIN]
OTHERS = [Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.PACKER, Role.RIDER]
PLAIN = b"Rider log export: route 3, labels 118-140, photographed 14:02\n" * 50


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-wang")


@pytest.fixture
def case(tenant: Tenant, officer: User) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title="Courier's phone lost on route 3",
        severity="major",
        severity_reason="Labels visible in the phone's photos",
        kind="lost_device",
        data_categories=["address"],
        affected_customers=4,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=False,
        actor=officer,
    )


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verified_second_factor(client, user)
    return client


def _url(name: str, *args: Any) -> str:
    return reverse(f"admin:incidents_incidentcase_{name}", args=args)


def _page(client: Client, case: IncidentCase) -> str:
    response = client.get(_url("change", case.pk), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def _events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _items(case: IncidentCase) -> list[InvestigationItem]:
    with tenant_scope(case.tenant):
        return list(InvestigationItem.objects.filter(case=case).order_by("pk"))


def _evidence(case: IncidentCase) -> list[EvidenceFile]:
    with tenant_scope(case.tenant):
        return list(EvidenceFile.objects.filter(case=case).order_by("pk"))


def _sealed_path(settings: Any, evidence: EvidenceFile) -> Path:
    return Path(settings.EVIDENCE_DIR) / str(evidence.tenant_id) / f"{evidence.file_id.hex}.sealed"


def _upload(client: Client, case: IncidentCase, data: bytes, name: str = "log.txt") -> Any:
    return client.post(
        _url("evidence_upload", case.pk),
        {"file": SimpleUploadedFile(name, data, content_type="text/plain")},
        HTTP_ACCEPT_LANGUAGE="en",
    )


# Items, through the services.


def test_each_item_kind_is_recorded_attributed_and_audited(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    opened = _events(tenant, "incidents.case_opened")[0]
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER], username="disp-li")
    link_audit_event(case=case, event_id=str(opened.pk), actor=officer)
    add_staff(case=case, user_id=str(dispatcher.pk), actor=officer)
    add_finding(
        case=case, text="  Photos synced to a cloud album.\r\nAlbum now private. ", actor=officer
    )
    items = _items(case)
    events = _events(tenant, "incidents.investigation_added")
    assert [(i.kind, i.audit_event_id, i.staff_id, i.text, i.added_by) for i in items] == [
        ("audit_event", opened.pk, None, "", f"user:{officer.pk}"),
        ("staff", None, dispatcher.pk, "", f"user:{officer.pk}"),
        (
            "finding",
            None,
            None,
            "Photos synced to a cloud album.\nAlbum now private.",
            f"user:{officer.pk}",
        ),
    ]
    assert [e.details for e in events] == [
        {
            "case": case.pk,
            "item": items[0].pk,
            "kind": "audit_event",
            "event": opened.pk,
            "target": None,
            "drill": False,
        },
        {
            "case": case.pk,
            "item": items[1].pk,
            "kind": "staff",
            "event": None,
            "target": f"user:{dispatcher.pk}",
            "drill": False,
        },
        {
            "case": case.pk,
            "item": items[2].pk,
            "kind": "finding",
            "event": None,
            "target": None,
            "drill": False,
        },
    ]


def test_the_page_shows_items_readably_without_payloads(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    opened = _events(tenant, "incidents.case_opened")[0]
    dispatcher = UserFactory(tenant=tenant, roles=[Role.DISPATCHER], username="disp-li")
    client = _client(officer)
    responses = [
        client.post(_url("investigation_event", case.pk), {"event": str(opened.pk)}),
        client.post(_url("investigation_staff", case.pk), {"staff": str(dispatcher.pk)}),
        client.post(_url("investigation_finding", case.pk), {"text": "Album made private"}),
    ]
    page = _page(client, case)
    assert [r.status_code for r in responses] == [302, 302, 302]
    assert (
        'id="investigation"' in page,
        "Incident case opened" in page,
        reverse("admin:audits_auditevent_change", args=[opened.pk]) in page,
        "disp-li (Dispatcher)" in page,
        "Album made private" in page,
        "added by po-wang" in page,
        f"user:{officer.pk}" in page,
        # The event's stored details are not shown here (the regrade form's name="severity"
        # is no detail: look for the JSON's key and value, raw or escaped).
        '"severity": "major"' in page or "&quot;severity&quot;" in page,
    ) == (True, True, True, True, True, True, False, False)


@pytest.mark.parametrize("value", ["", "abc", "-3", "0", "99999999999999999999"])
def test_a_bad_audit_event_id_is_a_400_naming_the_problem(
    officer: User, case: IncidentCase, value: str
) -> None:
    response = _client(officer).post(
        _url("investigation_event", case.pk), {"event": value}, HTTP_ACCEPT_LANGUAGE="en"
    )
    body = response.content.decode()
    assert (response.status_code, "audit event" in body.lower(), _items(case)) == (400, True, [])


def test_a_missing_or_another_tenants_audit_event_is_not_found(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    elsewhere = TenantFactory()
    other_officer = UserFactory(tenant=elsewhere, roles=[Role.PRIVACY_OFFICER])
    open_case(
        tenant=elsewhere,
        title="Other tenant's case",
        severity="general",
        severity_reason="r",
        kind="other",
        data_categories=[],
        affected_customers=0,
        discovered_at=timezone.now(),
        discovered_by="someone",
        is_drill=False,
        actor=other_officer,
    )
    foreign = _events(elsewhere, "incidents.case_opened")[0]
    client = _client(officer)
    answers = [
        client.post(
            _url("investigation_event", case.pk), {"event": str(pk)}, HTTP_ACCEPT_LANGUAGE="en"
        )
        for pk in (foreign.pk, 10**12)
    ]
    with pytest.raises(ValidationError):
        link_audit_event(case=case, event_id=foreign.pk, actor=officer)
    assert [(a.status_code, "not found in your tenant" in a.content.decode()) for a in answers] == [
        (400, True),
        (400, True),
    ]
    assert (_items(case), len(_events(tenant, "incidents.investigation_added"))) == ([], 0)


def test_another_tenants_user_cannot_be_named_responsible(
    officer: User, case: IncidentCase
) -> None:
    stranger = UserFactory(tenant=TenantFactory(), roles=[Role.DISPATCHER])
    response = _client(officer).post(
        _url("investigation_staff", case.pk), {"staff": str(stranger.pk)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    with pytest.raises(ValidationError):
        add_staff(case=case, user_id=stranger.pk, actor=officer)
    assert (response.status_code, _items(case)) == (400, [])


def test_a_duplicate_link_is_a_conflict(tenant: Tenant, officer: User, case: IncidentCase) -> None:
    opened = _events(tenant, "incidents.case_opened")[0]
    client = _client(officer)
    client.post(_url("investigation_event", case.pk), {"event": str(opened.pk)})
    again = client.post(_url("investigation_event", case.pk), {"event": str(opened.pk)})
    assert (again.status_code, len(_items(case))) == (409, 1)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 501, "\n".join(["line"] * 11), "bell\x07"],
)
def test_a_bad_finding_is_refused(officer: User, case: IncidentCase, text: str) -> None:
    response = _client(officer).post(
        _url("investigation_finding", case.pk), {"text": text}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (response.status_code, _items(case)) == (400, [])


def test_a_closed_case_keeps_its_investigation_and_takes_no_more(
    officer: User, case: IncidentCase
) -> None:
    add_finding(case=case, text="Before closing", actor=officer)
    add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    for step in ("investigating", "remediated", "closed"):
        case = move_case(case=case, to=step, actor=officer)
    client = _client(officer)
    refused = client.post(_url("investigation_finding", case.pk), {"text": "After"})
    page = _page(client, case)
    assert (
        refused.status_code,
        "Before closing" in page,
        "a.txt" in page,
        'id="evidence-form"' in page,
        'id="investigation-finding-form"' in page,
    ) == (409, True, True, False, False)


# Who may.


@pytest.mark.parametrize("role", MANAGERS)
def test_every_case_manager_may_investigate(tenant: Tenant, case: IncidentCase, role: Role) -> None:
    manager = UserFactory(tenant=tenant, roles=[role])
    add_finding(case=case, text="Seen", actor=manager)
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=manager)
    _file, data = download_evidence(case=case, evidence_id=evidence.pk, actor=manager)
    assert data == b"abc"


@pytest.mark.parametrize("role", OTHERS)
def test_other_roles_are_refused_by_the_services_and_get_404_pages(
    tenant: Tenant, officer: User, case: IncidentCase, role: Role
) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    user = UserFactory(tenant=tenant, roles=[role])
    refused = []
    for call in (
        lambda: add_finding(case=case, text="x", actor=user),
        lambda: add_staff(case=case, user_id=officer.pk, actor=user),
        lambda: link_audit_event(case=case, event_id=1, actor=user),
        lambda: add_evidence(case=case, name="b", source=_bytes(b"b"), size=1, actor=user),
        lambda: download_evidence(case=case, evidence_id=evidence.pk, actor=user),
    ):
        with pytest.raises(PermissionDenied):
            call()
        refused.append(True)
    client = _client(user)
    codes = [
        client.get(_url("change", case.pk)).status_code,
        client.post(_url("investigation_finding", case.pk), {"text": "x"}).status_code,
        _upload(client, case, b"abc").status_code,
        client.get(_url("evidence_download", case.pk, evidence.pk)).status_code,
    ]
    # A rider is no staff member: the back office sends them to its login page.
    expected = 302 if role == Role.RIDER else 404
    assert (refused, codes, len(_items(case)), len(_evidence(case))) == (
        [True] * 5,
        [expected] * 4,
        0,
        1,
    )


def test_another_tenants_case_is_404_on_page_and_every_post(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    client = _client(UserFactory(tenant=TenantFactory(), roles=[Role.TENANT_ADMIN]))
    codes = [
        client.get(_url("change", case.pk)).status_code,
        client.post(_url("investigation_event", case.pk), {"event": "1"}).status_code,
        client.post(_url("investigation_staff", case.pk), {"staff": str(officer.pk)}).status_code,
        client.post(_url("investigation_finding", case.pk), {"text": "x"}).status_code,
        _upload(client, case, b"abc").status_code,
        client.get(_url("evidence_download", case.pk, evidence.pk)).status_code,
    ]
    assert (codes, len(_items(case)), len(_evidence(case))) == ([404] * 6, 0, 1)


def test_another_cases_evidence_is_404(tenant: Tenant, officer: User, case: IncidentCase) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    second = open_case(
        tenant=tenant,
        title="Second",
        severity="general",
        severity_reason="r",
        kind="other",
        data_categories=[],
        affected_customers=0,
        discovered_at=timezone.now(),
        discovered_by="someone",
        is_drill=False,
        actor=officer,
    )
    response = _client(officer).get(_url("evidence_download", second.pk, evidence.pk))
    assert response.status_code == 404


# Evidence files.


def _bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def test_an_upload_is_stored_encrypted_with_its_hash_and_size(
    settings: Any, tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    response = _upload(_client(officer), case, PLAIN, name="../../etc/rider log (3).txt")
    (evidence,) = _evidence(case)
    on_disk = _sealed_path(settings, evidence).read_bytes()
    (event,) = _events(tenant, "incidents.evidence_added")
    assert (
        response.status_code,
        evidence.name,
        evidence.size,
        evidence.sha256,
        evidence.added_by,
        on_disk.startswith(b"BAOMIBK1"),
        b"route 3" in on_disk,
        b"Rider log" in on_disk,
        event.details,
        "rider log" in str(event.details),
    ) == (
        302,
        "rider log (3).txt",
        len(PLAIN),
        hashlib.sha256(PLAIN).hexdigest(),
        f"user:{officer.pk}",
        True,
        False,
        False,
        {
            "case": case.pk,
            "evidence": evidence.pk,
            "size": len(PLAIN),
            "sha256": hashlib.sha256(PLAIN).hexdigest(),
            "drill": False,
        },
        False,
    )
    assert list(Path(settings.EVIDENCE_DIR).rglob("*")) == [
        Path(settings.EVIDENCE_DIR) / str(tenant.pk),
        _sealed_path(settings, evidence),
    ]


def test_an_empty_file_is_a_400_and_nothing_is_stored(
    settings: Any, officer: User, case: IncidentCase
) -> None:
    response = _upload(_client(officer), case, b"")
    stored = list(Path(settings.EVIDENCE_DIR).rglob("*.sealed"))
    assert (response.status_code, "The file is empty." in response.content.decode(), stored) == (
        400,
        True,
        [],
    )
    assert _evidence(case) == []


def test_no_file_is_a_400(officer: User, case: IncidentCase) -> None:
    response = _client(officer).post(
        _url("evidence_upload", case.pk), {}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (response.status_code, "Choose a file" in response.content.decode()) == (400, True)


def test_an_oversize_file_is_a_400_and_nothing_is_stored(
    settings: Any, officer: User, case: IncidentCase
) -> None:
    settings.EVIDENCE_MAX_BYTES = 1024
    client = _client(officer)
    too_big = _upload(client, case, b"x" * 1025)
    just_right = _upload(client, case, b"x" * 1024)
    with pytest.raises(ValidationError):
        add_evidence(case=case, name="b", source=_bytes(b"y" * 2000), size=2000, actor=officer)
    assert (
        too_big.status_code,
        "too large: at most 0.0009765625 MB" in too_big.content.decode()
        or "too large" in too_big.content.decode(),
        just_right.status_code,
        [e.size for e in _evidence(case)],
        len(list(Path(settings.EVIDENCE_DIR).rglob("*.sealed"))),
    ) == (400, True, 302, [1024], 1)


def test_the_default_limit_is_20_mb() -> None:
    from django.conf import settings

    assert settings.EVIDENCE_MAX_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\li\\Desktop\\photo 1.jpg", "photo 1.jpg"),
        ("../../../etc/passwd", "passwd"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("<script>.html", "_script_.html"),
        ("...", "evidence"),
        ("", "evidence"),
        ("x" * 200 + ".jpeg", "x" * 75 + ".jpeg"),
    ],
)
def test_file_names_are_sanitised(raw: str, shown: str) -> None:
    assert clean_evidence_name(raw) == shown


def test_a_download_round_trips_and_is_audited(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    client = _client(officer)
    _upload(client, case, PLAIN, name="rider-log.txt")
    (evidence,) = _evidence(case)
    page = _page(client, case)
    response = client.get(_url("evidence_download", case.pk, evidence.pk))
    (event,) = _events(tenant, "incidents.evidence_downloaded")
    assert (
        response.status_code,
        response.content,
        response["Content-Disposition"],
        response["X-Content-Type-Options"],
        response["Content-Type"],
        event.actor,
        event.details,
        evidence.sha256 in page,
        "rider-log.txt" in page,
    ) == (
        200,
        PLAIN,
        'attachment; filename="rider-log.txt"',
        "nosniff",
        "application/octet-stream",
        f"user:{officer.pk}",
        {"case": case.pk, "evidence": evidence.pk, "sha256": evidence.sha256, "drill": False},
        True,
        True,
    )


def test_a_tampered_file_is_refused_with_a_clear_error_and_audited(
    settings: Any, tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    evidence = add_evidence(
        case=case, name="a.txt", source=_bytes(PLAIN), size=len(PLAIN), actor=officer
    )
    path = _sealed_path(settings, evidence)
    data = bytearray(path.read_bytes())
    data[60] ^= 0x01
    path.write_bytes(bytes(data))
    client = _client(officer)
    response = client.get(
        _url("evidence_download", case.pk, evidence.pk), HTTP_ACCEPT_LANGUAGE="en"
    )
    with pytest.raises(Conflict):
        download_evidence(case=case, evidence_id=evidence.pk, actor=officer)
    failures = _events(tenant, "incidents.evidence_check_failed")
    assert (
        response.status_code,
        "failed its integrity check" in response.content.decode(),
        PLAIN[:20] in response.content,
        [e.details for e in failures],
        _events(tenant, "incidents.evidence_downloaded"),
    ) == (
        409,
        True,
        False,
        [{"case": case.pk, "evidence": evidence.pk, "drill": False}] * 2,
        [],
    )


def test_a_record_whose_hash_does_not_match_is_refused(
    tenant: Tenant, officer: User, case: IncidentCase
) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    with tenant_scope(tenant):
        EvidenceFile.objects.filter(pk=evidence.pk).update(sha256="0" * 64)
    response = _client(officer).get(_url("evidence_download", case.pk, evidence.pk))
    assert response.status_code == 409


def test_a_missing_file_is_refused_not_a_500(
    settings: Any, officer: User, case: IncidentCase
) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    _sealed_path(settings, evidence).unlink()
    response = _client(officer).get(_url("evidence_download", case.pk, evidence.pk))
    assert response.status_code == 409


def test_the_sealed_file_opens_only_with_its_record(officer: User, case: IncidentCase) -> None:
    evidence = add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    assert (
        open_evidence(
            tenant_id=evidence.tenant_id, file_id=evidence.file_id, sha256=evidence.sha256, size=3
        )
        == b"abc"
    )


def test_there_is_no_way_to_delete_evidence(officer: User, case: IncidentCase) -> None:
    add_evidence(case=case, name="a.txt", source=_bytes(b"abc"), size=3, actor=officer)
    page = _page(_client(officer), case)
    panel = page.split('id="investigation"')[1].split("</section>")[0]
    assert (
        "/delete/" in panel,
        'class="danger"' in panel,
        "Evidence is never deleted." in panel,
    ) == (
        False,
        False,
        True,
    )
