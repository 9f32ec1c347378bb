"""Training in the back office: the tenant administrator publishes the staff pledge's
versions; tenant administrators and supervisors see the courses, their versions, the quiz
attempts and the pledge signatures (read only: attempts and signatures are written only by
the learners' pages). Usernames, never names."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin, VersionedDocumentAdmin
from tenants.models import User
from training import (  # noqa: F401  (register their admins)
    case_study_admin,
    course_admin,
    drill_admin,
    enrolment_admin,
)
from training.models import CourseVersion, PledgeSignature, QuizAttempt, StaffPledge
from training.pledges import publish_pledge


@admin.register(StaffPledge)
class StaffPledgeAdmin(VersionedDocumentAdmin):
    list_display = ["version", "published_at", "published_by"]
    fields = ["text_zh", "text_en"]

    def publish(self, request: HttpRequest, form: Any) -> StaffPledge:
        return publish_pledge(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=cast(User, request.user),
            text_zh=form.cleaned_data["text_zh"],
            text_en=form.cleaned_data["text_en"],
        )


@admin.register(PledgeSignature)
class PledgeSignatureAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["user", "pledge", "language", "signed_at", "ip", "text_sha256"]
    list_select_related = ["user", "pledge"]
    actions = None


@admin.register(CourseVersion)
class CourseVersionAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["course", "version", "title_zh", "title_en", "pass_mark", "published_at"]
    list_select_related = ["course"]
    exclude = ["content"]  # the quiz's answers: read on the learners' pages only after submitting
    actions = None


@admin.register(QuizAttempt)
class QuizAttemptAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["user", "course", "started_at", "submitted_at", "score", "total", "passed"]
    list_select_related = ["user", "version__course"]
    list_filter = ["passed"]
    exclude = ["shown", "answers", "results"]
    actions = None

    @admin.display(description=_("course"))
    def course(self, attempt: QuizAttempt) -> str:
        return f"{attempt.version.course.code} v{attempt.version.version}"
