"""Case studies (issue 19, point 7): attached to a course from a closed, real incident
case by a tenant administrator or privacy officer, the form prefilled from the case's
structured facts only (the reader incidents registers), refused for another tenant's case
(404), an open case (409 naming it) and a drill; audited; shown to learners on the course
page under "Case studies"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from core.errors import Conflict
from incidents.cases import move_case, open_case
from incidents.models import IncidentCase
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory, UserFactory, verified_second_factor
from tests.training.conftest import SYSTEM
from training import case_studies
from training.case_studies import attach_case_study, draft_texts
from training.models import Course, CourseCaseStudy
from training.starter import RIDERS, seed_training

pytestmark = pytest.mark.django_db(databases="__all__")

ATTACH = "/admin/training/coursecasestudy/add/"
CASE_TITLE = "Phone of rider Zhang Wei lost near Block 7"
REASON = "Photos of labels for 13912345678 on the phone"


@pytest.fixture
def officer(tenant: Tenant) -> User:
    return UserFactory(tenant=tenant, roles=[Role.PRIVACY_OFFICER], username="po-chen")


@pytest.fixture
def course(tenant: Tenant) -> Course:
    with tenant_scope(tenant):
        return Course.objects.get(code=RIDERS["code"])


def _case(tenant: Tenant, actor: User, *, drill: bool = False, close: bool = True) -> IncidentCase:
    case = open_case(
        tenant=tenant,
        title=CASE_TITLE,
        severity="major",
        severity_reason=REASON,
        kind="lost_device",
        data_categories=["name", "address"],
        affected_customers=3,
        discovered_at=timezone.now() - timedelta(hours=2),
        discovered_by="Dispatcher Li Na",
        is_drill=drill,
        actor=actor,
    )
    if close:
        for state in ("contained", "investigating", "remediated", "closed"):
            case = move_case(case=case, to=state, actor=actor)
    return case


def _attach(tenant: Tenant, course: Course, case_id: int, actor: Any) -> CourseCaseStudy:
    return attach_case_study(
        tenant=tenant,
        course=course,
        case_id=case_id,
        title_zh="丢失手机的教训",
        title_en="Lessons from a lost phone",
        body_zh="标签照片不应保存在手机上。",
        body_en="Label photos must not be kept on a phone.",
        actor=actor,
    )


def _client(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    verified_second_factor(client, user)
    return client


# --- the facts and the draft ----------------------------------------------------------------


def test_the_draft_holds_the_facts_and_nothing_personal(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    texts = draft_texts(tenant.pk, case.pk)
    joined = "\n".join(texts.values())
    assert (
        texts["title_en"],
        "Data affected: Name, Address." in texts["body_en"],
        "Contained 0 min after it was discovered." not in texts["body_en"],
        "Contained " in texts["body_en"],
        "What we learned:" in texts["body_en"],
        [v in joined for v in ("Zhang Wei", "Block 7", "13912345678", "Li Na", case.code)],
    ) == (
        "Case study: Lost device (Major)",
        True,
        True,
        True,
        True,
        [False] * 5,
    )


def test_the_facts_say_whether_the_clocks_were_met(tenant: Tenant, officer: User) -> None:
    case = _case(tenant, officer)
    facts = case_studies.case_facts(tenant.pk, case.pk)
    assert facts is not None
    assert (
        facts.closed,
        facts.drill,
        facts.data_categories,
        facts.contained_after is not None,
        facts.closed_after is not None,
        facts.clocks_met,
        bool(facts.reports),
    ) == (True, False, ("Name", "Address"), True, True, False, True)


# --- attaching: the service -----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.PRIVACY_OFFICER])
def test_an_author_attaches_a_case_study_audited(
    tenant: Tenant, officer: User, course: Course, role: Role
) -> None:
    author = UserFactory(tenant=tenant, roles=[role])
    case = _case(tenant, officer)
    study = _attach(tenant, course, case.pk, author)
    with tenant_scope(tenant):
        event = AuditEvent.objects.get(action="training.case_study_added")
    assert (
        study.source_case_id,
        study.source_case_code,
        study.added_by,
        study.published,
        event.details,
    ) == (
        case.pk,
        case.code,
        f"user:{author.pk}",
        True,
        {"case_study": study.pk, "course": course.code, "case": case.pk, "case_code": case.code},
    )


@pytest.mark.parametrize(
    "role",
    [Role.SUPERVISOR, Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.KITCHEN, Role.RIDER],
)
def test_other_roles_may_not_attach(
    tenant: Tenant, officer: User, course: Course, role: Role
) -> None:
    case = _case(tenant, officer)
    with pytest.raises(PermissionDenied):
        _attach(tenant, course, case.pk, UserFactory(tenant=tenant, roles=[role]))


def test_an_open_case_is_refused_naming_it(tenant: Tenant, officer: User, course: Course) -> None:
    case = _case(tenant, officer, close=False)
    with pytest.raises(Conflict) as refused:
        _attach(tenant, course, case.pk, officer)
    assert refused.value.message == (
        f"The case {case.code} is still open (Reported): close it before writing a case study."
    )


def test_a_drill_is_refused(tenant: Tenant, officer: User, course: Course) -> None:
    case = _case(tenant, officer, drill=True)
    with pytest.raises(Conflict) as refused:
        _attach(tenant, course, case.pk, officer)
    assert refused.value.message == (
        f"The case {case.code} is a drill: case studies come from real incidents."
    )


def test_another_tenants_case_is_404(tenant: Tenant, officer: User, course: Course) -> None:
    other = TenantFactory()
    theirs = _case(other, UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER]))
    with pytest.raises(Http404):
        _attach(tenant, course, theirs.pk, officer)


def test_the_same_case_is_attached_once_per_course(
    tenant: Tenant, officer: User, course: Course
) -> None:
    case = _case(tenant, officer)
    _attach(tenant, course, case.pk, officer)
    with pytest.raises(Conflict) as refused:
        _attach(tenant, course, case.pk, officer)
    assert refused.value.message == (
        f"A case study from {case.code} is already attached to this course."
    )


def test_bad_texts_are_refused_by_field_and_write_nothing(
    tenant: Tenant, officer: User, course: Course
) -> None:
    case = _case(tenant, officer)
    with pytest.raises(ValidationError) as refused:
        attach_case_study(
            tenant=tenant,
            course=course,
            case_id=case.pk,
            title_zh="",
            title_en="x" * 121,
            body_zh="bell\x07",
            body_en="ok",
            actor=officer,
        )
    with tenant_scope(tenant):
        count = CourseCaseStudy.objects.count()
    assert (refused.value.message_dict, count) == (
        {
            "title_zh": ["This field is required."],
            "title_en": ["At most 120 characters."],
            "body_zh": ["Must not contain control characters."],
        },
        0,
    )


# --- attaching: the page --------------------------------------------------------------------


def test_the_page_lists_closed_real_cases_and_prefills_the_form(
    tenant: Tenant, officer: User, course: Course
) -> None:
    closed = _case(tenant, officer)
    still_open = _case(tenant, officer, close=False)
    drill = _case(tenant, officer, drill=True)
    client = _client(officer)
    choose = client.get(ATTACH).content.decode()
    form = client.get(ATTACH, {"case": closed.pk, "course": course.code}).content.decode()
    assert (
        f'value="{closed.pk}"' in choose,
        f'value="{still_open.pk}"' in choose,
        f'value="{drill.pk}"' in choose,
        "Case study: Lost device (Major)" in form,
        "Do not write personal data" in form,
        CASE_TITLE in form,
        REASON in form,
    ) == (True, False, False, True, True, False, False)


def test_posting_the_form_attaches_and_redirects(
    tenant: Tenant, officer: User, course: Course
) -> None:
    case = _case(tenant, officer)
    response = _client(officer).post(
        ATTACH,
        {
            "case": case.pk,
            "course": course.code,
            "title_zh": "丢失手机",
            "title_en": "A lost phone",
            "body_zh": "不要在手机上保存标签照片。",
            "body_en": "Do not keep label photos on a phone.",
        },
    )
    with tenant_scope(tenant):
        study = CourseCaseStudy.objects.get()
    assert (response.status_code, response.url, study.title_en, study.course_id) == (
        302,
        reverse("admin:training_coursecasestudy_changelist"),
        "A lost phone",
        course.pk,
    )


def test_a_bad_post_is_a_400_and_writes_nothing(
    tenant: Tenant, officer: User, course: Course
) -> None:
    case = _case(tenant, officer)
    response = _client(officer).post(
        ATTACH, {"case": case.pk, "course": course.code, "title_zh": "", "title_en": "x"}
    )
    with tenant_scope(tenant):
        count = CourseCaseStudy.objects.count()
    assert (response.status_code, count) == (400, 0)


def test_the_page_refuses_open_cases_drills_and_other_tenants(
    tenant: Tenant, officer: User, course: Course
) -> None:
    still_open = _case(tenant, officer, close=False)
    drill = _case(tenant, officer, drill=True)
    other = TenantFactory()
    theirs = _case(other, UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER]))
    client = _client(officer)
    refused_open = client.get(ATTACH, {"case": still_open.pk, "course": course.code})
    refused_drill = client.get(ATTACH, {"case": drill.pk, "course": course.code})
    assert (
        refused_open.status_code,
        still_open.code in refused_open.content.decode(),
        refused_drill.status_code,
        client.get(ATTACH, {"case": theirs.pk, "course": course.code}).status_code,
        client.get(ATTACH, {"case": "1; drop", "course": course.code}).status_code,
        client.get(ATTACH, {"case": _case(tenant, officer).pk, "course": "nope"}).status_code,
    ) == (409, True, 409, 404, 404, 404)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.CUSTOMER_SERVICE, Role.KITCHEN])
def test_the_page_refuses_other_roles(tenant: Tenant, role: Role) -> None:
    response = _client(UserFactory(tenant=tenant, roles=[role])).get(ATTACH)
    assert response.status_code in (302, 403)


# --- what learners see ----------------------------------------------------------------------


def test_learners_read_the_case_studies_on_the_course_page(
    tenant: Tenant, officer: User, course: Course
) -> None:
    case = _case(tenant, officer)
    _attach(tenant, course, case.pk, officer)
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    url = reverse("training:course", args=[course.code])
    english = _client(rider, "en").get(url).content.decode()
    chinese = _client(rider, "zh-hans").get(url).content.decode()
    assert (
        'id="case-studies"' in english,
        "Lessons from a lost phone" in english,
        "Label photos must not be kept on a phone." in english,
        "丢失手机的教训" in chinese,
        "标签照片不应保存在手机上。" in chinese,
    ) == (True, True, True, True, True)


def test_a_course_without_case_studies_shows_no_section(tenant: Tenant, course: Course) -> None:
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    page = _client(rider).get(reverse("training:course", args=[course.code])).content.decode()
    assert 'id="case-studies"' not in page


def test_another_tenants_case_studies_are_not_shown(
    tenant: Tenant, officer: User, course: Course
) -> None:
    other = TenantFactory()
    seed_training(other, SYSTEM)
    other_officer = UserFactory(tenant=other, roles=[Role.PRIVACY_OFFICER])
    with tenant_scope(other):
        their_course = Course.objects.get(code=RIDERS["code"])
    _attach(other, their_course, _case(other, other_officer).pk, other_officer)
    rider = UserFactory(tenant=tenant, roles=[Role.RIDER])
    page = _client(rider).get(reverse("training:course", args=[course.code])).content.decode()
    assert "Lessons from a lost phone" not in page


def test_a_closed_real_cases_page_links_to_writing_a_case_study(
    tenant: Tenant, officer: User
) -> None:
    closed = _case(tenant, officer)
    still_open = _case(tenant, officer, close=False)
    supervisor = UserFactory(tenant=tenant, roles=[Role.SUPERVISOR])
    link = f'href="{ATTACH}?case={closed.pk}"'

    def page(user: User, case: IncidentCase) -> str:
        url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
        return _client(user).get(url).content.decode()

    assert (
        link in page(officer, closed),
        'id="case-study-link"' in page(officer, still_open),
        'id="case-study-link"' in page(supervisor, closed),
    ) == (True, False, False)
