"""The dashboard's access statistics (issue 20; docs/decisions/0014): the hourly roll-up of
the access events (audits.access_rollups) equals counting the log, counts each event once
however often and however concurrently it runs, and keeps tenants apart; the "Reveals" and
"Denied reveals" panels (audits.access_panels) read it in local days, in a constant
number of queries, with every number linking to the audit log's list behind it."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audits.access_panels import denied_panel, reveals_panel
from audits.access_rollups import ACCESS_ACTIONS, BATCH_ACTIONS, roll_up_access
from audits.access_tasks import roll_up_access_statistics
from audits.models import AccessRollup, AccessRollupCursor, AuditEvent
from audits.panels import Period, panels_for
from audits.services import Event, record_events
from tenants.actors import SystemActor
from tenants.models import Role, ScheduledRun, Tenant, User
from tenants.scheduling import period_start
from tenants.scoping import tenant_scope
from tenants.tasks import clear_expired_sessions
from tests.factories import (
    AccessRollupFactory,
    IntegrationTokenFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(databases="__all__")

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOG = reverse("admin:audits_auditevent_changelist")
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and a real worker need PostgreSQL"
)


# --- helpers -----------------------------------------------------------------------------


def _reveal(purpose: str = "delivery", **details: Any) -> Event:
    action = "privacy.reveal_batch" if "count" in details else "privacy.reveal"
    if "count" in details:
        details.setdefault("objects", [])
    return Event(action=action, purpose=purpose, details=details or None)


def _record(tenant: Tenant, actor: Any, *events: Event, at: datetime | None = None) -> None:
    if at is None:
        record_events(tenant=tenant, actor=actor, events=list(events))
        return
    with mock.patch("django.utils.timezone.now", lambda: at):
        record_events(tenant=tenant, actor=actor, events=list(events))


def _rolled_up(tenant: Tenant) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(hour, kind, purpose, actor, roles) → (records, events) of the tenant's roll-up."""
    with tenant_scope(tenant):
        return {
            (r.bucket, r.kind, r.purpose, r.actor, r.roles): (r.records, r.events)
            for r in AccessRollup.objects.all()
        }


def _counted_from_the_log(
    tenant: Tenant, roles: dict[str, str]
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """The same figures counted from the log's rows, in Python."""
    records: Counter[tuple[Any, ...]] = Counter()
    events: Counter[tuple[Any, ...]] = Counter()
    with tenant_scope(tenant):
        for event in AuditEvent.objects.filter(action__in=list(ACCESS_ACTIONS)):
            key = (
                event.occurred_at.replace(minute=0, second=0, microsecond=0),
                ACCESS_ACTIONS[event.action].value,
                event.purpose,
                event.actor,
                roles.get(event.actor, ""),
            )
            records[key] += event.details["count"] if event.action in BATCH_ACTIONS else 1
            events[key] += 1
    return {key: (records[key], events[key]) for key in events}


def _label(user: User) -> str:
    return f"user:{user.pk}"


def _mixed_log(tenant: Tenant, seed: int) -> dict[str, str]:
    """A random mix of reveals, list reveals, refusals, failures, searches and other
    events by three people, a token and a job, over a few hours; returns actor → roles."""
    rng = random.Random(seed)  # noqa: S311  (a reproducible mix, not a secret)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    both = UserFactory(tenant=tenant, roles=[Role.DISPATCHER, Role.CUSTOMER_SERVICE])
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    token = IntegrationTokenFactory(tenant=tenant)
    actors: list[Any] = [agent, both, rider, token, SystemActor("retention-sweep")]
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    for _round in range(12):
        events = []
        for _n in range(rng.randint(1, 15)):
            purpose = rng.choice(["delivery", "customer_service_call", "packing", ""])
            pick = rng.random()
            if pick < 0.35:
                events.append(_reveal(purpose))
            elif pick < 0.55:
                events.append(_reveal(purpose, count=rng.randint(1, 40)))
            elif pick < 0.62:
                events.append(Event(action="privacy.reveal_denied", purpose=purpose))
            elif pick < 0.68:
                events.append(
                    Event(
                        action="privacy.reveal_batch_denied",
                        purpose=purpose,
                        details={"count": rng.randint(1, 9), "objects": []},
                    )
                )
            elif pick < 0.72:
                events.append(Event(action="privacy.reveal_failed", purpose=purpose))
            elif pick < 0.8:
                events.append(Event(action="privacy.search", purpose=purpose))
            elif pick < 0.84:
                events.append(Event(action="privacy.search_denied", purpose=purpose))
            else:
                events.append(Event(action="privacy.subject_created"))
        at = start + timedelta(minutes=rng.randint(0, 5 * 60))
        _record(tenant, rng.choice(actors), *events, at=at)
    return {
        _label(agent): "customer_service",
        _label(both): "customer_service,dispatcher",
        _label(rider): "rider",
    }


def _period(days: int = 7, *, zone: ZoneInfo = SHANGHAI, last: Any = None) -> Period:
    with timezone.override(zone):
        today = last or timezone.localdate()
        start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), zone)
        return Period(start=start, end=start + timedelta(days=days))


def _context(
    panel: Callable[..., dict[str, Any]], tenant: Tenant, period: Period
) -> dict[str, Any]:
    with tenant_scope(tenant), timezone.override(tenant.zone):
        return panel(RequestFactory().get("/"), tenant, period)


def _query(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert parts.path == LOG
    return parse_qs(parts.query)


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(time_zone="Asia/Shanghai")


# --- the roll-up ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rollup_equals_counting_the_raw_events(tenant: Tenant, seed: int) -> None:
    roles = _mixed_log(tenant, seed)
    roll_up_access(tenant, batch=7)
    assert _rolled_up(tenant) == _counted_from_the_log(tenant, roles)


def test_a_list_reveal_counts_each_of_its_records_and_one_event(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _record(tenant, agent, _reveal(count=25), _reveal())
    roll_up_access(tenant)
    assert list(_rolled_up(tenant).values()) == [(26, 2)]


def test_running_twice_changes_nothing(tenant: Tenant) -> None:
    _mixed_log(tenant, 4)
    first = roll_up_access(tenant, batch=5)
    counted = _rolled_up(tenant)
    second = roll_up_access(tenant, batch=5)
    assert (_rolled_up(tenant), second.batches, second.sequence) == (counted, 0, first.sequence)


def test_a_new_event_after_a_run_is_added_by_the_next(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    at = timezone.now().replace(minute=10, second=0, microsecond=0)
    _record(tenant, agent, _reveal(), at=at)
    roll_up_access(tenant)
    _record(tenant, agent, _reveal(count=4), at=at + timedelta(minutes=5))
    roll_up_access(tenant)
    assert list(_rolled_up(tenant).values()) == [(5, 2)]


def test_the_cursor_stands_at_the_chains_last_event(tenant: Tenant) -> None:
    _mixed_log(tenant, 5)
    run = roll_up_access(tenant, batch=3)
    with tenant_scope(tenant):
        last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)[0]
        cursor = AccessRollupCursor.objects.get()
    assert (run.sequence, cursor.sequence, cursor.rolled_up_at is not None) == (last, last, True)


def test_a_run_limited_to_some_batches_is_finished_by_the_next(tenant: Tenant) -> None:
    roles = _mixed_log(tenant, 6)
    first = roll_up_access(tenant, batch=4, max_batches=2)
    roll_up_access(tenant, batch=4)
    assert (first.scanned, _rolled_up(tenant)) == (8, _counted_from_the_log(tenant, roles))


def test_a_run_rolled_back_midway_counts_nothing_and_the_next_counts_everything(
    tenant: Tenant,
) -> None:
    roles = _mixed_log(tenant, 7)
    with pytest.raises(RuntimeError), transaction.atomic():
        roll_up_access(tenant, batch=4, max_batches=3)
        raise RuntimeError("the worker dies")
    assert _rolled_up(tenant) == {}
    roll_up_access(tenant, batch=4)
    assert _rolled_up(tenant) == _counted_from_the_log(tenant, roles)


def test_one_tenants_run_never_counts_another_tenants_events(tenant: Tenant) -> None:
    other = TenantFactory()
    _mixed_log(other, 8)
    agent = UserFactory(tenant=tenant, roles=[Role.PACKER])
    _record(tenant, agent, _reveal("packing"))
    roll_up_access(tenant)
    assert (list(_rolled_up(tenant).values()), _rolled_up(other)) == ([(1, 1)], {})


def test_roles_are_the_ones_held_when_rolled_up_sorted_and_none_for_a_job(tenant: Tenant) -> None:
    person = UserFactory(tenant=tenant, roles=[Role.PACKER, Role.KITCHEN])
    _record(tenant, person, _reveal("packing"))
    _record(tenant, SystemActor("dispatch"), _reveal("delivery"))
    roll_up_access(tenant)
    assert sorted((key[3], key[4]) for key in _rolled_up(tenant)) == sorted(
        [(_label(person), "kitchen,packer"), ("system:dispatch", "")]
    )


def test_a_batch_smaller_than_one_is_refused(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="^batch must be at least 1$"):
        roll_up_access(tenant, batch=0)


def test_a_tenant_without_events_rolls_up_nothing(tenant: Tenant) -> None:
    run = roll_up_access(tenant)
    assert (run.batches, run.sequence, _rolled_up(tenant)) == (0, 0, {})


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_two_overlapping_runs_count_each_event_once() -> None:
    tenant = TenantFactory()
    roles = _mixed_log(tenant, 9)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            roll_up_access(tenant, batch=2)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (errors, _rolled_up(tenant)) == ([], _counted_from_the_log(tenant, roles))


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_run_that_will_not_wait_leaves_a_busy_tenant_to_the_run_at_work() -> None:
    tenant = TenantFactory()
    _mixed_log(tenant, 10)
    roll_up_access(tenant, max_batches=0)  # the cursor row exists
    results = []

    def run() -> None:
        try:
            results.append(roll_up_access(tenant, wait=False))
        finally:
            connections.close_all()

    with transaction.atomic(), tenant_scope(tenant):
        list(AccessRollupCursor.objects.select_for_update(of=("self",)))  # another run's lock
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    assert ([r.busy for r in results], _rolled_up(tenant)) == ([True], {})


# --- the panels ----------------------------------------------------------------------------


def test_reveals_are_counted_in_the_tenants_local_days(tenant: Tenant) -> None:
    """15:00 UTC is 23:00 in Shanghai, 16:00 UTC the next day's midnight."""
    period = _period(2)
    first = period.first_day
    evening = datetime.combine(first, datetime.min.time(), SHANGHAI) + timedelta(hours=23)
    AccessRollupFactory(tenant=tenant, bucket=evening, records=3)
    AccessRollupFactory(tenant=tenant, bucket=evening + timedelta(hours=1), records=5)
    context = _context(reveals_panel, tenant, period)
    assert [row["total"].n for row in context["day_rows"]] == [3, 5]


def test_a_day_that_leaves_summer_time_has_twenty_five_hours() -> None:
    """Berlin, 26 October 2025: 00:00 CEST is 22:00 UTC the day before, and the next
    midnight (CET) is 23:00 UTC, 25 hours later."""
    berlin = ZoneInfo("Europe/Berlin")
    tenant = TenantFactory(time_zone="Europe/Berlin")
    period = _period(2, zone=berlin, last=date(2025, 10, 27))
    first = datetime(2025, 10, 25, 22, tzinfo=UTC)
    for hour, records in ((0, 1), (24, 2), (25, 4)):
        AccessRollupFactory(tenant=tenant, bucket=first + timedelta(hours=hour), records=records)
    context = _context(reveals_panel, tenant, period)
    assert [row["total"].n for row in context["day_rows"]] == [3, 4]


def test_the_panels_never_count_another_tenants_rows(tenant: Tenant) -> None:
    period = _period(1)
    AccessRollupFactory(tenant=TenantFactory(), bucket=period.start, records=9)
    AccessRollupFactory(tenant=TenantFactory(), bucket=period.start, kind="reveal_denied")
    reveals, denied = (_context(p, tenant, period) for p in (reveals_panel, denied_panel))
    assert (reveals["total"].n, reveals["top"], denied["attempts"].n) == (0, [], 0)


def test_hours_outside_the_period_are_not_counted(tenant: Tenant) -> None:
    period = _period(1)
    AccessRollupFactory(tenant=tenant, bucket=period.start - timedelta(hours=1), records=7)
    AccessRollupFactory(tenant=tenant, bucket=period.start, records=2)
    AccessRollupFactory(tenant=tenant, bucket=period.end - timedelta(hours=1), records=3)
    AccessRollupFactory(tenant=tenant, bucket=period.end, records=11)
    assert _context(reveals_panel, tenant, period)["total"].n == 5


def test_reveals_per_day_are_split_by_purpose_largest_first(tenant: Tenant) -> None:
    period = _period(1)
    AccessRollupFactory(tenant=tenant, bucket=period.start, purpose="packing", records=2)
    AccessRollupFactory(tenant=tenant, bucket=period.start, purpose="delivery", records=9)
    AccessRollupFactory(tenant=tenant, bucket=period.start, kind="reveal_denied", records=50)
    rows = _context(reveals_panel, tenant, period)["purpose_rows"]
    assert [(row["label"], row["total"].n) for row in rows] == [
        ("Delivering the order", 9),
        ("Packing the order", 2),
    ]


def test_the_chart_holds_the_same_figures_as_the_table(tenant: Tenant) -> None:
    period = _period(2)
    AccessRollupFactory(tenant=tenant, bucket=period.start, purpose="packing", records=2)
    chart = _context(reveals_panel, tenant, period)["chart"]
    data = json.loads(chart["data"])
    assert [(d["label"], d["data"]) for d in data["datasets"]] == [("Packing the order", [2, 0])]


def test_a_person_with_two_roles_counts_under_each_and_a_job_under_no_role(
    tenant: Tenant,
) -> None:
    period = _period(1)
    AccessRollupFactory(
        tenant=tenant, bucket=period.start, roles="customer_service,dispatcher", records=4
    )
    AccessRollupFactory(tenant=tenant, bucket=period.start, roles="dispatcher", records=1)
    AccessRollupFactory(tenant=tenant, bucket=period.start, actor="system:x", roles="", records=2)
    rows = _context(reveals_panel, tenant, period)["role_rows"]
    assert [(row["label"], row["records"].n) for row in rows] == [
        ("Dispatcher", 5),
        ("Customer service", 4),
        ("No role", 2),
    ]


def test_top_revealers_are_the_ten_with_most_records_by_username_and_roles(
    tenant: Tenant,
) -> None:
    period = _period(1)
    people = [
        UserFactory(tenant=tenant, username=f"agent-{n:02}", roles=[Role.CUSTOMER_SERVICE])
        for n in range(12)
    ]
    for n, person in enumerate(people):
        AccessRollupFactory(tenant=tenant, bucket=period.start, actor=_label(person), records=n + 1)
    top = _context(reveals_panel, tenant, period)["top"]
    assert [(p["name"], p["roles"], p["records"].n) for p in top[:2]] + [len(top)] == [
        ("agent-11", "Customer service", 12),
        ("agent-10", "Customer service", 11),
        10,
    ]


def test_a_token_a_job_and_a_deleted_user_are_named_without_ids_of_people(tenant: Tenant) -> None:
    period = _period(1)
    token = IntegrationTokenFactory(tenant=tenant, name="Partner")
    for n, actor in enumerate([f"token:{token.pk}", "system:dispatch", "user:999999"]):
        AccessRollupFactory(tenant=tenant, bucket=period.start, actor=actor, records=3 - n)
    top = _context(reveals_panel, tenant, period)["top"]
    assert [p["name"] for p in top] == [
        "Integration token: Partner",
        "System: dispatch",
        "user #999999 (deleted)",
    ]


def test_another_tenants_user_is_never_named(tenant: Tenant) -> None:
    period = _period(1)
    stranger = UserFactory(tenant=TenantFactory(), username="stranger")
    AccessRollupFactory(tenant=tenant, bucket=period.start, actor=_label(stranger))
    (person,) = _context(reveals_panel, tenant, period)["top"]
    assert person["name"] == f"user #{stranger.pk} (deleted)"


def test_numbers_link_to_the_audit_log_filtered_the_same_way(tenant: Tenant) -> None:
    period = _period(3)
    person = UserFactory(tenant=tenant, roles=[Role.RIDER])
    AccessRollupFactory(
        tenant=tenant, bucket=period.start, actor=_label(person), roles="rider", records=2
    )
    context = _context(reveals_panel, tenant, period)
    since, until = period.first_day.isoformat(), period.last_day.isoformat()
    dates = {"since": [since], "until": [until]}
    assert [
        _query(context["total"].url),
        _query(context["purpose_rows"][0]["total"].url),
        _query(context["purpose_rows"][0]["days"][0].url),
        _query(context["role_rows"][0]["records"].url),
        _query(context["top"][0]["records"].url),
    ] == [
        {"access": ["reveal"], **dates},
        {"access": ["reveal"], "purpose": ["delivery"], **dates},
        {"access": ["reveal"], "purpose": ["delivery"], "since": [since], "until": [since]},
        {"access": ["reveal"], "role": ["rider"], **dates},
        {"access": ["reveal"], "actor": [_label(person)], **dates},
    ]


def test_denied_reveals_count_attempts_records_and_the_people_refused_most(
    tenant: Tenant,
) -> None:
    period = _period(1)
    person = UserFactory(tenant=tenant, username="curious", roles=[Role.KITCHEN])
    AccessRollupFactory(
        tenant=tenant,
        bucket=period.start,
        kind="reveal_denied",
        actor=_label(person),
        roles="kitchen",
        records=12,
        events=3,
    )
    AccessRollupFactory(tenant=tenant, bucket=period.start, kind="search_denied", events=2)
    AccessRollupFactory(tenant=tenant, bucket=period.start, kind="reveal", events=40)
    context = _context(denied_panel, tenant, period)
    assert (
        context["attempts"].n,
        context["records"],
        context["searches"].n,
        context["failed"].n,
        [(p["name"], p["roles"], p["events"]) for p in context["top"]],
        _query(context["top"][0]["records"].url)["actor"],
        _query(context["attempts"].url)["access"],
    ) == (3, 12, 2, 0, [("curious", "Kitchen", 3)], [_label(person)], ["reveal_denied"])


def _many_rows(tenant: Tenant, period: Period, people: int) -> None:
    for n in range(people):
        user = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE, Role.RIDER])
        for hour in range(0, 48, 7):
            for kind in ("reveal", "reveal_denied"):
                AccessRollupFactory(
                    tenant=tenant,
                    bucket=period.start + timedelta(hours=hour),
                    kind=kind,
                    purpose=("delivery", "packing")[n % 2],
                    actor=_label(user),
                    roles="customer_service,rider",
                )
    token = IntegrationTokenFactory(tenant=tenant)
    AccessRollupFactory(tenant=tenant, bucket=period.start, actor=f"token:{token.pk}")


@pytest.mark.parametrize("people", [1, 12])
def test_the_reveals_panel_runs_in_a_constant_number_of_queries(
    tenant: Tenant, people: int, django_assert_max_num_queries: Any
) -> None:
    period = _period(2)
    _many_rows(tenant, period, people)
    with django_assert_max_num_queries(6):
        _context(reveals_panel, tenant, period)


@pytest.mark.parametrize("people", [1, 12])
def test_the_denied_panel_runs_in_a_constant_number_of_queries(
    tenant: Tenant, people: int, django_assert_max_num_queries: Any
) -> None:
    period = _period(2)
    _many_rows(tenant, period, people)
    with django_assert_max_num_queries(5):
        _context(denied_panel, tenant, period)


@needs_postgresql
def test_the_panels_read_the_rollup_through_its_tenant_and_hour_index(tenant: Tenant) -> None:
    period = _period(2)
    _many_rows(tenant, period, 3)
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = (
            AccessRollup.objects.filter(
                tenant=tenant, bucket__gte=period.start, bucket__lt=period.end, kind="reveal"
            )
            .values("actor")
            .explain()
        )
    assert "access_rollup_key" in plan


@needs_postgresql
def test_the_rollups_key_carries_the_counts_for_reads_from_the_index_alone() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'access_rollup_key'")
        (definition,) = cursor.fetchone()
    assert definition.endswith(
        "(tenant_id, bucket, kind, purpose, actor, roles) INCLUDE (records, events)"
    )


def test_the_panels_render_their_figures_and_links(tenant: Tenant) -> None:
    period = _period(2)
    person = UserFactory(tenant=tenant, username="agent-li", roles=[Role.CUSTOMER_SERVICE])
    AccessRollupFactory(
        tenant=tenant, bucket=period.start, actor=_label(person), roles="customer_service"
    )
    AccessRollupFactory(
        tenant=tenant, bucket=period.start, kind="reveal_denied", actor=_label(person)
    )
    user = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    html = ""
    request = RequestFactory().get("/")
    request.user = user
    with tenant_scope(tenant), timezone.override(tenant.zone):
        for panel in panels_for(user):
            if panel.key.startswith("audits."):
                context = panel.context_for(request, tenant, period)
                html += render_to_string(panel.template, context)
    assert (
        html.count('data-type="bar"'),
        "agent-li" in html,
        "1 record revealed" in html,
        "1 reveal refused" in html,
        f"{LOG}?access=reveal&amp;since=" in html,
    ) == (2, True, True, True, True)


@pytest.mark.parametrize("role", list(Role))
def test_the_access_panels_reach_supervisors_privacy_officers_and_admins_only(role: Role) -> None:
    user = UserFactory(tenant=TenantFactory(), roles=[role])
    keys = {panel.key for panel in panels_for(user)}
    viewers = {Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN}
    assert (keys >= {"audits.reveals", "audits.denied_reveals"}) == (role in viewers)


# --- the audit log's "access" filter -------------------------------------------------------


def test_the_audit_lists_access_filter_shows_reveals_and_list_reveals_only(
    tenant: Tenant,
) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _record(
        tenant,
        agent,
        _reveal(),
        _reveal(count=3),
        Event(action="privacy.reveal_denied", purpose="delivery"),
        Event(action="privacy.search", purpose="delivery"),
    )
    client = Client()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
    response = client.get(f"{LOG}?access=reveal&purpose=delivery")
    actions = sorted(event.action for event in response.context["cl"].result_list)
    assert (response.status_code, actions) == (200, ["privacy.reveal", "privacy.reveal_batch"])


def test_an_unknown_access_value_is_ignored(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    _record(tenant, agent, _reveal(), Event(action="privacy.search", purpose="delivery"))
    client = Client()
    client.force_login(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
    response = client.get(f"{LOG}?access=everything")
    assert (response.status_code, len(response.context["cl"].result_list)) == (200, 2)


# --- the beat job on a real worker (PostgreSQL, Redis) ------------------------------------


def _wait(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def _done(job: str, period: int) -> bool:
    return ScheduledRun.objects.filter(
        job=job, period=period_start(period), status=ScheduledRun.Status.DONE
    ).exists()


def _cursor_at(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        found = AccessRollupCursor.objects.values_list("sequence", flat=True).first()
    return int(found or 0)


@needs_postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_the_beat_job_on_a_real_worker_rolls_up_every_tenant_once(worker: str) -> None:
    first, second = TenantFactory(), TenantFactory()
    roles = {first.pk: _mixed_log(first, 11), second.pk: _mixed_log(second, 12)}
    heads = {}
    for tenant in (first, second):
        with tenant_scope(tenant):
            heads[tenant.pk] = AuditEvent.objects.order_by("-sequence").first().sequence
    period = int(timezone.now().timestamp())
    roll_up_access_statistics.apply_async(kwargs={"period": period}, queue=worker)
    _wait(lambda: all(_cursor_at(t) == heads[t.pk] for t in (first, second)))
    # The same period again (the job ran for it) and the next one (nothing new): then a
    # marker job behind them, which the worker takes after their tenants' tasks.
    roll_up_access_statistics.apply_async(kwargs={"period": period}, queue=worker)
    roll_up_access_statistics.apply_async(kwargs={"period": period + 1}, queue=worker)
    clear_expired_sessions.apply_async(kwargs={"period": period + 2}, queue=worker)
    _wait(lambda: _done(clear_expired_sessions.name, period + 2))
    assert [_rolled_up(t) for t in (first, second)] == [
        _counted_from_the_log(first, roles[first.pk]),
        _counted_from_the_log(second, roles[second.pk]),
    ]
