"""The nightly verification of every tenant's audit chain with its anchors (issue 20):
the result recorded (``ChainVerification``), audited, and a broken chain notified to the
tenant's privacy officers and supervisors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.models import ChainVerification
from audits.services import record_event
from audits.verification import verify_chain_with_anchors
from tenants.actors import Actor, SystemActor
from tenants.models import Role, Tenant
from tenants.notifications import notify, register_kind
from tenants.scoping import tenant_scope

VERIFY_ACTOR = SystemActor("chain-verification")
CHAIN_BROKEN = "audits.chain_broken"
#: Who hears of a broken chain.
NOTIFIED_ROLES = (Role.PRIVACY_OFFICER, Role.SUPERVISOR)


def _chain_broken(params: dict[str, Any]) -> str:
    if not params.get("sequence"):
        return _(
            "The audit chain's verification found a problem with its anchors: "
            "see the verification runs."
        )
    return _(
        "The audit chain's verification found a break (sequence %(sequence)s): "
        "the log may have been altered."
    ) % {"sequence": params["sequence"]}


def register_kinds() -> None:
    """From audits' AppConfig.ready()."""
    register_kind(CHAIN_BROKEN, _chain_broken)


def runs_url() -> str:
    return reverse("admin:audits_chainverification_changelist")


def verify_and_record(
    *, tenant: Tenant, period: dt.datetime, actor: Actor = VERIFY_ACTOR
) -> tuple[ChainVerification, bool]:
    """Verify ``tenant``'s chain with its anchors and record the result for ``period``
    (the nightly job's): once per tenant and period — a second run returns the first's
    record (and False). Audited as ``anchors.chain_verified`` or ``anchors.chain_broken``;
    a break notifies the tenant's privacy officers and supervisors, once."""
    with tenant_scope(tenant):
        done = ChainVerification.objects.filter(tenant=tenant, period=period).first()
        if done is not None:
            return done, False
    started = timezone.now()
    report = verify_chain_with_anchors(tenant)
    finished = timezone.now()
    with tenant_scope(tenant), transaction.atomic():
        run = ChainVerification(
            tenant=tenant,
            period=period,
            started_at=started,
            finished_at=finished,
            events_checked=report.events,
            ok=report.ok,
            first_break=report.first_problem()[:2000],
            anchors_checked=report.anchors.checked,
            anchors_failed=report.anchors.failed,
            problems=[problem[:500] for problem in report.anchors.problems[:50]],
        )
        try:
            with transaction.atomic():
                run.save()
        except IntegrityError:  # another run recorded this period meanwhile
            return ChainVerification.objects.get(tenant=tenant, period=period), False
        details: dict[str, Any] = {
            "verification": run.pk,
            "events": run.events_checked,
            "anchors": run.anchors_checked,
        }
        if report.ok:
            record_event(
                tenant=tenant,
                actor=actor,
                action="anchors.chain_verified",
                target=run,
                details=details,
            )
        else:
            # The first broken link, or the first anchored sequence the chain does not match.
            failed = report.anchors.failed_sequences
            sequence = (
                report.chain_break.sequence
                if report.chain_break is not None
                else min(failed, default=0)
            )
            record_event(
                tenant=tenant,
                actor=actor,
                action="anchors.chain_broken",
                target=run,
                details={**details, "anchors_failed": run.anchors_failed, "sequence": sequence},
            )
            notify(
                tenant,
                roles=NOTIFIED_ROLES,
                kind=CHAIN_BROKEN,
                params={"sequence": sequence},
                link=runs_url(),
                dedup_key=f"{CHAIN_BROKEN}:{run.pk}",
            )
    return run, True
