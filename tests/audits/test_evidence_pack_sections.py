"""The evidence pack's sections from privacy, incidents and training (issue 20, point 6):
erasures due and done, incident cases with their legal clocks, training coverage — with
ids, codes, usernames and labels, and without the free texts staff write (a request's
evidence note, a case's title and reason) that could name someone."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audits.models import EvidencePack
from incidents.cases import open_case, record_report
from incidents.models import CaseReport, IncidentCase
from privacy.erasure_requests import record_staff_request
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.audits.evidence_helpers import archive_of, built_pack, members
from tests.factories import DataSubjectFactory, TenantFactory, UserFactory
from tests.training.conftest import SYSTEM, cleared_staff
from training.starter import seed_training

pytestmark = pytest.mark.django_db(databases="__all__")

EVIDENCE_NOTE = "ID card 110101199003071234 of Wang Fang checked"
CASE_TITLE = "Rider Zhang Wei's phone lost near Xujiahui"
CASE_REASON = "Photos of Li Na's label on the phone"


@pytest.fixture(autouse=True)
def packs_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.EVIDENCE_PACK_DIR = tmp_path / "evidence-packs"
    return settings.EVIDENCE_PACK_DIR


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory()


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-lin")


def _rows(pack: EvidencePack, name: str) -> list[list[str]]:
    data = members(archive_of(pack))[f"csv/{name}"]
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _this_year(tenant: Tenant, **kwargs: Any) -> EvidencePack:
    today = timezone.localdate(timezone=tenant.zone)
    return built_pack(tenant, period_start=date(today.year, 1, 1), period_end=today, **kwargs)


def _case(tenant: Tenant, officer: User) -> IncidentCase:
    return open_case(
        tenant=tenant,
        title=CASE_TITLE,
        severity="major",
        severity_reason=CASE_REASON,
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=2,
        discovered_at=timezone.now() - timedelta(hours=1),
        discovered_by="Dispatcher on duty",
        is_drill=False,
        actor=officer,
    )


# --- erasures -------------------------------------------------------------------------------


def test_an_erasure_request_is_listed_kept_with_its_handler_and_ledger_reference(
    tenant: Tenant, officer: User
) -> None:
    subject = DataSubjectFactory(tenant=tenant)
    request = record_staff_request(
        tenant=tenant,
        subject_id=subject.pk,
        channel="in_person",
        evidence=EVIDENCE_NOTE,
        actor=officer,
    )
    rows = _rows(_this_year(tenant), "erasure_requests.csv")
    with tenant_scope(tenant):
        reference = request.ledger_entry.reference
    assert [(r[0], r[2], r[6], r[7], r[8]) for r in rows[1:]] == [
        (str(request.pk), "Erased", "kept", "po-lin", reference)
    ]


def test_the_erasure_ledger_lists_the_erasure_by_reference_reason_and_who(
    tenant: Tenant, officer: User
) -> None:
    subject = DataSubjectFactory(tenant=tenant)
    request = record_staff_request(
        tenant=tenant, subject_id=subject.pk, channel="phone", evidence="Relay call", actor=officer
    )
    rows = _rows(_this_year(tenant), "erasures_done.csv")
    with tenant_scope(tenant):
        reference = request.ledger_entry.reference
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [
        (reference, "Customer's request (verified by staff)", "po-lin")
    ]


def test_an_erasure_requests_evidence_note_is_not_in_the_pack(
    tenant: Tenant, officer: User
) -> None:
    subject = DataSubjectFactory(tenant=tenant)
    record_staff_request(
        tenant=tenant,
        subject_id=subject.pk,
        channel="in_person",
        evidence=EVIDENCE_NOTE,
        actor=officer,
    )
    files = members(archive_of(_this_year(tenant)))
    assert [name for name, data in files.items() if b"110101199003071234" in data] == []


def test_the_erasure_summary_counts_requests_and_erasures(tenant: Tenant, officer: User) -> None:
    for _n in range(2):
        subject = DataSubjectFactory(tenant=tenant)
        record_staff_request(
            tenant=tenant, subject_id=subject.pk, channel="phone", evidence="Call", actor=officer
        )
    html = members(archive_of(_this_year(tenant)))["summary.html"].decode()
    assert (
        '<th scope="row">Erasure requests completed</th><td class="num">2</td>' in html,
        '<th scope="row">Customers erased (ledger)</th><td class="num">2</td>' in html,
    ) == (True, True)


# --- incidents ------------------------------------------------------------------------------


def test_an_incident_case_is_listed_by_its_code_without_its_title(
    tenant: Tenant, officer: User
) -> None:
    case = _case(tenant, officer)
    pack = _this_year(tenant)
    rows = _rows(pack, "incident_cases.csv")
    everything = b"".join(members(archive_of(pack)).values())
    assert (
        [(r[0], r[2], r[3], r[7], r[8]) for r in rows[1:]],
        CASE_TITLE.encode() in everything,
        b"Li Na" in everything,
    ) == ([(case.code, "Major", "Lost device", "po-lin", "2")], False, False)


def test_a_report_made_on_time_is_kept(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    with tenant_scope(tenant):
        report = CaseReport.objects.get(case=case)
    record_report(case=case, report_id=report.pk, reference="CAC-2026-001", actor=officer)
    rows = _rows(_this_year(tenant), "incident_clocks.csv")
    assert [(r[0], r[1], r[6], r[7]) for r in rows[1:]] == [
        (case.code, "Report to the authority", "kept", "po-lin")
    ]


def test_a_report_past_due_and_not_made_is_overdue(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    with tenant_scope(tenant):
        CaseReport.objects.filter(case=case).update(due_at=timezone.now() - timedelta(minutes=5))
    pack = _this_year(tenant)
    rows = _rows(pack, "incident_clocks.csv")
    html = members(archive_of(pack))["summary.html"].decode()
    assert (
        [r[6] for r in rows[1:]],
        '<th scope="row">Reports overdue and not made</th><td class="num">1</td>' in html,
    ) == (["overdue"], True)


# --- training -------------------------------------------------------------------------------


def test_training_coverage_lists_each_persons_requirements(tenant: Tenant) -> None:
    seed_training(tenant, SYSTEM)
    cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username="cs-new")
    rows = _rows(_this_year(tenant), "training_coverage_people.csv")
    states = {(r[0], r[2]): r[4] for r in rows[1:]}
    assert (
        states[("cs-new", "pledge")],
        "Current" in {s for (u, _k), s in states.items() if u != "cs-new"},
    ) == (
        "Not taken",
        True,
    )


def test_training_coverage_per_role_counts_people(tenant: Tenant) -> None:
    seed_training(tenant, SYSTEM)
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-1")
    UserFactory(tenant=tenant, roles=[Role.RIDER], username="rider-2")
    rows = _rows(_this_year(tenant), "training_coverage_roles.csv")
    assert [r[:2] for r in rows[1:] if r[0] == "Rider"] == [["Rider", "2"]]


def test_the_sections_are_written_in_chinese_for_a_chinese_request(tenant: Tenant) -> None:
    UserFactory(tenant=tenant, roles=[Role.RIDER])
    rows = _rows(_this_year(tenant, language="zh-hans"), "training_coverage_roles.csv")
    assert rows[1][0] == "骑手"
