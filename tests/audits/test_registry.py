"""The audit-action registry: what it refuses at start-up and at append time, that every
action the code writes is declared, and how the back office shows actions."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from django.utils import translation

from audits.models import AuditEvent
from audits.services import Event, chained_append_sql, record_event, record_events
from core.audit_registry import (
    CODE_PATTERN,
    AuditAction,
    AuditCategory,
    LegacyAuditAction,
    UndeclaredAuditDetail,
    UnregisteredAuditAction,
    action_label,
    actions_in,
    all_actions,
    audit_action,
    namespace_owner,
    register_actions,
    unregister_app,
)
from tenants.actors import SystemActor
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory

SYSTEM = SystemActor("tests")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_app() -> Iterator[str]:
    """An app label for registrations made by a test, forgotten afterwards."""
    yield "scratch"
    unregister_app("scratch")
    unregister_app("scratch_two")


def _action(code: str, **kwargs: object) -> AuditAction:
    return AuditAction(code, f"Label of {code}", AuditCategory.OTHER, **kwargs)  # type: ignore[arg-type]


# --- start-up refusals ---------------------------------------------------------------------


def test_a_namespace_claimed_by_two_apps_is_refused(scratch_app: str) -> None:
    register_actions(scratch_app, namespaces=("scratchns",), actions=[_action("scratchns.one")])
    with pytest.raises(ImproperlyConfigured, match="'scratchns'.*claimed by app 'scratch'"):
        register_actions("scratch_two", namespaces=("scratchns",), actions=[])


def test_another_apps_namespace_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="'privacy'.*claimed by app 'privacy'"):
        register_actions("scratch", namespaces=("privacy",), actions=[])


def test_a_code_outside_the_apps_namespaces_is_refused(scratch_app: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="'elsewhere.one'.*outside its namespaces"):
        register_actions(scratch_app, namespaces=("scratchns",), actions=[_action("elsewhere.one")])
    assert namespace_owner("scratchns") is None  # nothing of a refused registration stays


def test_a_legacy_code_may_sit_outside_the_apps_namespaces(scratch_app: str) -> None:
    register_actions(
        scratch_app,
        namespaces=("scratchns",),
        actions=[_action("scratchns.new"), _action("oldns.renamed", legacy=True)],
    )
    assert audit_action("oldns.renamed").legacy
    assert audit_action("oldns.renamed").app_label == scratch_app


def test_a_duplicate_code_is_refused(scratch_app: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="'scratchns.one' is listed twice"):
        register_actions(
            scratch_app,
            namespaces=("scratchns",),
            actions=[_action("scratchns.one"), _action("scratchns.one")],
        )
    # A code another app registered already (here riders' legacy one).
    with pytest.raises(ImproperlyConfigured, match="already registered by app 'riders'"):
        register_actions(
            scratch_app, namespaces=("scratchns",), actions=[_action("order.held", legacy=True)]
        )


def test_registering_the_same_actions_again_changes_nothing(scratch_app: str) -> None:
    actions = [_action("scratchns.one", details=frozenset({"n"}))]
    register_actions(scratch_app, namespaces=("scratchns",), actions=actions)
    register_actions(scratch_app, namespaces=("scratchns",), actions=actions)  # ready() again
    assert [a.code for a in all_actions() if a.app_label == scratch_app] == ["scratchns.one"]


@pytest.mark.parametrize("code", ["nodot", "Upper.case", "a.b.c", "ns.", ".verb", "ns.with-dash"])
def test_a_malformed_code_is_refused(scratch_app: str, code: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="namespace>.<verb>"):
        register_actions(scratch_app, namespaces=("ns", "nodot", "a"), actions=[_action(code)])


# --- lookups -------------------------------------------------------------------------------


def test_lookups() -> None:
    reveal = audit_action("privacy.reveal")
    assert (reveal.app_label, reveal.category, reveal.details) == (
        "privacy",
        AuditCategory.PERSONAL_DATA_ACCESS,
        frozenset({"subject", "training_grace"}),
    )
    assert action_label("privacy.reveal") == "Personal data revealed"
    assert action_label("riders.order_assigned") == "Rider assigned to order"
    assert action_label("order.assigned") == "Rider assigned to order"  # legacy, displayed
    assert action_label("before.registry") == "before.registry"  # an old row's raw code
    with pytest.raises(UnregisteredAuditAction, match="'before.registry' is not registered"):
        audit_action("before.registry")
    with pytest.raises(KeyError):
        audit_action("before.registry")
    assert "privacy.reveal" in {a.code for a in actions_in(AuditCategory.PERSONAL_DATA_ACCESS)}
    assert "privacy.reveal" not in {a.code for a in actions_in(AuditCategory.SECURITY)}
    assert {a.code for a in actions_in(AuditCategory.INCIDENTS)} == {
        "incidents.anomaly_reported",
        "incidents.anomaly_resolved",
        "incidents.case_opened",
        "incidents.case_moved",
        "incidents.containment_done",
        "incidents.case_report_made",
        "incidents.case_clock_escalated",
        "incidents.reporting_profile_set",
        "incidents.suspension_lifted",
        "incidents.case_regraded",
        "incidents.key_rotation_started",
        "incidents.key_rotation_done",
        "order.anomaly_reported",
        "incidents.privacy_report_received",
        "incidents.privacy_report_moved",
        "incidents.privacy_report_answered",
        "incidents.privacy_report_closed",
        "incidents.investigation_added",
        "incidents.evidence_added",
        "incidents.evidence_downloaded",
        "incidents.evidence_check_failed",
        "incidents.affected_customers_added",
        "incidents.remedy_set",
        "incidents.notice_saved",
        "incidents.notice_approved",
        "incidents.notice_sent",
        "incidents.notice_retried",
        "incidents.regulator_document_produced",
        # Follow-up actions on anomalies (incidents.anomaly_actions).
        "incidents.anomaly_customer_called",
        "incidents.anomaly_information_corrected",
        "incidents.anomaly_remade",
        "incidents.anomaly_assigned",
        # Drills (training.drills): practice for incidents.
        "training.drill_planned",
        "training.drill_run",
        "training.drill_closed",
    }


def test_the_renamed_codes_are_legacy_and_their_new_codes_writable() -> None:
    renamed = {
        "order.assigned": "riders.order_assigned",
        "order.unassigned": "riders.order_unassigned",
        "order.pickup_mismatch": "riders.pickup_mismatch",
        "order.held": "riders.order_held",
        "order.relay_call": "riders.relay_call",
        "order.handed_over": "riders.handed_over",
        "order.handover_code_issued": "riders.handover_code_issued",
        "order.handover_code_rejected": "riders.handover_code_rejected",
        "order.anomaly_reported": "incidents.anomaly_reported",
    }
    for old, new in renamed.items():
        before, after = audit_action(old), audit_action(new)
        assert (before.legacy, after.legacy) == (True, False), old
        assert (before.label, before.details, before.app_label) == (
            after.label,
            after.details,
            after.app_label,
        )
    assert namespace_owner("order") == "orders"


# --- append-time refusals ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unregistered_action_is_not_appended() -> None:
    tenant = TenantFactory()
    with pytest.raises(UnregisteredAuditAction, match="'privacy.peeked'.*app 'privacy'"):
        record_event(tenant=tenant, actor=SYSTEM, action="privacy.peeked")
    with pytest.raises(UnregisteredAuditAction, match="'nobody.did' is not registered"):
        record_events(tenant=tenant, actor=SYSTEM, events=[Event(action="nobody.did")])
    with tenant_scope(tenant):
        assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_legacy_action_is_not_appended() -> None:
    tenant = TenantFactory()
    with pytest.raises(LegacyAuditAction, match="'order.anomaly_reported'.*'incidents'.*legacy"):
        record_event(
            tenant=tenant,
            actor=SYSTEM,
            action="order.anomaly_reported",
            details={"kind": "lost", "anomaly": 1},
        )
    with tenant_scope(tenant):
        assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_an_undeclared_details_key_is_not_appended() -> None:
    tenant = TenantFactory()
    with pytest.raises(
        UndeclaredAuditDetail, match="'privacy.reveal' \\(app 'privacy'\\).*'phone'"
    ):
        record_event(
            tenant=tenant,
            actor=SYSTEM,
            action="privacy.reveal",
            details={"subject": "x", "phone": "13812345678"},
        )
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.reveal", details={"subject": "x"})
    with tenant_scope(tenant):
        assert list(AuditEvent.objects.values_list("action", flat=True)) == ["privacy.reveal"]


@pytest.mark.django_db
def test_every_append_path_refuses() -> None:
    from audits.services import batched_events

    tenant = TenantFactory()
    wrong = Event(action="privacy.reveal", details={"undeclared": 1})
    with pytest.raises(UndeclaredAuditDetail):
        chained_append_sql(tenant, SYSTEM, [wrong], when="placed")
    with pytest.raises(UnregisteredAuditAction), batched_events():
        record_event(tenant=tenant, actor=SYSTEM, action="nobody.did")  # refused at the call
    with pytest.raises(UndeclaredAuditDetail):
        record_events(tenant=tenant, actor=SYSTEM, events=[wrong])


# --- declarations ----------------------------------------------------------------------------


def test_every_action_has_a_label_a_category_and_details_of_a_frozenset() -> None:
    assert len(all_actions()) > 40
    for action in all_actions():
        assert CODE_PATTERN.match(action.code)
        assert str(action.label).strip() and str(action.label) != action.code, action.code
        assert isinstance(action.category, AuditCategory), action.code
        assert isinstance(action.details, frozenset), action.code
        assert action.legacy or namespace_owner(action.namespace) == action.app_label


def test_every_action_and_category_has_a_zh_hans_translation_after_the_glossary_merge() -> None:
    """Fails until the lead adds the labels to the glossary and regenerates the catalogue."""
    labels = {a.code: a.label for a in all_actions() if a.app_label != "tests"}
    labels.update({f"category {c.value}": c.label for c in AuditCategory})
    with translation.override("en"):
        english = {code: str(label) for code, label in labels.items()}
    with translation.override("zh-hans"):
        chinese = {code: str(label) for code, label in labels.items()}
    assert sorted(code for code in labels if chinese[code] == english[code]) == []


# Functions that receive an action code as a positional argument and append it.
_ACTION_PASSERS = {"_send", "_record", "_record_login_event"}
# bench/run.py writes synthetic rows with COPY to time verification; they never go through
# audits.services.
_NOT_WRITERS = {ROOT / "bench" / "run.py"}


def _codes_in(node: ast.AST) -> set[str]:
    return {
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE_PATTERN.match(n.value)
    }


def _written_action_literals() -> dict[str, set[str]]:
    """Every action code literal in the apps' sources: ``action="x.y"`` (also within an
    expression), ``"action": "x.y"``, ``action = "x.y"`` and the arguments of the helpers
    that pass one along; by file."""
    found: dict[str, set[str]] = {}
    for config in apps.get_app_configs():
        folder = Path(config.path)
        if ROOT not in folder.parents:
            continue  # Django's and third parties' apps
        for path in folder.rglob("*.py"):
            if "migrations" in path.parts or path in _NOT_WRITERS:
                continue
            codes: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.keyword) and node.arg == "action":
                    codes |= _codes_in(node.value)
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "action":
                            codes |= _codes_in(value)
                elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "action" for t in node.targets
                ):
                    codes |= _codes_in(node.value)
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in _ACTION_PASSERS
                ):
                    for arg in node.args:
                        codes |= _codes_in(arg)
            if codes:
                found[str(path.relative_to(ROOT))] = codes
    return found


def test_the_source_walk_finds_the_writes_it_should() -> None:
    found = _written_action_literals()
    assert {"auth.two_factor_enrolled", "auth.two_factor_reset"} <= found["tenants/two_factor.py"]
    assert {"privacy.ledger_reconciled", "privacy.backup_restored"} <= found["privacy/ledger.py"]
    assert "privacy.reveal_failed" in found["privacy/reveal.py"]
    assert "privacy.subject_created" in found["privacy/subjects.py"]
    assert {"order.pin_locked", "order.pin_rejected"} <= found["orders/lifecycle.py"]
    assert {"auth.login_failed", "auth.locked_out"} <= found["audits/receivers.py"]


def test_every_action_literal_in_the_source_is_registered_and_writable() -> None:
    problems = {}
    for path, codes in _written_action_literals().items():
        for code in sorted(codes):
            try:
                if audit_action(code).legacy:
                    problems[f"{path}: {code}"] = "legacy"
            except UnregisteredAuditAction:
                problems[f"{path}: {code}"] = "unregistered"
    assert problems == {}


# --- display ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_audit_list_shows_labels_with_codes_and_filters_by_category(
    client: Client, scratch_app: str
) -> None:
    tenant = TenantFactory()
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    record_event(tenant=tenant, actor=SYSTEM, action="privacy.reveal", details={"subject": "s"})
    # A row whose code the registry no longer knows (written before it): its raw code.
    register_actions(scratch_app, namespaces=("old",), actions=[_action("old.thing")])
    record_event(tenant=tenant, actor=SYSTEM, action="old.thing")
    unregister_app(scratch_app)
    client.force_login(supervisor)
    url = reverse("admin:audits_auditevent_changelist")

    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'Personal data revealed <small class="audit-action-code">privacy.reveal</small>' in html
    assert re.search(r'<td class="field-action_display[^"]*"[^>]*>\s*old\.thing\s*</td>', html)
    assert "Accounts and security" in html  # the category filter

    only_access = client.get(url, {"category": AuditCategory.PERSONAL_DATA_ACCESS.value})
    assert only_access.status_code == 200
    assert [e.action for e in only_access.context["cl"].result_list] == ["privacy.reveal"]

    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="privacy.reveal")
    page = client.get(
        reverse("admin:audits_auditevent_change", args=[event.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert 'Personal data revealed <small class="audit-action-code">' in page.content.decode()
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '已查看个人信息 <small class="audit-action-code">privacy.reveal</small>' in chinese
