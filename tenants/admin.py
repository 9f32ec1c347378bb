"""The back office: the Django admin, scoped to the logged-in user's tenant.

Every tenant-owned admin derives from ``TenantScopedModelAdmin``: its querysets come from
scoped managers (the request runs inside the user's tenant scope), new rows get the
request's tenant, the ``tenant`` field is never offered to tenant staff, and an object
outside the scope is a 404 (Django's default would redirect with "does not exist").
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import TabularInline as UnfoldTabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from core.errors import Conflict
from core.one_time import stash, take
from tenants.forms import NotificationChannelForm, TenantSettingsForm
from tenants.login_security import unlock_login
from tenants.models import IntegrationToken, Membership, Notification, Role, Tenant, User
from tenants.notifications import (
    change_notification_channel,
    inbox_of,
    mark_all_read,
    mark_read,
    message_of,
    notification_of,
)
from tenants.roles import has_role
from tenants.selectors import actor_name_of, membership_role, name_actors, users_of
from tenants.services import (
    change_tenant_settings,
    end_sessions,
    grant_role,
    issue_api_token,
    record_password_change,
    revoke_api_token,
    revoke_role,
    save_user_account,
)
from tenants.two_factor import reset_two_factor
from tenants.versioning import VersionedDocument

admin.site.site_header = _("Baomi back office")
admin.site.site_title = _("Baomi")
admin.site.index_title = _("Confidential delivery operations")


def _acting_user(request: HttpRequest) -> User:
    # The admin only lets active, logged-in staff this far.
    return cast(User, request.user)


def _is_operator(request: HttpRequest) -> bool:
    return bool(request.user.is_superuser and getattr(request, "tenant", None) is None)


class NotFoundInsteadOfRedirect:
    """Another tenant's object, or one the user may not see, must look like no object: a
    404 before any permission check (Django would answer 403, or redirect with "does not
    exist")."""

    def _require_visible(self, request: HttpRequest, object_id: str | None) -> None:
        if object_id is not None and self.get_object(request, unquote(object_id)) is None:  # type: ignore[attr-defined]
            raise Http404(_("No such object."))

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str):
        raise Http404(_("No such object."))

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._require_visible(request, object_id)
        return super().change_view(request, object_id, *args, **kwargs)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._require_visible(request, object_id)
        return super().delete_view(request, object_id, *args, **kwargs)  # type: ignore[misc]

    def history_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._require_visible(request, object_id)
        return super().history_view(request, object_id, *args, **kwargs)  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """Rows that only services write (and some that nobody may change): view only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TenantScopedInline(UnfoldTabularInline):
    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return ["tenant"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A table's column heading is no <label>: each input is named for screen readers.
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and formfield.label:
            formfield.widget.attrs.setdefault("aria-label", str(formfield.label))
        return formfield


class TenantScopedModelAdmin(NotFoundInsteadOfRedirect, UnfoldModelAdmin):
    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or [])
        if not _is_operator(request):
            excluded.append("tenant")
        return excluded

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if _is_operator(request) else filters

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not _is_operator(request):
            obj.tenant = request.tenant  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        _assign_tenant_to_new_rows(formset, form.instance.tenant)
        super().save_formset(request, form, formset, change)


def refuse(request: HttpRequest, error: Exception) -> None:
    """Show a service's refusal (``ValidationError``, ``Conflict``, ``PermissionDenied``) as
    the admin's error message: what a back-office POST says instead of a 4xx page."""
    text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    messages.error(request, text)


class VersionedDocumentAdmin(TenantScopedModelAdmin):
    """The back office of a ``tenants.versioning`` document: adding publishes the next
    version through ``publish`` (the app's service: permission, checks, audit event);
    published versions are shown, never edited or deleted. A refusal after the form's own
    checks — the service's validation, or another version published at the same moment —
    is a message on the add page, never a 500."""

    actions = None

    def publish(self, request: HttpRequest, form: Any) -> VersionedDocument:
        raise NotImplementedError

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*(self.fields or []), "version", "published_at", "published_by"] if obj else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        document = self.publish(request, form)
        # The admin's success message and redirect name the version published.
        obj.pk, obj.version = document.pk, document.version

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except (ValidationError, Conflict) as error:
            refuse(request, error)
            return redirect(request.get_full_path())


def _assign_tenant_to_new_rows(formset: BaseInlineFormSet, tenant: Tenant | None) -> None:
    for inline_form in formset.forms:
        instance = inline_form.instance
        if instance.pk is None and hasattr(instance, "tenant_id"):
            instance.tenant = tenant


@admin.register(Tenant)
class TenantAdmin(UnfoldModelAdmin):
    """Tenants are managed by platform operators only."""

    list_display = ["slug", "name", "is_active", "created_at"]
    search_fields = ["slug", "name"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_operator(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_operator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tenants are deactivated, never deleted: their records must remain

    # --- a tenant administrator's settings of their own tenant --------------------------
    # The list and the form above are the operator's. A tenant administrator has one page,
    # "settings/", always of their own tenant (no id in its URL), with only the fields
    # TenantSettingsForm names; another tenant's row is a 404 for them, their own row's
    # page leads to the settings.

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "settings/",
                self.admin_site.admin_view(self.settings_view),
                name="tenants_tenant_settings",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        if not _is_operator(request):
            return self._own_row_or_404(request, object_id)
        return super().change_view(request, object_id, *args, **kwargs)

    def history_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        if not _is_operator(request):
            return self._own_row_or_404(request, object_id)
        return super().history_view(request, object_id, *args, **kwargs)

    def delete_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        if not _is_operator(request):
            return self._own_row_or_404(request, object_id)
        return super().delete_view(request, object_id, *args, **kwargs)

    def _own_row_or_404(self, request: HttpRequest, object_id: str) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or unquote(object_id) != str(tenant.pk):
            raise Http404(_("No such object."))
        if not may_change_tenant_settings(request):
            raise PermissionDenied
        return redirect("admin:tenants_tenant_settings")

    def settings_view(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            raise Http404(_("The platform has no tenant settings: open a tenant instead."))
        if not may_change_tenant_settings(request):
            raise PermissionDenied
        if request.method == "POST" and "save_channel" in request.POST:
            return self._channel_view(request, tenant)  # back-office notifications' channel
        if request.method == "POST":
            form = TenantSettingsForm(request.POST, tenant=tenant)
            if form.is_valid():
                try:
                    changed = change_tenant_settings(
                        tenant=tenant,
                        time_zone=form.cleaned_data["time_zone"],
                        send_pin_by_sms=form.cleaned_data["send_pin_by_sms"],
                        privacy_report_days=form.cleaned_data["privacy_report_days"],
                        training_grace_days=form.cleaned_data["training_grace_days"],
                        actor=_acting_user(request),
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    if changed:
                        labels = ", ".join(str(form.fields[name].label) for name in changed)
                        messages.success(
                            request, _("Settings saved: %(fields)s.") % {"fields": labels}
                        )
                    else:
                        messages.info(request, _("Nothing changed."))
                    return redirect("admin:tenants_tenant_settings")
            form.show_current_zone_if_refused(tenant)
        else:
            form = TenantSettingsForm(tenant=tenant)
        return TemplateResponse(
            request,
            "admin/tenants/tenant/settings.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Tenant settings"),
                "tenant": tenant,
                "form": form,
                "now": timezone.localtime(timezone.now(), tenant.zone),
                "channel_form": NotificationChannelForm(tenant=tenant),
            },
        )

    def _channel_view(self, request: HttpRequest, tenant: Tenant) -> HttpResponse:
        """The notification channel's part of the settings page (tenants.notifications).
        A new webhook secret is shown in this one response, never stored in clear."""
        form = NotificationChannelForm(request.POST, tenant=tenant)
        secret = ""
        if form.is_valid():
            try:
                changed, secret = change_notification_channel(
                    tenant=tenant,
                    channel=form.cleaned_data["notification_channel"],
                    webhook_url=form.cleaned_data["notification_webhook_url"],
                    new_secret=form.cleaned_data["new_secret"],
                    actor=_acting_user(request),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if not secret:
                    if changed:
                        messages.success(request, _("The notification channel is saved."))
                    else:
                        messages.info(request, _("Nothing changed."))
                    return redirect("admin:tenants_tenant_settings")
        response = TemplateResponse(
            request,
            "admin/tenants/tenant/settings.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Tenant settings"),
                "tenant": tenant,
                "form": TenantSettingsForm(tenant=tenant),
                "now": timezone.localtime(timezone.now(), tenant.zone),
                "channel_form": form if not secret else NotificationChannelForm(tenant=tenant),
                "webhook_secret": secret,
            },
            status=200 if form.is_valid() else 400,
        )
        response["Cache-Control"] = "no-store"
        return response


def may_change_tenant_settings(request: HttpRequest) -> bool:
    """The tenant administrators of the request's tenant; nobody else (the platform
    operator edits tenants in the list above)."""
    return getattr(request, "tenant", None) is not None and has_role(
        request.user, Role.TENANT_ADMIN
    )


class MembershipInline(TenantScopedInline):
    model = Membership
    extra = 1
    fields = ["role"]
    hide_title = True  # each row is one role of the user whose page this is

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # The admin offers no blank choice for a required field with choices, so the empty
        # row would show the first role (tenant administrator) and every save of the user's
        # page would grant it. With a blank first choice the untouched row stays empty.
        if db_field.name == "role":
            kwargs["choices"] = db_field.get_choices(include_blank=True)
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class TenantUserCreationForm(UserCreationForm):
    """A new user always gets a password (they log in with it and a second factor): no
    "password-based authentication: disabled" choice, which would make a user who can never
    log in here (there is no single sign-on)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.pop("usable_password", None)


@admin.register(User)
class TenantUserAdmin(NotFoundInsteadOfRedirect, UserAdmin, UnfoldModelAdmin):
    """Users of the request's tenant. Superuser flags, groups and global permissions are
    platform matters and are not offered to tenant administrators; staff status follows
    the user's roles. A user's tenant is chosen once, when the user is created."""

    list_display = ["username", "roles_display", "is_active", "is_staff", "last_login"]
    change_form_template = "admin/tenants/user/change_form.html"
    form = UserChangeForm
    add_form = TenantUserCreationForm
    add_fieldsets = ((None, {"fields": ("username", "password1", "password2")}),)
    change_password_form = AdminPasswordChangeForm
    list_filter = ["is_active", "is_staff"]
    search_fields = ["username"]
    tenant_fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Status"), {"fields": ("is_active", "is_staff")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    actions = ["end_all_sessions"]
    operator_add_fieldsets = ((None, {"fields": ("tenant", "username", "password1", "password2")}),)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = ["last_login", "date_joined"]
        if obj is not None:
            readonly.append("tenant")
        if not _is_operator(request):
            readonly.append("is_staff")  # follows the roles (grant_role/revoke_role)
        return readonly

    @admin.display(description=_("Roles"))
    def roles_display(self, user: User) -> str:
        roles = sorted(str(Role(m.role).label) for m in user.memberships.all())
        return ", ".join(roles) or "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        queryset = super().get_queryset(request).prefetch_related("memberships")
        if _is_operator(request):
            return queryset
        return queryset.filter(tenant=request.tenant, is_superuser=False)  # type: ignore[attr-defined]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.operator_add_fieldsets if _is_operator(request) else self.add_fieldsets
        if _is_operator(request):
            return [*super().get_fieldsets(request, obj), (_("Tenant"), {"fields": ("tenant",)})]
        return self.tenant_fieldsets

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "tenant" in form.base_fields:
            # Platform operators are made with createsuperuser; the admin adds tenant users.
            form.base_fields["tenant"].required = True
        return form

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return [MembershipInline] if obj is not None and obj.tenant_id else []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not _is_operator(request):
            obj.tenant = request.tenant  # type: ignore[attr-defined]
        save_user_account(
            user=obj,
            actor=_acting_user(request),
            created=not change,
            changed_fields=list(form.changed_data),
        )

    @admin.action(
        description=_("End all sessions of the selected users (lost phone, stolen login)"),
        permissions=["change"],
    )
    def end_all_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(end_sessions(user=user, actor=_acting_user(request)) for user in queryset)
        self.message_user(request, _("%(n)d sessions ended.") % {"n": ended})

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<path:object_id>/unlock-login/",
                self.admin_site.admin_view(self.unlock_login_view),
                name="tenants_user_unlock_login",
            ),
            path(
                "<path:object_id>/reset-two-factor/",
                self.admin_site.admin_view(self.reset_two_factor_view),
                name="tenants_user_reset_two_factor",
            ),
        ]
        return own + super().get_urls()

    def _user_for_security_action(self, request: HttpRequest, object_id: str) -> User:
        # Another tenant's user, or a platform operator seen by a tenant admin, is no user.
        user = self.get_object(request, unquote(object_id))
        if user is None:
            raise Http404(_("No such object."))
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        return cast(User, user)

    def unlock_login_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        user = self._user_for_security_action(request, object_id)
        unlock_login(user=user, actor=_acting_user(request))
        self.message_user(
            request, _("The login of %(username)s is unlocked.") % {"username": user.username}
        )
        return redirect("admin:tenants_user_change", user.pk)

    def reset_two_factor_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        user = self._user_for_security_action(request, object_id)
        reset_two_factor(user=user, actor=_acting_user(request))
        self.message_user(
            request,
            _(
                "The two-factor login of %(username)s is reset; they enrol again at their next login."
            )
            % {"username": user.username},
        )
        return redirect("admin:tenants_user_change", user.pk)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        # The password form saves outside save_model; its change is recorded here.
        if request.path_info.endswith("/password/"):
            record_password_change(user=obj, actor=_acting_user(request))
        return super().log_change(request, obj, message)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        # Roles change through the services, which keep is_staff right and emit events.
        user = form.instance
        changed = formset.save(commit=False)
        for membership in formset.deleted_objects:
            revoke_role(user=user, role=membership.role, actor=_acting_user(request))
        for membership in changed:
            if membership.pk is not None:
                old_role = membership_role(membership.pk)
                if old_role is not None and old_role != membership.role:
                    revoke_role(user=user, role=old_role, actor=_acting_user(request))
            grant_role(user=user, role=membership.role, actor=_acting_user(request))


@admin.register(Membership)
class MembershipAdmin(TenantScopedModelAdmin):
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user"]
    search_fields = ["user__username"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user" and not _is_operator(request):
            kwargs["queryset"] = users_of(request.tenant)  # type: ignore[attr-defined]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            old_role = membership_role(obj.pk)
            if old_role is not None and old_role != obj.role:
                revoke_role(user=obj.user, role=old_role, actor=_acting_user(request))
        membership = grant_role(user=obj.user, role=obj.role, actor=_acting_user(request))
        obj.pk, obj.tenant = membership.pk, membership.tenant

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        revoke_role(user=obj.user, role=obj.role, actor=_acting_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("user"):
            revoke_role(user=membership.user, role=membership.role, actor=_acting_user(request))


def naming_changelist(*fields: str) -> type[ChangeList]:
    """A changelist that names the stored actor labels ``fields`` of its page's rows
    (``<field>_name``, one query for the page: ``tenants.selectors.name_actors``)."""

    class NamingChangeList(ChangeList):
        def get_results(self, request: HttpRequest) -> None:
            super().get_results(request)
            for field in fields:
                name_actors(self.result_list, field)

    return NamingChangeList


JUST_CREATED = "new_api_token"  # core.one_time's purpose: an integration token just created
_TokenChangeList = naming_changelist("created_by")  # who created each token, by username


@admin.register(IntegrationToken)
class IntegrationTokenAdmin(TenantScopedModelAdmin):
    """Tokens are created here by tenant administrators and shown once; they are revoked,
    never deleted."""

    list_display = [
        "name",
        "prefix",
        "created_at",
        "created_by_name",
        "last_used_at",
        "revoked_at",
    ]
    fields = ["name"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            ["name", "prefix", "created_at", "created_by_name", "last_used_at", "revoked_at"]
            if obj
            else []
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return _TokenChangeList

    @admin.display(description=_("created by"))
    def created_by_name(self, obj: IntegrationToken) -> str:
        return actor_name_of(obj, "created_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_readonly_fields(request, obj) if obj else ["name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        token, raw = issue_api_token(
            tenant=request.tenant,  # type: ignore[attr-defined]
            name=form.cleaned_data["name"],
            actor=_acting_user(request),
        )
        obj.pk = token.pk
        request._baomi_new_token = raw  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        """Post/redirect/get: the new token travels to its "created" page in a sealed
        one-minute cookie (core.one_time, decision 0009), so a reload never creates a second
        token, and the token is stored nowhere (not in a message, the session or a cache)."""
        url = reverse("admin:tenants_integrationtoken_created", args=[obj.pk])
        response = redirect(url)
        stash(
            response,
            user=request.user,
            purpose=JUST_CREATED,
            object_id=obj.pk,
            value=request._baomi_new_token,  # type: ignore[attr-defined]
            path=url,
        )
        return response

    def get_urls(self) -> list[Any]:
        created = path(
            "<path:object_id>/created/",
            self.admin_site.admin_view(self.created_view),
            name="tenants_integrationtoken_created",
        )
        return [created, *super().get_urls()]

    def created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The new token, the first time only (a reload says it was shown once)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        token = self.get_object(request, unquote(object_id))
        if token is None:  # another tenant's token is no token
            raise Http404
        url = reverse("admin:tenants_integrationtoken_created", args=[token.pk])
        response = TemplateResponse(
            request,
            "admin/tenants/integrationtoken/created.html",
            {
                **self.admin_site.each_context(request),
                "object": token,
                "opts": self.opts,
                "title": _("Integration token created"),
            },
        )
        response.context_data["token"] = take(  # type: ignore[index]
            request, response, user=request.user, purpose=JUST_CREATED, object_id=token.pk, path=url
        )
        response["Cache-Control"] = "no-store"  # the token is shown in this response only
        return response

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[IntegrationToken]) -> None:
        for token in queryset:
            revoke_api_token(token=token, actor=_acting_user(request))

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("tenants.add_integrationtoken")


# --- Back-office notifications (issue 18; tenants.notifications) ---------------------------
# Every staff member of a tenant has an inbox: their own notifications only (another user's
# or tenant's is a 404), marked read one by one (opening one marks it read and follows its
# link) or all at once. Nothing here is added, changed or deleted through the admin's forms.


@admin.register(Notification)
class NotificationAdmin(TenantScopedModelAdmin):
    actions = None

    def _own_tenant_staff(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active and user.is_staff and getattr(request, "tenant", None) is not None
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Not among the models: the sidebar's "My work" links the inbox with its badge
        # (tenants.navigation), and a station's staff still land on their station.
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_tenant_staff(request) and (obj is None or obj.user_id == request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return super().get_queryset(request).filter(user_id=request.user.pk)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:notification_id>/open/",
                self.admin_site.admin_view(self.open_view),
                name="tenants_notification_open",
            ),
            path(
                "<int:notification_id>/read/",
                self.admin_site.admin_view(self.read_view),
                name="tenants_notification_read",
            ),
            path(
                "read-all/",
                self.admin_site.admin_view(self.read_all_view),
                name="tenants_notification_read_all",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = _acting_user(request)
        items = [(n, message_of(n)) for n in inbox_of(user)]
        response = TemplateResponse(
            request,
            "admin/tenants/notification/inbox.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Notifications"),
                "items": items,
                "unread": sum(1 for n, _m in items if n.read_at is None),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        raise Http404(_("No such object."))

    def _own(self, request: HttpRequest, notification_id: int) -> Notification:
        if not self.has_view_permission(request):
            raise Http404(_("No such notification."))
        notification = notification_of(_acting_user(request), notification_id)
        if notification is None:
            raise Http404(_("No such notification."))
        return notification

    def open_view(self, request: HttpRequest, notification_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        notification = self._own(request, notification_id)
        mark_read(user=_acting_user(request), notification_id=notification.pk)
        link = notification.link
        if link and url_has_allowed_host_and_scheme(link, allowed_hosts=None):
            return redirect(link)
        return redirect("admin:tenants_notification_changelist")

    def read_view(self, request: HttpRequest, notification_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        notification = self._own(request, notification_id)
        mark_read(user=_acting_user(request), notification_id=notification.pk)
        return redirect("admin:tenants_notification_changelist")

    def read_all_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise Http404(_("No such notification."))
        count = mark_all_read(user=_acting_user(request))
        messages.success(request, _("%(n)d notifications marked read.") % {"n": count})
        return redirect("admin:tenants_notification_changelist")
