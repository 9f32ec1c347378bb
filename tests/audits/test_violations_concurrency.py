"""Two submits at once (issue 20, point 4): the violation's row lock lets one answer, one
decision through; the other is a 409 and nothing is written twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import translation

from audits.models import Sanction, ViolationAnswer
from audits.violations.services import Decision, answer_violation, decide_sanction
from core.errors import Conflict
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, ViolationFactory

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _twice(action: Callable[[], Any]) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        # A new thread speaks the site's default language (zh-Hans): the messages are
        # compared in English.
        try:
            barrier.wait()
            with translation.override("en"):
                action()
            outcomes.append("done")
        except Conflict as error:
            outcomes.append(str(error))
        except BaseException as error:  # reported by the assert
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def test_two_answers_at_once_record_one_and_refuse_the_other() -> None:
    tenant = TenantFactory()
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    violation = ViolationFactory(tenant=tenant, person=agent)
    outcomes = _twice(lambda: answer_violation(violation=violation, text="Mine", actor=agent))
    with tenant_scope(tenant):
        answers = ViolationAnswer.objects.count()
    assert (outcomes, answers) == (["You have already answered at this stage.", "done"], 1)


def test_two_decisions_at_once_decide_once() -> None:
    tenant = TenantFactory()
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
    violation = ViolationFactory(tenant=tenant, person=agent, recorder=supervisor)
    outcomes = _twice(
        lambda: decide_sanction(violation=violation, decision=Decision(fine="50"), actor=supervisor)
    )
    with tenant_scope(tenant):
        sanctions = Sanction.objects.count()
    assert (outcomes, sanctions) == (
        [
            "The violation is “Sanction decided”: a sanction is decided only once, on a "
            "recorded violation.",
            "done",
        ],
        1,
    )
