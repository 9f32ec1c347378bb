"""Celery tasks enter their tenant's scope; scheduled jobs run through a real worker."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.utils import timezone

from config.celery import app as celery_app
from tenants.models import Membership, Role, Tenant
from tenants.scoping import ScopeError
from tenants.tasks import TenantTask, check_id_arguments, clear_expired_sessions
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@celery_app.task(base=TenantTask, name="tests.report_tenant_scope")
def report_tenant_scope(tenant: Tenant, token: str) -> None:
    """Test-only task: records what it could see, for the test to read back."""
    cache.set(f"test-task:{token}", [tenant.slug, Membership.objects.count()], 60)


@celery_app.task(base=TenantTask, bind=True, name="tests.retry_once", max_retries=2)
def retry_once(self: TenantTask, tenant: Tenant, token: str) -> None:
    """Test-only task: fails on its first run, succeeds on the retry."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    cache.set(f"test-task:{token}", [tenant.slug, self.request.retries], 60)


def _wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def test_tenant_task_runs_in_its_tenants_scope_on_a_real_worker(worker: str) -> None:
    ours = UserFactory(roles=[Role.KITCHEN, Role.PACKER])
    MembershipFactory()  # another tenant's row, which the task must not count
    token = str(uuid.uuid4())
    report_tenant_scope.apply_async(args=[ours.tenant_id, token], queue=worker)
    seen = _wait_for(lambda: cache.get(f"test-task:{token}"))
    assert seen == [ours.tenant.slug, 2]


def test_tenant_task_retry_resends_the_tenant_id(worker: str) -> None:
    tenant = TenantFactory()
    token = str(uuid.uuid4())
    retry_once.apply_async(args=[tenant.pk, token], queue=worker)
    seen = _wait_for(lambda: cache.get(f"test-task:{token}"))
    assert seen == [tenant.slug, 1]


def test_clear_expired_sessions_runs_on_a_real_worker(worker: str) -> None:
    now = timezone.now()
    Session.objects.create(session_key="expired", session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="current", session_data="", expire_date=now + timedelta(1))
    clear_expired_sessions.apply_async(queue=worker)
    _wait_for(lambda: not Session.objects.filter(session_key="expired").exists())
    assert list(Session.objects.values_list("session_key", flat=True)) == ["current"]


@pytest.mark.django_db
def test_tenant_task_body_is_scoped_when_run_in_process() -> None:
    tenant = UserFactory(roles=[Role.KITCHEN]).tenant
    token = str(uuid.uuid4())
    report_tenant_scope.apply(args=[tenant.pk, token])
    assert cache.get(f"test-task:{token}") == [tenant.slug, 1]


@pytest.mark.django_db
def test_after_a_tenant_task_the_scope_is_gone() -> None:
    report_tenant_scope.apply(args=[TenantFactory().pk, str(uuid.uuid4())])
    with pytest.raises(ScopeError):
        Membership.objects.count()


def test_tenant_task_refuses_a_first_argument_that_is_not_a_tenant_id() -> None:
    with pytest.raises(TypeError, match="the first argument must be the tenant's id"):
        report_tenant_scope.delay("demo", str(uuid.uuid4()))


def test_tenant_task_refuses_arguments_that_are_not_ids() -> None:
    with pytest.raises(TypeError, match="argument 1 is a str; pass ids"):
        report_tenant_scope.delay(1, "13800138000")


@pytest.mark.parametrize("value", [1, None, True, uuid.uuid4(), str(uuid.uuid4())])
def test_ids_and_flags_are_accepted_as_task_arguments(value: object) -> None:
    check_id_arguments((value,), {})


@pytest.mark.parametrize("value", ["Zhang San", b"x", 1.5, {"phone": "1"}, ["a"]])
def test_values_are_refused_as_task_arguments(value: object) -> None:
    with pytest.raises(TypeError, match="pass ids"):
        check_id_arguments((), {"value": value})
