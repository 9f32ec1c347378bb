"""Enrolment due dates where people see them, in real Chromium: a rider's "My training" at
360 px says by when the rider course is due; a tenant administrator's back office at
1280 px lists the overdue enrolments of a course (the page the escalation links to).
Screenshots go to artifacts/browser/training-enrolments-*.png; axe-core checks each page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.browser.roles import clean, step, with_session
from tests.factories import TenantFactory, UserFactory
from tests.riders.conftest import make_rider
from tests.training.conftest import SYSTEM
from training.enrolments import refresh_enrolments
from training.models import Course, Enrolment
from training.starter import RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def test_the_due_date_on_my_training_and_the_overdue_list_in_the_back_office(
    phone: Any, desktop: Any, live_server: Any, axe_source: str
) -> None:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    rider = make_rider(tenant, username="enrolled-rider")
    late = make_rider(tenant, username="late-rider")
    refresh_enrolments(tenant)  # both enrolled, due in 14 days
    with tenant_scope(tenant):  # the second one two weeks later
        Enrolment.objects.filter(user=late.user).update(due_at=timezone.now() - timedelta(days=1))
        course = Course.objects.get(code=RIDERS["code"])
    base = live_server.url

    with_session(phone, base, rider.user)
    phone.goto(f"{base}{reverse('training:home')}")
    due = phone.locator(f"[data-course='{RIDERS['code']}'] .enrolment-due").inner_text()
    assert due.startswith("Due by ")
    assert step(phone, axe_source, "training-enrolments-01-rider-due") == clean(
        "training-enrolments-01-rider-due"
    )

    admin = UserFactory(tenant=tenant, username="admin-li", roles=[Role.TENANT_ADMIN])
    with_session(desktop, base, admin)
    listing = reverse("admin:training_enrolment_changelist")
    desktop.goto(f"{base}{listing}?course={course.pk}&state=overdue")
    rows = desktop.locator("#result_list tbody tr").all_inner_texts()
    assert [("late-rider" in r, "enrolled-rider" in r) for r in rows] == [(True, False)]
    assert step(desktop, axe_source, "training-enrolments-02-admin-overdue") == clean(
        "training-enrolments-02-admin-overdue"
    )
