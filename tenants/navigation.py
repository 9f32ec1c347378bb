"""The back office's sidebar (django-unfold's ``SIDEBAR["navigation"]``), built per request:
first the user's work pages (stations, boards, the desk), then each admin app the user may
see with its models. Nothing here grants anything: the admin's own permission checks decide
which apps and models ``get_app_list`` returns, so each role sees its own sidebar."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from tenants.landing import BADGE_CAP, landing_badge, landings_for
from tenants.models import Role
from tenants.notifications import unread_count
from tenants.roles import has_role

# Material Symbols names (served locally by unfold) for the models people open daily.
_ICONS = {
    "order": "receipt_long",
    "orderanomaly": "report",
    "incidentcase": "emergency",
    "auditevent": "fact_check",
    "rider": "two_wheeler",
    "confidentialityagreement": "contract",
    "agreementsignature": "draw",
    "user": "person",
    "membership": "badge",
    "integrationtoken": "key",
    "tenant": "domain",
    "datasubject": "fingerprint",
    "erasurerequest": "delete_forever",
    "erasureledgerentry": "history",
    "retentionpolicy": "schedule",
    "privacynotice": "policy",
    "notification": "notifications",
    "course": "school",
    "courseversion": "menu_book",
    "quizattempt": "quiz",
    "staffpledge": "contract",
    "pledgesignature": "draw",
    "enrolment": "assignment",
    "violation": "gavel",  # violations (issue 20)
    "inspection": "checklist",
    "followup": "task_alt",
    "chainverification": "verified",  # anchoring (issue 20)
    "chainanchor": "anchor",  # anchoring (issue 20)
    "evidencepack": "inventory_2",
    "accessalert": "notifications_active",  # alerts (issue 20)
}


def site_subheader(request: HttpRequest) -> str:
    """Under the site's name: the tenant the user works for (the platform for operators)."""
    tenant = getattr(request, "tenant", None)
    return tenant.name if tenant is not None else _("Platform")


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    pages = landings_for(request.user)
    # A work page under a model's URL (the dispatch board under orders), or under another
    # work page's (the training coverage under "My training"), is the one active item:
    # unfold would mark the other link active too (it is a prefix).
    on_work_page = {"active": False} if any(p.url == request.path for p in pages) else {}
    work = [
        {
            "title": page.label,
            "icon": page.icon or "work",
            "link": page.url,
            "badge": landing_badge(page.url_name, request.user),
            "badge_variant": "warning",
            # unfold's own test is "the link is a substring of the path": "/training/"
            # would light up under "/admin/training/..." too.
            "active": page.url == request.path
            if on_work_page
            else request.path.startswith(page.url),
        }
        for page in pages
    ]
    if work:
        groups.append({"title": _("My work"), "separator": False, "items": work})
    inbox = _inbox_item(request)
    if inbox:
        groups.append({"title": _("Inbox"), "separator": bool(work), "items": inbox})
    for app in admin.site.get_app_list(request):
        items = [
            {
                "title": model["name"],
                "icon": _ICONS.get(model["object_name"].lower(), "table_rows"),
                "link": model["admin_url"] or model["add_url"],
                **on_work_page,
            }
            for model in app["models"]
            if model.get("admin_url") or model.get("add_url")
        ]
        if app["app_label"] == "tenants":
            items.extend(_tenant_settings_item(request))
        if items:
            groups.append({"title": app["name"], "separator": True, "items": items})
    return groups


def _inbox_item(request: HttpRequest) -> list[dict[str, Any]]:
    """Every staff member of a tenant has an inbox (tenants.notifications), with the unread
    count beside it: one indexed count."""
    user = request.user
    if getattr(request, "tenant", None) is None or not getattr(user, "is_staff", False):
        return []
    n = unread_count(user)
    return [
        {
            "title": _("Notifications"),
            "icon": "notifications",
            "link": reverse("admin:tenants_notification_changelist"),
            "badge": "" if n <= 0 else (str(n) if n <= BADGE_CAP else f"{BADGE_CAP}+"),
            "badge_variant": "primary",
        }
    ]


def _tenant_settings_item(request: HttpRequest) -> list[dict[str, Any]]:
    """The tenant administrator's settings of their own tenant: a page of the admin, not a
    model list, so ``get_app_list`` does not name it."""
    if getattr(request, "tenant", None) is None or not has_role(request.user, Role.TENANT_ADMIN):
        return []
    return [
        {
            "title": _("Tenant settings"),
            "icon": "settings",
            "link": reverse("admin:tenants_tenant_settings"),
        }
    ]
