"""The OpenAPI schema and Swagger UI: for logged-in staff and integration tokens only.

The schema lists every endpoint, field and rule of the API; it is not published to
anonymous callers. Swagger UI's files come from drf-spectacular-sidecar's static files
(SPECTACULAR_SETTINGS ``SWAGGER_UI_DIST = "SIDECAR"``), never a CDN, and its one inline
script carries the request's CSP nonce (templates/api_docs/swagger_ui.html).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tenants.models import IntegrationToken


class IsStaffOrIntegrationToken(BasePermission):
    """Staff of the back office (an active user with ``is_staff``), or a valid
    integration token. Riders and anonymous callers are refused."""

    message = _("The API documentation is for back-office staff and integration tokens.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, IntegrationToken):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class SchemaView(SpectacularAPIView):
    permission_classes = [IsStaffOrIntegrationToken]


class SwaggerView(SpectacularSwaggerView):
    permission_classes = [IsStaffOrIntegrationToken]
    template_name = "api_docs/swagger_ui.html"

    def handle_exception(self, exc: Exception) -> Any:
        # A browser without a session is sent to the login page and back here.
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)
        # drf-spectacular opens the opener policy for OAuth pop-ups, which Baomi never uses.
        del response.headers["Cross-Origin-Opener-Policy"]
        return response
