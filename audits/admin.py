"""The back office's audit log: read-only, and readable.

Events store labels and ids (``user:7``, ``orders.order`` + a UUID, ``delivery``), hash-
chained and never changed. The list shows them readable — the actor by username and roles,
the object by order code (never a customer's data), action and purpose by their translated
labels — resolving the users, tokens and orders of a whole page in one query each (see
``AuditChangeList``). The event's page shows the same, and the stored values in a collapsed
block for auditors.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audits.list_filters import day_range_filter
from audits.models import AuditEvent
from core.audit_registry import (
    AuditCategory,
    action_label,
    actions_in,
    all_actions,
    field_label,
    purpose_choices,
    purpose_label,
)
from core.keyset_admin import KEYSET_CHANGE_LIST, KeysetChangeList
from tenants.admin import ReadOnlyAdminMixin, TenantScopedModelAdmin
from tenants.models import IntegrationToken, Membership, Role, User

#: The object type whose events are shown (and found) by the order's code. audits sits
#: below orders and does not import it: the model is looked up by label.
ORDER_TYPE = "orders.order"
ORDER_CODE_FIELD = "code"
#: A data subject is shown as "Customer" and a short id: nothing else of the person.
SUBJECT_TYPE = "privacy.datasubject"
USER_TYPE = "tenants.user"
SHORT_ID = 8
SEARCH_MAX_LENGTH = 64  # the longest stored value searched (actor, object id, request id)


def action_html(code: str) -> SafeString:
    """The action's label (in the active language) with its code beside it in small text;
    the bare code for one the registry does not know (rows written before it)."""
    label = action_label(code)
    if label == code:
        return format_html("{}", code)
    return format_html('{} <small class="audit-action-code">{}</small>', label, code)


# --- resolving a page of events ---------------------------------------------------------------


@dataclass
class EventDisplay:
    actor: SafeString
    object: SafeString
    purpose: str


def _model(object_type: str) -> type[Model] | None:
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _valid_pks(model: type[Model], values: Iterable[str]) -> dict[Any, str]:
    """The stored ids that are valid primary keys of ``model`` (an old or malformed id must
    not break the page), keyed by the key's Python value."""
    field = model._meta.pk
    valid: dict[Any, str] = {}
    for value in values:
        try:
            valid[field.to_python(value)] = value
        except (ValidationError, ValueError, TypeError):
            continue
    return valid


def _short(value: str) -> str:
    return value if len(value) <= SHORT_ID + 1 else f"{value[:SHORT_ID]}…"


def _user_ids(labels: Iterable[str], prefix: str) -> set[int]:
    ids = set()
    for label in labels:
        kind, _sep, rest = label.partition(":")
        if kind == prefix and rest.isdigit() and len(rest) < 19:
            ids.add(int(rest))
    return ids


def _role_label(role: str) -> str:
    try:
        return str(Role(role).label)
    except ValueError:
        return str(role)


def _users(events: list[AuditEvent]) -> dict[int, SafeString]:
    """``user:<id>`` → "username (role, role)", one query for the page: a user of the
    events' tenant (or a platform operator), else missing (shown as deleted)."""
    ids = _user_ids((e.actor for e in events), "user")
    # Users an event is about (a role granted, a login unlocked): the same lookup.
    ids |= {
        int(e.object_id)
        for e in events
        if e.object_type == USER_TYPE and e.object_id.isdigit() and len(e.object_id) < 19
    }
    if not ids:
        return {}
    tenants = {e.tenant_id for e in events}
    rows = (
        User.objects.filter(pk__in=ids)
        .filter(Q(tenant_id__in=tenants) | Q(tenant__isnull=True, is_superuser=True))
        .values_list("pk", "username", "tenant_id", "memberships__role")
        .order_by("pk", "memberships__role")
    )
    names: dict[int, str] = {}
    roles: dict[int, list[str]] = defaultdict(list)
    for pk, username, tenant_id, role in rows:
        names[pk] = username
        if role:
            roles[pk].append(_role_label(role))
        elif tenant_id is None:
            roles[pk].append(gettext("Platform operator"))
    shown = {}
    for pk, username in names.items():
        if roles[pk]:
            shown[pk] = format_html(
                '{} <small class="audit-actor-roles">({})</small>',
                username,
                ", ".join(sorted(roles[pk])),
            )
        else:
            shown[pk] = format_html("{}", username)
    return shown


def _tokens(events: list[AuditEvent]) -> dict[int, str]:
    ids = _user_ids((e.actor for e in events), "token")
    if not ids:
        return {}
    tenants = {e.tenant_id for e in events}
    return dict(
        IntegrationToken.objects.filter(pk__in=ids, tenant_id__in=tenants).values_list("pk", "name")
    )


def _actor_html(
    event: AuditEvent, users: dict[int, SafeString], tokens: dict[int, str]
) -> SafeString:
    kind, _sep, rest = event.actor.partition(":")
    if kind == "user" and rest.isdigit():
        shown = users.get(int(rest))
        if shown is not None:
            return shown
        return format_html("{}", gettext("user #%(id)s (deleted)") % {"id": rest})
    if kind == "system" and rest:
        return format_html("{}", gettext("System: %(name)s") % {"name": rest})
    if kind == "token" and rest.isdigit():
        name = tokens.get(int(rest))
        if name is None:
            return format_html("{}", gettext("Integration token #%(id)s (deleted)") % {"id": rest})
        return format_html("{}", gettext("Integration token: %(name)s") % {"name": name})
    return format_html("{}", event.actor)


#: A batch event (one reveal for a station's page) names its orders in ``details["objects"]``;
#: the list shows the first few by code.
BATCH_SHOWN = 5


def _batch_ids(event: AuditEvent) -> list[str]:
    objects = event.details.get("objects") if isinstance(event.details, dict) else None
    if event.object_id or not isinstance(objects, list):
        return []
    return [str(value) for value in objects if isinstance(value, str | int)]


def _orders(events: list[AuditEvent]) -> dict[str, tuple[str, str | None]]:
    """Order id (as stored) → (code, link to its page), one query for the page. The order
    model's default manager is tenant-scoped; the events' tenants narrow it again."""
    stored = {e.object_id for e in events if e.object_type == ORDER_TYPE and e.object_id}
    for event in events:
        if event.object_type == ORDER_TYPE:
            stored.update(_batch_ids(event)[:BATCH_SHOWN])
    model = _model(ORDER_TYPE)
    if not stored or model is None:
        return {}
    valid = _valid_pks(model, stored)
    if not valid:
        return {}
    rows = model._default_manager.filter(
        pk__in=list(valid), tenant_id__in={e.tenant_id for e in events}
    ).values_list("pk", ORDER_CODE_FIELD)
    found = {}
    for pk, code in rows:
        try:
            url: str | None = reverse("admin:orders_order_change", args=[pk])
        except NoReverseMatch:
            url = None
        found[valid[pk]] = (code, url)
    return found


def _object_html(
    event: AuditEvent,
    orders: dict[str, tuple[str, str | None]],
    users: dict[int, SafeString] | None = None,
) -> SafeString:
    if not event.object_type and not event.object_id:
        return format_html("{}", "-")
    object_id = event.object_id
    if event.object_type == SUBJECT_TYPE:
        return format_html(
            '{} <span class="audit-object-id">{}</span>', gettext("Customer"), _short(object_id)
        )
    model = _model(event.object_type) if event.object_type else None
    name = capfirst(str(model._meta.verbose_name)) if model is not None else event.object_type
    if event.object_type == USER_TYPE and object_id.isdigit() and users:
        person = users.get(int(object_id))
        if person is not None:
            return format_html("{} {}", gettext("User"), person)
    batch = _batch_ids(event) if event.object_type == ORDER_TYPE else []
    if batch:
        return _batch_html(batch, orders)
    if event.object_type == ORDER_TYPE and object_id in orders:
        code, url = orders[object_id]
        if url:
            return format_html('{} <a class="audit-object-code" href="{}">{}</a>', name, url, code)
        return format_html('{} <span class="audit-object-code">{}</span>', name, code)
    # Another type, or an order no longer there: the type's name and the id.
    return format_html(
        '{} <span class="audit-object-id" title="{}">#{}</span>', name, object_id, _short(object_id)
    )


def _batch_html(ids: list[str], orders: dict[str, tuple[str, str | None]]) -> SafeString:
    """ "Orders" and the first codes of a batch, with "and N more"."""
    shown = []
    for value in ids[:BATCH_SHOWN]:
        code, url = orders.get(value, (f"#{_short(value)}", None))
        if url:
            shown.append(format_html('<a class="audit-object-code" href="{}">{}</a>', url, code))
        else:
            shown.append(format_html('<span class="audit-object-code">{}</span>', code))
    more = len(ids) - len(shown)
    codes = format_html_join(", ", "{}", ((item,) for item in shown))
    if more > 0:
        return format_html(
            "{} {} {}",
            gettext("Orders"),
            codes,
            gettext("and %(count)d more") % {"count": more},
        )
    return format_html("{} {}", gettext("Orders"), codes)


def describe(events: Iterable[AuditEvent]) -> None:
    """Set ``event.display`` (an ``EventDisplay``) on each event: one query for the users,
    one for the tokens and one for the orders of all of them, when there are any."""
    events = list(events)
    users, tokens, orders = _users(events), _tokens(events), _orders(events)
    for event in events:
        event.display = EventDisplay(  # type: ignore[attr-defined]
            actor=_actor_html(event, users, tokens),
            object=_object_html(event, orders, users),
            purpose=purpose_label(event.purpose) if event.purpose else "-",
        )


def _operator(request: HttpRequest) -> bool:
    return bool(request.user.is_superuser and getattr(request, "tenant", None) is None)


def _display(event: AuditEvent) -> EventDisplay:
    display = getattr(event, "display", None)
    if display is None:
        describe([event])
        display = event.display  # type: ignore[attr-defined]
    return display


class AuditChangeList(KeysetChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        describe(self.result_list)  # fills the page's queryset cache; the template reuses it


# --- filters: an unknown value in the query string is ignored, and the filter says "All" ------


class KnownValueFilter(admin.SimpleListFilter):
    def value(self) -> str | None:
        value = super().value()
        known = {str(choice) for choice, _label in self.lookup_choices}
        return value if value in known else None


class CategoryFilter(KnownValueFilter):
    """The registry's categories (legacy codes included), not a scan of the log."""

    title = _("category")
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in AuditCategory.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        category = self.value()
        if category is None:
            return queryset
        return queryset.filter(action__in=[a.code for a in actions_in(category)])


class ActionFilter(KnownValueFilter):
    """The registered actions by label (within the chosen category)."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        category = request.GET.get(CategoryFilter.parameter_name)
        actions = actions_in(category) if category in AuditCategory.values else all_actions()
        # A renamed action keeps its old code for old rows: the same label, marked.
        earlier = gettext("earlier code")
        return sorted(
            (
                (
                    a.code,
                    f"{a.label} ({a.code}, {earlier})" if a.legacy else f"{a.label} ({a.code})",
                )
                for a in actions
            ),
            key=lambda c: c[1],
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


class RoleFilter(KnownValueFilter):
    """Events of the users who hold the role now (their actor labels)."""

    title = _("role")
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in Role.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        role = self.value()
        if role is None:
            return queryset
        user_ids = Membership.objects.filter(role=role).values_list("user_id", flat=True)
        return queryset.filter(actor__in=[f"user:{pk}" for pk in user_ids])


class PurposeFilter(KnownValueFilter):
    """The registered purposes by label (core.audit_registry.register_purposes)."""

    title = _("purpose")
    parameter_name = "purpose"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return purpose_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(purpose=self.value()) if self.value() else queryset


#: The stored forms of an actor the log's ``actor`` filter accepts (``user:12``).
ACTOR_PATTERN = re.compile(r"^(?:(?:user|token):[0-9]{1,18}|system:[a-z0-9_.-]{1,56})$")


def actor_name(request: HttpRequest, actor: str) -> str:
    """``actor`` (a stored label) as people read it: "username (roles)", "System: name",
    "Integration token: name"; one query for a user or a token of the request's tenant."""
    kind, _sep, rest = actor.partition(":")
    tenant = getattr(request, "tenant", None)
    if kind == "user":
        users = User.objects.filter(pk=int(rest))
        users = users.filter(tenant=tenant) if tenant is not None else users
        rows = list(
            users.values_list("username", "memberships__role").order_by("memberships__role")
        )
        if not rows:
            return gettext("user #%(id)s (deleted)") % {"id": rest}
        roles = ", ".join(_role_label(role) for _name, role in rows if role)
        return f"{rows[0][0]} ({roles})" if roles else rows[0][0]
    if kind == "token":
        tokens = IntegrationToken.objects.filter(pk=int(rest))
        tokens = tokens.filter(tenant=tenant) if tenant is not None else tokens
        name = tokens.values_list("name", flat=True).first()
        if name is None:
            return gettext("Integration token #%(id)s (deleted)") % {"id": rest}
        return gettext("Integration token: %(name)s") % {"name": name}
    return gettext("System: %(name)s") % {"name": rest}


class ActorFilter(admin.SimpleListFilter):
    """One actor's events: ``?actor=user:12`` (``token:3``, ``system:retention``), shown by
    name. A malformed value is ignored with a message; the filter offers no list of all
    actors (a link from the dashboard or an event chooses one)."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = request.GET.get(self.parameter_name, "")
        if not value:
            return []
        if not ACTOR_PATTERN.match(value):
            messages.warning(
                request,
                gettext("Ignored actor: give it as user:<id>, token:<id> or system:<name>."),
            )
            return []
        return [(value, actor_name(request, value))]

    def value(self) -> str | None:
        value = super().value()
        return value if value and ACTOR_PATTERN.match(value) else None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(actor=self.value()) if self.value() else queryset


def _in_batches(order_ids: list[str]) -> Q:
    """Batch events (a station's page) that name one of ``order_ids``: PostgreSQL's JSON
    containment (the list of ids holds the id); elsewhere (SQLite, the demo) the JSON text."""
    if connection.vendor == "postgresql":
        matches = Q()
        for order_id in order_ids:
            matches |= Q(details__objects__contains=[order_id])
        return Q(object_type=ORDER_TYPE, object_id="") & matches
    matches = Q()
    for order_id in order_ids:
        matches |= Q(details__icontains=order_id)
    return Q(object_type=ORDER_TYPE, object_id="") & matches


# --- the admin ------------------------------------------------------------------------------


STORED_FIELDS = [
    "sequence",
    "actor",
    "action",
    "object_type",
    "object_id",
    "purpose",
    "prev_hash",
    "hash",
]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantScopedModelAdmin):
    """Read-only: the log is append-only, and the admin offers no way to change it."""

    list_display = [
        "occurred_at",
        "actor_display",
        "action_display",
        "object_display",
        "purpose_display",
        "fields_display",
    ]
    list_display_links = ["occurred_at"]
    # ``actor``, ``since`` and ``until`` (local days, both included) are the dashboard's
    # links: ?action=privacy.reveal&actor=user:12&since=2026-11-01&until=2026-11-30.
    list_filter = [
        CategoryFilter,
        ActionFilter,
        RoleFilter,
        PurposeFilter,
        ActorFilter,
        day_range_filter("occurred_at", _("days")),
    ]
    # The search is get_search_results' exact lookups; search_fields only shows the box.
    search_fields = ["request_id"]
    search_help_text = _("An order code, a username or a request id.")
    readonly_fields = [
        "occurred_at",
        "actor_display",
        "action_display",
        "object_display",
        "purpose_display",
        "fields_display",
        "request_id",
        "ip",
        "details_display",
        *STORED_FIELDS,
    ]
    date_hierarchy = "occurred_at"
    actions = None
    # Pages by keyset, newest first: no COUNT over the log, no offset (core.keyset_admin).
    # By time and id, not by ``sequence``, whose meaning belongs to the chain.
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facets count over the whole log
    change_list_template = KEYSET_CHANGE_LIST
    # The columns the list's rows read (not the hashes, request id or address).
    list_columns = (
        "tenant",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "fields",
        "purpose",
        "details",
    )

    class Media:
        css = {"all": ["baomi/audit.css"]}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditChangeList

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        stored = [*STORED_FIELDS, "tenant"] if _operator(request) else STORED_FIELDS
        return [
            (
                None,
                {
                    "fields": [
                        "occurred_at",
                        "actor_display",
                        "action_display",
                        "object_display",
                        "purpose_display",
                        "fields_display",
                        "request_id",
                        "ip",
                        "details_display",
                    ]
                },
            ),
            (
                _("Stored values (as hash-chained)"),
                {"classes": ["collapse", "audit-stored"], "fields": stored},
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.readonly_fields)
        return [*fields, "tenant"] if _operator(request) else fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Exact lookups only, never a LIKE over the log: the order with that code (in the
        request's tenant), the user with that username, the request id; a stored actor
        label or object id as typed."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if len(term) > SEARCH_MAX_LENGTH:
            return queryset.none(), False
        found = Q(request_id=term) | Q(actor=term) | Q(object_id=term)
        tenant = getattr(request, "tenant", None)
        users = User.objects.filter(username=term)
        if tenant is not None:
            users = users.filter(tenant=tenant)
        user_labels = [f"user:{pk}" for pk in users.values_list("pk", flat=True)]
        if user_labels:
            found |= Q(actor__in=user_labels)
        order_model = _model(ORDER_TYPE)
        if order_model is not None:
            order_ids = [
                str(pk)
                for pk in order_model._default_manager.filter(
                    **{ORDER_CODE_FIELD: term.upper()}
                ).values_list("pk", flat=True)
            ]
            if order_ids:
                found |= Q(object_type=ORDER_TYPE, object_id__in=order_ids)
                found |= _in_batches(order_ids)
        return queryset.filter(found), False

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        event = super().get_object(request, object_id, from_field)
        if event is not None:
            describe([event])
        return event

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj: AuditEvent) -> SafeString:
        return action_html(obj.action)

    @admin.display(description=_("actor"))
    def actor_display(self, obj: AuditEvent) -> SafeString:
        return _display(obj).actor

    @admin.display(description=_("object"))
    def object_display(self, obj: AuditEvent) -> SafeString:
        return _display(obj).object

    @admin.display(description=_("purpose"))
    def purpose_display(self, obj: AuditEvent) -> str:
        return _display(obj).purpose

    @admin.display(description=_("fields"))
    def fields_display(self, obj: AuditEvent) -> str:
        fields = obj.fields if isinstance(obj.fields, list) else []
        return ", ".join(field_label(str(f)) for f in fields) or "-"

    @admin.display(description=_("details"))
    def details_display(self, obj: AuditEvent) -> SafeString:
        if not obj.details:
            return format_html("{}", "-")
        text = json.dumps(obj.details, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html('<pre class="audit-details">{}</pre>', text)


# The supervision areas' back office (issue 20), each in its own module.
from audits import (  # noqa: E402,F401
    access_admin,
    alerts_admin,
    anchoring_admin,
    evidence_admin,
    inspections_admin,
    violations_admin,
)
