from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import IntegrationToken


class IntegrationTokenThrottle(SimpleRateThrottle):
    """Requests per integration token (rate: REST_FRAMEWORK DEFAULT_THROTTLE_RATES["token"])."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, IntegrationToken):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None
