"""Case studies (issue 19, point 7; §7.2): a tenant administrator or privacy officer attaches
to a course a short, anonymised account of a CLOSED, real (not drill) incident case, which
learners read on the course page under "Case studies".

Incident cases live in a later layer (incidents), which training may not import. So the
incidents app registers, in its ``AppConfig.ready()``, a *reader* that gives a case's
non-personal structured facts (``CaseFacts``: kind, severity, the categories of data
affected, how long containment and each report took, whether the legal clocks were met —
never a title, a note, a name, a customer or an order) and a *lister* of the tenant's
closed cases to choose from. The form is prefilled from those facts only
(``draft_texts``); the author writes and edits the text, and the form says not to write
personal data. Attaching is audited (``training.case_study_added``: ids and codes)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _

from audits.services import record_event
from core.errors import Conflict
from tenants.actors import Actor, actor_label
from tenants.models import Role, Tenant, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from training.models import (
    CASE_STUDY_BODY_MAX_LENGTH,
    CASE_STUDY_TITLE_MAX_LENGTH,
    Course,
    CourseCaseStudy,
)

CASE_STUDY_AUTHORS = (Role.TENANT_ADMIN, Role.PRIVACY_OFFICER)


# --- the incidents app's hooks -----------------------------------------------------------


@dataclass(frozen=True)
class ReportFact:
    """One report a case owed an authority: its kind's label, how long after its clock
    started it was made (None: not made), whether it was made by its due time."""

    kind: str
    took: timedelta | None
    met: bool | None


@dataclass(frozen=True)
class CaseFacts:
    """An incident case as a case study may tell it: structured facts, no personal data.
    Labels are in the active language when the reader is called."""

    id: int
    code: str
    closed: bool
    drill: bool
    state: str  # the state's label
    kind: str  # the kind's label
    severity: str  # the severity's label
    data_categories: tuple[str, ...] = ()  # labels
    contained_after: timedelta | None = None  # from discovery to the first containment
    closed_after: timedelta | None = None  # from discovery to closing
    reports: tuple[ReportFact, ...] = field(default_factory=tuple)

    @property
    def clocks_met(self) -> bool | None:
        """True when every report was made in time; None when none was owed."""
        if not self.reports:
            return None
        return all(report.met for report in self.reports)


# reader(tenant_id, case_id) -> the case's facts (None: no such case of that tenant);
# lister(tenant_id) -> the tenant's closed, real cases to choose from, newest first.
CaseFactsReader = Callable[[int, int], "CaseFacts | None"]
ClosedCaseLister = Callable[[int], "list[CaseFacts]"]

_hooks: dict[str, Callable[..., object]] = {}


def register_case_study_source(reader: CaseFactsReader, lister: ClosedCaseLister) -> None:
    """Register where case studies come from (the incidents app's ``ready()``)."""
    _hooks["reader"] = reader
    _hooks["lister"] = lister


def has_case_study_source() -> bool:
    return "reader" in _hooks


def case_facts(tenant_id: int, case_id: int) -> CaseFacts | None:
    reader = _hooks.get("reader")
    found = reader(tenant_id, case_id) if reader is not None else None
    assert found is None or isinstance(found, CaseFacts)  # noqa: S101 - the hook's type
    return found


def closed_cases(tenant_id: int) -> list[CaseFacts]:
    lister = _hooks.get("lister")
    found = lister(tenant_id) if lister is not None else []
    assert isinstance(found, list)  # noqa: S101 - the hook's type
    return found


# --- who may -----------------------------------------------------------------------------


def may_attach_case_studies(actor: Actor, tenant_id: int | None = None) -> bool:
    """A tenant administrator or privacy officer (of ``tenant_id``, if given)."""
    return (
        isinstance(actor, User)
        and actor.is_active
        and actor.tenant_id is not None
        and (tenant_id is None or actor.tenant_id == tenant_id)
        and has_role(actor, *CASE_STUDY_AUTHORS)
    )


def _require_author(actor: Actor, tenant_id: int) -> User:
    if not may_attach_case_studies(actor, tenant_id):
        raise PermissionDenied(
            _("Only a tenant administrator or a privacy officer attaches case studies.")
        )
    assert isinstance(actor, User)  # noqa: S101 - checked above
    return actor


def attachable_case(tenant_id: int, case_id: int) -> CaseFacts:
    """The case ``case_id`` of the tenant if a case study may be written from it: another
    tenant's (or an unknown) case is a 404; a drill or a case still open a ``Conflict``
    naming it."""
    facts = case_facts(tenant_id, case_id)
    if facts is None:
        raise Http404(_("No such incident case."))
    if facts.drill:
        raise Conflict(
            _("The case %(code)s is a drill: case studies come from real incidents.")
            % {"code": facts.code}
        )
    if not facts.closed:
        raise Conflict(
            _("The case %(code)s is still open (%(state)s): close it before writing a case study.")
            % {"code": facts.code, "state": facts.state}
        )
    return facts


# --- the draft ---------------------------------------------------------------------------


def _duration(value: timedelta) -> str:
    minutes = max(0, int(value.total_seconds() // 60))
    if minutes < 120:
        return _("%(n)d min") % {"n": minutes}
    hours = minutes // 60
    if hours < 72:
        return _("%(n)d h") % {"n": hours}
    return _("%(n)d days") % {"n": hours // 24}


def _draft(facts: CaseFacts) -> tuple[str, str]:
    title = _("Case study: %(kind)s (%(severity)s)") % {
        "kind": facts.kind,
        "severity": facts.severity,
    }
    lines = [
        _("What happened: a %(kind)s incident, graded %(severity)s.")
        % {"kind": facts.kind, "severity": facts.severity},
        _("Data affected: %(categories)s.")
        % {"categories": ", ".join(facts.data_categories) or _("none recorded")},
    ]
    if facts.contained_after is not None:
        lines.append(
            _("Contained %(time)s after it was discovered.")
            % {"time": _duration(facts.contained_after)}
        )
    else:
        lines.append(_("No containment step was recorded."))
    for report in facts.reports:
        if report.took is None:
            lines.append(_("%(report)s: not made.") % {"report": report.kind})
        elif report.met:
            lines.append(
                _("%(report)s: made after %(time)s, in time.")
                % {"report": report.kind, "time": _duration(report.took)}
            )
        else:
            lines.append(
                _("%(report)s: made after %(time)s, late.")
                % {"report": report.kind, "time": _duration(report.took)}
            )
    if facts.clocks_met is None:
        lines.append(_("No report to an authority was owed."))
    if facts.closed_after is not None:
        lines.append(
            _("Closed %(time)s after it was discovered.") % {"time": _duration(facts.closed_after)}
        )
    lines += ["", _("What we learned:"), ""]
    return title[:CASE_STUDY_TITLE_MAX_LENGTH], "\n".join(lines)


def draft_texts(tenant_id: int, case_id: int) -> dict[str, str]:
    """The form's starting texts, in both languages, from the case's facts only:
    ``title_zh``, ``title_en``, ``body_zh``, ``body_en``."""
    texts: dict[str, str] = {}
    for suffix, language in (("zh", "zh-hans"), ("en", "en")):
        with translation.override(language):
            facts = attachable_case(tenant_id, case_id)  # labels in that language
            texts[f"title_{suffix}"], texts[f"body_{suffix}"] = _draft(facts)
    return texts


# --- input and the use case --------------------------------------------------------------


def _text(name: str, value: object, *, limit: int, lines: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError({name: _("Must be text.")})
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").strip()
    allowed = {"\n"} if lines else set()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        raise ValidationError({name: _("Must not contain control characters.")})
    if not text:
        raise ValidationError({name: _("This field is required.")})
    if len(text) > limit:
        raise ValidationError({name: _("At most %(limit)d characters.") % {"limit": limit}})
    return text


def clean_texts(**values: object) -> dict[str, str]:
    """``title_zh``, ``title_en``, ``body_zh``, ``body_en`` checked (errors by field)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for name in ("title_zh", "title_en", "body_zh", "body_en"):
        title = name.startswith("title")
        try:
            cleaned[name] = _text(
                name,
                values.get(name),
                limit=CASE_STUDY_TITLE_MAX_LENGTH if title else CASE_STUDY_BODY_MAX_LENGTH,
                lines=not title,
            )
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def attach_case_study(
    *,
    tenant: Tenant,
    course: Course,
    case_id: int,
    title_zh: str,
    title_en: str,
    body_zh: str,
    body_en: str,
    actor: Actor,
) -> CourseCaseStudy:
    """Attach a case study written from the closed, real case ``case_id`` to ``course``
    (audited: ``training.case_study_added``). Refused: another tenant's course or case
    (404), a drill or an open case (``Conflict`` naming it), a case already attached to
    this course (``Conflict``), bad texts (``ValidationError`` by field)."""
    _require_author(actor, tenant.pk)
    if course.tenant_id != tenant.pk:
        raise Http404(_("No such course."))
    facts = attachable_case(tenant.pk, case_id)
    texts = clean_texts(title_zh=title_zh, title_en=title_en, body_zh=body_zh, body_en=body_en)
    with transaction.atomic(), tenant_scope(tenant):
        if CourseCaseStudy.objects.filter(course=course, source_case_id=facts.id).exists():
            raise Conflict(
                _("A case study from %(code)s is already attached to this course.")
                % {"code": facts.code}
            )
        study = CourseCaseStudy(
            tenant=tenant,
            course=course,
            source_case_id=facts.id,
            source_case_code=facts.code,
            added_by=actor_label(actor),
            **texts,
        )
        try:
            with transaction.atomic():
                study.save(force_insert=True)
        except IntegrityError:
            raise Conflict(
                _("A case study from %(code)s is already attached to this course.")
                % {"code": facts.code}
            ) from None
        record_event(
            tenant=tenant,
            actor=actor,
            action="training.case_study_added",
            target=study,
            details={
                "case_study": study.pk,
                "course": course.code,
                "case": facts.id,
                "case_code": facts.code,
            },
        )
    return study


def case_studies_of(course: Course) -> list[CourseCaseStudy]:
    """The course's published case studies, newest first (one query)."""
    with tenant_scope(course.tenant_id):
        return list(
            CourseCaseStudy.objects.filter(course=course, published=True).order_by(
                "-added_at", "-pk"
            )
        )
