"""Versioned documents: texts a tenant publishes in numbered, immutable versions, which
people are shown or sign (privacy notices, rider confidentiality agreements; next, staff
pledges and course versions).

One mechanism for all of them:

- ``VersionedDocument`` (abstract model): ``version``, ``published_at``, ``published_by``;
  a subclass adds its texts and the constraint ``UniqueConstraint(fields=["tenant",
  "version"])``, and says which text a reader in a language is shown (``text_for``).
- ``publish_next_version``: the next number under a lock of the existing versions; two
  publishers racing for the same number get ``Conflict`` (409), never a 500; the caller's
  audit event is written in the same transaction.
- ``current_version`` / ``require_current``: the latest version, or ``Conflict`` when a
  reader acts on a version that is no longer current (signing an outdated agreement).
- ``text_sha256``: the hash a signature stores of the exact text shown.

Published versions never change: a correction is a new version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict
from tenants.actors import Actor, actor_label
from tenants.models import Role, Tenant, TenantOwnedModel, User
from tenants.roles import has_role
from tenants.scoping import tenant_scope


class VersionedDocument(TenantOwnedModel):
    version = models.PositiveIntegerField(gettext_lazy("version"))
    published_at = models.DateTimeField(gettext_lazy("published at"), auto_now_add=True)
    published_by = models.CharField(gettext_lazy("published by"), max_length=64)

    class Meta(TenantOwnedModel.Meta):
        abstract = True
        ordering = ["tenant", "-version"]

    def __str__(self) -> str:
        return f"v{self.version}"

    def text_for(self, language: str) -> tuple[str, str]:
        """(language code shown, the exact text a reader in ``language`` is shown)."""
        raise NotImplementedError


D = TypeVar("D", bound=VersionedDocument)


def text_sha256(text: str) -> str:
    """The hex SHA-256 of the exact text shown (UTF-8), as signatures store it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def publish_next_version(
    model: type[D],
    *,
    tenant: Tenant,
    actor: Actor,
    values: Mapping[str, Any],
    record: Callable[[D], object],
    series: Mapping[str, Any] | None = None,
) -> D:
    """Publish version n + 1 of ``tenant``'s ``model`` with ``values`` (already checked by
    the caller, which also checked the actor's permission), and call ``record`` with it in
    the same transaction (the caller's audit event). A concurrent publisher that took the
    same number makes this raise ``Conflict``; nothing is written then. ``series`` names
    the rows numbered together when a tenant has several documents of one model (a course's
    versions: ``{"course": course}``); their constraint then includes those fields."""
    with tenant_scope(tenant), transaction.atomic():
        # Lock the existing versions; the unique constraint settles a race for version 1
        # (and, under READ COMMITTED, a publisher that waited on the lock and then read
        # the same latest number).
        rows = model.objects.filter(**(series or {})).select_for_update()
        latest = max(rows.values_list("version", flat=True), default=0)
        document = model(
            tenant=tenant,
            version=latest + 1,
            published_by=actor_label(actor),
            **(series or {}),
            **values,
        )
        try:
            with transaction.atomic():
                document.save(force_insert=True)
        except IntegrityError:
            raise Conflict(
                _("Another version was published at the same moment; publish again.")
            ) from None
        record(document)
    return document


def publish_bilingual_text(
    model: type[D],
    *,
    tenant: Tenant,
    actor: Actor,
    text_zh: str,
    text_en: str,
    refusal: str,
    record: Callable[[D], object],
) -> D:
    """Publish the next version of a tenant's bilingual document (the riders' agreement,
    the staff pledge): only a tenant administrator of ``tenant`` (or a system actor) may —
    anyone else is refused with ``refusal`` —, both texts are required, and ``record`` is
    the caller's audit event (see ``publish_next_version``)."""
    if isinstance(actor, User) and (
        actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN)
    ):
        raise PermissionDenied(refusal)
    errors = {
        field: _("This field is required.")
        for field, value in (("text_zh", text_zh), ("text_en", text_en))
        if not value.strip()
    }
    if errors:
        raise ValidationError(errors)
    return publish_next_version(
        model,
        tenant=tenant,
        actor=actor,
        values={"text_zh": text_zh.strip(), "text_en": text_en.strip()},
        record=record,
    )


def current_version(
    model: type[D], tenant: Tenant | int, series: Mapping[str, Any] | None = None
) -> D | None:
    """``tenant``'s latest version of ``model`` (in ``series``, as for publishing), or None
    before the first is published."""
    with tenant_scope(tenant):
        return model.objects.filter(**(series or {})).order_by("-version").first()


def require_current(
    model: type[D],
    tenant: Tenant | int,
    version: Any,
    message: str,
    series: Mapping[str, Any] | None = None,
) -> D:
    """The current version if it is ``version``; ``Conflict(message)`` otherwise (the
    reader saw an older or unknown version and must read the current one)."""
    current = current_version(model, tenant, series)
    if current is None or isinstance(version, bool) or current.version != version:
        raise Conflict(message)
    return current
