"""``check --deploy``: the SMS backend must reach customers (the settings refuse the same in
production; this reports it for any posture, as defence in depth)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from config.gateways import deploy_problems


def check_sms_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems = deploy_problems(
        "BAOMI_SMS_BACKEND", str(settings.BAOMI_SMS_BACKEND), settings.BAOMI_SMS_GATEWAY
    )
    return [Error(problem, id="privacy.E001") for problem in problems]
