"""Models whose rows hold personal data sealed under a data subject's key.

Each app registers its models in ``AppConfig.ready()``; the reveal service accepts only
registered models and only their registered fields. Ciphertext columns are ``<field>_ct``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import models

from core.audit_registry import register_field_labels


@dataclass(frozen=True)
class SealedModel:
    model: type[models.Model]
    fields: tuple[str, ...]
    subject_id: Callable[[Any], UUID]
    # "app_label.codename" checked with guardian for rules that need an object permission.
    object_permission: str | None = None
    # How erasure finds a subject's rows ("subject_id", "order__subject_id", ...) and which
    # display masks it clears with the ciphertext.
    subject_lookup: str = "subject_id"
    masks: tuple[str, ...] = ()
    # The record's stage in its life (an order's status), which reveal rules limited to
    # stages are checked against (privacy.permissions), with the label each stage shows in
    # a refusal. A model without one is never revealed under a rule limited to stages.
    stage: Callable[[Any], str] | None = None
    stage_labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Each sealed field's label as people read it (refusals name fields by it).
    field_labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def label(self, field: str) -> str:
        return str(self.field_labels.get(field, field))

    def column(self, field: str) -> str:
        return f"{field}_ct"


_registry: dict[type[models.Model], SealedModel] = {}


def register(
    model: type[models.Model],
    *,
    fields: tuple[str, ...],
    subject_id: Callable[[Any], UUID],
    object_permission: str | None = None,
    subject_lookup: str = "subject_id",
    masks: tuple[str, ...] = (),
    stage: Callable[[Any], str] | None = None,
    stage_labels: Mapping[str, Any] | None = None,
    field_labels: Mapping[str, Any] | None = None,
) -> None:
    for field in (*(f"{f}_ct" for f in fields), *masks):
        model._meta.get_field(field)  # fails loudly on a typo
    register_field_labels(field_labels or {})  # the audit log names fields by these labels
    _registry[model] = SealedModel(
        model,
        fields,
        subject_id,
        object_permission,
        subject_lookup,
        masks,
        stage,
        dict(stage_labels or {}),
        dict(field_labels or {}),
    )


def sealed_model(model: type[models.Model]) -> SealedModel:
    try:
        return _registry[model]
    except KeyError:
        raise TypeError(f"{model._meta.label} holds no sealed personal data") from None


def sealed_models() -> list[SealedModel]:
    return list(_registry.values())


# Functions (tenant, cutoff, after) -> a DataSubject ``values_list("pk", flat=True)``
# queryset of the subjects whose every record was finished before ``cutoff``, with ids
# above ``after`` when it is not None (orders registers one). A subject is due when a
# source names it; the sweep pages through it by primary key, passing the last id of the
# page before, so the source can bound its own subqueries by it too.
RetentionSource = Callable[[Any, Any, Any], Any]
_retention_sources: list[RetentionSource] = []


def register_retention_source(source: RetentionSource) -> None:
    if source not in _retention_sources:
        _retention_sources.append(source)


def retention_sources() -> list[RetentionSource]:
    return list(_retention_sources)


# Functions (tenant, order code) -> the registered record with that code, or None (orders
# registers one): the public erasure page finds a customer by an order code.
ReferenceResolver = Callable[[Any, str], Any]
_reference_resolvers: list[ReferenceResolver] = []


def register_reference_resolver(resolver: ReferenceResolver) -> None:
    if resolver not in _reference_resolvers:
        _reference_resolvers.append(resolver)


def reference_resolvers() -> list[ReferenceResolver]:
    return list(_reference_resolvers)
