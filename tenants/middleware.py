from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django_scopes import scopes_disabled

from tenants.models import Tenant
from tenants.scoping import tenant_scope

_STACK_ATTR = "_baomi_scope_stack"


class TenantScopeMiddleware:
    """Run each request inside the tenant scope of its logged-in user.

    - A staff user or rider of a tenant: ``tenant_scope(user.tenant)``; ``request.tenant``.
    - A platform operator (superuser, no tenant) in the admin: scopes disabled, because
      operating the platform spans tenants. Anywhere else an operator gets no scope.
    - Anonymous requests get no scope: a tenant-owned query there raises.
    - With the tenant comes its time zone (``Tenant.time_zone``): it is activated for the
      rest of the request, so templates, the admin and ``timezone.localtime()`` show the
      tenant's local time, and deactivated when the request ends. Without a tenant (the
      platform operator, anonymous pages) times are in ``settings.TIME_ZONE``.

    Template responses are rendered before the response leaves the middleware chain, so
    they render inside the scope. The API authenticates inside the view, after this has
    run: ``enter_request_tenant_scope`` lets its permission class enter the token's tenant
    scope for the rest of the request, and the scope ends here either way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None  # type: ignore[attr-defined]
        with ExitStack() as stack:
            setattr(request, _STACK_ATTR, stack)
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                if user.tenant_id is not None:
                    # The user's own relation: loaded once, shared with later readers of
                    # request.user.tenant (the API's permission, the views).
                    _enter_tenant(stack, request, user.tenant)
                elif user.is_superuser and request.path_info.startswith("/admin/"):
                    # Platform-operator code: the operator's admin spans tenants.
                    stack.enter_context(scopes_disabled())
            return self.get_response(request)


def enter_request_tenant_scope(request: HttpRequest, tenant: Tenant) -> None:
    """Enter ``tenant``'s scope until the end of ``request`` (used by API authentication)."""
    stack: ExitStack | None = getattr(request, _STACK_ATTR, None)
    if stack is None:
        raise ImproperlyConfigured("TenantScopeMiddleware is not installed.")
    current = getattr(request, "tenant", None)
    if current is not None and current.pk != tenant.pk:
        raise ImproperlyConfigured("A request cannot switch from one tenant to another.")
    _enter_tenant(stack, request, tenant)


def _enter_tenant(stack: ExitStack, request: HttpRequest, tenant: Tenant) -> None:
    """The request works for ``tenant`` from now to its end: its scope and its time zone."""
    request.tenant = tenant  # type: ignore[attr-defined]
    stack.enter_context(tenant_scope(tenant))
    stack.enter_context(timezone.override(tenant.zone))
