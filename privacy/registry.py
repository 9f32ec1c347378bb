"""Models whose rows hold personal data sealed under a data subject's key.

Each app registers its models in ``AppConfig.ready()``; the reveal service accepts only
registered models and only their registered fields. Ciphertext columns are ``<field>_ct``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import models


@dataclass(frozen=True)
class SealedModel:
    model: type[models.Model]
    fields: tuple[str, ...]
    subject_id: Callable[[Any], UUID]
    # "app_label.codename" checked with guardian for rules that need an object permission.
    object_permission: str | None = None

    def column(self, field: str) -> str:
        return f"{field}_ct"


_registry: dict[type[models.Model], SealedModel] = {}


def register(
    model: type[models.Model],
    *,
    fields: tuple[str, ...],
    subject_id: Callable[[Any], UUID],
    object_permission: str | None = None,
) -> None:
    for field in fields:
        model._meta.get_field(f"{field}_ct")  # fails loudly on a typo
    _registry[model] = SealedModel(model, fields, subject_id, object_permission)


def sealed_model(model: type[models.Model]) -> SealedModel:
    try:
        return _registry[model]
    except KeyError:
        raise TypeError(f"{model._meta.label} holds no sealed personal data") from None


def sealed_models() -> list[SealedModel]:
    return list(_registry.values())
