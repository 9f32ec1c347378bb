"""The back office's violations (issue 20, point 4): the list (filters: state, clause,
sanction, repeat offenders, the dashboard's period), recording one, its page (evidence,
sanctions, answers, the timeline), the decision form, closing and withdrawal — for the
tenant's supervisors — and the person's own pages ("My violations": read and answer).

Every page is a view of ``ViolationAdmin`` (so the admin's login, second factor and
tenant scope wrap it) that calls ``audits.violations.selectors`` and ``services``. A
refused POST answers with the reason and its status (400 bad input naming the field, 403,
409 naming the state); a done one redirects (post/redirect/get). Another tenant's
violation, or one the user may not see, is a 404."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audits.models import (
    OPEN_VIOLATION_STATES,
    VIOLATION_SHORT_TEXT_MAX_LENGTH,
    VIOLATION_TEXT_MAX_LENGTH,
    SanctionKind,
    Violation,
    ViolationClause,
    ViolationSeverity,
    ViolationState,
)
from audits.violations import selectors, services
from audits.violations.evidence import evidence_kinds, kind_label, target_of
from core.audit_registry import action_label
from core.errors import Conflict
from tenants.admin import TenantScopedModelAdmin
from tenants.models import Membership, Role, Tenant, User
from tenants.roles import has_role
from tenants.selectors import actor_names

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RecordForm(forms.Form):
    person = forms.ChoiceField(label=gettext_lazy("Person"))
    clause = forms.ChoiceField(
        label=gettext_lazy("Clause violated"), choices=ViolationClause.choices
    )
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=ViolationSeverity.choices)
    occurred_on = forms.DateField(label=gettext_lazy("Occurred on"), widget=_DATE)
    description = forms.CharField(
        label=gettext_lazy("What happened"),
        max_length=VIOLATION_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Describe the conduct. Do not write customers' personal data (names, phones, "
            "addresses): cite order codes and audit event numbers instead."
        ),
    )
    evidence_kind = forms.ChoiceField(label=gettext_lazy("Evidence"), required=False)
    evidence = forms.CharField(
        label=gettext_lazy("Evidence id"),
        required=False,
        max_length=64,
        help_text=gettext_lazy(
            "Optional: the number of an audit event or the code of an incident case. More "
            "evidence can be linked from the violation's page."
        ),
    )

    def __init__(self, *args: Any, tenant: Tenant, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = list(
            User.objects.filter(tenant_id=tenant.pk, is_active=True, is_superuser=False)
            .exclude(pk=actor.pk)
            .order_by("username")[:2000]
        )
        roles = _roles([u.pk for u in people])
        person = cast(forms.ChoiceField, self.fields["person"])
        person.choices = [("", "—")] + [
            (str(u.pk), f"{u.username} ({roles[u.pk]})" if roles.get(u.pk) else u.username)
            for u in people
        ]
        kinds = cast(forms.ChoiceField, self.fields["evidence_kind"])
        kinds.choices = [("", "—")] + [(k.kind, k.label) for k in evidence_kinds()]


class EvidenceForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind of evidence"))
    object_id = forms.CharField(label=gettext_lazy("Id or code"), max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = [
            (k.kind, k.label) for k in evidence_kinds()
        ]


class DecideForm(forms.Form):
    warning = forms.BooleanField(label=gettext_lazy("Warning"), required=False)
    fine = forms.CharField(
        label=gettext_lazy("Fine (CNY)"),
        required=False,
        max_length=20,
        help_text=gettext_lazy("Leave empty for no fine."),
    )
    suspend_reveal_until = forms.DateField(
        label=gettext_lazy("Suspend from reveal until (last day)"), required=False, widget=_DATE
    )
    suspend_dispatch_until = forms.DateField(
        label=gettext_lazy("Suspend from dispatch until (last day; riders)"),
        required=False,
        widget=_DATE,
    )
    dismissal = forms.BooleanField(
        label=gettext_lazy("Dismissal: deactivate the account and end its sessions"),
        required=False,
        help_text=gettext_lazy("Tenant administrators only."),
    )
    refer = forms.BooleanField(label=gettext_lazy("Refer to the authorities"), required=False)
    authority = forms.CharField(label=gettext_lazy("Authority"), required=False, max_length=100)
    reference = forms.CharField(label=gettext_lazy("Reference"), required=False, max_length=64)
    referred_on = forms.DateField(label=gettext_lazy("Referred on"), required=False, widget=_DATE)
    compensation = forms.CharField(
        label=gettext_lazy("Compensation owed to the company (CNY)"),
        required=False,
        max_length=20,
        help_text=gettext_lazy("§6.3.2: the loss the violation caused. Leave empty for none."),
    )
    compensation_reason = forms.CharField(
        label=gettext_lazy("Compensation reason"),
        required=False,
        max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH,
    )
    compensation_case = forms.CharField(
        label=gettext_lazy("Incident case code (optional)"), required=False, max_length=64
    )

    def decision(self) -> services.Decision:
        data = self.cleaned_data
        referral = (
            services.Referral(
                authority=data["authority"],
                reference=data["reference"],
                referred_on=data["referred_on"],
            )
            if data["refer"]
            else None
        )
        compensation = (
            services.Compensation(
                amount=data["compensation"],
                reason=data["compensation_reason"],
                case=data["compensation_case"],
            )
            if data["compensation"]
            else None
        )
        return services.Decision(
            warning=data["warning"],
            fine=data["fine"] or None,
            suspend_reveal_until=data["suspend_reveal_until"],
            suspend_dispatch_until=data["suspend_dispatch_until"],
            dismissal=data["dismissal"],
            referral=referral,
            compensation=compensation,
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for withdrawal"), max_length=VIOLATION_SHORT_TEXT_MAX_LENGTH
    )


class AnswerForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Your answer"),
        max_length=VIOLATION_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "You can answer once before the decision and once after it. Do not write "
            "customers' personal data."
        ),
    )


def _roles(user_ids: list[int]) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    for user_id, role in Membership.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "role"
    ):
        found.setdefault(user_id, []).append(str(Role(role).label) if role in Role.values else role)
    return {pk: ", ".join(sorted(r)) for pk, r in found.items()}


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """The service's errors on the form's fields (by name), the others above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, texts in error.message_dict.items():
        if name in form.fields:
            form.add_error(name, texts)
        else:
            form.add_error(None, [f"{name}: {t}" for t in texts])


def _refused(request: HttpRequest, error: Exception, status: int, back: str) -> HttpResponse:
    if isinstance(error, ValidationError):
        text = (
            "; ".join(f"{name}: {' '.join(texts)}" for name, texts in error.message_dict.items())
            if hasattr(error, "error_dict")
            else "; ".join(error.messages)
        )
    else:
        text = str(error)
    return TemplateResponse(
        request,
        "audits/violations/refused.html",
        {**admin.site.each_context(request), "title": _("Not done"), "message": text, "back": back},
        status=status,
    )


def _sanction_rows(violation: Violation) -> list[dict[str, Any]]:
    return [
        {"sanction": s, "label": SanctionKind(s.kind).label}
        for s in selectors.sanctions_of(violation)
    ]


def sanction_labels(violation: Violation) -> list[str]:
    """The labels of the prefetched sanctions (a list page)."""
    return [str(SanctionKind(s.kind).label) for s in violation.sanctions.all()]


def _person_context(violation: Violation) -> dict[str, Any]:
    """What the person reads about their violation (docs/decisions/0016): the clause,
    severity, description, state, sanctions, compensation, how many pieces of evidence and
    of which kinds (not which objects), their own answers; not who recorded it, not the
    evidence's labels and links, not the timeline, not the repeat count."""
    kinds = sorted({kind_label(k) for k in violation.evidence.values_list("kind", flat=True)})
    return {
        "violation": violation,
        "clause_label": ViolationClause(violation.clause).label,
        "sanction_rows": _sanction_rows(violation),
        "evidence_count": violation.evidence.count(),
        "evidence_kinds": kinds,
        "answers": selectors.answers_of(violation),
        "may_answer": selectors.may_answer(violation),
    }


@admin.register(Violation)
class ViolationAdmin(TenantScopedModelAdmin):
    actions = None

    def has_module_permission(self, request: HttpRequest) -> bool:
        tenant = getattr(request, "tenant", None)
        return tenant is not None and services.may_supervise(request.user, tenant)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a violation changes through its services only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.list_view), name="audits_violation_changelist"),
            path("add/", view(self.record_view), name="audits_violation_add"),
            path("mine/", view(self.mine_list_view), name="audits_violation_mine_list"),
            path("mine/<int:violation_id>/", view(self.mine_view), name="audits_violation_mine"),
            path(
                "<int:violation_id>/change/", view(self.detail_view), name="audits_violation_change"
            ),
            path(
                "<int:violation_id>/decide/", view(self.decide_view), name="audits_violation_decide"
            ),
            path(
                "<int:violation_id>/evidence/",
                view(self.evidence_view),
                name="audits_violation_evidence",
            ),
            path("<int:violation_id>/close/", view(self.close_view), name="audits_violation_close"),
            path(
                "<int:violation_id>/withdraw/",
                view(self.withdraw_view),
                name="audits_violation_withdraw",
            ),
        ]

    # --- helpers ---

    def _page(
        self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
    ) -> HttpResponse:
        response = TemplateResponse(
            request,
            f"audits/violations/{template}",
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
            status=status,
        )
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _tenant(request: HttpRequest) -> Tenant:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            from django.http import Http404

            raise Http404(_("No such page."))
        return cast(Tenant, tenant)

    @staticmethod
    def _detail_url(violation: Violation) -> str:
        return reverse("admin:audits_violation_change", args=[violation.pk])

    # --- the list ---

    def list_view(self, request: HttpRequest) -> HttpResponse:
        tenant = self._tenant(request)
        filters = selectors.ListFilters.from_query(request.GET)
        queryset = selectors.violations_for(request.user, tenant, filters)
        rows = list(queryset[: selectors.LIST_LIMIT + 1])
        cut = len(rows) > selectors.LIST_LIMIT
        rows = rows[: selectors.LIST_LIMIT]
        return self._page(
            request,
            "list.html",
            {
                "title": _("Violations"),
                "rows": [
                    {
                        "violation": v,
                        "clause_label": ViolationClause(v.clause).label,
                        "sanctions": sanction_labels(v),
                        "nth": v.nth,  # type: ignore[attr-defined]
                        "url": self._detail_url(v),
                    }
                    for v in rows
                ],
                "cut": cut,
                "limit": selectors.LIST_LIMIT,
                "filters": filters,
                "states": [("open", _("Open")), *ViolationState.choices],
                "clauses": ViolationClause.choices,
                "sanction_kinds": SanctionKind.choices,
                "filtered": any(
                    (
                        filters.state,
                        filters.clause,
                        filters.sanction,
                        filters.repeat,
                        filters.person,
                        filters.since,
                        filters.until,
                        filters.stale,
                        filters.suspended,
                    )
                ),
                "add_url": reverse("admin:audits_violation_add"),
            },
        )

    # --- recording ---

    def record_view(self, request: HttpRequest) -> HttpResponse:
        tenant = self._tenant(request)
        if not services.may_supervise(request.user, tenant):
            raise PermissionDenied(
                _("Only supervisors, privacy officers and tenant administrators handle violations.")
            )
        actor = cast(User, request.user)
        status = 200
        if request.method == "POST":
            form = RecordForm(request.POST, tenant=tenant, actor=actor)
            if form.is_valid():
                data = form.cleaned_data
                evidence = (
                    [(data["evidence_kind"], data["evidence"])]
                    if data["evidence"]  # a kind chosen without an id links nothing
                    else []
                )
                try:
                    violation = services.record_violation(
                        tenant=tenant,
                        person_id=data["person"],
                        clause=data["clause"],
                        description=data["description"],
                        severity=data["severity"],
                        occurred_on=data["occurred_on"],
                        evidence=evidence,
                        actor=actor,
                    )
                except ValidationError as error:
                    apply_errors(form, error)
                except Conflict as error:
                    return _refused(request, error, 409, reverse("admin:audits_violation_add"))
                else:
                    messages.success(
                        request,
                        _("Violation %(number)s is recorded; the person is told.")
                        % {"number": violation.number},
                    )
                    return redirect(self._detail_url(violation))
            status = 400
        else:
            form = RecordForm(tenant=tenant, actor=actor, initial={"evidence_kind": "audit_event"})
        return self._page(
            request,
            "record.html",
            {"title": _("Record a violation"), "form": form},
            status=status,
        )

    # --- one violation ---

    def detail_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.violation_for_supervisor(request.user, tenant, violation_id)
        return self._detail(request, violation)

    def _detail(
        self,
        request: HttpRequest,
        violation: Violation,
        *,
        evidence_form: EvidenceForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        tenant = violation.tenant
        evidence = list(violation.evidence.all())
        events = selectors.timeline_of(violation)
        names = actor_names(
            [violation.recorded_by, *[e.added_by for e in evidence], *[e.actor for e in events]],
            tenant_id=tenant.pk,
        )
        is_open = violation.state in OPEN_VIOLATION_STATES
        actor = cast(User, request.user)
        about_me = actor.pk == violation.person_id
        evidence_rows = []
        for row in evidence:
            target = target_of(tenant, row.kind, row.object_id)
            evidence_rows.append(
                {
                    "row": row,
                    "kind": kind_label(row.kind),
                    "label": target.label if target else row.label,
                    "url": target.url if target else "",
                    "added_by": names.get(row.added_by, row.added_by),
                }
            )
        return self._page(
            request,
            "detail.html",
            {
                "title": _("Violation %(number)s") % {"number": violation.number},
                "violation": violation,
                "person_roles": _roles([violation.person_id]).get(violation.person_id, ""),
                "clause_label": ViolationClause(violation.clause).label,
                "nth": violation.nth,  # type: ignore[attr-defined]
                "recorded_by": names.get(violation.recorded_by, violation.recorded_by),
                "evidence_rows": evidence_rows,
                "sanction_rows": _sanction_rows(violation),
                "answers": selectors.answers_of(violation),
                "timeline": [
                    {
                        "event": e,
                        "label": action_label(e.action),
                        "actor": names.get(e.actor, e.actor),
                    }
                    for e in events
                ],
                "is_open": is_open,
                "about_me": about_me,
                "may_decide": violation.state == ViolationState.RECORDED and not about_me,
                "may_close": violation.state in (ViolationState.DECIDED, ViolationState.ANSWERED)
                and not about_me,
                "evidence_form": evidence_form or (EvidenceForm() if is_open else None),
                "reason_form": ReasonForm() if is_open and not about_me else None,
                "list_url": reverse("admin:audits_violation_changelist"),
                "person_list_url": reverse("admin:audits_violation_changelist")
                + "?"
                + urlencode({"person": violation.person.username}),
            },
            status=status,
        )

    def decide_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.violation_for_supervisor(request.user, tenant, violation_id)
        back = self._detail_url(violation)
        if violation.state != ViolationState.RECORDED:
            return _refused(
                request,
                Conflict(
                    _(
                        "The violation is “%(state)s”: a sanction is decided only once, on a recorded violation."
                    )
                    % {"state": ViolationState(violation.state).label}
                ),
                409,
                back,
            )
        status = 200
        if request.method == "POST":
            form = DecideForm(request.POST)
            if form.is_valid():
                try:
                    made = services.decide_sanction(
                        violation=violation,
                        decision=form.decision(),
                        actor=cast(User, request.user),
                    )
                except ValidationError as error:
                    apply_errors(form, error)
                except Conflict as error:
                    return _refused(request, error, 409, back)
                except PermissionDenied as error:
                    return _refused(request, error, 403, back)
                else:
                    messages.success(
                        request,
                        _("Decided: %(sanctions)s. The person is told.")
                        % {"sanctions": ", ".join(str(SanctionKind(s.kind).label) for s in made)},
                    )
                    return redirect(back)
            status = 400
        else:
            form = DecideForm()
        return self._page(
            request,
            "decide.html",
            {
                "title": _("Decide the sanction of %(number)s") % {"number": violation.number},
                "violation": violation,
                "clause_label": ViolationClause(violation.clause).label,
                "nth": violation.nth,  # type: ignore[attr-defined]
                "form": form,
                "is_rider": has_role(violation.person, Role.RIDER),
                "may_dismiss": has_role(request.user, Role.TENANT_ADMIN),
                "back": back,
            },
            status=status,
        )

    def evidence_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.violation_for_supervisor(request.user, tenant, violation_id)
        back = self._detail_url(violation)
        if request.method != "POST":
            return redirect(back)
        form = EvidenceForm(request.POST)
        if form.is_valid():
            try:
                services.add_evidence(
                    violation=violation,
                    kind=form.cleaned_data["kind"],
                    object_id=form.cleaned_data["object_id"],
                    actor=cast(User, request.user),
                )
            except ValidationError as error:
                apply_errors(form, error)
            except Conflict as error:
                return _refused(request, error, 409, back)
            except PermissionDenied as error:
                return _refused(request, error, 403, back)
            else:
                messages.success(request, _("The evidence is linked."))
                return redirect(back + "#evidence")
        return self._detail(request, violation, evidence_form=form, status=400)

    def close_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.violation_for_supervisor(request.user, tenant, violation_id)
        back = self._detail_url(violation)
        if request.method != "POST":
            return redirect(back)
        try:
            services.close_violation(violation=violation, actor=cast(User, request.user))
        except Conflict as error:
            return _refused(request, error, 409, back)
        except PermissionDenied as error:
            return _refused(request, error, 403, back)
        messages.success(request, _("The violation is closed."))
        return redirect(back)

    def withdraw_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.violation_for_supervisor(request.user, tenant, violation_id)
        back = self._detail_url(violation)
        if request.method != "POST":
            return redirect(back)
        try:
            services.withdraw_violation(
                violation=violation,
                reason=request.POST.get("reason", ""),
                actor=cast(User, request.user),
            )
        except ValidationError as error:
            return _refused(request, error, 400, back)
        except Conflict as error:
            return _refused(request, error, 409, back)
        except PermissionDenied as error:
            return _refused(request, error, 403, back)
        messages.success(request, _("The violation is withdrawn."))
        return redirect(back)

    # --- the person's own pages ---

    def mine_list_view(self, request: HttpRequest) -> HttpResponse:
        self._tenant(request)
        user = cast(User, request.user)
        rows = [
            {
                "violation": v,
                "clause_label": ViolationClause(v.clause).label,
                "sanctions": sanction_labels(v),
                "url": reverse("admin:audits_violation_mine", args=[v.pk]),
            }
            for v in selectors.own_violations(user)
        ]
        return self._page(request, "mine_list.html", {"title": _("My violations"), "rows": rows})

    def mine_view(self, request: HttpRequest, violation_id: int) -> HttpResponse:
        tenant = self._tenant(request)
        violation = selectors.own_violation(request.user, tenant, violation_id)
        here = reverse("admin:audits_violation_mine", args=[violation.pk])
        status = 200
        form = AnswerForm()
        if request.method == "POST":
            form = AnswerForm(request.POST)
            if form.is_valid():
                try:
                    services.answer_violation(
                        violation=violation,
                        text=form.cleaned_data["text"],
                        actor=cast(User, request.user),
                    )
                except ValidationError as error:
                    apply_errors(form, error)
                except Conflict as error:
                    return _refused(request, error, 409, here)
                else:
                    messages.success(request, _("Your answer is recorded."))
                    return redirect(here)
            status = 400
        return self._page(
            request,
            "mine.html",
            {
                "title": _("Violation %(number)s") % {"number": violation.number},
                **_person_context(violation),
                "form": form,
                "action": here,
                "mine_list_url": reverse("admin:audits_violation_mine_list"),
            },
            status=status,
        )
