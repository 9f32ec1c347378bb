"""Taking training where people work: the same pages for staff (under the staff page
frame, linked from the back office's "My work") and riders (under the rider page's frame,
at 360 px, linked from the rider's home page). GETs only read; each POST calls one
service and redirects. A course, lesson or attempt that is not the user's to take — another
tenant's, another role's, another person's — is a 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audits.context import current_request_context
from core.errors import Conflict
from tenants.models import Role, Tenant, User
from tenants.roles import roles_of
from tenants.scoping import tenant_scope
from training import courses as course_services
from training.clearance import PLEDGE, State, status_of
from training.enrolments import open_enrolments
from training.gates import grace_until
from training.lesson_images import images_by_id
from training.models import Course, CourseVersion, QuizAttempt
from training.pledges import current_pledge, must_pledge, pledge_to_sign, sign_pledge

View = Callable[..., HttpResponse]


def _state_label(state: State) -> str:
    return {
        State.CURRENT: _("Current"),
        State.DUE_SOON: _("Due soon"),
        State.EXPIRED: _("To retake"),
        State.MISSING: _("Not taken"),
    }[state]


def learner_page(view: View) -> View:
    """A page for a user of a tenant; the view receives the user."""

    @wraps(view)
    @login_required(login_url="admin:login")
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = cast(User, request.user)
        if user.tenant_id is None or not roles_of(user):
            raise PermissionDenied(_("Training is for the staff and riders of a tenant."))
        response = view(request, user, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    return wrapped


def _render(
    request: HttpRequest, user: User, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    # Riders see the rider page's frame (phone first); staff the stations' frame.
    rider_only = roles_of(user) == {Role.RIDER.value}
    base = "riders/base.html" if rider_only else "staff/base.html"
    context = {
        **context,
        "base_template": base,
        "rider_only": rider_only,
        "back_office": user.is_staff,
    }
    return TemplateResponse(request, template, context, status=status)


def _language() -> str:
    return get_language() or "zh-hans"


def _course(user: User, code: str) -> tuple[Course, CourseVersion]:
    with tenant_scope(user.tenant_id):
        course = Course.objects.filter(code=code).first()
    if course is None or not course_services.may_take(user, course):
        raise Http404(_("No such course."))
    version = course_services.current_course_version(course)
    if version is None:
        raise Http404(_("This course has no published version yet."))
    return course, version


def _last_attempt_failed(user: User, course: Course) -> bool:
    """Whether ``user``'s last submitted attempt of ``course`` failed (as the coverage
    says "failed")."""
    with tenant_scope(cast(int, user.tenant_id)):
        last = (
            QuizAttempt.objects.filter(
                user=user, version__course=course, submitted_at__isnull=False
            )
            .order_by("-submitted_at")
            .values_list("passed", flat=True)
            .first()
        )
    return last is False


@learner_page
def home(request: HttpRequest, user: User) -> HttpResponse:
    language = _language()
    rows = []
    enrolments, now = open_enrolments(user), timezone.now()
    for course in course_services.courses_for(user):
        version = course_services.current_course_version(course)
        if version is None:
            continue
        clearance = status_of([user], course)[user.pk]
        # After a new version: due when the tenant's grace period ends (training.gates),
        # the date the gates and the enrolment go by, not the version's publication.
        grace_end = grace_until(clearance, cast(Tenant, user.tenant), now)
        failed = not clearance.cleared and _last_attempt_failed(user, course)
        rows.append(
            {
                "course": course,
                "title": version.title(language),
                "version": version,
                "clearance": clearance,
                "due_at": grace_end or clearance.due_at,
                "state_label": _("Not passed: try again")
                if failed
                else _state_label(clearance.state),
                "enrolment": enrolments.get(course.pk),
                "now": now,
            }
        )
    pledge = None
    if must_pledge(user) and current_pledge(cast(int, user.tenant_id)) is not None:
        clearance = status_of([user], PLEDGE, tenant=user.tenant_id)[user.pk]
        pledge = {"clearance": clearance, "state_label": _state_label(clearance.state)}
    return _render(request, user, "training/home.html", {"rows": rows, "pledge": pledge})


@learner_page
def course(request: HttpRequest, user: User, code: str) -> HttpResponse:
    course_obj, version = _course(user, code)
    read = course_services.lessons_read(user, version)
    lessons = [
        {"n": n, "title": lesson["title"], "read": n in read}
        for n, lesson in enumerate(version.lessons(_language()))
    ]
    with tenant_scope(user.tenant_id):
        attempts = list(
            QuizAttempt.objects.filter(
                user=user, version__course=course_obj, submitted_at__isnull=False
            )
            .select_related("version")
            .order_by("-submitted_at")[:10]
        )
    context = {
        "course": course_obj,
        "version": version,
        "title": version.title(_language()),
        "lessons": lessons,
        "all_read": len(read) >= len(lessons),
        "attempts": attempts,
        "clearance": status_of([user], course_obj)[user.pk],
    }
    return _render(request, user, "training/course.html", context)


def _lesson_number(version: CourseVersion, n: int) -> dict[str, Any]:
    lessons = version.lessons(_language())
    if not 0 <= n < len(lessons):
        raise Http404(_("No such lesson."))
    return lessons[n]


@learner_page
def lesson(request: HttpRequest, user: User, code: str, n: int) -> HttpResponse:
    course_obj, version = _course(user, code)
    lesson_obj = _lesson_number(version, n)
    total = len(version.content["lessons"])
    found = images_by_id(version.tenant_id, lesson_obj["images"])
    images = [
        {
            "pk": i,
            "alt": found[i].alt(_language()),
            "width": found[i].width,
            "height": found[i].height,
        }
        for i in lesson_obj["images"]
        if i in found
    ]
    context = {
        "images": images,
        "course": course_obj,
        "version": version,
        "title": version.title(_language()),
        "lesson": lesson_obj,
        "n": n,
        "number": n + 1,
        "total": total,
        "last": n + 1 >= total,
    }
    return _render(request, user, "training/lesson.html", context)


@require_POST
@learner_page
def lesson_read(request: HttpRequest, user: User, code: str, n: int) -> HttpResponse:
    course_obj, version = _course(user, code)
    _lesson_number(version, n)
    course_services.mark_read(user=user, version=version, lesson=n)
    if n + 1 < len(version.content["lessons"]):
        return redirect("training:lesson", code=course_obj.code, n=n + 1)
    return redirect("training:course", code=course_obj.code)


@require_POST
@learner_page
def start(request: HttpRequest, user: User, code: str) -> HttpResponse:
    _course_obj, version = _course(user, code)
    read = course_services.lessons_read(user, version)
    unread = [n for n in range(len(version.content.get("lessons", []))) if n not in read]
    if unread:
        # The quiz tests what the lessons teach: read them first (this version's).
        messages.warning(request, _("Read the lessons before taking the quiz."))
        return redirect("training:lesson", code=code, n=unread[0])
    attempt = course_services.start_attempt(user=user, version=version)
    return redirect("training:attempt", pk=attempt.pk)


def _attempt(user: User, pk: int) -> QuizAttempt:
    with tenant_scope(user.tenant_id):
        attempt = (
            QuizAttempt.objects.select_related("version__course").filter(pk=pk, user=user).first()
        )
    if attempt is None:
        raise Http404(_("No such attempt."))
    return attempt


@learner_page
def attempt(request: HttpRequest, user: User, pk: int) -> HttpResponse:
    attempt_obj = _attempt(user, pk)
    status = 200
    if request.method == "POST" and attempt_obj.submitted_at is None:
        answers = {qid: request.POST.getlist(f"q-{qid}") for qid, _options in attempt_obj.shown}
        answers = {qid: picked for qid, picked in answers.items() if picked}
        if not answers:
            # Nothing ticked: a slip of the button, not an attempt (nothing recorded).
            status = 400
            messages.error(
                request, _("Answer the questions before submitting: nothing was recorded.")
            )
        else:
            status = _submit(request, user, attempt_obj, answers)
            if status == 302:
                return redirect("training:attempt", pk=attempt_obj.pk)
    elif request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    return _render_attempt(request, user, attempt_obj, status)


def _submit(
    request: HttpRequest, user: User, attempt_obj: QuizAttempt, answers: dict[str, list[str]]
) -> int:
    """Score the attempt: 302 when done; the error's status (the message added) when not."""
    try:
        course_services.submit_attempt(user=user, attempt_id=attempt_obj.pk, answers=answers)
        return 302
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
        return 400
    except Conflict as error:
        messages.error(request, error.message)
        return 409
    except QuizAttempt.DoesNotExist:
        raise Http404(_("No such attempt.")) from None


def _render_attempt(
    request: HttpRequest, user: User, attempt_obj: QuizAttempt, status: int
) -> HttpResponse:
    version = attempt_obj.version
    questions = course_services.attempt_questions(attempt_obj, _language())
    if attempt_obj.results is not None:
        for question in questions:
            question["right"] = attempt_obj.results.get(question["id"], False)
            question["chosen"] = set((attempt_obj.answers or {}).get(question["id"], []))
    context = {
        "attempt": attempt_obj,
        "course": version.course,
        "version": version,
        "title": version.title(_language()),
        "questions": questions,
        "pledge_next": bool(
            attempt_obj.passed and version.course.induction and pledge_to_sign(user)
        ),
    }
    return _render(request, user, "training/attempt.html", context, status=status)


@learner_page
def certificate(request: HttpRequest, user: User, pk: int) -> HttpResponse:
    attempt_obj = _attempt(user, pk)
    if not attempt_obj.passed:
        raise Http404(_("No certificate: this attempt did not pass."))
    context = {
        "attempt": attempt_obj,
        "title": attempt_obj.version.title(_language()),
        "version": attempt_obj.version,
        "tenant_name": getattr(getattr(request, "tenant", None), "name", ""),
    }
    return TemplateResponse(request, "training/certificate.html", context)


@learner_page
def pledge(request: HttpRequest, user: User) -> HttpResponse:
    if not must_pledge(user):
        raise Http404(_("The staff pledge is for staff; riders sign the agreement."))
    current = current_pledge(cast(int, user.tenant_id))
    if current is None:
        raise Http404(_("No pledge is published yet."))
    status = 200
    if request.method == "POST":
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        if request.POST.get("agree") != "yes":
            status = 400
            messages.error(
                request, _("Tick the box to confirm you have read and accept the pledge.")
            )
        else:
            try:
                sign_pledge(
                    user=user,
                    version=version,
                    language=_language(),
                    ip=current_request_context().ip,
                )
                messages.success(request, _("Thank you: pledge signed."))
                return redirect("training:home")
            except Conflict:
                status = 409
                messages.error(
                    request, _("The pledge changed while you were reading; please read it again.")
                )
            except PermissionDenied as error:
                status = 403
                messages.error(request, str(error))
        current = current_pledge(cast(int, user.tenant_id)) or current
    context = {
        "pledge": current,
        "text": current.text_for(_language())[1],
        "signed": pledge_to_sign(user) is None,
    }
    return _render(request, user, "training/pledge.html", context, status=status)
