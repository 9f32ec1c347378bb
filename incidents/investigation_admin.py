"""The case page's "Investigation" panel (issue 18, point 1): its timeline of linked audit
events, responsible staff and findings, the evidence files with their chain of custody,
the forms that add to them, and the evidence download. Wired into IncidentCaseAdmin by
``investigation_context`` (its change view) and ``investigation_urls`` (its URLs).

The case is looked up by the case admin (``_case_or_404``): a case of another tenant, or
any case for someone who does not manage cases, is a 404 on every URL here. A refused
POST answers with the reason on a short page and its status (400 for bad input, 409 for
a state that does not allow it) and a link back to the case; a done one redirects back."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import IO, Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from core.audit_registry import action_label
from core.errors import Conflict
from incidents import cases as case_services
from incidents import investigation
from incidents.models import (
    EVIDENCE_LABEL_MAX_LENGTH,
    FINDING_MAX_LENGTH,
    CaseState,
    EvidenceFile,
    IncidentCase,
    InvestigationItem,
    InvestigationKind,
)
from tenants.models import Membership, Role, User
from tenants.scoping import tenant_scope
from tenants.selectors import actor_names


class AuditLinkForm(forms.Form):
    event = forms.CharField(
        label=gettext_lazy("Audit event id"),
        max_length=19,
        help_text=gettext_lazy("The number at the end of the audit event's page address."),
    )


class StaffForm(forms.Form):
    staff = forms.ChoiceField(label=gettext_lazy("Responsible staff member"))

    def __init__(self, *args: Any, case: IncidentCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["staff"]).choices = [
            (str(u.pk), u.username) for u in case_services.containment_users(case)
        ]


class FindingForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Finding"),
        max_length=FINDING_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("A few lines at most. Do not write personal data."),
    )


class EvidenceForm(forms.Form):
    # Before the file in the page's form: the upload stops reading at a refused file.
    label = forms.CharField(
        label=gettext_lazy("What it is"),
        max_length=EVIDENCE_LABEL_MAX_LENGTH,
        required=False,
        help_text=gettext_lazy(
            "Optional, a few words (for example: “export of the access log”). Do not write "
            "personal data."
        ),
    )
    file = forms.FileField(label=gettext_lazy("Evidence file"), allow_empty_file=True)


class EvidenceUploadHandler(FileUploadHandler):
    """Keeps an upload in memory (evidence is never written to disk in clear): one file,
    in the field ``file``, of at most ``EVIDENCE_MAX_BYTES`` — counted over the whole
    request, whatever its parts. Anything else stops the upload at once
    (``StopUpload``; the rest of the body is read and dropped, never kept): ``too_large``
    or ``refused`` is then set and no file is given to the view."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit, self.too_large, self.refused = limit, False, False
        self.total = self.files = 0
        self.buffer: io.BytesIO | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.files += 1
        if self.field_name != "file" or self.files > 1:
            self.refused, self.buffer = True, None
            raise StopUpload(connection_reset=False)
        self.buffer = io.BytesIO()
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.total += len(raw_data)
        if self.total > self.limit:
            self.too_large, self.buffer = True, None
            raise StopUpload(connection_reset=False)
        if self.buffer is not None:
            self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> Any:
        if self.buffer is None:
            return None
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _roles(users: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for user_id, role in Membership.objects.filter(user_id__in=users).values_list(
        "user_id", "role"
    ):
        found[user_id].append(str(Role(role).label) if role in Role.values else role)
    return {pk: sorted(roles) for pk, roles in found.items()}


def _items(case: IncidentCase) -> list[dict[str, Any]]:
    items = list(
        InvestigationItem.objects.filter(case=case)
        .select_related("audit_event", "staff")
        .order_by("added_at", "pk")
    )
    names = actor_names([i.added_by for i in items], tenant_id=case.tenant_id)
    roles = _roles([i.staff_id for i in items if i.staff_id is not None])
    rows = []
    for item in items:
        row: dict[str, Any] = {
            "item": item,
            "kind": InvestigationKind(item.kind).label,
            "added_by": names.get(item.added_by, item.added_by),
        }
        if item.audit_event is not None:
            event = item.audit_event
            row["event"] = {
                "label": action_label(event.action),
                "at": event.occurred_at,
                "url": reverse("admin:audits_auditevent_change", args=[event.pk]),
                "number": event.pk,
            }
        if item.staff is not None:
            row["staff"] = {
                "username": item.staff.username,
                "roles": ", ".join(roles.get(item.staff.pk, [])),
            }
        rows.append(row)
    return rows


def _evidence(case: IncidentCase) -> list[dict[str, Any]]:
    files = list(EvidenceFile.objects.filter(case=case).order_by("added_at", "pk"))
    names = actor_names([f.added_by for f in files], tenant_id=case.tenant_id)
    return [
        {
            "file": f,
            "added_by": names.get(f.added_by, f.added_by),
            "url": reverse("admin:incidents_incidentcase_evidence_download", args=[case.pk, f.pk]),
        }
        for f in files
    ]


def investigation_context(case: IncidentCase) -> dict[str, Any]:
    """What the change view adds for the "Investigation" panel."""
    is_open = case.state != CaseState.CLOSED
    with tenant_scope(case.tenant):
        return {
            "investigation_items": _items(case),
            "evidence_files": _evidence(case),
            "investigation_open": is_open,
            "audit_link_form": AuditLinkForm(auto_id="investigation-%s") if is_open else None,
            "staff_form": StaffForm(case=case, auto_id="investigation-%s") if is_open else None,
            "finding_form": FindingForm(auto_id="investigation-%s") if is_open else None,
            "evidence_form": EvidenceForm(auto_id="evidence-%s") if is_open else None,
            "evidence_max_mb": f"{investigation.max_evidence_bytes() / (1024 * 1024):g}",
        }


def _refused(
    request: HttpRequest, case: IncidentCase, error: Exception, status: int
) -> HttpResponse:
    text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    return TemplateResponse(
        request,
        "admin/incidents/incidentcase/investigation_refused.html",
        {
            "title": _("Not done"),
            "message": text,
            "case": case,
            "back": reverse("admin:incidents_incidentcase_change", args=[case.pk]),
        },
        status=status,
    )


def _form_error(form: forms.Form) -> ValidationError:
    texts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        text = " ".join(str(e) for e in errors)
        texts.append(f"{label}: {text}" if label else text)
    return ValidationError(texts)


def _run(request: HttpRequest, case: IncidentCase, action: Any, done: str) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        return _refused(request, case, error, 400)
    except Conflict as error:
        return _refused(request, case, error, 409)
    except PermissionDenied as error:
        return _refused(request, case, error, 403)
    messages.success(request, done)
    url = reverse("admin:incidents_incidentcase_change", args=[case.pk])
    return redirect(url + "#investigation")


def investigation_urls(model_admin: Any) -> list[Any]:
    def case_of(request: HttpRequest, case_id: int) -> IncidentCase:
        return cast(IncidentCase, model_admin._case_or_404(request, case_id))

    def back(case: IncidentCase) -> HttpResponse:
        return redirect(reverse("admin:incidents_incidentcase_change", args=[case.pk]))

    def add_item(request: HttpRequest, case_id: int, kind: str) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return back(case)
        actor = cast(User, request.user)
        form: forms.Form
        if kind == "audit-event":
            form = AuditLinkForm(request.POST)
            if not form.is_valid():
                return _refused(request, case, _form_error(form), 400)
            return _run(
                request,
                case,
                lambda: investigation.link_audit_event(
                    case=case, event_id=form.cleaned_data["event"], actor=actor
                ),
                _("The audit event is linked to the case."),
            )
        if kind == "staff":
            with tenant_scope(case.tenant):
                form = StaffForm(request.POST, case=case)
                valid = form.is_valid()
            if not valid:
                return _refused(request, case, _form_error(form), 400)
            return _run(
                request,
                case,
                lambda: investigation.add_staff(
                    case=case, user_id=form.cleaned_data["staff"], actor=actor
                ),
                _("The staff member is named responsible."),
            )
        form = FindingForm(request.POST)
        if not form.is_valid():
            return _refused(request, case, _form_error(form), 400)
        return _run(
            request,
            case,
            lambda: investigation.add_finding(
                case=case, text=form.cleaned_data["text"], actor=actor
            ),
            _("The finding is recorded."),
        )

    @csrf_exempt  # checked below, once the upload handler is in place
    def upload(request: HttpRequest, case_id: int) -> HttpResponse:
        handler = EvidenceUploadHandler(request, investigation.max_evidence_bytes())
        request.upload_handlers = [handler]
        return cast(HttpResponse, csrf_protect(_upload)(request, case_id, handler))

    def _upload(request: HttpRequest, case_id: int, handler: EvidenceUploadHandler) -> HttpResponse:
        case = case_of(request, case_id)
        if request.method != "POST":
            return back(case)
        upload = request.FILES.get("file")
        if handler.too_large:
            return _refused(
                request,
                case,
                ValidationError(
                    _("The file is too large: at most %(mb)s MB.")
                    % {"mb": f"{investigation.max_evidence_bytes() / (1024 * 1024):g}"}
                ),
                400,
            )
        if handler.refused or len(request.FILES.getlist("file")) > 1:
            return _refused(
                request,
                case,
                ValidationError(_("Send exactly one file, in the field “file”.")),
                400,
            )
        if upload is None:
            return _refused(request, case, ValidationError(_("Choose a file to upload.")), 400)
        return _run(
            request,
            case,
            lambda: investigation.add_evidence(
                case=case,
                name=upload.name,
                label=request.POST.get("label", ""),
                source=cast(IO[bytes], upload.file),
                size=upload.size or 0,
                actor=cast(User, request.user),
            ),
            _("The evidence file is stored, encrypted."),
        )

    def download(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
        case = case_of(request, case_id)
        try:
            evidence, data = investigation.download_evidence(
                case=case, evidence_id=evidence_id, actor=cast(User, request.user)
            )
        except EvidenceFile.DoesNotExist:
            raise Http404(_("No such evidence file.")) from None
        except Conflict as error:
            return _refused(request, case, error, 409)
        except PermissionDenied as error:
            return _refused(request, case, error, 403)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = (
            content_disposition_header(True, evidence.name) or "attachment"
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Length"] = str(len(data))
        response["Cache-Control"] = "no-store"
        return response

    site = model_admin.admin_site
    return [
        path(
            "<int:case_id>/investigation/audit-event/",
            site.admin_view(lambda r, case_id: add_item(r, case_id, "audit-event")),
            name="incidents_incidentcase_investigation_event",
        ),
        path(
            "<int:case_id>/investigation/staff/",
            site.admin_view(lambda r, case_id: add_item(r, case_id, "staff")),
            name="incidents_incidentcase_investigation_staff",
        ),
        path(
            "<int:case_id>/investigation/finding/",
            site.admin_view(lambda r, case_id: add_item(r, case_id, "finding")),
            name="incidents_incidentcase_investigation_finding",
        ),
        path(
            "<int:case_id>/evidence/",
            site.admin_view(upload),
            name="incidents_incidentcase_evidence_upload",
        ),
        path(
            "<int:case_id>/evidence/<int:evidence_id>/",
            site.admin_view(download),
            name="incidents_incidentcase_evidence_download",
        ),
    ]
