"""The training gates (issue 19, point 4): reveal (customer service and privacy officers:
a current pass of their courses and the signed pledge) and dispatch (riders: a current pass
of the riders' course), each with a passed, an expired and a missing training, and the grace
period after a new version; every decision audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from orders.models import Order
from privacy.api import Purpose, RevealUntrained, reveal, reveal_many
from riders.dispatch import assign_rider
from riders.eligibility import dispatch_blockers_of
from riders.models import Rider
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, TenantFactory, UserFactory, verified_second_factor
from tests.riders.conftest import make_rider, packed_order
from tests.training.conftest import (
    SYSTEM,
    cleared_staff,
    new_course_version,
    pass_course,
    sign_current_pledge,
)
from training.gates import current_generation, dispatch_gate, kept_reveal_gate, reveal_gate
from training.models import CourseVersion, QuizAttempt, StaffPledge
from training.pledges import publish_pledge
from training.starter import ALL_STAFF, RIDERS

pytestmark = pytest.mark.django_db(databases="__all__")

INDUCTION = ALL_STAFF["code"]
RIDER_COURSE = RIDERS["code"]


def _reveal(order: Order, user: User) -> dict[str, str]:
    return reveal(order, fields=["phone"], actor=user, purpose=Purpose.CUSTOMER_SERVICE_CALL)


def _last(tenant: Tenant, action: str) -> AuditEvent:
    with tenant_scope(tenant):
        return AuditEvent.objects.filter(action=action).latest("pk")


def _age_passes(user: User, months: int) -> None:
    """Move ``user``'s passes ``months`` into the past (time moved forward)."""
    with tenant_scope(user.tenant_id):
        for attempt in QuizAttempt.objects.filter(user=user, passed=True):
            QuizAttempt.objects.filter(pk=attempt.pk).update(
                submitted_at=attempt.submitted_at - timedelta(days=31 * months)
            )


def _publish_days_ago(model: type, tenant: Tenant, days: int, **filters: object) -> None:
    with tenant_scope(tenant):
        latest = model.objects.filter(**filters).order_by("-version").first()
        model.objects.filter(pk=latest.pk).update(
            published_at=timezone.now() - timedelta(days=days)
        )


# --- reveal ----------------------------------------------------------------------------


def test_customer_service_without_training_is_refused_a_reveal_saying_why(
    tenant: Tenant,
) -> None:
    order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(RevealUntrained) as refused:
        _reveal(order, agent)
    message = str(refused.value)
    assert "“Confidential delivery rules: induction for all staff”" in message or (
        "外卖保密送达制度" in message
    )
    assert refused.value.gate_url == f"/training/courses/{INDUCTION}/"
    event = _last(tenant, "privacy.reveal_denied")
    assert event.details == {"training_refused": [f"{INDUCTION}:missing", "pledge:missing"]}


def test_a_passed_course_without_the_pledge_is_still_refused(tenant: Tenant) -> None:
    order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    pass_course(agent, INDUCTION)
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": ["pledge:missing"]
    }
    assert reveal_gate(agent).url == "/training/pledge/"
    sign_current_pledge(agent)
    assert _reveal(order, agent) == {"phone": "13912345678"}
    event = _last(tenant, "privacy.reveal")
    assert set(event.details) == {"subject"}  # nothing to warn about


def test_an_expired_pass_is_refused_without_grace(tenant: Tenant) -> None:
    order = OrderFactory(tenant=tenant)
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    _age_passes(agent, 13)  # the induction renews every 12 months
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": [f"{INDUCTION}:expired"]
    }
    pass_course(agent, INDUCTION)
    assert _reveal(order, agent) == {"phone": "13912345678"}


def test_a_new_course_version_warns_during_the_grace_period_then_refuses(
    tenant: Tenant,
) -> None:
    order = OrderFactory(tenant=tenant)
    officer = cleared_staff(tenant, Role.PRIVACY_OFFICER)
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    new_course_version(tenant, INDUCTION)
    gate = reveal_gate(agent)
    assert (gate.open, [u.code for u in gate.warned]) == (True, [INDUCTION])
    assert _reveal(order, agent) == {"phone": "13912345678"}
    assert _last(tenant, "privacy.reveal").details["training_grace"] == [INDUCTION]
    # Thirteen days later: still warned; fifteen: refused (the default is 14 days).
    _publish_days_ago(CourseVersion, tenant, 13, course__code=INDUCTION)
    assert reveal_gate(agent).open
    _publish_days_ago(CourseVersion, tenant, 15, course__code=INDUCTION)
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": [f"{INDUCTION}:expired"]
    }
    assert not reveal_gate(officer).open  # privacy officers are gated alike
    pass_course(agent, INDUCTION)  # the new version
    assert reveal_gate(agent) == reveal_gate(agent).__class__()  # nothing left
    assert _reveal(order, agent) == {"phone": "13912345678"}


def test_the_tenant_sets_the_grace_period(tenant: Tenant) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    Tenant.objects.filter(pk=tenant.pk).update(training_grace_days=0)
    new_course_version(tenant, INDUCTION)
    agent = User.objects.get(pk=agent.pk)
    assert [u.code for u in reveal_gate(agent).refused] == [INDUCTION]
    Tenant.objects.filter(pk=tenant.pk).update(training_grace_days=30)
    _publish_days_ago(CourseVersion, tenant, 20, course__code=INDUCTION)
    agent = User.objects.get(pk=agent.pk)
    assert reveal_gate(agent).open


def test_a_new_pledge_version_warns_then_refuses(tenant: Tenant) -> None:
    order = OrderFactory(tenant=tenant)
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    publish_pledge(tenant=tenant, actor=SYSTEM, text_zh="新承诺", text_en="New pledge")
    assert [u.code for u in reveal_gate(agent).warned] == ["pledge"]
    assert _reveal(order, agent)
    assert _last(tenant, "privacy.reveal").details["training_grace"] == ["pledge"]
    _publish_days_ago(StaffPledge, tenant, 15)
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": ["pledge:expired"]
    }
    sign_current_pledge(agent)
    assert _reveal(order, agent)


def test_roles_the_gate_does_not_concern_and_tenants_without_training_are_open(
    tenant: Tenant,
) -> None:
    # A dispatcher is not gated by the reveal gate (the rules decide what they see).
    assert reveal_gate(UserFactory(tenant=tenant, roles=[Role.DISPATCHER])).open
    # A tenant that publishes no course and no pledge gates nothing.
    from tests.factories import TenantFactory

    bare = TenantFactory()
    order = OrderFactory(tenant=bare)
    agent = UserFactory(tenant=bare, roles=[Role.CUSTOMER_SERVICE])
    assert _reveal(order, agent) == {"phone": "13912345678"}


def test_a_list_reveal_is_gated_once_for_the_batch(tenant: Tenant) -> None:
    orders = [OrderFactory(tenant=tenant) for _ in range(2)]
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    results = reveal_many(
        orders, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL
    )
    assert {r.failure for r in results.values()} == {"denied"}
    event = _last(tenant, "privacy.reveal_batch_denied")
    assert event.details["training_refused"] == [f"{INDUCTION}:missing", "pledge:missing"]


def test_the_order_page_says_why_and_links_to_the_course(tenant: Tenant, client: Client) -> None:
    order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    client.force_login(agent)
    verified_second_factor(client, agent)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    response = client.post(
        reverse("admin:orders_order_reveal", args=[order.pk]),
        {
            "reveal_fields": ["phone"],
            "purpose": "customer_service_call",
            "reveal_nonce": page.context["reveal_nonce"],
        },
        follow=True,
    )
    html = response.content.decode()
    assert "You cannot reveal personal data until you have" in html
    assert f'href="/training/courses/{INDUCTION}/"' in html
    assert "13912345678" not in html


# --- dispatch --------------------------------------------------------------------------


def _dispatcher(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.DISPATCHER])


def test_a_rider_without_the_rider_course_is_not_dispatchable(tenant: Tenant) -> None:
    order, rider = packed_order(tenant), make_rider(tenant)
    with pytest.raises(Conflict) as refused:
        assign_rider(order=order, rider=rider, actor=_dispatcher(tenant))
    assert any(
        "Confidential delivery for riders" in m or "骑手保密配送培训" in m
        for m in refused.value.extra["missing"]
    )
    event = _last(tenant, "riders.dispatch_refused")
    assert event.details == {
        "rider": rider.pk,
        "reasons": 1,
        "training_refused": [f"{RIDER_COURSE}:missing"],
    }
    pass_course(rider.user, RIDER_COURSE)
    assignment = assign_rider(order=order, rider=rider, actor=_dispatcher(tenant))
    assert assignment.rider_id == rider.pk
    assert set(_last(tenant, "riders.order_assigned").details) == {"rider", "reassigned"}


def test_an_expired_rider_course_refuses_dispatch(tenant: Tenant) -> None:
    order, rider = packed_order(tenant), make_rider(tenant)
    pass_course(rider.user, RIDER_COURSE)
    _age_passes(rider.user, 7)  # renewed every 6 months
    with pytest.raises(Conflict) as refused:
        assign_rider(order=order, rider=rider, actor=_dispatcher(tenant))
    assert "expired on" in " ".join(refused.value.extra["missing"]) or "已于" in " ".join(
        refused.value.extra["missing"]
    )
    assert _last(tenant, "riders.dispatch_refused").details["training_refused"] == [
        f"{RIDER_COURSE}:expired"
    ]


def test_a_new_rider_course_version_warns_during_the_grace_period(tenant: Tenant) -> None:
    order, rider = packed_order(tenant), make_rider(tenant)
    pass_course(rider.user, RIDER_COURSE)
    new_course_version(tenant, RIDER_COURSE)
    assign_rider(order=order, rider=rider, actor=_dispatcher(tenant))
    assert _last(tenant, "riders.order_assigned").details["training_grace"] == [RIDER_COURSE]
    _publish_days_ago(CourseVersion, tenant, 15, course__code=RIDER_COURSE)
    with tenant_scope(tenant):
        rider = Rider.objects.select_related("user", "tenant").get(pk=rider.pk)
        assert dispatch_blockers_of([rider])[rider.pk]  # refused now


def test_the_dispatch_gate_costs_the_same_for_many_riders(
    tenant: Tenant, django_assert_max_num_queries
) -> None:
    riders = [make_rider(tenant) for _ in range(6)]
    pass_course(riders[0].user, RIDER_COURSE)
    with django_assert_max_num_queries(4):
        gates = dispatch_gate([r.user_id for r in riders[:2]], tenant)
    with django_assert_max_num_queries(4):
        gates = dispatch_gate([r.user_id for r in riders], tenant)
    assert [gates[r.user_id].open for r in riders] == [True] + [False] * 5


# --- the grace period's bounds (review of issue 19) --------------------------------------


def test_a_later_version_does_not_restart_the_grace_of_someone_already_behind(
    tenant: Tenant,
) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    new_course_version(tenant, INDUCTION)  # v2
    _publish_days_ago(CourseVersion, tenant, 60, course__code=INDUCTION)
    assert not reveal_gate(agent).open
    new_course_version(tenant, INDUCTION)  # v3, today: still refused (behind since v2)
    gate = reveal_gate(agent)
    assert [(u.code, u.state) for u in gate.refused] == [(INDUCTION, "expired")]
    publish_pledge(tenant=tenant, actor=SYSTEM, text_zh="二", text_en="Two")
    _publish_days_ago(StaffPledge, tenant, 60)
    publish_pledge(tenant=tenant, actor=SYSTEM, text_zh="三", text_en="Three")
    assert "pledge" in [u.code for u in reveal_gate(agent).refused]


def test_the_grace_never_outlasts_a_pass_that_expires_by_age(tenant: Tenant) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    # The pass is 11 months and 25 days old (renewed every 12 months)...
    with tenant_scope(tenant):
        QuizAttempt.objects.filter(user=agent, passed=True).update(
            submitted_at=timezone.now() - timedelta(days=360)
        )
    new_course_version(tenant, INDUCTION)  # ...and a new version is out today.
    gate = reveal_gate(agent)
    assert gate.open
    (warned,) = gate.warned
    # Warned only until the pass's own age limit, not for 14 days.
    assert warned.until is not None
    assert warned.until - timezone.now() < timedelta(days=6)
    _age_passes(agent, 1)  # a month later: past its age, refused
    assert not reveal_gate(agent).open


def test_the_phone_search_is_gated_like_a_reveal(tenant: Tenant) -> None:
    """A phone search says whose a phone is: an untrained agent is refused, recorded."""
    from orders.desk import search_orders_by_phone

    order = OrderFactory(tenant=tenant)
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    with pytest.raises(RevealUntrained), tenant_scope(tenant):
        search_orders_by_phone(actor=agent, phone="13912345678")
    event = _last(tenant, "privacy.search_denied")
    assert event.details == {"training_refused": [f"{INDUCTION}:missing", "pledge:missing"]}
    pass_course(agent, INDUCTION)
    sign_current_pledge(agent)
    with tenant_scope(tenant):
        assert search_orders_by_phone(actor=agent, phone="13912345678") == [order.pk]


# --- the reveal gate's cache ---------------------------------------------------------------


def test_an_open_decision_is_kept_for_one_query_until_something_changes(
    tenant: Tenant, django_assert_num_queries
) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    assert reveal_gate(agent).open  # computed, then kept
    with django_assert_num_queries(1):  # the tenant's generation, nothing else
        assert reveal_gate(agent).open
    new_course_version(tenant, INDUCTION)  # a new version ends it: warned at once
    assert [u.code for u in reveal_gate(agent).warned] == [INDUCTION]


def test_a_reveal_confirms_a_kept_decision_in_the_statement_that_records_it(
    tenant: Tenant, django_assert_num_queries
) -> None:
    order = OrderFactory(tenant=tenant)
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    assert _reveal(order, agent) == {"phone": "13912345678"}  # the decision is kept
    with django_assert_num_queries(0):
        gate, generation = kept_reveal_gate(agent)
    assert gate.open and generation == current_generation(tenant)
    # No grace: a new version refuses at once. Publishing it raises the generation but,
    # as in another process, leaves this process's kept decision in place.
    Tenant.objects.filter(pk=tenant.pk).update(training_grace_days=0)
    agent = User.objects.get(pk=agent.pk)
    new_course_version(tenant, INDUCTION)
    assert kept_reveal_gate(agent)[1] == generation
    with tenant_scope(tenant):
        reveals = AuditEvent.objects.filter(action="privacy.reveal").count()
    with pytest.raises(RevealUntrained):
        _reveal(order, agent)
    assert _last(tenant, "privacy.reveal_denied").details == {
        "training_refused": [f"{INDUCTION}:expired"]
    }
    with tenant_scope(tenant):
        assert AuditEvent.objects.filter(action="privacy.reveal").count() == reveals
    assert kept_reveal_gate(agent)[0].refused  # forgotten, and refusals are never kept


def test_a_stale_kept_decision_is_asked_again_and_its_warning_recorded(tenant: Tenant) -> None:
    order = OrderFactory(tenant=tenant)
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    assert _reveal(order, agent)
    new_course_version(tenant, INDUCTION)  # under the grace period: a warning, not a refusal
    assert kept_reveal_gate(agent)[1] is not None  # still kept by this process
    assert _reveal(order, agent) == {"phone": "13912345678"}
    assert _last(tenant, "privacy.reveal").details["training_grace"] == [INDUCTION]


def test_a_kept_decision_ends_when_the_first_pass_expires(tenant: Tenant) -> None:
    agent = cleared_staff(tenant, Role.CUSTOMER_SERVICE)
    assert reveal_gate(agent).open
    # The induction pass expires in 12 months: asked as if then, the gate is computed again.
    later = timezone.now() + timedelta(days=370)
    assert not reveal_gate(agent, now=later).open
    assert not kept_reveal_gate(agent, now=later)[0].open


def test_refusals_and_warnings_are_never_kept(tenant: Tenant) -> None:
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    assert not reveal_gate(agent).open
    assert kept_reveal_gate(agent)[1] is None  # nothing kept: computed again
    pass_course(agent, INDUCTION)
    sign_current_pledge(agent)
    assert reveal_gate(agent).open  # at once after the pledge
    publish_pledge(tenant=tenant, actor=SYSTEM, text_zh="新承诺", text_en="New pledge")
    assert [u.code for u in reveal_gate(agent).warned] == ["pledge"]
    assert kept_reveal_gate(agent)[1] is None  # the stale decision was forgotten


def test_a_generation_is_per_tenant(tenant: Tenant) -> None:
    other_tenant = TenantFactory()
    before, ours = current_generation(other_tenant), current_generation(tenant)
    new_course_version(tenant, INDUCTION)
    assert current_generation(other_tenant) == before
    assert current_generation(tenant) not in (0, ours)
