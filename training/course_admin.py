"""Courses in the back office (issue 19, point 1): the list and each course's page with its
versions (tenant administrators and supervisors), and for tenant administrators: "Add
course" (training.courses.create_course), "Publish a new version" — the current version's
content prefilled in a form of lessons, pictures, questions and options
(training.authoring) — and the lesson images' library with its upload form
(training.lesson_images). Every write goes through a service (permission, audit event);
every publish redirects (post/redirect/get); a refusal is a message on the page with a
4xx status, never a 500. Another tenant's course is a 404, and so is a course for a role
that cannot see courses. Registered when training.admin imports it."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from core.errors import Conflict
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin, refuse
from tenants.models import Role, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope
from tenants.selectors import actor_names
from training import authoring
from training.courses import create_course, current_course_version, publish_course_version
from training.gates import publishing_note
from training.lesson_images import (
    images_by_id,
    max_image_bytes,
    tenant_images,
    upload_lesson_image,
)
from training.models import Course, CourseVersion, LessonImage

_MEDIA_CSS = {"all": ["baomi/course-authoring.css"]}


def _language() -> str:
    return get_language() or "zh-hans"


def _is_tenant_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        getattr(request, "tenant", None) is not None
        and isinstance(user, User)
        and user.tenant_id == request.tenant.pk  # type: ignore[attr-defined]
        and has_role(user, Role.TENANT_ADMIN)
    )


def _upload(request: HttpRequest, form: authoring.ImageUploadForm) -> LessonImage | None:
    """Store the picture of a bound upload form, if one was chosen; a refusal becomes the
    form's errors."""
    if not form.is_valid() or not form.cleaned_data.get("image"):
        return None
    upload = form.cleaned_data["image"]
    limit = max_image_bytes()
    if upload.size > limit:
        form.add_error(
            "image",
            _("The image is too big: %(size)s KB, at most %(max)s KB.")
            % {"size": (upload.size + 1023) // 1024, "max": limit // 1024},
        )
        return None
    try:
        return upload_lesson_image(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=cast(User, request.user),
            data=upload.read(limit + 1),
            name=upload.name or "",
            declared_type=upload.content_type or "",
            alt_zh=form.cleaned_data["alt_zh"],
            alt_en=form.cleaned_data["alt_en"],
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else "image", errors)
        else:
            form.add_error("image", error.messages)
    except PermissionDenied as error:
        form.add_error("image", str(error))
    return None


@admin.register(Course)
class CourseAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    list_display = ["code", "role_names", "induction", "renew_months", "renew_on_new_version"]
    fields = ["code", "role_names", "induction", "renew_months", "renew_on_new_version"]
    readonly_fields = fields
    change_form_template = "admin/training/course/change_form.html"
    actions = None

    class Media:
        css = _MEDIA_CSS

    @admin.display(description=gettext_lazy("roles"))
    def role_names(self, course: Course) -> str:
        return ", ".join(str(Role(r).label) for r in course.roles if r in Role.values)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_tenant_admin(request)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:course_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="training_course_publish",
            ),
            *super().get_urls(),
        ]

    # --- creating a course ---------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = authoring.CourseCreateForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    course = create_course(
                        tenant=request.tenant,  # type: ignore[attr-defined]
                        actor=cast(User, request.user),
                        code=data["code"],
                        roles=data["roles"],
                        induction=data["induction"],
                        renew_months=data["renew_months"],
                        renew_on_new_version=data["renew_on_new_version"],
                    )
                except ValidationError as error:
                    status = 400
                    for field, errors in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                except Conflict as error:
                    status = 409
                    form.add_error("code", str(error))
                else:
                    messages.success(
                        request,
                        _("The course %(code)s is created: publish its first version now.")
                        % {"code": course.code},
                    )
                    return redirect("admin:training_course_publish", course_id=course.pk)
            else:
                status = 400
        else:
            form = authoring.CourseCreateForm()
        return TemplateResponse(
            request,
            "admin/training/course/add.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Add a course"),
                "opts": self.model._meta,
                "form": form,
                "media": self.media,
            },
            status=status,
        )

    # --- the course's page ---------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        course = self.get_object(request, object_id)
        if course is not None:
            with tenant_scope(course.tenant_id):
                versions = list(CourseVersion.objects.filter(course=course).order_by("-version"))
            names = actor_names([v.published_by for v in versions], tenant_id=course.tenant_id)
            extra.update(
                {
                    "versions": [
                        {
                            "version": v.version,
                            "title": v.title(_language()),
                            "published_at": v.published_at,
                            "published_by": names.get(v.published_by, v.published_by),
                            "lessons": len(v.content.get("lessons", [])),
                            "questions": len(v.content.get("questions", [])),
                            "pass_mark": v.pass_mark,
                        }
                        for v in versions
                    ],
                    "may_publish": _is_tenant_admin(request),
                }
            )
        return super().change_view(request, object_id, form_url, extra)

    # --- publishing a new version --------------------------------------------------------

    def _course_or_404(self, request: HttpRequest, course_id: int) -> Course:
        course = self.get_object(request, str(course_id))
        if course is None or not self.has_view_permission(request, course):
            raise Http404(_("No such course."))
        return cast(Course, course)

    def publish_view(self, request: HttpRequest, course_id: int) -> HttpResponse:
        course = self._course_or_404(request, course_id)
        if not _is_tenant_admin(request):
            raise PermissionDenied(_("Only a tenant administrator publishes training."))
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponse(status=405)
        current = current_course_version(course)
        if request.method != "POST":
            draft = authoring.draft_from_version(current)
            return self._render_version_form(request, course, current, draft, {})
        draft = authoring.draft_from_post(request.POST)
        uploads = self._take_uploads(request, draft)
        op = str(request.POST.get("op", ""))
        if op == "publish" and not any(f.errors for f in uploads.values()):
            return self._publish(request, course, current, draft, uploads)
        status = 400 if any(f.errors for f in uploads.values()) else 200
        authoring.apply_edit(draft, op)
        return self._render_version_form(
            request, course, current, draft, uploads, status=status, preview=op == "preview"
        )

    def _take_uploads(
        self, request: HttpRequest, draft: dict[str, Any]
    ) -> dict[int, authoring.ImageUploadForm]:
        """Pictures uploaded into lessons: stored at once (their own audited service) and
        ticked in their lesson; a refused one keeps its form with the reason."""
        refused = {}
        for i, lesson in enumerate(draft["lessons"]):
            if not request.FILES.get(f"l-{i}-upload-image"):
                continue
            form = authoring.ImageUploadForm(request.POST, request.FILES, prefix=f"l-{i}-upload")
            image = _upload(request, form)
            if image is not None:
                if image.pk not in lesson["images"]:
                    lesson["images"].append(image.pk)
                messages.info(
                    request,
                    _("Image uploaded and added to lesson %(n)s.") % {"n": i + 1},
                )
            elif form.errors:
                refused[i] = form
        return refused

    def _publish(
        self,
        request: HttpRequest,
        course: Course,
        current: CourseVersion | None,
        draft: dict[str, Any],
        uploads: dict[int, authoring.ImageUploadForm],
    ) -> HttpResponse:
        tenant = request.tenant  # type: ignore[attr-defined]
        form = authoring.VersionForm(
            authoring.flatten(draft),
            draft=draft,
            images=tenant_images(tenant.pk),
            language=_language(),
        )
        if not form.is_valid():
            return self._render_version_form(
                request, course, current, draft, uploads, form=form, status=400
            )
        try:
            version = publish_course_version(
                course=course,
                actor=cast(User, request.user),
                title_zh=form.cleaned_data["title_zh"],
                title_en=form.cleaned_data["title_en"],
                content=form.content(),
                pass_mark=form.cleaned_data["pass_mark"],
                based_on=draft["based_on"],
            )
        except ValidationError as error:
            for text in error.messages:
                form.add_error(None, text)
            return self._render_version_form(
                request, course, current, draft, uploads, form=form, status=400
            )
        except Conflict as error:
            refuse(request, error)
            return self._render_version_form(
                request, course, current, draft, uploads, status=409, conflict=True
            )
        messages.success(
            request,
            _("Version %(version)s of %(code)s is published.")
            % {"version": version.version, "code": course.code},
        )
        return redirect(reverse("admin:training_course_change", args=[course.pk]))

    def _render_version_form(
        self,
        request: HttpRequest,
        course: Course,
        current: CourseVersion | None,
        draft: dict[str, Any],
        uploads: dict[int, authoring.ImageUploadForm],
        *,
        form: authoring.VersionForm | None = None,
        status: int = 200,
        preview: bool = False,
        conflict: bool = False,
    ) -> HttpResponse:
        tenant_id = course.tenant_id
        images = tenant_images(tenant_id)
        language = _language()
        if form is None:
            data = authoring.flatten(draft)
            initial = {
                key: data.getlist(key)
                if key.endswith("-images")
                else (True if data[key] == "on" else data[key])
                for key in data
            }
            form = authoring.VersionForm(
                initial=initial, draft=draft, images=images, language=language
            )
        lesson_rows = [
            {
                **row,
                "fields": [form[f"l-{row['n']}-{k}"] for k in ("title_zh", "title_en")],
                "bodies": [form[f"l-{row['n']}-{k}"] for k in ("body_zh", "body_en")],
                "images": form[f"l-{row['n']}-images"],
                "upload": uploads.get(row["n"])
                or authoring.ImageUploadForm(prefix=f"l-{row['n']}-upload"),
            }
            for row in form.lesson_rows
        ]
        question_rows = [
            {
                **row,
                "hidden": [form[f"q-{row['n']}-id"], form[f"q-{row['n']}-options"]],
                "texts": [form[f"q-{row['n']}-text_{lang}"] for lang in ("zh", "en")],
                "multiple": form[f"q-{row['n']}-multiple"],
                "option_rows": [
                    {
                        **option,
                        "id": form[f"{option['base']}-id"],
                        "texts": [form[f"{option['base']}-text_{lang}"] for lang in ("zh", "en")],
                        "correct": form[f"{option['base']}-correct"],
                    }
                    for option in row["options"]
                ],
            }
            for row in form.question_rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Publish a new version of %(code)s") % {"code": course.code},
            "opts": self.model._meta,
            "course": course,
            "current": current,
            "next_version": (current.version if current else 0) + 1,
            "form": form,
            "lesson_rows": lesson_rows,
            "question_rows": question_rows,
            "max_lessons": authoring.MAX_LESSONS,
            "max_questions": authoring.MAX_QUESTIONS,
            "max_options": authoring.MAX_OPTIONS,
            "conflict": conflict,
            # What publishing does to the training gates (training.gates).
            "gate_note": publishing_note(
                course, first=current is None, grace_days=course.tenant.training_grace_days
            ),
            "preview": self._preview(draft, tenant_id, language) if preview else None,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/training/course/version_form.html", context, status=status
        )

    def _preview(self, draft: dict[str, Any], tenant_id: int, language: str) -> dict[str, Any]:
        """The draft as learners will see it (in the page's language), without marking the
        correct options; learners get the questions and options shuffled."""
        lang = "en" if language.startswith("en") else "zh"
        found = images_by_id(tenant_id, [i for x in draft["lessons"] for i in x["images"]])
        return {
            "title": draft[f"title_{lang}"],
            "lessons": [
                {
                    "title": lesson[f"title_{lang}"],
                    "body": lesson[f"body_{lang}"],
                    "images": [
                        {"pk": pk, "alt": found[pk].alt(language)}
                        for pk in lesson["images"]
                        if pk in found
                    ],
                }
                for lesson in draft["lessons"]
            ],
            "questions": [
                {
                    "id": question["id"],
                    "multiple": question["multiple"],
                    "text": question[f"text_{lang}"],
                    "options": [o[f"text_{lang}"] for o in question["options"]],
                }
                for question in draft["questions"]
            ],
        }


class LessonImageUploadForm(authoring.ImageUploadForm):
    pass


@admin.register(LessonImage)
class LessonImageAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    """The tenant's lesson pictures: listed for those who see courses, uploaded by tenant
    administrators (here, or from a lesson in the version form); never changed or deleted
    (published versions show them)."""

    list_display = ["thumbnail", "description", "content_type", "size", "dimensions", "uploaded_at"]
    fields = ["thumbnail", "alt_zh", "alt_en", "content_type", "size", "dimensions", "uploaded_at"]
    readonly_fields = fields
    actions = None

    class Media:
        css = _MEDIA_CSS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_tenant_admin(request)

    @admin.display(description=gettext_lazy("image"))
    def thumbnail(self, image: LessonImage) -> str:
        return format_html(
            '<img class="baomi-thumb" src="{}" alt="">',
            reverse("training:lesson-image", args=[image.pk]),
        )

    @admin.display(description=gettext_lazy("description"))
    def description(self, image: LessonImage) -> str:
        return image.alt(_language())

    @admin.display(description=gettext_lazy("dimensions"))
    def dimensions(self, image: LessonImage) -> str:
        return f"{image.width} × {image.height}" if image.width else "-"

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = LessonImageUploadForm(request.POST, request.FILES)
            form.fields["image"].required = True
            image = _upload(request, form) if form.is_valid() else None
            if image is not None:
                messages.success(request, _("Image uploaded."))
                return redirect("admin:training_lessonimage_changelist")
            status = 400
        else:
            form = LessonImageUploadForm()
        return TemplateResponse(
            request,
            "admin/training/lessonimage/add.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Upload a lesson image"),
                "opts": self.model._meta,
                "form": form,
                "media": self.media,
            },
            status=status,
        )
