"""The audit chain's head is anchored hourly outside the database, and verification checks
the chain against the anchors read back from the sinks: a chain rewritten after the fact,
with every hash and the head recomputed, is detected (issue 20, point 5)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from audits.anchor_sinks import (
    JsonLinesSink,
    anchor_sinks,
    register_anchor_sink,
    unregister_anchor_sink,
)
from audits.anchoring import anchor_chain_head, anchor_mac, check_anchors
from audits.chain import event_hash, heads_digest
from audits.models import AuditChainHead, AuditEvent, ChainAnchor
from audits.services import record_event
from audits.verification import verify_chain_with_anchors, verify_tenant_chain
from tenants.actors import SystemActor
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory

SYSTEM = SystemActor("tests")
NOON = dt.datetime(2026, 11, 30, 12, 15, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
pytestmark = pytest.mark.django_db


def _append(tenant: Tenant, count: int) -> None:
    for n in range(count):
        record_event(tenant=tenant, actor=SYSTEM, action="test.event", details={"n": n})


def _anchor(tenant: Tenant, when: dt.datetime = NOON) -> ChainAnchor:
    return anchor_chain_head(tenant=tenant, now=when).anchor


def _file(sink_name: str, tenant: Tenant) -> Path:
    folders = {
        "local": Path(settings.BAOMI_ANCHOR_DIR),
        "backups": Path(settings.BACKUP_DIR) / "audit-anchors",
        "ledger": Path(settings.BACKUP_DIR) / "erasure-ledger.anchors",
    }
    return folders[sink_name] / f"tenant-{tenant.pk}.jsonl"


def _lines(sink_name: str, tenant: Tenant) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _file(sink_name, tenant).read_text().splitlines()]


@contextmanager
def trigger_disabled() -> Iterator[None]:
    """Tamper as a database owner could: the append-only trigger (PostgreSQL's) switched off."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE audits_auditevent DISABLE TRIGGER audits_auditevent_append_only"
        )
        cursor.execute(
            "ALTER TABLE audits_auditchainhead DISABLE TRIGGER audits_auditchainhead_forward_only"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE audits_auditevent ENABLE TRIGGER audits_auditevent_append_only"
            )
            cursor.execute(
                "ALTER TABLE audits_auditchainhead ENABLE TRIGGER audits_auditchainhead_forward_only"
            )


def _rewrite_chain(tenant: Tenant, *, keep: int | None = None) -> None:
    """Rewrite the tenant's whole chain as an attacker with database write access would:
    every event's details changed (and, with ``keep``, only the first ``keep`` events left),
    every hash and previous-hash link recomputed, the head moved to the new last event."""
    with tenant_scope(tenant):
        events = list(AuditEvent.objects.order_by("sequence"))
    previous = "0" * 64
    with trigger_disabled(), connection.cursor() as cursor:
        for event in events:
            if keep is not None and event.sequence > keep:
                cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [event.pk])
                continue
            details = {**event.details, "label": "rewritten"}
            values = {
                "tenant_id": tenant.pk,
                "sequence": event.sequence,
                "occurred_at": event.occurred_at,
                "actor": event.actor,
                "action": event.action,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "fields": event.fields,
                "purpose": event.purpose,
                "request_id": event.request_id,
                "ip": event.ip,
                "details": details,
                "prev_hash": previous,
            }
            previous = event_hash(values)
            cursor.execute(
                "UPDATE audits_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(details), values["prev_hash"], previous, event.pk],
            )
            last = event.sequence
        cursor.execute(
            "UPDATE audits_auditchainhead SET sequence = %s, hash = %s "
            "WHERE tenant_id = %s AND stripe = 0",
            [last, previous, tenant.pk],
        )


# --- writing -------------------------------------------------------------------------------


def test_every_sink_is_registered_local_backups_and_ledger() -> None:
    assert [sink.name for sink in anchor_sinks()] == ["backups", "ledger", "local"]


def test_an_anchor_is_written_to_every_sink_with_a_valid_mac() -> None:
    tenant = TenantFactory()
    _append(tenant, 3)
    anchor = _anchor(tenant)
    lines = {name: _lines(name, tenant) for name in ("local", "backups", "ledger")}
    key = settings.BAOMI_ANCHOR_KEY_RING[1]
    assert {name: [(r["sequence"], r["mac"]) for r in rs] for name, rs in lines.items()} == {
        name: [(3, anchor.mac)] for name in ("local", "backups", "ledger")
    }
    assert [anchor_mac(r, key) == r["mac"] for r in lines["local"]] == [True]


def test_an_anchor_records_the_chain_head_and_the_hour() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    anchor = _anchor(tenant)
    with tenant_scope(tenant):
        heads = list(AuditChainHead.objects.order_by("stripe").values_list("sequence", "hash"))
    (line,) = _lines("backups", tenant)
    assert (line["tenant"], line["sequence"], line["hash"], line["hour"], line["prev"]) == (
        tenant.pk,
        2,
        heads_digest(heads),
        "2026-11-30T12:00:00+00:00",
        "",
    )
    assert (line["format"], line["stripes"]) == (2, [list(head) for head in heads])
    assert (anchor.sinks_written, anchor.sinks_failed) == (["backups", "ledger", "local"], [])


def test_anchor_files_are_private_to_the_app_user() -> None:
    tenant = TenantFactory()
    _anchor(tenant)
    assert [_file(name, tenant).stat().st_mode & 0o777 for name in ("local", "backups")] == [
        0o600,
        0o600,
    ]


def test_anchoring_twice_in_one_hour_writes_one_anchor() -> None:
    tenant = TenantFactory()
    _append(tenant, 1)
    first = anchor_chain_head(tenant=tenant, now=NOON)
    _append(tenant, 1)
    second = anchor_chain_head(tenant=tenant, now=NOON + dt.timedelta(minutes=30))
    with tenant_scope(tenant):
        rows = ChainAnchor.objects.count()
    assert (first.created, second.created, rows, len(_lines("local", tenant))) == (
        True,
        False,
        1,
        1,
    )


def test_an_hour_claimed_by_a_run_that_stopped_before_writing_is_written_by_the_next() -> None:
    tenant = TenantFactory()
    _append(tenant, 1)
    claimed = _anchor(tenant)
    for name in ("local", "backups", "ledger"):
        _file(name, tenant).unlink()
    with tenant_scope(tenant):  # as a worker lost between the claim and the writes leaves it
        ChainAnchor.objects.filter(pk=claimed.pk).update(sinks_written=[], sinks_failed=[])
    again = anchor_chain_head(tenant=tenant, now=NOON + dt.timedelta(minutes=40))
    assert (again.created, again.anchor.pk, [r["mac"] for r in _lines("ledger", tenant)]) == (
        True,
        claimed.pk,
        [claimed.mac],
    )


def test_each_anchor_names_the_previous_one() -> None:
    tenant = TenantFactory()
    first = _anchor(tenant)
    _append(tenant, 1)
    _anchor(tenant, NOON + HOUR)
    assert [line["prev"] for line in _lines("ledger", tenant)] == ["", first.mac]


def test_a_failing_sink_does_not_stop_the_others_and_is_audited(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    broken = register_anchor_sink(JsonLinesSink("broken", "Broken", folder=lambda: blocker / "x"))
    try:
        tenant = TenantFactory()
        _append(tenant, 2)
        anchor = _anchor(tenant)
    finally:
        unregister_anchor_sink(broken.name)
    with tenant_scope(tenant):
        event = AuditEvent.objects.filter(action="anchors.sink_failed").get()
    assert (anchor.sinks_written, anchor.sinks_failed, event.details) == (
        ["backups", "ledger", "local"],
        ["broken"],
        {"sequence": 2, "sinks": ["broken"], "written": ["backups", "ledger", "local"]},
    )


# --- verifying -----------------------------------------------------------------------------


def test_an_intact_chain_verifies_against_its_anchors() -> None:
    tenant = TenantFactory()
    _append(tenant, 3)
    _anchor(tenant)
    _append(tenant, 2)
    _anchor(tenant, NOON + HOUR)
    report = verify_chain_with_anchors(tenant)
    assert (report.ok, report.events, report.anchors.checked, report.anchors.problems) == (
        True,
        5,
        2,
        [],
    )


def test_a_rewritten_chain_with_a_consistent_new_head_verifies_alone() -> None:
    tenant = TenantFactory()
    _append(tenant, 4)
    _anchor(tenant)
    _rewrite_chain(tenant)
    assert verify_tenant_chain(tenant) == (4, None)


def test_a_rewritten_chain_with_a_consistent_new_head_is_detected_by_its_anchors() -> None:
    tenant = TenantFactory()
    _append(tenant, 4)
    _anchor(tenant)
    _rewrite_chain(tenant)
    report = verify_chain_with_anchors(tenant)
    assert (report.ok, report.chain_break, report.anchors.failed, report.anchors.problems) == (
        False,
        None,
        1,
        [
            "the event at sequence 4 does not have the hash anchored "
            "2026-11-30T12:15:00.000000+00:00: the chain was rewritten"
        ],
    )


def test_a_chain_cut_below_an_anchored_head_and_rehashed_is_detected() -> None:
    tenant = TenantFactory()
    _append(tenant, 5)
    _anchor(tenant)
    _rewrite_chain(tenant, keep=3)
    report = verify_chain_with_anchors(tenant)
    assert (verify_tenant_chain(tenant), report.anchors.problems) == (
        (3, None),
        [
            "the chain ends at sequence 3, below the anchored sequence 5 "
            "(anchored 2026-11-30T12:15:00.000000+00:00): events were removed"
        ],
    )


def test_a_forged_anchor_is_reported() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    _anchor(tenant)
    path = _file("local", tenant)
    (line,) = _lines("local", tenant)
    forged = {**line, "sequence": 1, "hash": "f" * 64}  # the MAC no longer fits
    path.write_text(path.read_text() + json.dumps(forged) + "\n")
    report = check_anchors(tenant, head_sequence=2)
    assert (report.failed, report.problems) == (
        1,
        ["the anchor sink local: line 2 is forged or altered (its MAC does not verify)"],
    )


def test_an_anchor_under_an_unknown_key_version_is_reported_as_forged() -> None:
    tenant = TenantFactory()
    _anchor(tenant)
    path = _file("backups", tenant)
    (line,) = _lines("backups", tenant)
    path.write_text(json.dumps({**line, "v": 99}) + "\n")
    assert check_anchors(tenant, head_sequence=0).problems[0] == (
        "the anchor sink backups: line 1 is forged or altered (its MAC does not verify)"
    )


def test_a_removed_anchor_file_is_reported() -> None:
    tenant = TenantFactory()
    _append(tenant, 1)
    _anchor(tenant)
    _file("ledger", tenant).unlink()
    report = verify_chain_with_anchors(tenant)
    assert (report.ok, report.anchors.problems) == (
        False,
        [
            "the anchor sink ledger has lost this tenant's anchor file "
            "(other sinks or the anchor list say it was written)"
        ],
    )


def test_anchor_files_removed_from_every_sink_are_reported_from_the_anchor_list() -> None:
    tenant = TenantFactory()
    _anchor(tenant)
    for name in ("local", "backups", "ledger"):
        _file(name, tenant).unlink()
    assert check_anchors(tenant, head_sequence=0).problems == [
        f"the anchor sink {name} has lost this tenant's anchor file "
        "(other sinks or the anchor list say it was written)"
        for name in ("backups", "ledger", "local")
    ]


def test_sinks_that_disagree_are_reported() -> None:
    tenant = TenantFactory()
    _append(tenant, 1)
    _anchor(tenant)
    _append(tenant, 1)
    _anchor(tenant, NOON + HOUR)
    path = _file("local", tenant)
    path.write_text(path.read_text().splitlines()[0] + "\n")  # the newest line removed
    assert check_anchors(tenant, head_sequence=2).problems == [
        "the anchor sinks disagree: local lacks 1 anchor(s) the others hold (sequence 2)"
    ]


def test_an_anchor_removed_from_every_sink_is_noticed_by_the_next_ones_link() -> None:
    tenant = TenantFactory()
    for hours in range(3):
        _append(tenant, 1)
        _anchor(tenant, NOON + hours * HOUR)
    for name in ("local", "backups", "ledger"):
        path = _file(name, tenant)
        first, _middle, last = path.read_text().splitlines()
        path.write_text(f"{first}\n{last}\n")
    assert check_anchors(tenant, head_sequence=3).problems == [
        "the anchor before sequence 3 is missing from every sink"
    ]


def test_a_sink_that_cannot_be_read_is_reported_and_the_others_still_checked(
    tmp_path: Path,
) -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    _anchor(tenant)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    broken = register_anchor_sink(JsonLinesSink("broken", "Broken", folder=lambda: blocker))
    try:
        report = check_anchors(tenant, head_sequence=2)
    finally:
        unregister_anchor_sink(broken.name)
    assert (report.checked, report.problems) == (
        1,
        ["the anchor sink broken could not be read (Not a directory)"],
    )


def test_another_tenants_anchors_are_never_read() -> None:
    ours, theirs = TenantFactory(), TenantFactory()
    _append(ours, 2)
    _append(theirs, 5)
    _anchor(ours)
    _anchor(theirs)
    report = check_anchors(ours, head_sequence=2)
    assert (report.checked, report.newest["tenant"], report.problems) == (1, ours.pk, [])


def test_another_tenants_anchor_copied_into_our_file_is_refused() -> None:
    ours, theirs = TenantFactory(), TenantFactory()
    _append(theirs, 5)
    _anchor(ours)
    _anchor(theirs)
    ours_file, theirs_file = _file("local", ours), _file("local", theirs)
    ours_file.write_text(ours_file.read_text() + theirs_file.read_text())
    assert check_anchors(ours, head_sequence=0).problems == [
        "the anchor sink local: line 2 is another tenant's anchor"
    ]


def test_a_chain_whose_newest_anchor_is_hours_old_is_reported() -> None:
    tenant = TenantFactory()
    long_ago = NOON - dt.timedelta(days=2)
    with mock.patch("django.utils.timezone.now", return_value=long_ago):
        _append(tenant, 2)
    _anchor(tenant, long_ago)
    report = check_anchors(tenant, head_sequence=2, stale_after=dt.timedelta(hours=3))
    assert report.problems == [
        "no anchor of the chain head in the last 3 hours "
        "(anchoring stopped, or the newest anchors were removed from every sink)"
    ]


def test_a_chain_started_within_the_hours_needs_no_anchor_yet() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    assert check_anchors(tenant, head_sequence=2, stale_after=HOUR).problems == []


def test_a_tenant_never_anchored_verifies_without_anchor_problems() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    report = verify_chain_with_anchors(tenant)
    assert (report.ok, report.anchors.checked) == (True, 0)


# --- the command ---------------------------------------------------------------------------


def test_verify_command_counts_the_anchors_it_checked() -> None:
    tenant = TenantFactory(slug="acme")
    _append(tenant, 3)
    _anchor(tenant)
    out = io.StringIO()
    call_command("verify_audit_chain", "--tenant", "acme", stdout=out)
    assert re.fullmatch(
        r"acme: 3 events, chain intact \(\d+\.\d\ds\); 1 anchors checked\n", out.getvalue()
    )


def test_verify_command_fails_on_a_rewritten_chain_and_names_the_anchor() -> None:
    tenant = TenantFactory(slug="acme")
    _append(tenant, 3)
    _anchor(tenant)
    _rewrite_chain(tenant)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 tenant chain\\(s\\) broken."):
        call_command("verify_audit_chain", "--tenant", "acme", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().strip() == (
        "acme: ANCHOR: the event at sequence 3 does not have the hash anchored "
        "2026-11-30T12:15:00.000000+00:00: the chain was rewritten"
    )


def test_export_command_prints_every_anchor_with_its_mac_and_sinks() -> None:
    tenant = TenantFactory(slug="acme")
    first = _anchor(tenant)
    _append(tenant, 1)
    second = _anchor(tenant, NOON + HOUR)
    out = io.StringIO()
    call_command("export_audit_anchors", "--tenant", "acme", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["mac"], line["sinks"]) for line in lines] == [
        (first.mac, ["backups", "ledger", "local"]),
        (second.mac, ["backups", "ledger", "local"]),
    ]


def test_an_exported_anchor_line_verifies_with_the_key_as_it_is() -> None:
    from audits.anchoring import mac_is_valid

    tenant = TenantFactory(slug="acme")
    _anchor(tenant)
    out = io.StringIO()
    call_command("export_audit_anchors", "--tenant", "acme", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [mac_is_valid(line) for line in lines] == [True]


def test_export_command_is_audited() -> None:
    tenant = TenantFactory(slug="acme")
    _anchor(tenant)
    call_command("export_audit_anchors", "--tenant", "acme", stdout=io.StringIO())
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="anchors.exported")
    assert (event.actor, event.details) == (
        "system:export-audit-anchors",
        {"anchors": 1, "via": "command"},
    )


def test_export_command_refuses_an_unknown_tenant() -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'."):
        call_command("export_audit_anchors", "--tenant", "nope")
