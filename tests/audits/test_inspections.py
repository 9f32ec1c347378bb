"""Inspections (issue 20, point 3; §6.1.1–6.1.2): checklists generated per scope from the
registry, findings with evidence and follow-ups, the transitions and their refusals,
permissions per role, overdue follow-ups notified once, recurring inspections planned once;
the daily job on a real worker."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.utils import timezone

from audits.checklists import all_checklist_items
from audits.inspections import jobs, services
from audits.inspections.evidence import evidence_path, evidence_root
from audits.models import (
    AuditEvent,
    EvidenceFile,
    Finding,
    FollowUp,
    Inspection,
    InspectionItem,
)
from core.errors import Conflict
from tenants.models import Notification, Role
from tenants.scoping import tenant_scope
from tests.audits.inspection_support import (  # noqa: F401 - evidence_in_tmp is a fixture
    DAY,
    JPEG,
    PDF,
    PNG,
    WEBP,
    clock,
    evidence_in_tmp,
    fail,
    follow_up_of,
    items_of,
    overdue_follow_up,
    started,
    supervisor,
)
from tests.factories import InspectionFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

PACKING = ["orders.label_no_name", "orders.packaging_sealed", "training.new_staff_trained"]


def _events(tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- the checklist -------------------------------------------------------------------------


def test_a_packing_inspection_gets_the_packing_items_in_clause_order() -> None:
    inspection = InspectionFactory(scope="packing")
    assert [i.key for i in items_of(inspection)] == PACKING


def test_a_full_inspection_gets_every_registered_item() -> None:
    inspection = InspectionFactory(scope="full")
    assert [i.key for i in items_of(inspection)] == [s.key for s in all_checklist_items()]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("kitchen", ["orders.kitchen_no_discussion", "orders.kitchen_kept_apart"]),
        (
            "dispatch",
            [
                "privacy.use_for_delivery",
                "riders.agreements_signed",
                "riders.pickup_discreet",
                "riders.transit_hidden",
                "riders.handover_identity",
            ],
        ),
    ],
)
def test_each_scope_gets_its_own_items(scope: str, expected: list[str]) -> None:
    keys = [i.key for i in items_of(InspectionFactory(scope=scope))]
    assert keys == [*expected, "training.new_staff_trained"]


def test_every_policy_area_contributes_checklist_items_from_its_app() -> None:
    clauses = {spec.clause for spec in all_checklist_items()}
    assert {"2.1", "2.2.1", "2.2.2", "2.3", "2.4", "3.1.1", "3.3.1", "4.1.1", "4.4"} | {
        "5.1",
        "6.1.2",
        "6.2",
        "7.1",
        "7.2",
    } <= clauses


def test_an_item_keeps_its_clause_kind_and_text_in_both_languages() -> None:
    item = items_of(InspectionFactory(scope="packing"))[0]
    assert (item.clause, item.kind, item.text_en) == (
        "3.3.1",
        "on_site",
        "Labels show no full name or phone number",
    )
    assert item.text_zh != ""


def test_planning_is_audited_with_the_number_of_items() -> None:
    inspection = InspectionFactory(scope="packing")
    [event] = _events(inspection.tenant, "inspections.planned")
    assert (event.details["items"], event.details["scope"]) == (3, "packing")


# --- bad input and permissions when planning -----------------------------------------------


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        ("title", {"title": " "}, "Give the inspection a title."),
        ("title", {"title": "x" * 201}, "At most 200 characters, please."),
        ("title", {"title": "bad\x00title"}, "The text holds a NUL character."),
        ("scope", {"scope": "garden"}, "Choose a scope from the list."),
        ("planned_for", {"planned_for": "tomorrow"}, "Give the planned date as YYYY-MM-DD."),
        ("planned_for", {"planned_for": "2001-01-01"}, "The date cannot be in the past."),
        ("recurrence", {"recurrence": "weekly"}, "Choose a recurrence from the list."),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(field: str, values: dict, message: str) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    arguments = {
        "title": "Packing check",
        "scope": "packing",
        "planned_for": services.local_today(tenant),
        "inspector_id": boss.pk,
        "recurrence": "",
        **values,
    }
    with pytest.raises(ValidationError) as error:
        services.plan_inspection(tenant=tenant, actor=boss, **arguments)
    assert error.value.message_dict == {field: [message]}


@pytest.mark.parametrize("role", [Role.KITCHEN, Role.TENANT_ADMIN, Role.RIDER])
def test_only_a_supervisor_or_privacy_officer_may_be_the_inspector(role: Role) -> None:
    tenant = TenantFactory()
    other = UserFactory(tenant=tenant, roles=[role])
    with pytest.raises(ValidationError) as error:
        services.plan_inspection(
            tenant=tenant,
            actor=supervisor(tenant),
            title="Check",
            scope="packing",
            planned_for=services.local_today(tenant),
            inspector_id=other.pk,
        )
    assert error.value.message_dict == {
        "inspector": ["Choose a supervisor or privacy officer of this tenant."]
    }


def test_an_inspector_of_another_tenant_is_refused() -> None:
    tenant = TenantFactory()
    stranger = supervisor(TenantFactory())
    with pytest.raises(ValidationError) as error:
        services.plan_inspection(
            tenant=tenant,
            actor=supervisor(tenant),
            title="Check",
            scope="packing",
            planned_for=services.local_today(tenant),
            inspector_id=stranger.pk,
        )
    assert list(error.value.message_dict) == ["inspector"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.SUPERVISOR, True),
        (Role.PRIVACY_OFFICER, True),
        (Role.TENANT_ADMIN, True),
        (Role.CUSTOMER_SERVICE, False),
        (Role.DISPATCHER, False),
        (Role.KITCHEN, False),
        (Role.PACKER, False),
        (Role.RIDER, False),
    ],
)
def test_who_may_plan_an_inspection(role: Role, allowed: bool) -> None:
    tenant = TenantFactory()
    actor = UserFactory(tenant=tenant, roles=[role])
    inspector = supervisor(tenant)
    try:
        services.plan_inspection(
            tenant=tenant,
            actor=actor,
            title="Check",
            scope="kitchen",
            planned_for=services.local_today(tenant),
            inspector_id=inspector.pk,
        )
        planned = True
    except PermissionDenied:
        planned = False
    assert planned is allowed


def test_a_supervisor_of_another_tenant_may_not_plan() -> None:
    tenant = TenantFactory()
    with pytest.raises(PermissionDenied):
        services.plan_inspection(
            tenant=tenant,
            actor=supervisor(TenantFactory()),
            title="Check",
            scope="kitchen",
            planned_for=services.local_today(tenant),
            inspector_id=supervisor(tenant).pk,
        )


# --- transitions ---------------------------------------------------------------------------


def test_findings_are_refused_before_the_inspection_starts() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss)
    with pytest.raises(Conflict) as error:
        services.record_finding(
            inspection=inspection, item_id=items_of(inspection)[0].pk, actor=boss, result="pass"
        )
    assert error.value.message == (
        "The inspection is planned: findings are recorded while it is in progress."
    )


def test_completing_is_refused_while_an_item_has_no_finding() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    services.record_finding(
        inspection=inspection, item_id=items_of(inspection)[0].pk, actor=boss, result="pass"
    )
    with pytest.raises(Conflict) as error:
        services.complete_inspection(inspection=inspection, actor=boss)
    assert error.value.message == ("2 items have no finding yet: record them before completing.")


def test_an_inspection_with_every_finding_completes_and_says_how_many_failed() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    first, *others = items_of(inspection)
    fail(inspection, first, boss, boss, services.local_today(tenant) + 7 * DAY)
    for item in others:
        services.record_finding(inspection=inspection, item_id=item.pk, actor=boss, result="pass")
    done = services.complete_inspection(inspection=inspection, actor=boss)
    [event] = _events(tenant, "inspections.completed")
    assert (done.state, event.details) == (
        "completed",
        {"inspection": inspection.pk, "findings": 3, "failed": 1},
    )


def test_a_completed_inspection_cannot_be_started_again() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    for item in items_of(inspection):
        services.record_finding(
            inspection=inspection, item_id=item.pk, actor=boss, result="not_applicable"
        )
    services.complete_inspection(inspection=inspection, actor=boss)
    with pytest.raises(Conflict) as error:
        services.start_inspection(inspection=inspection, actor=boss)
    assert error.value.message == "The inspection is completed: it cannot be started."


def test_starting_twice_records_one_event() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    services.start_inspection(inspection=inspection, actor=boss)
    assert len(_events(tenant, "inspections.started")) == 1


# --- findings ------------------------------------------------------------------------------


def test_a_failed_item_opens_a_follow_up_with_its_owner_and_due_date() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    inspection = started(tenant, boss)
    due = services.local_today(tenant) + 7 * DAY
    finding = fail(inspection, items_of(inspection)[0], boss, packer, due)
    follow_up = follow_up_of(finding)
    assert (follow_up.owner_id, follow_up.due_on, follow_up.state) == (packer.pk, due, "open")


@pytest.mark.parametrize(
    ("owner", "due", "field", "message"),
    [
        (
            None,
            "tomorrow",
            "owner",
            "A failed item needs a follow-up owner: a staff member of this tenant.",
        ),
        ("packer", None, "due_on", "A failed item needs the follow-up's due date (YYYY-MM-DD)."),
        ("packer", "2001-02-03", "due_on", "The date cannot be in the past."),
        (
            "rider",
            "tomorrow",
            "owner",
            "A failed item needs a follow-up owner: a staff member of this tenant.",
        ),
    ],
)
def test_a_failed_item_without_a_proper_follow_up_is_refused(
    owner: str | None, due: str | None, field: str, message: str
) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    people = {
        "packer": UserFactory(tenant=tenant, roles=[Role.PACKER]),
        "rider": UserFactory(tenant=tenant, roles=[Role.RIDER]),
    }
    inspection = started(tenant, boss)
    tomorrow = (services.local_today(tenant) + DAY).isoformat()
    with pytest.raises(ValidationError) as error:
        services.record_finding(
            inspection=inspection,
            item_id=items_of(inspection)[0].pk,
            actor=boss,
            result="fail",
            follow_up_owner_id=people[owner].pk if owner else None,
            follow_up_due=tomorrow if due == "tomorrow" else due,
        )
    assert error.value.message_dict == {field: [message]}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"result": "maybe"}, "result", "Choose pass, fail or not applicable."),
        ({"note": "n" * 2001}, "note", "At most 2000 characters, please."),
        ({"item_id": "abc"}, "item", "No such item on this inspection's checklist."),
    ],
)
def test_a_bad_finding_is_refused_naming_the_field(values: dict, field: str, message: str) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    arguments = {"item_id": items_of(inspection)[0].pk, "result": "pass", **values}
    with pytest.raises(ValidationError) as error:
        services.record_finding(inspection=inspection, actor=boss, **arguments)
    assert error.value.message_dict == {field: [message]}


def test_an_item_of_another_inspection_is_no_item_of_this_one() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    other = started(tenant, boss)
    with pytest.raises(ValidationError) as error:
        services.record_finding(
            inspection=inspection, item_id=items_of(other)[0].pk, actor=boss, result="pass"
        )
    assert error.value.message_dict == {"item": ["No such item on this inspection's checklist."]}


def test_the_same_finding_submitted_twice_is_recorded_once() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    item = items_of(inspection)[0]
    due = services.local_today(tenant) + DAY
    first = fail(inspection, item, boss, boss, due, files=[PDF])
    second = fail(inspection, item, boss, boss, due, files=[PDF])
    with tenant_scope(tenant):
        counts = (Finding.objects.count(), FollowUp.objects.count(), EvidenceFile.objects.count())
    assert (second.pk, counts, len(_events(tenant, "inspections.finding_recorded"))) == (
        first.pk,
        (1, 1, 1),
        1,
    )


def test_a_different_finding_for_an_item_already_found_is_a_conflict() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    item = items_of(inspection)[0]
    services.record_finding(inspection=inspection, item_id=item.pk, actor=boss, result="pass")
    with pytest.raises(Conflict) as error:
        services.record_finding(
            inspection=inspection, item_id=item.pk, actor=boss, result="not_applicable"
        )
    assert error.value.message == "A finding is already recorded for §3.3.1: it cannot be changed."


# --- evidence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
)
def test_evidence_is_typed_by_its_bytes_and_stored_under_its_sha256(
    data: bytes, content_type: str
) -> None:
    import hashlib

    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    finding = services.record_finding(
        inspection=inspection,
        item_id=items_of(inspection)[0].pk,
        actor=boss,
        result="pass",
        files=[data],
    )
    with tenant_scope(tenant):
        [evidence] = EvidenceFile.objects.filter(finding=finding)
    sha256 = hashlib.sha256(data).hexdigest()
    assert (evidence.sha256, evidence.size, evidence.content_type) == (
        sha256,
        len(data),
        content_type,
    )
    assert evidence_path(evidence) == evidence_root() / str(tenant.pk) / sha256
    assert evidence_path(evidence).read_bytes() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The evidence file is empty."),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "Evidence must be a PDF, PNG, JPEG or WebP file: this file is none of them.",
        ),
        (
            b"MZ\x90\x00 an executable",
            "Evidence must be a PDF, PNG, JPEG or WebP file: this file is none of them.",
        ),
    ],
)
def test_a_bad_evidence_file_is_refused_and_nothing_is_written(data: bytes, message: str) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    with pytest.raises(ValidationError) as error:
        services.record_finding(
            inspection=inspection,
            item_id=items_of(inspection)[0].pk,
            actor=boss,
            result="pass",
            files=[PDF, data],
        )
    with tenant_scope(tenant):
        written = (Finding.objects.count(), EvidenceFile.objects.count())
    assert (error.value.message_dict, written, evidence_root().exists()) == (
        {"evidence": [message]},
        (0, 0),
        False,
    )


def test_an_evidence_file_over_the_limit_is_refused(settings) -> None:
    settings.INSPECTION_EVIDENCE_MAX_BYTES = 2048
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    with pytest.raises(ValidationError) as error:
        services.record_finding(
            inspection=inspection,
            item_id=items_of(inspection)[0].pk,
            actor=boss,
            result="pass",
            files=[PDF + b"0" * 4096],
        )
    assert error.value.message_dict == {
        "evidence": ["The evidence file is too big: 5 KB, at most 2 KB."]
    }


def test_a_refused_finding_removes_the_evidence_file_it_wrote() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss)  # planned: refused
    with pytest.raises(Conflict):
        services.record_finding(
            inspection=inspection,
            item_id=items_of(inspection)[0].pk,
            actor=boss,
            result="pass",
            files=[PNG],
        )
    assert list((evidence_root() / str(tenant.pk)).iterdir()) == []


def test_the_finding_event_names_the_evidence_hashes_and_no_note() -> None:
    import hashlib

    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    services.record_finding(
        inspection=inspection,
        item_id=items_of(inspection)[0].pk,
        actor=boss,
        result="pass",
        note="Seen at the packing bench",
        files=[PNG, PDF],
    )
    [event] = _events(tenant, "inspections.finding_recorded")
    assert event.details == {
        "inspection": inspection.pk,
        "item": "orders.label_no_name",
        "clause": "3.3.1",
        "result": "pass",
        "evidence": sorted(hashlib.sha256(d).hexdigest() for d in (PNG, PDF)),
        "follow_up": None,
        "owner": None,
        "due_on": None,
    }


# --- follow-ups ----------------------------------------------------------------------------


def test_the_owner_closes_a_follow_up_with_a_note() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, packer, services.local_today(tenant))
    done = services.close_follow_up(
        follow_up=follow_up_of(finding), actor=packer, note="Label template changed"
    )
    assert (done.state, done.done_by_id, done.done_note) == (
        "done",
        packer.pk,
        "Label template changed",
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.SUPERVISOR, True),
        (Role.PRIVACY_OFFICER, True),
        (Role.TENANT_ADMIN, True),
        (Role.PACKER, False),
        (Role.KITCHEN, False),
        (Role.RIDER, False),
    ],
)
def test_who_besides_the_owner_may_close_a_follow_up(role: Role, allowed: bool) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    owner = UserFactory(tenant=tenant, roles=[Role.PACKER])
    finding = fail(inspection, items_of(inspection)[0], boss, owner, services.local_today(tenant))
    actor = UserFactory(tenant=tenant, roles=[role])
    try:
        services.close_follow_up(follow_up=follow_up_of(finding), actor=actor, note="Fixed")
        closed = True
    except PermissionDenied:
        closed = False
    assert closed is allowed


def test_closing_without_a_note_is_refused_naming_the_note() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, boss, services.local_today(tenant))
    with pytest.raises(ValidationError) as error:
        services.close_follow_up(follow_up=follow_up_of(finding), actor=boss, note="  ")
    assert error.value.message_dict == {"note": ["Say what was done to close the follow-up."]}


def test_closing_a_done_follow_up_again_with_another_note_is_a_conflict() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, boss, services.local_today(tenant))
    follow_up = follow_up_of(finding)
    services.close_follow_up(follow_up=follow_up, actor=boss, note="Fixed")
    services.close_follow_up(follow_up=follow_up, actor=boss, note="Fixed")  # a double click
    with pytest.raises(Conflict) as error:
        services.close_follow_up(follow_up=follow_up, actor=boss, note="Fixed again")
    assert (error.value.message, len(_events(tenant, "inspections.follow_up_closed"))) == (
        "The follow-up is done: it cannot be closed again.",
        1,
    )


# --- the daily job -------------------------------------------------------------------------


def _kinds(user) -> list[str]:
    with tenant_scope(user.tenant_id):
        return list(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_an_overdue_follow_up_notifies_its_owner_and_the_supervisors_once() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    overdue_follow_up(tenant, boss, packer)
    first = jobs.notify_overdue_follow_ups(tenant)
    second = jobs.notify_overdue_follow_ups(tenant)
    kind = jobs.FOLLOW_UP_OVERDUE
    assert (first, second) == (1, 0)
    assert [_kinds(u) for u in (packer, boss, officer, kitchen)] == [[kind], [kind], [kind], []]
    assert len(_events(tenant, "inspections.follow_up_overdue")) == 1


def test_a_follow_up_due_today_is_not_overdue() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    fail(inspection, items_of(inspection)[0], boss, boss, services.local_today(tenant))
    assert jobs.notify_overdue_follow_ups(tenant) == 0


def test_a_closed_follow_up_is_never_notified_overdue() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    follow_up = overdue_follow_up(tenant, boss, boss)
    services.close_follow_up(follow_up=follow_up, actor=boss, note="Done late")
    assert jobs.notify_overdue_follow_ups(tenant) == 0


def test_a_monthly_inspection_gets_its_next_occurrence_two_weeks_ahead_once() -> None:
    tenant = TenantFactory()
    today = services.local_today(tenant)
    inspection = InspectionFactory(tenant=tenant, recurrence="monthly", planned_for=today)
    later = timezone.now() + timedelta(days=(inspection.next_date - today).days - 14)
    first = jobs.plan_next_occurrences(tenant, now=later)
    second = jobs.plan_next_occurrences(tenant, now=later + DAY)
    with tenant_scope(tenant):
        successor = Inspection.objects.get(recurs_from=inspection)
        item_count = InspectionItem.objects.filter(inspection=successor).count()
    assert (first, second) == (1, 0)
    assert (successor.planned_for, successor.recurrence, successor.state, item_count) == (
        inspection.next_date,
        "monthly",
        "planned",
        3,
    )


def test_an_occurrence_too_far_ahead_is_not_planned_yet() -> None:
    tenant = TenantFactory()
    InspectionFactory(tenant=tenant, recurrence="yearly")
    assert jobs.plan_next_occurrences(tenant) == 0


def test_the_next_occurrence_of_the_next_is_planned_in_turn() -> None:
    tenant = TenantFactory()
    today = services.local_today(tenant)
    InspectionFactory(tenant=tenant, recurrence="quarterly", planned_for=today)
    far = timezone.now() + timedelta(days=200)
    planned = [jobs.plan_next_occurrences(tenant, now=far) for _ in range(3)]
    with tenant_scope(tenant):
        dates = sorted(Inspection.objects.values_list("planned_for", flat=True))
    assert (planned, dates) == (
        [1, 1, 0],
        [today, services.add_months(today, 3), services.add_months(today, 6)],  # the day kept
    )


def test_a_monthly_series_keeps_its_day_of_the_month_after_a_shorter_month() -> None:
    import datetime

    start = datetime.date(2027, 1, 31)
    february = services.next_occurrence(start, "monthly", series_start=start)
    assert february is not None
    march = services.next_occurrence(february, "monthly", series_start=start)
    assert (february, march) == (datetime.date(2027, 2, 28), datetime.date(2027, 3, 31))


# --- concurrency and the real worker (PostgreSQL, Redis) -----------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and a real worker need PostgreSQL"
)


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_submissions_of_one_finding_at_once_record_it_once() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    item = items_of(inspection)[0]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait()
            services.record_finding(
                inspection=inspection, item_id=item.pk, actor=boss, result="pass", files=[PNG]
            )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        counts = (Finding.objects.count(), EvidenceFile.objects.count())
    assert (errors, counts, len(_events(tenant, "inspections.finding_recorded"))) == (
        [],
        (1, 1),
        1,
    )


def test_the_overdue_notification_reads_with_its_clause_and_date() -> None:
    from tenants.notifications import message_of

    tenant = TenantFactory()
    boss = supervisor(tenant)
    follow_up = overdue_follow_up(tenant, boss, boss)
    jobs.notify_overdue_follow_ups(tenant)
    with tenant_scope(tenant):
        notification = Notification.objects.get(user=boss)
    assert (message_of(notification), notification.link) == (
        f"Inspection follow-up overdue since {follow_up.due_on:%b. %-d, %Y}: §3.3.1",
        f"/admin/audits/followup/{follow_up.pk}/change/",
    )


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_runs_at_once_plan_one_next_occurrence() -> None:
    tenant = TenantFactory()
    inspection = InspectionFactory(tenant=tenant, recurrence="monthly")
    later = timezone.now() + timedelta(days=25)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(jobs.plan_next_occurrences(tenant, now=later))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_scope(tenant):
        successors = Inspection.objects.filter(recurs_from=inspection).count()
    assert (errors, sorted(results), successors) == ([], [0, 1], 1)


def test_the_same_plan_submitted_twice_plans_one_inspection() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    plan = {
        "tenant": tenant,
        "actor": boss,
        "title": "Packing check",
        "scope": "packing",
        "planned_for": services.local_today(tenant),
        "inspector_id": boss.pk,
    }
    first = services.plan_inspection(**plan)
    second = services.plan_inspection(**plan)
    assert (second.pk, len(_events(tenant, "inspections.planned"))) == (first.pk, 1)


# --- a finding as a violation's evidence ----------------------------------------------------


def test_a_finding_is_a_violations_evidence_within_its_tenant_only() -> None:
    from audits.violations.evidence import resolve_evidence

    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss)
    services.start_inspection(inspection=inspection, actor=boss)
    item = items_of(inspection)[0]
    with tenant_scope(tenant):
        finding = services.record_finding(
            inspection=inspection, item_id=item.pk, actor=boss, result="pass"
        )
        found = resolve_evidence(tenant, "finding", f"#{finding.pk}")
    other = TenantFactory()
    with tenant_scope(other), pytest.raises(ValidationError) as error:
        resolve_evidence(other, "finding", str(finding.pk))
    assert found.label == (
        f"Finding #{finding.pk}, §{item.clause}: Pass (inspection #{inspection.pk})"
    )
    assert found.url.endswith(f"/inspection/{inspection.pk}/checklist/")
    assert error.value.message_dict == {
        "object_id": [f"Inspection finding {finding.pk} not found in your tenant."]
    }
