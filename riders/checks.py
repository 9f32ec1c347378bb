"""``check --deploy``: the call relay backend must reach customers (the settings refuse the
same in production; this reports it for any posture, as defence in depth)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from config.gateways import deploy_problems


def check_call_relay_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems = deploy_problems(
        "BAOMI_CALL_RELAY_BACKEND",
        str(settings.BAOMI_CALL_RELAY_BACKEND),
        settings.BAOMI_CALL_RELAY_GATEWAY,
    )
    return [Error(problem, id="riders.E001") for problem in problems]
