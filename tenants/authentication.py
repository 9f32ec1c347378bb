from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenants.models import IntegrationToken
from tenants.services import authenticate_api_token
from tenants.signals import integration_token_used


class IntegrationTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` for partner systems. The request then acts for the
    token's tenant (tenants.permissions.IsTenantMember enters its scope); there is no user."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, IntegrationToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the header as 'Authorization: Bearer <token>'."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("Invalid token.")) from None
        token = authenticate_api_token(raw)
        if token is None:
            raise AuthenticationFailed(_("Invalid or revoked token."))
        # The alerts note the token's network (audits.alert_signals: one cache read).
        integration_token_used.send(sender=IntegrationToken, token=token, request=request)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
