"""Orders in the back office: intake by customer service, masked lists and details, the
audited Reveal, status changes. No export, no bulk actions, no deletion."""

from __future__ import annotations

import secrets
from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from core.hashing import keyed_hash
from core.keyset_admin import KEYSET_CHANGE_LIST, KeysetChangeList
from core.one_time import stash, take
from orders import desk
from orders.forms import FIELD_LABELS, OrderIntakeForm, RevealForm
from orders.intake import create_order
from orders.lifecycle import transition_order
from orders.models import Order, Status
from orders.permissions import Action, may, transition_targets
from orders.selectors import get_order_for, orders_visible_to, transitions_of
from privacy.api import (
    DecryptionIntegrityError,
    KeyRetiredError,
    Purpose,
    RevealDenied,
    SubjectErasedError,
    VaultError,
    current_notice,
    refusal_html,
    reveal,
)
from tenants.admin import TenantScopedModelAdmin, refuse
from tenants.counters import CountersUnavailable
from tenants.models import User
from tenants.selectors import actor_names
from training.gates import reveal_gate

# The delivery PIN's way from the intake POST to the "Order taken" page (core.one_time).
INTAKE_PIN = "intake_pin"
# Reveal forms carry a one-time nonce; the session keeps only keyed hashes of the live ones.
REVEAL_NONCES = "baomi_reveal_nonces"
REVEAL_NONCES_KEPT = 20


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _nonce_hash(order_id: Any, nonce: str) -> str:
    return keyed_hash("orders.reveal-form", order_id, nonce)


def issue_reveal_nonce(request: HttpRequest, order_id: Any) -> str:
    """A nonce for one reveal form of this order; its keyed hash joins the session's list
    (the last ``REVEAL_NONCES_KEPT``: several tabs may be open)."""
    nonce = secrets.token_urlsafe(16)
    kept = list(request.session.get(REVEAL_NONCES, []))[-(REVEAL_NONCES_KEPT - 1) :]
    request.session[REVEAL_NONCES] = [*kept, _nonce_hash(order_id, nonce)]
    return nonce


def spend_reveal_nonce(request: HttpRequest, order_id: Any, nonce: str) -> bool:
    """True once per issued nonce: a replayed reveal POST (a reload) finds it spent."""
    kept = list(request.session.get(REVEAL_NONCES, []))
    digest = _nonce_hash(order_id, nonce) if nonce else ""
    if not digest or digest not in kept:
        return False
    kept.remove(digest)
    request.session[REVEAL_NONCES] = kept
    return True


def _gate_note(user: User) -> dict[str, str] | None:
    """The training gate's refusal or warning for the order page's reveal form."""
    gate = reveal_gate(user)
    if not gate.open:
        return {
            "level": "refused",
            "text": gate.refusal_message(what=_("reveal personal data")),
            "url": gate.url,
        }
    if gate.warned:
        return {
            "level": "warned",
            "text": gate.warning_message(what=_("reveal personal data")),
            "url": gate.url,
        }
    return None


@admin.register(Order)
class OrderAdmin(TenantScopedModelAdmin):
    list_display = [
        "code",
        "status",
        "recipient_masked",
        "phone_masked",
        "address_masked",
        "item_count",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["code"]
    date_hierarchy = "created_at"
    actions = None  # no bulk delete, no export
    # Pages by keyset, newest first (the index order_list): no COUNT over the tenant, no
    # offset, the same cost on the first page and the thousandth (core.keyset_admin).
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facets count over the whole list
    change_list_template = KEYSET_CHANGE_LIST
    # Sortable where an index serves the order; masks and item counts would sort the tenant.
    sortable_by = ("code", "status", "created_at")
    # The columns the list's rows read: never the sealed ones (core.keyset_admin).
    list_columns = (
        "tenant",
        "code",
        "status",
        "recipient_masked",
        "phone_masked",
        "address_masked",
        "item_count",
        "created_at",
    )
    change_form_template = "admin/orders/order/change_form.html"
    readonly_fields = [
        "code",
        "status",
        "recipient_masked",
        "phone_masked",
        "address_masked",
        "district",
        "item_count",
        "seal_number",
        "kitchen_ready_at",
        "created_at",
        "status_changed_at",
        "notice",
        "remake_link",
    ]

    @admin.display(description=gettext_lazy("Re-make"))
    def remake_link(self, order: Order) -> str:
        """The order this one re-makes, and the order that re-made this one (orders.remake)."""
        parts = []
        if order.remake_of_id is not None:
            original = Order.objects.only("code").get(pk=order.remake_of_id)
            parts.append(
                format_html(
                    '{} <a href="{}" id="remake-of">{}</a>',
                    _("Re-make of the order"),
                    reverse("admin:orders_order_change", args=[original.pk]),
                    original.code,
                )
            )
        remake = Order.objects.filter(remake_of=order).only("code").first()
        if remake is not None:
            parts.append(
                format_html(
                    '{} <a href="{}" id="remade-as">{}</a>',
                    _("Re-made as the order"),
                    reverse("admin:orders_order_change", args=[remake.pk]),
                    remake.code,
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((p,) for p in parts)) if parts else "-"

    @admin.display(description=gettext_lazy("Privacy notice shown"))
    def notice(self, order: Order) -> str:
        record = order.notice_record
        shown = timezone.localtime(record.shown_at)
        return f"v{record.notice.version} · {record.get_channel_display()} · {shown:%Y-%m-%d %H:%M}"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        # One way out of the intake form: "Save" takes the order and shows its PIN once.
        extra = {
            **(extra_context or {}),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
        }
        return super().add_view(request, form_url, extra)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[KeysetChangeList]:
        return KeysetChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        if getattr(request, "tenant", None) is None:
            return super().get_queryset(request)  # platform operator: masks only, all tenants
        return orders_visible_to(_user(request)).select_related("notice_record__notice")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                "customer_name",
                "customer_phone",
                "delivery_address",
                "items",
                "note",
                "channel",
                "notice_confirmed",
            ]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        notice = current_notice(request.tenant) if getattr(request, "tenant", None) else None  # type: ignore[attr-defined]
        return type("BoundIntakeForm", (OrderIntakeForm,), {"notice": notice})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return getattr(request, "tenant", None) is not None and may(_user(request), Action.CREATE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders change through their lifecycle only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        created = create_order(
            tenant=request.tenant,  # type: ignore[attr-defined]
            actor=_user(request),
            customer={
                "name": form.cleaned_data["customer_name"],
                "phone": form.cleaned_data["customer_phone"],
                "address": form.cleaned_data["delivery_address"],
            },
            items=form.cleaned_data["parsed_items"],
            note=form.cleaned_data.get("note", ""),
            privacy_notice_version=form.notice.version,
            channel=form.cleaned_data["channel"],
        )
        obj.pk = created.order.pk
        request._baomi_new_order = created  # type: ignore[attr-defined]

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None  # the audit log has the event; Django's admin log would hold no more

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: Any = None
    ) -> HttpResponse:
        """Post/redirect/get: the PIN travels to the "Order taken" page in a sealed one-minute
        cookie (core.one_time, docs/decisions/0009), so a reload never takes the order twice
        and the PIN is stored nowhere on the server."""
        created = request._baomi_new_order  # type: ignore[attr-defined]
        url = reverse("admin:orders_order_taken", args=[created.order.pk])
        response = redirect(url)
        stash(
            response,
            user=_user(request),
            purpose=INTAKE_PIN,
            object_id=created.order.pk,
            value=created.pin,
            path=url,
        )
        return response

    def taken_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        """The order code, and the delivery PIN the first time only (a GET)."""
        order = self._order_or_404(request, order_id)
        url = reverse("admin:orders_order_taken", args=[order.pk])
        response = TemplateResponse(
            request,
            "admin/orders/order/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "order": order,
                "original": order,  # the header's trail: Orders › Orders › <code>
                "title": _("Order taken"),
            },
        )
        response.context_data["pin"] = take(  # type: ignore[index]
            request,
            response,
            user=_user(request),
            purpose=INTAKE_PIN,
            object_id=order.pk,
            path=url,
        )
        response["Cache-Control"] = "no-store"  # the PIN is shown in this response only
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        if getattr(request, "tenant", None) is not None:
            order = self.get_object(request, object_id)
            if order is not None:
                user = _user(request)
                targets = transition_targets(user, order)
                reveal_form = RevealForm(actor=user)
                # An erased customer's data is gone: nothing to reveal (no failing reveal).
                erased = order.subject.erased_at is not None
                extra.update(
                    {
                        "subject_erased": erased,
                        "reveal_form": reveal_form
                        if reveal_form.offers_anything and not erased
                        else None,
                        "reveal_nonce": issue_reveal_nonce(request, order.pk),
                        # What the training gate will say (training.gates): said before
                        # the reveal is tried, and checked again by the reveal itself.
                        "training_gate": _gate_note(user)
                        if reveal_form.offers_anything and not erased
                        else None,
                        "next_statuses": [(status, Status(status).label) for status in targets],
                        "needs_seal": Status.PACKED in targets,
                        "may_print_label": may(user, Action.PRINT_LABEL, order),
                        "transitions": history_of(order),
                    }
                )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<uuid:order_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="orders_order_reveal",
            ),
            path(
                "<uuid:order_id>/taken/",
                self.admin_site.admin_view(self.taken_view),
                name="orders_order_taken",
            ),
            path("desk/", self.admin_site.admin_view(self.desk_view), name="orders_order_desk"),
            path(
                "<uuid:order_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            ),
            *super().get_urls(),
        ]

    def desk_view(self, request: HttpRequest) -> HttpResponse:
        """Customer service's order desk (orders.desk): a search POST redirects, to the
        order found by its code or to the results of a phone search under a handle."""
        user = _user(request)
        if getattr(request, "tenant", None) is None or not desk.may_use_desk(user):
            raise PermissionDenied
        desk_url = reverse("admin:orders_order_desk")
        if request.method == "POST":
            return redirect(self._desk_search(request, user) or desk_url)
        results = None
        handle = request.GET.get("r", "")
        if handle:
            ids = desk.kept_results(request, handle)
            if ids is None:
                messages.info(request, _("These search results have expired; search again."))
                return redirect(desk_url)
            results = desk.orders_found(user, ids)
        response = TemplateResponse(
            request,
            "admin/orders/order/desk.html",
            {
                # No "opts": unfold's header then reads the page's title, not "Orders > Orders".
                **self.admin_site.each_context(request),
                "title": _("Order desk"),
                "form": desk.DeskSearchForm(),
                "results": None if results is None else desk.results_table(results),
                "queues": [
                    (queue, desk.queue_table(queue.rows(user, desk.QUEUE_LIMIT)))
                    for queue in desk.desk_queues()
                ],
                "may_add": self.has_add_permission(request),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def _desk_search(self, request: HttpRequest, user: User) -> str | None:
        """Where the search goes next; None (back to the desk) with a message when it found
        nothing or the input was not a code or a phone number. The typed text is never
        repeated: it may be a phone number."""
        form = desk.DeskSearchForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(str(error) for error in form.errors["q"]))
            return None
        kind, value = form.cleaned_data["q"]
        if kind == desk.CODE:
            order = desk.order_with_code_for(user, value)
            if order is None:
                messages.error(request, _("No order has the code %(code)s.") % {"code": value})
                return None
            return reverse("admin:orders_order_change", args=[order.pk])
        try:
            ids = desk.search_orders_by_phone(actor=user, phone=value)
        except (RevealDenied, PermissionDenied, desk.PhoneSearchLimited) as error:
            messages.error(request, refusal_html(error))
            return None
        except CountersUnavailable:
            messages.error(request, _("Searching by phone is unavailable right now; try later."))
            return None
        except VaultError:
            messages.error(
                request, _("The stored data could not be opened; the failure was recorded.")
            )
            return None
        handle = desk.keep_results(request, ids)
        return f"{reverse('admin:orders_order_desk')}?r={handle}"

    def _order_or_404(self, request: HttpRequest, order_id: Any) -> Order:
        try:
            return get_order_for(_user(request), order_id, for_write=False)
        except Order.DoesNotExist:
            from django.http import Http404

            raise Http404(_("No such order.")) from None

    def _back(self, order: Order) -> HttpResponseRedirect:
        return redirect(reverse("admin:orders_order_change", args=[order.pk]))

    def reveal_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        order = self._order_or_404(request, order_id)
        if request.method != "POST":
            return self._back(order)
        if not spend_reveal_nonce(request, order.pk, request.POST.get("reveal_nonce", "")):
            messages.warning(
                request, _("This reveal was already shown; reveal again if you need it.")
            )
            return self._back(order)
        form = RevealForm(request.POST, actor=_user(request))
        if not form.is_valid():
            messages.error(request, _("Choose the fields to show and the purpose."))
            return self._back(order)
        fields = form.cleaned_data["reveal_fields"]
        try:
            values = reveal(
                order, fields=fields, actor=_user(request), purpose=form.cleaned_data["purpose"]
            )
        except (RevealDenied, PermissionDenied) as error:
            messages.error(request, refusal_html(error))
            return self._back(order)
        except SubjectErasedError:
            messages.error(request, _("This customer's personal data has been erased."))
            return self._back(order)
        except (DecryptionIntegrityError, KeyRetiredError):
            messages.error(
                request, _("The stored data could not be opened; the failure was recorded.")
            )
            return self._back(order)
        response = TemplateResponse(
            request,
            "admin/orders/order/reveal.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "order": order,
                "original": order,  # the header's trail: Orders › Orders › <code>
                "values": [(FIELD_LABELS[f], values[f]) for f in fields],
                "purpose": Purpose(form.cleaned_data["purpose"]).label,
                "title": _("Revealed for this view only"),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def transition_view(self, request: HttpRequest, order_id: Any) -> HttpResponse:
        order = self._order_or_404(request, order_id)
        if request.method == "POST":
            try:
                transition_order(
                    order=order,
                    to=request.POST.get("to", ""),
                    actor=_user(request),
                    seal_number=request.POST.get("seal_number", ""),
                )
                messages.success(request, _("Status changed."))
            except (Conflict, ValidationError) as error:
                refuse(request, error)
            except PermissionDenied as error:
                messages.error(request, str(error) or _("Not allowed."))
        return self._back(order)


def history_of(order: Order) -> list[dict[str, Any]]:
    """The order's status changes as people read them: statuses by label, actors by
    username (one query for all of them)."""
    transitions = list(transitions_of(order))
    names = actor_names((t.actor for t in transitions), tenant_id=order.tenant_id)
    return [
        {
            "at": timezone.localtime(t.at),
            "from_status": Status(t.from_status).label if t.from_status else "",
            "to_status": Status(t.to_status).label,
            "actor": names.get(t.actor, t.actor),
        }
        for t in transitions
    ]
