"""``{% case_studies_for course as studies %}``: the course's published case studies in
the active language (title, body), for the course page's "Case studies" section
(training/templates/training/_case_studies.html)."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from training.case_studies import case_studies_of
from training.case_studies import may_attach_case_studies as may_attach
from training.models import Course

register = template.Library()


@register.simple_tag
def case_studies_for(course: Course) -> list[dict[str, str]]:
    language = get_language() or "zh-hans"
    return [
        {"title": study.title(language), "body": study.body(language)}
        for study in case_studies_of(course)
    ]


@register.simple_tag
def may_attach_case_studies(user: object) -> bool:
    """Whether ``user`` may attach case studies (the closed case page's link)."""
    return may_attach(user)  # type: ignore[arg-type]
