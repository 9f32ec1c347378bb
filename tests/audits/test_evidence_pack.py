"""The evidence pack (issue 20, point 6): one signed archive per period with every
registered section — a later app's too, without audits importing it —, CSV files with a
byte-order mark, a self-contained summary, a manifest of SHA-256s signed with Ed25519;
none of the seeded customers' values anywhere in it; progress, failure and reruns."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audits.evidence_build import build_evidence_pack
from audits.models import AuditEvent, EvidencePack, EvidencePackState
from audits.pack_sections import (
    PackFile,
    PackSection,
    all_pack_sections,
    register_pack_section,
    unregister_pack_section,
)
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tests.audits.evidence_helpers import (
    archive_of,
    built_pack,
    members,
    refreshed,
    rewrite,
    seed_revealed_orders,
    seeded_values,
)
from tests.factories import EvidencePackFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def packs_in_tmp(settings: Any, tmp_path: Path) -> Path:
    settings.EVIDENCE_PACK_DIR = tmp_path / "evidence-packs"
    return settings.EVIDENCE_PACK_DIR


@pytest.fixture
def tenant() -> Tenant:
    return TenantFactory(name="Golden Wok 金锅")


def _rider_section(tenant: Tenant, period: Any) -> PackSection:
    return PackSection(
        files=[PackFile("riders_test.csv", ("rider", "deliveries"), [("rider-1", 3)])],
        summary=[("Deliveries", 3)],
        notes=["A later app's section."],
    )


@pytest.fixture
def later_section() -> Iterator[str]:
    register_pack_section("riders.test_section", title="Riders", order=90, build=_rider_section)
    yield "riders.test_section"
    unregister_pack_section("riders.test_section")


def _broken_section(tenant: Tenant, period: Any) -> PackSection:
    raise RuntimeError("the store is down")


@pytest.fixture
def broken_section() -> Iterator[str]:
    register_pack_section("riders.broken", title="Broken", order=25, build=_broken_section)
    yield "riders.broken"
    unregister_pack_section("riders.broken")


def _manifest(pack: EvidencePack) -> dict[str, Any]:
    return json.loads(members(archive_of(pack))["manifest.json"])


def _public_key(tmp_path: Path) -> Path:
    out = io.StringIO()
    call_command("export_evidence_public_key", stdout=out)
    path = tmp_path / "evidence.pem"
    path.write_text(out.getvalue())
    return path


def _verify(archive: Path, key: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "verify_evidence_pack", str(archive), "--public-key", str(key), stdout=out, stderr=err
        )
    except CommandError as error:
        return "failed", err.getvalue() + str(error)
    return "ok", out.getvalue()


def _csv(pack: EvidencePack, name: str) -> list[list[str]]:
    data = members(archive_of(pack))[f"csv/{name}"]
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


# --- contents --------------------------------------------------------------------------------


def test_a_pack_holds_every_registered_section_a_later_apps_included(
    tenant: Tenant, later_section: str
) -> None:
    pack = built_pack(tenant)
    keys = [section["key"] for section in _manifest(pack)["sections"]]
    assert keys == [spec.key for spec in all_pack_sections()]


def test_the_later_apps_section_brings_its_csv_and_its_summary(
    tenant: Tenant, later_section: str
) -> None:
    pack = built_pack(tenant)
    summary = members(archive_of(pack))["summary.html"].decode()
    assert (_csv(pack, "riders_test.csv"), "A later app&#x27;s section." in summary) == (
        [["rider", "deliveries"], ["rider-1", "3"]],
        True,
    )


def test_the_apps_register_the_reveal_log_erasures_incidents_and_training() -> None:
    keys = {spec.key for spec in all_pack_sections()}
    assert {"orders.reveals", "privacy.erasures", "incidents.cases", "training.coverage"} <= keys


def test_the_manifest_lists_every_file_with_its_size_and_sha256(tenant: Tenant) -> None:
    import hashlib

    pack = built_pack(tenant)
    files = members(archive_of(pack))
    listed = {f["name"]: (f["size"], f["sha256"]) for f in _manifest(pack)["files"]}
    actual = {
        name: (len(data), hashlib.sha256(data).hexdigest())
        for name, data in files.items()
        if name not in ("manifest.json", "manifest.sig")
    }
    assert listed == actual


def test_the_manifest_names_the_tenant_period_generator_and_key(tenant: Tenant) -> None:
    pack = built_pack(tenant)
    manifest = _manifest(pack)
    assert (
        manifest["tenant"],
        manifest["period"]["from"],
        manifest["generator"],
        manifest["signature"]["algorithm"],
        bool(re.fullmatch(r"SHA256:[0-9a-f]{64}", manifest["signature"]["public_key_fingerprint"])),
    ) == (tenant.slug, pack.period_start.isoformat(), "baomi evidence pack 1", "Ed25519", True)


def test_every_csv_file_starts_with_a_utf8_byte_order_mark(tenant: Tenant) -> None:
    pack = built_pack(tenant)
    csvs = {n: d for n, d in members(archive_of(pack)).items() if n.endswith(".csv")}
    assert [n for n, d in csvs.items() if not d.startswith(b"\xef\xbb\xbf")] == []


def test_the_reveal_log_names_who_when_which_order_code_field_and_purpose(
    tenant: Tenant,
) -> None:
    orders, _agent = seed_revealed_orders(tenant)
    rows = _csv(built_pack(tenant), "reveal_log.csv")
    singles = [row[1:8] for row in rows[1:] if row[3] == "single"]
    assert singles[0] == [
        "agent-li",
        "Customer service",
        "single",
        orders[0].code,
        "",
        "Address, Name, Note, Phone",
        "Customer-service call",
    ]


def test_a_batch_reveal_gives_one_row_per_order_by_its_code(tenant: Tenant) -> None:
    orders, _agent = seed_revealed_orders(tenant)
    rows = _csv(built_pack(tenant), "reveal_log.csv")
    batch = sorted((row[1], row[4]) for row in rows[1:] if row[3] == "batch")
    assert batch == sorted(("cook-wang", order.code) for order in orders)


def test_the_summary_is_self_contained_without_script_or_outside_resource(tenant: Tenant) -> None:
    pack = built_pack(tenant)
    html = members(archive_of(pack))["summary.html"].decode()
    assert (
        "<script" in html,
        re.search(r"(src|href)\s*=", html) is not None,
        "@import" in html,
        "url(" in html,
        tenant.name in html,
    ) == (False, False, False, False, True)


def test_the_summary_is_in_the_requesters_language(tenant: Tenant) -> None:
    pack = built_pack(tenant, language="zh-hans")
    html = members(archive_of(pack))["summary.html"].decode()
    assert '<html lang="zh-hans">' in html


# --- no customer's personal data ------------------------------------------------------------


def test_the_archive_holds_none_of_the_seeded_customers_values(tenant: Tenant) -> None:
    seed_revealed_orders(tenant)
    pack = built_pack(tenant)
    raw = archive_of(pack).read_bytes()
    found = [value for value in seeded_values() if value.encode() in raw]
    assert found == []


def test_no_file_of_the_pack_holds_a_seeded_customers_value(tenant: Tenant) -> None:
    seed_revealed_orders(tenant)
    pack = built_pack(tenant)
    found = [
        (name, value)
        for name, data in members(archive_of(pack)).items()
        for value in seeded_values()
        if value in data.decode("utf-8-sig")
        or value.encode("unicode_escape").decode() in data.decode("utf-8-sig")
    ]
    assert found == []


def test_the_seeded_reveals_are_in_the_log_the_scan_ran_on(tenant: Tenant) -> None:
    seed_revealed_orders(tenant)
    rows = _csv(built_pack(tenant), "reveal_log.csv")
    assert len(rows) - 1 == 4  # two single reveals, and a batch of two orders


# --- signature ----------------------------------------------------------------------------------


def test_the_signature_verifies_with_the_command(tenant: Tenant, tmp_path: Path) -> None:
    pack = built_pack(tenant)
    outcome, message = _verify(archive_of(pack), _public_key(tmp_path))
    assert (outcome, "signature valid" in message, f"tenant {tenant.slug}" in message) == (
        "ok",
        True,
        True,
    )


def test_a_tampered_csv_fails_verification_naming_the_file(tenant: Tenant, tmp_path: Path) -> None:
    seed_revealed_orders(tenant)
    pack = built_pack(tenant)
    original = members(archive_of(pack))["csv/reveal_log.csv"]
    tampered = rewrite(
        archive_of(pack),
        tmp_path / "tampered.zip",
        {"csv/reveal_log.csv": original.replace(b"agent-li", b"agent-xx")},
    )
    outcome, message = _verify(tampered, _public_key(tmp_path))
    assert (outcome, "csv/reveal_log.csv: SHA-256" in message) == ("failed", True)


def test_a_tampered_manifest_fails_the_signature_check(tenant: Tenant, tmp_path: Path) -> None:
    pack = built_pack(tenant)
    manifest = members(archive_of(pack))["manifest.json"]
    tampered = rewrite(
        archive_of(pack),
        tmp_path / "tampered.zip",
        {"manifest.json": manifest.replace(pack.period_start.isoformat().encode(), b"2020-01-01")},
    )
    outcome, message = _verify(tampered, _public_key(tmp_path))
    assert (outcome, "manifest.sig: the signature does not match manifest.json" in message) == (
        "failed",
        True,
    )


def test_a_file_added_to_the_archive_fails_verification(tenant: Tenant, tmp_path: Path) -> None:
    pack = built_pack(tenant)
    changed = rewrite(archive_of(pack), tmp_path / "added.zip", {"csv/extra.csv": b"a,b\n"})
    outcome, message = _verify(changed, _public_key(tmp_path))
    assert (
        outcome,
        "csv/extra.csv: in the archive but not listed in the manifest." in message,
    ) == (
        "failed",
        True,
    )


def test_another_key_does_not_verify_the_pack(tenant: Tenant, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audits.evidence_keys import public_key_pem

    pack = built_pack(tenant)
    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    outcome, message = _verify(archive_of(pack), other)
    assert (outcome, "the signature does not match" in message) == ("failed", True)


def test_the_exported_public_key_is_a_pem_block(tmp_path: Path) -> None:
    text = _public_key(tmp_path).read_text()
    assert (text.startswith("-----BEGIN PUBLIC KEY-----"), text.strip().endswith("-----")) == (
        True,
        True,
    )


# --- progress, failure, reruns ----------------------------------------------------------------


def test_a_built_pack_is_done_with_full_progress_size_and_sha256(tenant: Tenant) -> None:
    import hashlib

    pack = built_pack(tenant)
    data = archive_of(pack).read_bytes()
    assert (
        pack.state,
        pack.sections_done == pack.sections_total == len(all_pack_sections()),
        pack.percent,
        pack.size,
        pack.sha256,
        pack.path.startswith(f"{tenant.slug}/"),
    ) == ("done", True, 100, len(data), hashlib.sha256(data).hexdigest(), True)


_seen_progress: list[int] = []


def _progress_probe(tenant: Tenant, period: Any) -> PackSection:
    pack = EvidencePack.objects.filter(tenant=tenant).latest("pk")
    _seen_progress.append(pack.sections_done)
    return PackSection()


def test_progress_is_saved_as_each_section_completes(tenant: Tenant) -> None:
    register_pack_section("riders.probe", title="Probe", order=10_000, build=_progress_probe)
    _seen_progress.clear()
    try:
        built_pack(tenant)
    finally:
        unregister_pack_section("riders.probe")
    assert _seen_progress == [len(all_pack_sections())]


def test_a_failing_section_fails_the_pack_with_its_reason(
    tenant: Tenant, broken_section: str
) -> None:
    pack = built_pack(tenant)
    assert (pack.state, pack.failure, pack.path) == (
        "failed",
        "The section “Broken” could not be built (RuntimeError).",
        "",
    )


def test_a_failing_section_leaves_no_archive_behind(
    tenant: Tenant, broken_section: str, packs_in_tmp: Path
) -> None:
    built_pack(tenant)
    assert sorted(p.name for p in packs_in_tmp.rglob("*") if p.is_file()) == []


def test_a_failed_pack_is_audited_with_the_section(tenant: Tenant, broken_section: str) -> None:
    pack = built_pack(tenant)
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="evidence.pack_failed")
    assert event.details == {
        "pack": pack.pk,
        "section": "riders.broken",
        "error": "The section “Broken” could not be built (RuntimeError).",
    }


def test_a_built_pack_is_audited_with_its_hash(tenant: Tenant) -> None:
    pack = built_pack(tenant)
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="evidence.pack_built")
    assert (event.actor, event.details["sha256"], event.details["size"]) == (
        "system:evidence-pack",
        pack.sha256,
        pack.size,
    )


def test_rerunning_a_done_pack_does_nothing(tenant: Tenant) -> None:
    pack = built_pack(tenant)
    again = build_evidence_pack(tenant=tenant, pack_id=pack.pk)
    with tenant_scope(tenant):
        built = AuditEvent.objects.filter(action="evidence.pack_built").count()
    assert (again, refreshed(pack).sha256, built) == (None, pack.sha256, 1)


def test_rerunning_a_failed_pack_does_nothing(tenant: Tenant, broken_section: str) -> None:
    pack = built_pack(tenant)
    unregister_pack_section(broken_section)
    assert (build_evidence_pack(tenant=tenant, pack_id=pack.pk), refreshed(pack).state) == (
        None,
        "failed",
    )


def test_another_tenants_pack_is_not_built(tenant: Tenant) -> None:
    other = EvidencePackFactory(tenant=TenantFactory())
    assert (build_evidence_pack(tenant=tenant, pack_id=other.pk), refreshed(other).state) == (
        None,
        EvidencePackState.QUEUED,
    )


def test_a_pack_of_a_period_with_nothing_in_it_is_built(tenant: Tenant) -> None:
    pack = built_pack(tenant, requester=UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER]))
    assert (pack.state, _csv(pack, "reveal_log.csv")[1:]) == ("done", [])


def test_a_pack_another_execution_is_building_is_left_to_it(tenant: Tenant) -> None:
    from django.utils import timezone

    pack = EvidencePackFactory(tenant=tenant, state="running", started_at=timezone.now())
    assert (build_evidence_pack(tenant=tenant, pack_id=pack.pk), refreshed(pack).state) == (
        None,
        "running",
    )


def test_a_pack_left_running_by_a_dead_worker_is_taken_over(tenant: Tenant) -> None:
    from datetime import timedelta

    from django.utils import timezone

    started = timezone.now() - timedelta(hours=2)
    pack = EvidencePackFactory(tenant=tenant, state="running", started_at=started)
    build_evidence_pack(tenant=tenant, pack_id=pack.pk)
    assert refreshed(pack).state == "done"


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(tenant: Tenant) -> None:
    from audits.evidence_build import cell

    assert [cell("=HYPERLINK(1)"), cell("+1"), cell("@x"), cell("-2"), cell(-2), cell("ok")] == [
        "'=HYPERLINK(1)",
        "'+1",
        "'@x",
        "'-2",
        "-2",
        "ok",
    ]


def test_the_reveal_log_reads_a_bounded_number_of_queries(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    from datetime import date

    from audits.evidence_values import period_of
    from orders.evidence import reveal_log
    from privacy.api import Purpose, reveal

    orders, _agent = seed_revealed_orders(tenant)
    for n in range(5):
        agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE], username=f"agent-{n}")
        for order in orders:
            reveal(order, fields=["phone"], actor=agent, purpose=Purpose.CUSTOMER_SERVICE_CALL)
    with tenant_scope(tenant):
        section = reveal_log(tenant, period_of(tenant, date(2000, 1, 1), date(2100, 1, 1)))
        with django_assert_max_num_queries(5):  # events, users, roles, orders, the end
            rows = list(section.files[0].rows)
    assert len(rows) == 4 + 5 * len(orders)


def test_a_build_whose_pack_was_taken_over_meanwhile_writes_nothing(tenant: Tenant) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from audits.models import EvidencePack
    from audits.pack_sections import (
        PackSection,
        register_pack_section,
        unregister_pack_section,
    )

    pack = EvidencePackFactory(tenant=tenant)
    taken_over_at = timezone.now() + timedelta(minutes=31)

    def taken_over(owner: Tenant, period: Any) -> PackSection:
        # Another execution thought this one dead and claimed the pack meanwhile.
        EvidencePack.objects.filter(pk=pack.pk).update(started_at=taken_over_at)
        return PackSection()

    register_pack_section("tests.taken_over", title="Taken over", order=-1, build=taken_over)
    try:
        result = build_evidence_pack(tenant=tenant, pack_id=pack.pk)
    finally:
        unregister_pack_section("tests.taken_over")
    after = refreshed(pack)
    assert (result, after.state, after.sha256, after.started_at) == (
        None,
        "running",
        "",
        taken_over_at,
    )
