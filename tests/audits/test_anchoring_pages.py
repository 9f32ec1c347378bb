"""What people see of the audit chain's integrity (issue 20): the back office's read-only
lists of verifications and anchors, the anchors' download, the dashboard's panel, the
compliance indicator and the evidence pack's section."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audits.anchoring import anchor_chain_head
from audits.compliance import Status
from audits.integrity_panels import chain_indicator, chain_pack_section, integrity_panel
from audits.models import AuditEvent, ChainAnchor
from audits.panels import Period, panels_for
from audits.services import record_event
from tenants.actors import SystemActor
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.factories import ChainVerificationFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

SYSTEM = SystemActor("tests")
RUNS = "admin:audits_chainverification_changelist"
ANCHORS = "admin:audits_chainanchor_changelist"
DOWNLOAD = "admin:audits_chainanchor_download"
NOON = dt.datetime(2026, 11, 30, 12, 15, tzinfo=dt.UTC)
VIEWERS = {Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN}


def _append(tenant: Tenant, count: int) -> None:
    for n in range(count):
        record_event(tenant=tenant, actor=SYSTEM, action="test.event", details={"n": n})


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _period() -> Period:
    now = timezone.now()
    return Period(now - dt.timedelta(days=30), now + dt.timedelta(days=1))


# --- the back office -------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.PRIVACY_OFFICER, Role.TENANT_ADMIN])
def test_supervisors_see_the_verification_runs(role: Role) -> None:
    tenant = TenantFactory()
    ChainVerificationFactory(tenant=tenant, events_checked=1234)
    response = _client(UserFactory(tenant=tenant, roles=[role])).get(reverse(RUNS))
    assert (
        response.status_code,
        [r.events_checked for r in response.context["cl"].result_list],
    ) == (
        200,
        [1234],
    )


def test_customer_service_may_not_open_the_verification_runs() -> None:
    tenant = TenantFactory()
    response = _client(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])).get(reverse(RUNS))
    assert response.status_code == 403


def test_another_tenants_verification_is_not_found() -> None:
    theirs = ChainVerificationFactory(tenant=TenantFactory())
    supervisor = UserFactory(tenant=TenantFactory(), roles=[Role.SUPERVISOR])
    url = reverse("admin:audits_chainverification_change", args=[theirs.pk])
    assert _client(supervisor).get(url).status_code == 404


def test_the_verification_runs_list_runs_in_bounded_queries(
    django_assert_max_num_queries: Any,
) -> None:
    tenant = TenantFactory()
    for _ in range(30):
        ChainVerificationFactory(tenant=tenant)
    client = _client(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
    with django_assert_max_num_queries(15):
        assert client.get(reverse(RUNS)).status_code == 200


def test_the_anchor_list_shows_the_tenants_anchors_only() -> None:
    ours, theirs = TenantFactory(), TenantFactory()
    anchor_chain_head(tenant=ours, now=NOON)
    anchor_chain_head(tenant=theirs, now=NOON)
    response = _client(UserFactory(tenant=ours, roles=[Role.SUPERVISOR])).get(reverse(ANCHORS))
    assert [a.tenant_id for a in response.context["cl"].result_list] == [ours.pk]


def test_the_anchors_download_is_json_lines_with_their_macs() -> None:
    tenant = TenantFactory(slug="acme")
    _append(tenant, 2)
    anchor = anchor_chain_head(tenant=tenant, now=NOON).anchor
    response = _client(UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])).get(
        reverse(DOWNLOAD)
    )
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert (
        response.status_code,
        response["Content-Type"],
        response["Content-Disposition"].startswith('attachment; filename="audit-anchors-acme-'),
        [(line["sequence"], line["mac"], line["sinks"]) for line in lines],
    ) == (200, "application/x-ndjson", True, [(2, anchor.mac, ["backups", "ledger", "local"])])


def test_the_anchors_download_is_audited_with_who_downloaded() -> None:
    tenant = TenantFactory()
    anchor_chain_head(tenant=tenant, now=NOON)
    officer = UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER])
    _client(officer).get(reverse(DOWNLOAD))
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="anchors.exported")
    assert (event.actor, event.details) == (
        f"user:{officer.pk}",
        {"anchors": 1, "via": "back_office"},
    )


def test_the_anchors_download_refuses_customer_service() -> None:
    tenant = TenantFactory()
    response = _client(UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])).get(
        reverse(DOWNLOAD)
    )
    assert response.status_code == 403


# --- the dashboard ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_the_integrity_panel_reaches_supervisors_privacy_officers_and_admins_only(
    role: Role,
) -> None:
    user = UserFactory(tenant=TenantFactory(), roles=[role])
    assert ("audits.integrity" in [p.key for p in panels_for(user)]) == (role in VIEWERS)


def test_the_integrity_panel_shows_the_last_verification_and_anchored_head() -> None:
    tenant = TenantFactory()
    _append(tenant, 4)
    anchor_chain_head(tenant=tenant, now=NOON)
    ChainVerificationFactory(tenant=tenant, events_checked=4, anchors_checked=1)
    (panel,) = [
        p
        for p in panels_for(UserFactory(tenant=tenant, roles=[Role.SUPERVISOR]))
        if p.key == "audits.integrity"
    ]
    request = RequestFactory().get("/")
    with tenant_scope(tenant):
        context = panel.context_for(request, tenant, _period())
        html = render_to_string(panel.template, context)
    assert (
        context["verification"].events_checked,
        context["anchor"].sequence,
        context["anchor_sinks"],
        'data-state="intact"' in html,
        "4 events checked" in html,
        "Last anchored head: event 4" in html,
    ) == (4, 4, ["Backup location", "Erasure ledger side", "Anchor folder"], True, True, True)


def test_the_integrity_panel_says_when_nothing_was_verified_yet() -> None:
    tenant = TenantFactory()
    with tenant_scope(tenant):
        context = integrity_panel(RequestFactory().get("/"), tenant, _period())
    assert (context["verification"], context["anchor"]) == (None, None)


def test_the_integrity_panel_links_a_broken_chain_to_the_runs_that_found_it() -> None:
    tenant = TenantFactory()
    ChainVerificationFactory(tenant=tenant, ok=False, first_break="tenant 1: first broken link")
    with tenant_scope(tenant):
        context = integrity_panel(RequestFactory().get("/"), tenant, _period())
        html = render_to_string("audits/panels/integrity.html", {**context, "panel": None})
    assert (context["broken_url"], 'data-state="broken"' in html) == (
        reverse(RUNS) + "?ok__exact=0",
        True,
    )


def test_the_indicator_is_met_by_a_recent_intact_verification() -> None:
    tenant = TenantFactory()
    ChainVerificationFactory(tenant=tenant, finished_at=timezone.now() - dt.timedelta(hours=5))
    with tenant_scope(tenant):
        indicator = chain_indicator(tenant, _period())
    assert (indicator.status, str(indicator.summary), indicator.link) == (
        Status.OK,
        "Audit chain verified 5 hours ago, intact.",
        reverse(RUNS),
    )


def test_the_indicator_fails_on_a_broken_chain() -> None:
    tenant = TenantFactory()
    ChainVerificationFactory(
        tenant=tenant, ok=False, finished_at=timezone.now() - dt.timedelta(hours=1)
    )
    with tenant_scope(tenant):
        indicator = chain_indicator(tenant, _period())
    assert (indicator.status, str(indicator.summary)) == (
        Status.FAILING,
        "Audit chain verified 1 hour ago: broken.",
    )


def test_the_indicator_needs_attention_when_the_last_verification_is_old() -> None:
    tenant = TenantFactory()
    ChainVerificationFactory(tenant=tenant, finished_at=timezone.now() - dt.timedelta(hours=30))
    with tenant_scope(tenant):
        assert chain_indicator(tenant, _period()).status == Status.ATTENTION


def test_the_indicator_needs_attention_when_the_chain_was_never_verified() -> None:
    tenant = TenantFactory()
    with tenant_scope(tenant):
        indicator = chain_indicator(tenant, _period())
    assert (indicator.status, str(indicator.summary)) == (
        Status.ATTENTION,
        "The audit chain has not been verified yet.",
    )


# --- the evidence pack -------------------------------------------------------------------------


def test_the_pack_section_lists_the_periods_verifications_and_anchors() -> None:
    tenant = TenantFactory()
    _append(tenant, 2)
    anchor = anchor_chain_head(tenant=tenant).anchor
    run = ChainVerificationFactory(tenant=tenant, events_checked=2, anchors_checked=1)
    with tenant_scope(tenant):
        section = chain_pack_section(tenant, _period())
        files = {f.name: (tuple(f.header), list(f.rows)) for f in section.files}
        summary = [(str(label), value) for label, value in section.summary]
    assert files["audit-chain-verifications.csv"][1] == [
        (run.started_at.isoformat(), run.finished_at.isoformat(), 2, "yes", "", 1, 0)
    ]
    assert [row[2:] for row in files["audit-chain-anchors.csv"][1]] == [
        (2, anchor.hash, anchor.mac, 1, "backups ledger local")
    ]
    assert summary == [
        ("Chain verifications", 1),
        ("Verifications that found a break", 0),
        ("Anchors of the chain head", 1),
    ]


def test_the_pack_section_reads_the_anchors_from_the_sinks_not_the_database() -> None:
    tenant = TenantFactory()
    anchor = anchor_chain_head(tenant=tenant).anchor
    with tenant_scope(tenant):
        ChainAnchor.objects.filter(pk=anchor.pk).delete()  # the database's copy gone
        section = chain_pack_section(tenant, _period())
        anchors = [row[4] for row in section.files[1].rows]
    assert anchors == [anchor.mac]


def test_the_pack_section_notes_a_sink_that_lost_its_file() -> None:
    tenant = TenantFactory()
    anchor_chain_head(tenant=tenant)
    (Path(settings.BACKUP_DIR) / "audit-anchors" / f"tenant-{tenant.pk}.jsonl").unlink()
    with tenant_scope(tenant):
        notes = [str(note) for note in chain_pack_section(tenant, _period()).notes]
    assert notes[1:] == [
        "the anchor sink backups has lost this tenant's anchor file "
        "(other sinks or the anchor list say it was written)"
    ]


def test_the_pack_section_leaves_out_other_periods_and_tenants() -> None:
    tenant = TenantFactory()
    anchor_chain_head(tenant=tenant, now=timezone.now() - dt.timedelta(days=90))
    anchor_chain_head(tenant=TenantFactory())
    ChainVerificationFactory(tenant=tenant, started_at=timezone.now() - dt.timedelta(days=90))
    with tenant_scope(tenant):
        section = chain_pack_section(tenant, _period())
        rows = [list(f.rows) for f in section.files]
    assert rows == [[], []]


def test_a_broken_runs_page_lists_its_anchor_problems() -> None:
    tenant = TenantFactory()
    run = ChainVerificationFactory(
        tenant=tenant, ok=False, problems=["the anchor sink local: line 2 is <forged>"]
    )
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    url = reverse("admin:audits_chainverification_change", args=[run.pk])
    html = _client(supervisor).get(url).content.decode()
    assert "<li>the anchor sink local: line 2 is &lt;forged&gt;</li>" in html
