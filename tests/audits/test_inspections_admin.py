"""Inspections in the back office (issue 20, point 3): the plan form, the checklist page
where findings are recorded item by item (400 naming the field, 409 naming the state),
evidence downloads for supervisors only, follow-ups closed by their owner, the lists'
filters and overdue badges in bounded queries, another tenant's objects a 404; and the
dashboard panel, the §6.1.1 indicator and the evidence pack's section."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audits.inspections import services
from audits.inspections.supervision import (
    inspection_indicator,
    inspections_pack,
    inspections_panel,
)
from audits.models import AuditEvent, EvidenceFile, FollowUp, Inspection
from audits.panels import Period
from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.audits.inspection_support import (  # noqa: F401 - evidence_in_tmp is a fixture
    DAY,
    PDF,
    PNG,
    clock,
    evidence_in_tmp,
    fail,
    follow_up_of,
    items_of,
    overdue_follow_up,
    started,
    supervisor,
)
from tests.factories import InspectionFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _checklist(inspection) -> str:
    return reverse("admin:audits_inspection_checklist", args=[inspection.pk])


def _finding_url(inspection, item) -> str:
    return reverse("admin:audits_inspection_finding", args=[inspection.pk, item.pk])


def _rows(response) -> str:
    """The list's table (not its filters)."""
    return response.content.decode().split('id="result_list"')[1].split("</table>")[0]


# --- planning ------------------------------------------------------------------------------


def test_a_supervisor_plans_an_inspection_and_lands_on_its_checklist() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant, "sup-zhou")
    response = _client(boss).post(
        reverse("admin:audits_inspection_add"),
        {
            "title": "Packing station, November",
            "scope": "packing",
            "planned_for": services.local_today(tenant).isoformat(),
            "inspector": str(boss.pk),
            "recurrence": "quarterly",
        },
    )
    with tenant_scope(tenant):
        inspection = Inspection.objects.get()
    assert (response.status_code, response["Location"], inspection.recurrence) == (
        302,
        _checklist(inspection),
        "quarterly",
    )


def test_the_plan_form_names_a_bad_inspector() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    kitchen = UserFactory(tenant=tenant, roles=[Role.KITCHEN])
    response = _client(boss).post(
        reverse("admin:audits_inspection_add"),
        {
            "title": "Kitchen",
            "scope": "kitchen",
            "planned_for": services.local_today(tenant).isoformat(),
            "inspector": str(kitchen.pk),
            "recurrence": "",
        },
    )
    assert "Select a valid choice." in response.content.decode()


def test_the_checklist_page_lists_each_item_with_its_clause() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss)
    page = _client(boss).get(_checklist(inspection)).content.decode()
    assert "§3.3.1</span> Labels show no full name or phone number" in page
    assert "<script" not in page.split('id="inspection"')[1].split("</ol>")[0]


# --- recording findings --------------------------------------------------------------------


def test_a_failed_item_with_evidence_and_a_follow_up_is_recorded_from_its_form() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    inspection = started(tenant, boss)
    item = items_of(inspection)[0]
    due = (services.local_today(tenant) + 7 * DAY).isoformat()
    response = _client(boss).post(
        _finding_url(inspection, item),
        {
            "result": "fail",
            "note": "Order B-1042's label showed a full name",
            "owner": str(packer.pk),
            "due_on": due,
            "evidence": [SimpleUploadedFile("photo.png", PNG, content_type="image/png")],
        },
    )
    with tenant_scope(tenant):
        follow_up = FollowUp.objects.select_related("finding").get()
        evidence = EvidenceFile.objects.get()
    assert (response.status_code, response["Location"]) == (
        302,
        f"{_checklist(inspection)}#item-{item.pk}",
    )
    assert (follow_up.finding.result, follow_up.owner_id, follow_up.due_on.isoformat()) == (
        "fail",
        packer.pk,
        due,
    )
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest()


def test_the_recorded_finding_shows_its_evidence_hash_and_size() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    services.record_finding(
        inspection=inspection,
        item_id=items_of(inspection)[0].pk,
        actor=boss,
        result="pass",
        files=[PDF],
    )
    page = _client(boss).get(_checklist(inspection)).content.decode()
    assert hashlib.sha256(PDF).hexdigest() in page
    assert f"PDF file, {len(PDF)}" in page


def test_a_failed_item_without_an_owner_is_a_400_naming_the_owner() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    response = _client(boss).post(
        _finding_url(inspection, items_of(inspection)[0]),
        {"result": "fail", "due_on": services.local_today(tenant).isoformat()},
    )
    assert response.status_code == 400
    assert "A failed item needs a follow-up owner: a staff member of this tenant." in (
        response.content.decode()
    )


def test_a_file_that_is_not_evidence_is_a_400_naming_the_evidence() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    response = _client(boss).post(
        _finding_url(inspection, items_of(inspection)[0]),
        {
            "result": "pass",
            "evidence": [
                SimpleUploadedFile("notes.pdf", b"just text", content_type="application/pdf")
            ],
        },
    )
    assert response.status_code == 400
    assert "Evidence must be a PDF, PNG, JPEG or WebP file: this file is none of them." in (
        response.content.decode()
    )


def test_a_finding_on_a_planned_inspection_is_a_409_naming_the_state() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss)
    response = _client(boss).post(
        _finding_url(inspection, items_of(inspection)[0]), {"result": "pass"}
    )
    assert response.status_code == 409
    assert "The inspection is planned: findings are recorded while it is in progress." in (
        response.content.decode()
    )


def test_completing_with_items_left_is_a_409_saying_how_many() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    response = _client(boss).post(reverse("admin:audits_inspection_complete", args=[inspection.pk]))
    assert response.status_code == 409
    assert "3 items have no finding yet: record them before completing." in (
        response.content.decode()
    )


def test_start_then_complete_redirect_back_to_the_checklist() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = InspectionFactory(tenant=tenant, inspector=boss, scope="kitchen")
    client = _client(boss)
    client.post(reverse("admin:audits_inspection_start", args=[inspection.pk]))
    for item in items_of(inspection):
        client.post(_finding_url(inspection, item), {"result": "pass"})
    response = client.post(reverse("admin:audits_inspection_complete", args=[inspection.pk]))
    with tenant_scope(tenant):
        state = Inspection.objects.get(pk=inspection.pk).state
    assert (response.status_code, state) == (302, "completed")


# --- who sees what -------------------------------------------------------------------------


def test_another_tenants_inspection_is_a_404() -> None:
    inspection = InspectionFactory()
    stranger = supervisor(TenantFactory())
    assert _client(stranger).get(_checklist(inspection)).status_code == 404


@pytest.mark.parametrize("role", [Role.PACKER, Role.KITCHEN, Role.CUSTOMER_SERVICE])
def test_staff_who_do_not_supervise_do_not_see_inspections(role: Role) -> None:
    inspection = InspectionFactory()
    user = UserFactory(tenant=inspection.tenant, roles=[role])
    client = _client(user)
    assert client.get(_checklist(inspection)).status_code == 404
    assert client.get(reverse("admin:audits_inspection_changelist")).status_code == 403


def _evidence(tenant, boss) -> EvidenceFile:
    inspection = started(tenant, boss)
    finding = services.record_finding(
        inspection=inspection,
        item_id=items_of(inspection)[0].pk,
        actor=boss,
        result="pass",
        files=[PDF],
    )
    with tenant_scope(tenant):
        return EvidenceFile.objects.get(finding=finding)


def test_a_supervisor_downloads_evidence_sandboxed_and_audited() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    evidence = _evidence(tenant, boss)
    response = _client(boss).get(reverse("admin:audits_inspection_evidence", args=[evidence.pk]))
    with tenant_scope(tenant):
        [event] = AuditEvent.objects.filter(action="inspections.evidence_downloaded")
    assert (
        b"".join(response.streaming_content),
        response["Content-Type"],
        response["X-Content-Type-Options"],
        response["Content-Security-Policy"],
        event.details["sha256"],
    ) == (PDF, "application/pdf", "nosniff", "default-src 'none'; sandbox", evidence.sha256)


def test_another_tenants_evidence_is_a_404() -> None:
    tenant = TenantFactory()
    evidence = _evidence(tenant, supervisor(tenant))
    stranger = supervisor(TenantFactory())
    url = reverse("admin:audits_inspection_evidence", args=[evidence.pk])
    assert _client(stranger).get(url).status_code == 404


def test_a_follow_up_owner_who_does_not_supervise_cannot_download_evidence() -> None:
    tenant = TenantFactory()
    evidence = _evidence(tenant, supervisor(tenant))
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    url = reverse("admin:audits_inspection_evidence", args=[evidence.pk])
    assert _client(packer).get(url).status_code == 404


def test_the_owner_closes_the_follow_up_from_its_page() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    packer = UserFactory(tenant=tenant, roles=[Role.PACKER])
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, packer, services.local_today(tenant))
    follow_up = follow_up_of(finding)
    client = _client(packer)
    page = client.get(reverse("admin:audits_followup_change", args=[follow_up.pk]))
    response = client.post(
        reverse("admin:audits_followup_close", args=[follow_up.pk]),
        {"note": "New label template in use"},
    )
    assert (page.status_code, response.status_code, follow_up_of(finding).state) == (
        200,
        302,
        "done",
    )


def test_closing_without_a_note_is_a_400_naming_the_field() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, boss, services.local_today(tenant))
    response = _client(boss).post(
        reverse("admin:audits_followup_close", args=[follow_up_of(finding).pk]), {"note": ""}
    )
    assert (response.status_code, "This field is required." in response.content.decode()) == (
        400,
        True,
    )


def test_closing_a_done_follow_up_with_another_note_is_a_409() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, boss, services.local_today(tenant))
    follow_up = follow_up_of(finding)
    services.close_follow_up(follow_up=follow_up, actor=boss, note="Fixed")
    response = _client(boss).post(
        reverse("admin:audits_followup_close", args=[follow_up.pk]), {"note": "Other"}
    )
    assert response.status_code == 409


def test_another_staff_members_follow_up_is_a_404() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    owner = UserFactory(tenant=tenant, roles=[Role.PACKER])
    other = UserFactory(tenant=tenant, roles=[Role.PACKER])
    inspection = started(tenant, boss)
    finding = fail(inspection, items_of(inspection)[0], boss, owner, services.local_today(tenant))
    fail(inspection, items_of(inspection)[1], boss, other, services.local_today(tenant))
    url = reverse("admin:audits_followup_change", args=[follow_up_of(finding).pk])
    assert _client(other).get(url).status_code == 404


def test_the_owner_lists_only_their_own_follow_ups() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    owner = UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-li")
    other = UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-wu")
    inspection = started(tenant, boss)
    fail(inspection, items_of(inspection)[0], boss, owner, services.local_today(tenant))
    fail(inspection, items_of(inspection)[1], boss, other, services.local_today(tenant))
    page = _rows(_client(owner).get(reverse("admin:audits_followup_changelist")))
    assert ("packer-li" in page, "packer-wu" in page) == (True, False)


# --- lists, filters, badges, query bounds --------------------------------------------------


def test_the_overdue_filter_lists_only_overdue_follow_ups_with_their_badge() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    late = UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-late")
    fine = UserFactory(tenant=tenant, roles=[Role.PACKER], username="packer-fine")
    overdue_follow_up(tenant, boss, late)
    inspection = started(tenant, boss)
    fail(inspection, items_of(inspection)[0], boss, fine, services.local_today(tenant) + DAY)
    page = _rows(_client(boss).get(reverse("admin:audits_followup_changelist") + "?overdue=yes"))
    assert ("packer-late" in page, "packer-fine" in page, "baomi-badge-overdue" in page) == (
        True,
        False,
        True,
    )


def test_the_overdue_filter_lists_only_inspections_planned_in_the_past() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    with clock(timezone.now() - 10 * DAY):
        InspectionFactory(tenant=tenant, inspector=boss, title="Missed check")
    InspectionFactory(tenant=tenant, inspector=boss, title="Today's check")
    page = (
        _client(boss)
        .get(reverse("admin:audits_inspection_changelist") + "?overdue=yes")
        .content.decode()
    )
    assert ("Missed check" in page, "Today&#x27;s check" in page) == (True, False)


def test_the_inspections_list_is_a_bounded_number_of_queries(
    django_assert_max_num_queries,
) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    client = _client(boss)
    url = reverse("admin:audits_inspection_changelist")
    InspectionFactory(tenant=tenant, inspector=boss)
    client.get(url)
    for _n in range(12):
        InspectionFactory(tenant=tenant, inspector=supervisor(tenant), scope="full")
    with django_assert_max_num_queries(22):
        assert client.get(url).status_code == 200


def test_the_follow_ups_list_is_a_bounded_number_of_queries(
    django_assert_max_num_queries,
) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    client = _client(boss)
    inspection = started(tenant, boss, scope="full")
    for item in items_of(inspection)[:12]:
        owner = UserFactory(tenant=tenant, roles=[Role.PACKER])
        fail(inspection, item, boss, owner, services.local_today(tenant))
    with django_assert_max_num_queries(22):
        assert client.get(reverse("admin:audits_followup_changelist")).status_code == 200


def test_the_checklist_page_is_a_bounded_number_of_queries(
    django_assert_max_num_queries,
) -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss, scope="full")
    for item in items_of(inspection)[:10]:
        fail(inspection, item, boss, boss, services.local_today(tenant), files=[PNG])
    client = _client(boss)
    with django_assert_max_num_queries(22):
        assert client.get(_checklist(inspection)).status_code == 200


# --- dashboard panel, indicator, evidence pack ---------------------------------------------


def _period(days: int = 30) -> Period:
    end = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    return Period(start=end - timedelta(days=days), end=end)


def test_the_panel_counts_upcoming_and_overdue_inspections_and_follow_ups() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    with clock(timezone.now() - 10 * DAY):
        InspectionFactory(tenant=tenant, inspector=boss)
    InspectionFactory(tenant=tenant, inspector=boss)
    overdue_follow_up(tenant, boss, boss)
    request = RequestFactory().get("/")
    context = inspections_panel(request, tenant, _period())
    counts = context["counts"]
    assert (
        counts.upcoming,
        counts.overdue,
        counts.open_follow_ups,
        counts.overdue_follow_ups,
        context["overdue_follow_ups_url"],
    ) == (1, 2, 1, 1, reverse("admin:audits_followup_changelist") + "?overdue=yes")


def test_the_indicator_needs_attention_without_a_recent_inspection() -> None:
    indicator = inspection_indicator(TenantFactory(), _period())
    assert (indicator.status, str(indicator.summary)) == (
        "attention",
        "No inspection completed yet",
    )


def test_the_indicator_is_met_after_an_inspection_today() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss, scope="kitchen")
    for item in items_of(inspection):
        services.record_finding(inspection=inspection, item_id=item.pk, actor=boss, result="pass")
    services.complete_inspection(inspection=inspection, actor=boss)
    indicator = inspection_indicator(tenant, _period())
    assert (indicator.status, str(indicator.summary)) == ("ok", "Last inspection 0 days ago")


def test_the_indicator_fails_while_a_follow_up_is_overdue() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    overdue_follow_up(tenant, boss, boss)
    indicator = inspection_indicator(tenant, _period())
    assert (indicator.status, str(indicator.summary)) == (
        "failing",
        "No inspection completed yet; 1 follow-up overdue",
    )


def _csv(section, name: str) -> list[list[str]]:
    [file] = [f for f in section.files if f.name == name]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(file.header)
    writer.writerows(file.rows)
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_the_pack_section_lists_findings_with_their_evidence_hashes() -> None:
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    item = items_of(inspection)[0]
    fail(inspection, item, boss, boss, services.local_today(tenant), files=[PDF, PNG])
    with tenant_scope(tenant):
        section = inspections_pack(tenant, _period())
    findings = _csv(section, "findings.csv")
    follow_ups = _csv(section, "follow_ups.csv")
    assert findings[1][:5] == [
        str(inspection.pk),
        "orders.label_no_name",
        "3.3.1",
        "on_site",
        "fail",
    ]
    assert findings[1][8] == ";".join(sorted(hashlib.sha256(d).hexdigest() for d in (PDF, PNG)))
    assert (len(findings), len(follow_ups), follow_ups[1][3]) == (4, 2, "3.3.1")


def test_the_panel_template_renders_each_number_as_a_link_to_its_list() -> None:
    from django.template.loader import render_to_string

    from audits.panels import all_panels

    tenant = TenantFactory()
    boss = supervisor(tenant)
    overdue_follow_up(tenant, boss, boss)
    [panel] = [p for p in all_panels() if p.key == "audits.inspections"]
    request = RequestFactory().get("/")
    html = render_to_string(panel.template, panel.context_for(request, tenant, _period()))
    assert (
        f'href="{reverse("admin:audits_followup_changelist")}?overdue=yes" '
        'data-count="overdue_follow_ups" class="baomi-overdue">1 follow-up overdue</a>'
    ) in html


def test_an_upload_over_the_limit_is_a_400_before_it_is_read(settings) -> None:
    settings.INSPECTION_EVIDENCE_MAX_BYTES = 1024
    tenant = TenantFactory()
    boss = supervisor(tenant)
    inspection = started(tenant, boss)
    response = _client(boss).post(
        _finding_url(inspection, items_of(inspection)[0]),
        {
            "result": "pass",
            "evidence": [SimpleUploadedFile("scan.pdf", PDF + b"0" * 3000)],
        },
    )
    assert response.status_code == 400
    assert "The evidence file is too big: 3 KB, at most 1 KB." in response.content.decode()
