"""Who may use the API, and which tenant a caller acts for.

Kept apart from the views: DRF imports DEFAULT_PERMISSION_CLASSES while its own views
module loads.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.middleware import enter_request_tenant_scope
from tenants.models import Tenant


def tenant_of_caller(request: Request) -> Tenant | None:
    """The tenant the caller acts for: an API credential's tenant, else the user's."""
    credential_tenant = getattr(request.auth, "tenant", None)
    if isinstance(credential_tenant, Tenant):
        return credential_tenant
    user = request.user
    if user is not None and user.is_authenticated and getattr(user, "tenant_id", None):
        # The scope middleware loaded the session user's tenant already: no second query.
        loaded = getattr(getattr(request, "_request", None), "tenant", None)
        if isinstance(loaded, Tenant) and loaded.pk == user.tenant_id:
            return loaded
        return user.tenant
    return None


class IsTenantMember(BasePermission):
    """Allow callers that act for an active tenant, and scope the request to it.

    Authentication classes (sessions now; integration tokens later) only say who the caller
    is; this decides the tenant and enters its scope, so every view behind it queries
    inside one tenant. Platform operators without a tenant are refused here: the API is
    per tenant.
    """

    message = _("This API is for staff and integrations of a tenant.")

    def has_permission(self, request: Request, view: Any) -> bool:
        tenant = tenant_of_caller(request)
        if tenant is None or not tenant.is_active:
            return False
        session_tenant = getattr(request._request, "tenant", None)
        if session_tenant is not None and session_tenant.pk != tenant.pk:
            # A staff session of one tenant and a token of another: refuse, never mix.
            self.message = _("This token belongs to another tenant than your session.")
            return False
        enter_request_tenant_scope(request._request, tenant)
        request.tenant = tenant
        return True
