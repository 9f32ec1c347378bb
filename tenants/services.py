"""Writes that matter for tenants, users and roles: one function per use case."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.hashing import keyed_hash, keyed_hash_matches
from tenants.actors import Actor, SystemActor, actor_label
from tenants.models import IntegrationToken, LoginSession, Membership, Role, Tenant, User
from tenants.roles import forget_roles, has_role, works_in_back_office
from tenants.scoping import tenant_scope
from tenants.signals import tenant_change
from tenants.timezones import validate_time_zone


def _require_platform_actor(actor: Actor) -> None:
    if isinstance(actor, SystemActor):
        return
    if not isinstance(actor, User) or not (actor.is_active and actor.is_superuser):
        raise PermissionDenied(_("Only a platform operator may do this."))


def _require_tenant_admin(actor: Actor, tenant: Tenant) -> None:
    if isinstance(actor, SystemActor):
        return
    if not isinstance(actor, User):  # integration tokens administer nothing
        raise PermissionDenied(_("Only an administrator of this tenant may do this."))
    if actor.is_active and actor.is_superuser:
        return
    if actor.tenant_id != tenant.pk or not has_role(actor, Role.TENANT_ADMIN):
        raise PermissionDenied(_("Only an administrator of this tenant may do this."))


def create_tenant(*, slug: str, name: str, actor: Actor) -> Tenant:
    _require_platform_actor(actor)
    tenant = Tenant(slug=slug.strip(), name=name.strip())
    tenant.full_clean()
    with transaction.atomic():
        tenant.save()
        tenant_change.send(
            sender=Tenant, action="tenant.created", actor=actor, tenant=tenant, target=tenant
        )
    return tenant


PRIVACY_REPORT_DAYS_MIN = 1
TRAINING_GRACE_DAYS_MAX = 90


def privacy_report_days_max() -> int:
    """The longest a tenant may give itself to answer a privacy report: the platform's
    default (settings.BAOMI_PRIVACY_REPORT_DAYS). A tenant may only shorten it."""
    return int(getattr(settings, "BAOMI_PRIVACY_REPORT_DAYS", 15))


_UNCHANGED: Any = object()


def change_tenant_settings(
    *,
    tenant: Tenant,
    time_zone: str,
    send_pin_by_sms: bool,
    actor: Actor,
    privacy_report_days: int | None = _UNCHANGED,
    training_grace_days: int = _UNCHANGED,
) -> list[str]:
    """A tenant administrator's settings of their own tenant: the time zone its pages and
    texts show times in, whether the customer gets the delivery PIN by SMS at intake, and
    the days it has to answer a customer's privacy report (none: the platform's default;
    left as it is when not given) and the training gates' grace period after a new version
    (0 to 90 days; left as it is when not given).
    Returns the names of the fields that changed; when none did, nothing is saved and no
    event written. The event names the fields and their new values (no personal data)."""
    _require_tenant_admin(actor, tenant)
    try:
        validate_time_zone(time_zone)
    except ValidationError as error:
        raise ValidationError({"time_zone": error.messages}) from None
    wanted: dict[str, str | bool | int | None] = {
        "time_zone": time_zone,
        "send_pin_by_sms": bool(send_pin_by_sms),
    }
    if privacy_report_days is not _UNCHANGED:
        if privacy_report_days is not None and (
            not isinstance(privacy_report_days, int)
            or isinstance(privacy_report_days, bool)
            or not PRIVACY_REPORT_DAYS_MIN <= privacy_report_days <= privacy_report_days_max()
        ):
            raise ValidationError(
                {
                    "privacy_report_days": _(
                        "Between %(min)d and %(max)d days: a tenant may shorten the "
                        "platform's %(max)d days, not lengthen them."
                    )
                    % {"min": PRIVACY_REPORT_DAYS_MIN, "max": privacy_report_days_max()}
                }
            )
        wanted["privacy_report_days"] = privacy_report_days
    if training_grace_days is not _UNCHANGED:
        if (
            not isinstance(training_grace_days, int)
            or isinstance(training_grace_days, bool)
            or not 0 <= training_grace_days <= TRAINING_GRACE_DAYS_MAX
        ):
            raise ValidationError(
                {
                    "training_grace_days": _("Between 0 and %(max)d days.")
                    % {"max": TRAINING_GRACE_DAYS_MAX}
                }
            )
        wanted["training_grace_days"] = training_grace_days
    with transaction.atomic(), tenant_scope(tenant):
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = [name for name, value in wanted.items() if getattr(locked, name) != value]
        if not changed:
            return []
        for name in changed:
            setattr(locked, name, wanted[name])
        locked.save(update_fields=changed)
        tenant_change.send(
            sender=Tenant,
            action="tenant.settings_changed",
            actor=actor,
            tenant=locked,
            target=locked,
            details={"fields": changed, **{name: wanted[name] for name in changed}},
        )
    for name in changed:
        setattr(tenant, name, wanted[name])
    return changed


def create_staff_user(
    *,
    tenant: Tenant,
    username: str,
    password: str,
    roles: Iterable[Role | str],
    actor: Actor,
    email: str = "",
) -> User:
    """Create a user of ``tenant`` holding ``roles``. Riders are not admin staff."""
    _require_tenant_admin(actor, tenant)
    role_values = sorted({Role(role).value for role in roles})
    if not role_values:
        raise ValidationError({"roles": _("Give the user at least one role.")})
    if not tenant.is_active:
        raise ValidationError({"tenant": _("This tenant is deactivated.")})
    user = User(
        tenant=tenant,
        username=username.strip(),
        email=email.strip(),
        is_staff=works_in_back_office(role_values),
    )
    user.set_unusable_password()  # validated first, set below
    user.full_clean(exclude=["password"])
    password_validation.validate_password(password, user)
    user.set_password(password)
    with transaction.atomic(), tenant_scope(tenant):
        user.save()
        for role in role_values:
            Membership(tenant=tenant, user=user, role=role).save()
        tenant_change.send(
            sender=User, action="user.created", actor=actor, tenant=tenant, target=user
        )
    return user


def grant_role(*, user: User, role: Role | str, actor: Actor) -> Membership:
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant roles.")})
    _require_tenant_admin(actor, user.tenant)
    role = Role(role)
    with transaction.atomic(), tenant_scope(user.tenant):
        membership, created = Membership.objects.get_or_create(
            tenant=user.tenant, user=user, role=role
        )
        if created:
            if role != Role.RIDER and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            tenant_change.send(
                sender=Membership,
                action="role.granted",
                actor=actor,
                tenant=user.tenant,
                target=membership,
            )
    forget_roles(user)
    return membership


def revoke_role(*, user: User, role: Role | str, actor: Actor) -> None:
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant roles.")})
    _require_tenant_admin(actor, user.tenant)
    role = Role(role)
    with transaction.atomic(), tenant_scope(user.tenant):
        membership = Membership.objects.filter(user=user, role=role).first()
        if membership is None:
            return
        membership.delete()
        remaining = Membership.objects.filter(user=user).values_list("role", flat=True)
        if user.is_staff and not works_in_back_office(remaining):
            user.is_staff = False
            user.save(update_fields=["is_staff"])
        tenant_change.send(
            sender=Membership,
            action="role.revoked",
            actor=actor,
            tenant=user.tenant,
            target=membership,
        )
    forget_roles(user)


def save_user_account(
    *, user: User, actor: Actor, created: bool, changed_fields: Iterable[str]
) -> User:
    """Save a user edited in the back office (new users get their roles afterwards)."""
    if user.tenant is None:
        raise ValidationError({"tenant": _("Choose the tenant this user belongs to.")})
    _require_tenant_admin(actor, user.tenant)
    user.full_clean(exclude=["password"])
    with transaction.atomic(), tenant_scope(user.tenant):
        user.save()
        tenant_change.send(
            sender=User,
            action="user.created" if created else "user.changed",
            actor=actor,
            tenant=user.tenant,
            target=user,
            details={"fields": sorted(f for f in changed_fields if f not in PASSWORD_FIELDS)},
        )
    return user


PASSWORD_FIELDS = {"password", "password1", "password2", "usable_password"}


def record_password_change(*, user: User, actor: Actor) -> None:
    if user.tenant is None:
        return  # platform operators' accounts are outside any tenant's log
    tenant_change.send(
        sender=User, action="user.password_changed", actor=actor, tenant=user.tenant, target=user
    )


TOKEN_PURPOSE = "api-token"  # noqa: S105 - a hash domain label, not a secret


def issue_api_token(*, tenant: Tenant, name: str, actor: Actor) -> tuple[IntegrationToken, str]:
    """Create an integration token; the clear token is returned once and never stored."""
    _require_tenant_admin(actor, tenant)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": _("Give the token a name of 1 to 100 characters.")})
    # The tenant id in the token lets authentication look it up inside that tenant's scope.
    secret = secrets.token_urlsafe(32)
    raw = f"bmt_{tenant.pk}_{secret}"
    token = IntegrationToken(
        tenant=tenant,
        name=name,
        prefix=f"bmt_{tenant.pk}_{secret[:4]}",
        token_hash=keyed_hash(TOKEN_PURPOSE, raw),
        created_by=actor_label(actor),
    )
    with transaction.atomic(), tenant_scope(tenant):
        token.save(force_insert=True)
        tenant_change.send(
            sender=IntegrationToken,
            action="api_token.issued",
            actor=actor,
            tenant=tenant,
            target=token,
        )
    return token, raw


def revoke_api_token(*, token: IntegrationToken, actor: Actor) -> None:
    _require_tenant_admin(actor, token.tenant)
    do_revoke_api_token(token=token, actor=actor)


def do_revoke_api_token(*, token: IntegrationToken, actor: Actor) -> None:
    """Revoke ``token`` (audited); the caller checked that ``actor`` may (a tenant
    administrator; incidents' containment: a privacy officer or supervisor)."""
    with transaction.atomic(), tenant_scope(token.tenant):
        if token.revoked_at is not None:
            return
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        tenant_change.send(
            sender=IntegrationToken,
            action="api_token.revoked",
            actor=actor,
            tenant=token.tenant,
            target=token,
        )


def token_tenant_id(raw: str) -> int | None:
    """The tenant id a well-formed token names (``bmt_<tenant>_<secret>``), else None."""
    parts = raw.split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != "bmt"
        or not (parts[1].isascii() and parts[1].isdigit())
        or len(raw) > 200
    ):
        return None
    return int(parts[1])


def authenticate_api_token(raw: str, *, digest: str | None = None) -> IntegrationToken | None:
    """The live token matching ``raw`` with its active tenant, or None: one indexed query
    (the unique (tenant, token_hash) index) joining the tenant, inside the tenant named by
    the token; never a query across tenants. ``digest`` is the token's keyed hash when the
    caller computed it already. ``last_used_at`` is written at most once a minute (one
    UPDATE, only then); the API asks here only when its process has not checked the token
    recently (tenants.token_cache)."""
    tenant_id = token_tenant_id(raw)
    if tenant_id is None:
        return None
    digest = digest or keyed_hash(TOKEN_PURPOSE, raw)
    with tenant_scope(tenant_id):
        found = (
            IntegrationToken.objects.select_related("tenant")
            .filter(
                tenant_id=tenant_id,
                token_hash=digest,
                revoked_at__isnull=True,
                tenant__is_active=True,
            )
            .order_by()[:1]
        )
        token = next(iter(found), None)
        if token is None or not keyed_hash_matches(token.token_hash, TOKEN_PURPOSE, raw):
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
    return token


def end_sessions(*, user: User, actor: Actor) -> int:
    """Log ``user`` out everywhere (a stolen phone or session). Returns sessions ended."""
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant sessions.")})
    _require_tenant_admin(actor, user.tenant)
    return do_end_sessions(user=user, actor=actor)


def do_end_sessions(*, user: User, actor: Actor) -> int:
    """End ``user``'s sessions (audited); the caller checked that ``actor`` may and that
    ``user`` belongs to a tenant."""
    if user.tenant is None:
        raise ValidationError({"user": _("A platform operator holds no tenant sessions.")})
    with transaction.atomic(), tenant_scope(user.tenant):
        logins = LoginSession.objects.filter(user=user)
        keys = list(logins.values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        logins.delete()
        tenant_change.send(
            sender=User,
            action="user.sessions_ended",
            actor=actor,
            tenant=user.tenant,
            target=user,
            details={"sessions": len(keys)},
        )
    return len(keys)


def do_deactivate_user(*, user: User, actor: Actor) -> int:
    """Deactivate ``user`` (cannot log in any more) and end their sessions, in one
    transaction (audited: ``user.deactivated``, then ``user.sessions_ended``). The caller
    checked that ``actor`` may (incidents' containment). Returns the sessions ended."""
    if user.tenant is None or user.is_superuser:
        raise ValidationError({"user": _("Only a user of the tenant can be deactivated.")})
    with transaction.atomic(), tenant_scope(user.tenant):
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            tenant_change.send(
                sender=User,
                action="user.deactivated",
                actor=actor,
                tenant=user.tenant,
                target=locked,
            )
        user.is_active = False
        return do_end_sessions(user=user, actor=actor)
