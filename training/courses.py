"""Courses: a tenant administrator creates a course and publishes its versions; a person
who must take it reads its lessons and answers its quiz. Each quiz attempt shows the
questions and options in its own shuffled order, stored on the attempt; the correct
answers stay on the server until the attempt is submitted and scored here."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from tenants.actors import Actor
from tenants.models import Role, Tenant, User
from tenants.roles import has_role, roles_of
from tenants.scoping import tenant_scope
from tenants.versioning import current_version, publish_next_version
from training.enrolments import complete_enrolments, enrol_on_publish
from training.lesson_images import images_by_id
from training.models import Course, CourseVersion, LessonRead, QuizAttempt

_LANGS = ("zh", "en")
_rng = random.SystemRandom()


def _require_admin(actor: Actor, tenant: Tenant) -> None:
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(_("Only a tenant administrator publishes training."))


MAX_IMAGES_PER_LESSON = 6


def _check_images(lessons: list[Any], tenant_id: int) -> list[str]:
    """Each lesson's ``images`` is a list of the tenant's lesson image ids."""
    problems: list[str] = []
    for n, lesson in enumerate(lessons, start=1):
        ids = lesson.get("images", []) if isinstance(lesson, Mapping) else []
        if not isinstance(ids, list) or any(
            not isinstance(i, int) or isinstance(i, bool) for i in ids
        ):
            problems.append(_("Lesson %(n)s: its images are not a list of ids.") % {"n": n})
            continue
        if len(ids) > MAX_IMAGES_PER_LESSON:
            problems.append(
                _("Lesson %(n)s: at most %(max)s images.") % {"n": n, "max": MAX_IMAGES_PER_LESSON}
            )
        known = images_by_id(tenant_id, ids)
        if any(i not in known for i in ids):
            problems.append(_("Lesson %(n)s names an image that does not exist.") % {"n": n})
    return problems


def _check_content(content: Mapping[str, Any], pass_mark: int, tenant_id: int) -> None:
    """Lessons and questions complete in both languages; each question has options, a
    single-choice question exactly one correct option, a multiple-choice one at least one;
    a lesson's images are the tenant's."""
    problems: list[str] = []
    lessons = content.get("lessons") or []
    questions = content.get("questions") or []
    if not lessons:
        problems.append(_("A course needs at least one lesson."))
    if not questions:
        problems.append(_("A course needs at least one quiz question."))
    for lesson in lessons:
        if any(
            not str(lesson.get(f"{k}_{lang}", "")).strip()
            for k in ("title", "body")
            for lang in _LANGS
        ):
            problems.append(_("Every lesson needs a title and a text in both languages."))
            break
    problems += _check_images(list(lessons), tenant_id)
    ids: set[str] = set()
    for question in questions:
        qid = str(question.get("id", ""))
        options = question.get("options") or []
        correct = [o for o in options if o.get("correct") is True]
        option_ids = {str(o.get("id", "")) for o in options}
        if (
            not qid
            or qid in ids
            or any(not str(question.get(f"text_{lang}", "")).strip() for lang in _LANGS)
            or len(options) < 2
            or len(option_ids) != len(options)
            or "" in option_ids
            or any(not str(o.get(f"text_{lang}", "")).strip() for o in options for lang in _LANGS)
            or not correct
            or (not question.get("multiple") and len(correct) != 1)
        ):
            problems.append(
                _("Question %(id)s is incomplete or has no valid answer.") % {"id": qid or "?"}
            )
        ids.add(qid)
    if not 1 <= pass_mark <= 100:
        problems.append(_("The pass mark is a percentage from 1 to 100."))
    if problems:
        raise ValidationError(problems)


def create_course(
    *,
    tenant: Tenant,
    actor: Actor,
    code: str,
    roles: Iterable[str],
    induction: bool = False,
    renew_months: int | None = None,
    renew_on_new_version: bool = True,
) -> Course:
    _require_admin(actor, tenant)
    role_list = sorted({str(r) for r in roles})
    if not role_list or any(r not in Role.values for r in role_list):
        raise ValidationError({"roles": _("Choose the roles that must take this course.")})
    with tenant_scope(tenant), transaction.atomic():
        taken = Conflict(_("A course with this code exists already."))
        if Course.objects.filter(code=code).exists():
            raise taken
        try:
            # Two submits at once: the unique constraint decides, in a savepoint.
            with transaction.atomic():
                course = Course.objects.create(
                    tenant=tenant,
                    code=code,
                    roles=role_list,
                    induction=induction,
                    renew_months=renew_months,
                    renew_on_new_version=renew_on_new_version,
                )
        except IntegrityError:
            raise taken from None
        record_event(
            tenant=tenant,
            actor=actor,
            action="training.course_created",
            target=course,
            details={"code": code, "roles": role_list},
        )
    return course


def publish_course_version(
    *,
    course: Course,
    actor: Actor,
    title_zh: str,
    title_en: str,
    content: Mapping[str, Any],
    pass_mark: int = 80,
    based_on: int | None = None,
) -> CourseVersion:
    """Publish the next version of ``course``. ``based_on`` is the version number the
    author's form started from (0: none yet): when another version was published since —
    or the same form is submitted twice — nothing is published and it is a ``Conflict``."""
    tenant = course.tenant
    _require_admin(actor, tenant)
    if not title_zh.strip() or not title_en.strip():
        raise ValidationError(_("A course needs a title in both languages."))
    _check_content(content, pass_mark, tenant.pk)
    with tenant_scope(tenant), transaction.atomic():
        if based_on is not None:
            latest = max(
                CourseVersion.objects.filter(course=course)
                .select_for_update()
                .values_list("version", flat=True),
                default=0,
            )
            if latest != based_on:
                raise Conflict(
                    _(
                        "Version %(latest)s of this course was published after you opened "
                        "this form (from version %(based_on)s): nothing was published. Open "
                        "the current version and make your changes again."
                    )
                    % {"latest": latest, "based_on": based_on}
                )
        return _publish(course, actor, title_zh, title_en, content, pass_mark)


def _publish(
    course: Course,
    actor: Actor,
    title_zh: str,
    title_en: str,
    content: Mapping[str, Any],
    pass_mark: int,
) -> CourseVersion:
    tenant = course.tenant
    return publish_next_version(
        CourseVersion,
        tenant=tenant,
        actor=actor,
        series={"course": course},
        values={
            "title_zh": title_zh.strip(),
            "title_en": title_en.strip(),
            "content": dict(content),
            "pass_mark": pass_mark,
        },
        record=lambda version: _published(version, course, actor),
    )


def _published(version: CourseVersion, course: Course, actor: Actor) -> None:
    """In the publication's transaction: its audit event, and the enrolments it makes."""
    record_event(
        tenant=course.tenant,
        actor=actor,
        action="training.course_published",
        target=version,
        details={"course": course.code, "version": version.version},
    )
    version.course = course
    enrol_on_publish(version, actor=actor)


def current_course_version(course: Course) -> CourseVersion | None:
    return current_version(CourseVersion, course.tenant_id, {"course": course})


def courses_for(user: User) -> list[Course]:
    """The courses ``user``'s roles must take (in the request's tenant scope)."""
    roles = roles_of(user)
    with tenant_scope(user.tenant_id):
        return [c for c in Course.objects.order_by("code") if roles & set(c.roles)]


def may_take(user: User, course: Course) -> bool:
    return user.tenant_id == course.tenant_id and bool(roles_of(user) & set(course.roles))


def mark_read(*, user: User, version: CourseVersion, lesson: int) -> None:
    if not 0 <= lesson < len(version.content.get("lessons", [])):
        raise ValidationError(_("No such lesson."))
    with tenant_scope(version.tenant_id), transaction.atomic():
        LessonRead.objects.get_or_create(
            tenant_id=version.tenant_id, user=user, version=version, lesson=lesson
        )


def lessons_read(user: User, version: CourseVersion) -> set[int]:
    with tenant_scope(version.tenant_id):
        return set(
            LessonRead.objects.filter(user=user, version=version).values_list("lesson", flat=True)
        )


def correct_answers(version: CourseVersion) -> dict[str, list[str]]:
    """Each question's correct options: what a perfect attempt answers (the demo's seeded
    passes; tests). Never sent to a learner's page."""
    return {
        qid: [o["id"] for o in q["options"] if o["correct"]]
        for qid, q in version.questions().items()
    }


def start_attempt(*, user: User, version: CourseVersion) -> QuizAttempt:
    """A new attempt on ``version`` with its questions and options in a fresh order."""
    questions = list(version.content["questions"])
    _rng.shuffle(questions)
    shown = []
    for question in questions:
        option_ids = [o["id"] for o in question["options"]]
        _rng.shuffle(option_ids)
        shown.append([question["id"], option_ids])
    with tenant_scope(version.tenant_id), transaction.atomic():
        attempt = QuizAttempt.objects.create(
            tenant_id=version.tenant_id,
            user=user,
            version=version,
            shown=shown,
            total=len(shown),
        )
        record_event(
            tenant=version.tenant,
            actor=user,
            action="training.attempt_started",
            target=attempt,
            details={"course": version.course.code, "version": version.version},
        )
    return attempt


def attempt_questions(attempt: QuizAttempt, language: str) -> list[dict[str, Any]]:
    """What the quiz page shows: texts and option ids in the attempt's order, never which
    option is correct."""
    lang = "en" if language.startswith("en") else "zh"
    by_id = attempt.version.questions()
    shown = []
    for qid, option_ids in attempt.shown:
        question = by_id[qid]
        options = {o["id"]: o for o in question["options"]}
        shown.append(
            {
                "id": qid,
                "multiple": bool(question.get("multiple")),
                "text": question[f"text_{lang}"],
                "options": [
                    {"id": oid, "text": options[oid][f"text_{lang}"]} for oid in option_ids
                ],
            }
        )
    return shown


def score(version: CourseVersion, answers: Mapping[str, Iterable[str]]) -> dict[str, bool]:
    """Each question right when exactly its correct options were chosen."""
    results = {}
    for qid, question in version.questions().items():
        correct = {o["id"] for o in question["options"] if o.get("correct") is True}
        results[qid] = set(answers.get(qid, ())) == correct
    return results


def submit_attempt(
    *, user: User, attempt_id: int, answers: Mapping[str, Iterable[str]]
) -> QuizAttempt:
    """Score ``user``'s open attempt. Another person's or tenant's attempt is not found;
    an attempt already submitted, or on a version that is no longer current, is a
    ``Conflict``; an answer naming an option not shown is a ``ValidationError``."""
    with tenant_scope(user.tenant_id), transaction.atomic():
        attempt = (
            QuizAttempt.objects.select_for_update()
            .select_related("version__course")
            .get(pk=attempt_id, user=user)
        )
        if attempt.submitted_at is not None:
            raise Conflict(_("This attempt was already submitted; start a new one."))
        version = attempt.version
        current = current_course_version(version.course)
        if current is None or current.pk != version.pk:
            raise Conflict(_("The course changed since this attempt started; start again."))
        shown = {qid: set(option_ids) for qid, option_ids in attempt.shown}
        chosen: dict[str, list[str]] = {}
        for qid, picked in answers.items():
            picked = sorted(set(picked))
            if qid not in shown or not set(picked) <= shown[qid]:
                raise ValidationError(_("An answer does not belong to this quiz."))
            if len(picked) > 1 and not version.questions()[qid].get("multiple"):
                raise ValidationError(_("Choose one answer for a single-choice question."))
            chosen[qid] = picked
        results = score(version, chosen)
        right = sum(results.values())
        attempt.answers = chosen
        attempt.results = results
        attempt.score = right
        attempt.passed = 100 * right >= version.pass_mark * attempt.total
        attempt.submitted_at = timezone.now()
        attempt.save(update_fields=["answers", "results", "score", "passed", "submitted_at"])
        if attempt.passed:
            complete_enrolments(user=user, course=version.course, at=attempt.submitted_at)
        record_event(
            tenant=version.tenant,
            actor=user,
            action="training.attempt_submitted",
            target=attempt,
            details={
                "course": version.course.code,
                "version": version.version,
                "score": right,
                "total": attempt.total,
                "passed": attempt.passed,
            },
        )
    return attempt
