"""Attaching a case study to a course (issue 19, point 7) in the back office, as the case
studies' "add" page (training.case_study_admin): choose a closed incident case and a course, then edit the
texts prefilled from the case's structured facts (training.case_studies.draft_texts), and
save (post/redirect/get to the case studies' list). For tenant administrators and privacy
officers (others: 403, like the back office's other role pages). Another tenant's case or
course is a 404; a drill or an open case a 409 naming it."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from core.errors import Conflict
from tenants.models import Tenant, User
from tenants.scoping import tenant_scope
from training import case_studies
from training.models import (
    CASE_STUDY_BODY_MAX_LENGTH,
    CASE_STUDY_TITLE_MAX_LENGTH,
    Course,
    CourseVersion,
)

NO_PERSONAL_DATA = gettext_lazy(
    "Do not write personal data: no names, phone numbers, addresses, order codes or "
    "anything that identifies a customer or a staff member. Tell what happened and what "
    "to learn from it."
)


class CaseStudyForm(forms.Form):
    case = forms.IntegerField(widget=forms.HiddenInput)
    course = forms.ChoiceField(label=gettext_lazy("Course"))
    title_zh = forms.CharField(
        label=gettext_lazy("Title (Chinese)"), max_length=CASE_STUDY_TITLE_MAX_LENGTH
    )
    title_en = forms.CharField(
        label=gettext_lazy("Title (English)"), max_length=CASE_STUDY_TITLE_MAX_LENGTH
    )
    body_zh = forms.CharField(
        label=gettext_lazy("Text (Chinese)"),
        max_length=CASE_STUDY_BODY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=NO_PERSONAL_DATA,
    )
    body_en = forms.CharField(
        label=gettext_lazy("Text (English)"),
        max_length=CASE_STUDY_BODY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=NO_PERSONAL_DATA,
    )

    def __init__(self, *args: Any, courses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["course"]).choices = courses


def _courses(tenant: Tenant) -> list[tuple[str, str]]:
    """The tenant's courses as (code, "title (code)") in the user's language."""
    english = (get_language() or "").startswith("en")
    with tenant_scope(tenant):
        titles: dict[int, str] = {}
        for course_id, zh, en in CourseVersion.objects.order_by("course_id", "version").values_list(
            "course_id", "title_zh", "title_en"
        ):
            titles[course_id] = en if english else zh
        courses = list(Course.objects.order_by("code"))
    return [(c.code, f"{titles.get(c.pk, c.code)} ({c.code})") for c in courses]


def _course(tenant: Tenant, code: object) -> Course:
    with tenant_scope(tenant):
        course = Course.objects.filter(code=code).first() if isinstance(code, str) else None
    if course is None:
        raise Http404(_("No such course."))
    return course


def _case_id(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    raise Http404(_("No such incident case."))


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = TemplateResponse(
        request,
        "admin/training/case_study_attach.html",
        {
            **admin.site.each_context(request),
            "title": _("Attach a case study"),
            "no_personal_data": NO_PERSONAL_DATA,
            **context,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


def attach_page(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    user = request.user
    if tenant is None or not case_studies.may_attach_case_studies(user, tenant.pk):  # type: ignore[arg-type]
        raise PermissionDenied(
            _("Only a tenant administrator or a privacy officer attaches case studies.")
        )
    courses = _courses(tenant)
    source = request.POST if request.method == "POST" else request.GET
    if "case" not in source:
        return _page(
            request,
            {"cases": case_studies.closed_cases(tenant.pk), "courses": courses},
        )
    case_id = _case_id(source.get("case"))
    try:
        facts = case_studies.attachable_case(tenant.pk, case_id)
    except Conflict as error:
        return _page(
            request,
            {
                "refusal": error.message,
                "cases": case_studies.closed_cases(tenant.pk),
                "courses": courses,
            },
            status=409,
        )
    if request.method == "POST":
        return _save(request, tenant, cast(User, user), courses, facts)
    course = _course(tenant, source.get("course", courses[0][0] if courses else ""))
    form = CaseStudyForm(
        initial={
            "case": facts.id,
            "course": course.code,
            **case_studies.draft_texts(tenant.pk, facts.id),
        },
        courses=courses,
    )
    return _page(request, {"form": form, "facts": facts})


def _save(
    request: HttpRequest,
    tenant: Tenant,
    user: User,
    courses: list[tuple[str, str]],
    facts: case_studies.CaseFacts,
) -> HttpResponse:
    form = CaseStudyForm(request.POST, courses=courses)
    if form.is_valid():
        data = form.cleaned_data
        try:
            study = case_studies.attach_case_study(
                tenant=tenant,
                course=_course(tenant, data["course"]),
                case_id=facts.id,
                title_zh=data["title_zh"],
                title_en=data["title_en"],
                body_zh=data["body_zh"],
                body_en=data["body_en"],
                actor=user,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except Conflict as error:
            messages.error(request, error.message)
            return _page(request, {"form": form, "facts": facts}, status=409)
        else:
            messages.success(
                request,
                _("The case study from %(code)s is attached to the course %(course)s.")
                % {"code": facts.code, "course": study.course.code},
            )
            return redirect("admin:training_coursecasestudy_changelist")
    return _page(request, {"form": form, "facts": facts}, status=400)
