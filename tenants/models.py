from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.scoping import ScopeError, TenantScopedManager, active_tenant_id, scopes_are_disabled
from tenants.timezones import DEFAULT_TIME_ZONE, validate_time_zone, zone_named

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    _("Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen."),
)


class Tenant(models.Model):
    """A delivery company or restaurant group. The root of tenancy: not itself scoped."""

    slug = models.CharField(_("slug"), max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    riders_need_two_factor = models.BooleanField(
        _("riders log in with a second factor"),
        default=False,
        help_text=_("Riders then enrol an authenticator app at their next login."),
    )
    send_pin_by_sms = models.BooleanField(
        _("send the delivery PIN by SMS at intake"),
        default=False,
        help_text=_(
            "The customer receives the order's delivery PIN by text message as soon as the "
            "order is taken. Needs a configured SMS gateway."
        ),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[validate_time_zone],
        help_text=_(
            "Where the tenant works: every time its staff, riders and customers see is shown "
            "in this zone (an IANA name such as Asia/Shanghai)."
        ),
    )
    # How staff hear of back-office notifications besides the inbox (tenants.notifications).
    notification_channel = models.CharField(
        _("notification channel"),
        max_length=16,
        default="back_office",
        choices=[
            ("back_office", _("Back office only")),
            ("email", _("E-mail to the staff member's own address")),
            ("webhook", _("Webhook (signed HTTPS POST)")),
        ],
        help_text=_(
            "Every notification is in the back office's inbox; this channel also carries it "
            "outside. Messages hold no personal data."
        ),
    )
    notification_webhook_url = models.CharField(_("webhook URL"), max_length=500, blank=True)
    # A random salt; the webhook's signing secret is derived from it under the server's
    # HMAC key (tenants.notifications.webhook_secret), so the database alone does not hold it.
    notification_webhook_salt = models.CharField(max_length=64, blank=True, editable=False)
    # Issue 18: the days the tenant gives itself to answer a customer's privacy report
    # (incidents.reports.report_deadline); none: settings.BAOMI_PRIVACY_REPORT_DAYS.
    privacy_report_days = models.PositiveSmallIntegerField(
        _("days to answer a privacy report"),
        null=True,
        blank=True,
        help_text=_(
            "How many days the tenant has to answer a customer's privacy report. Empty: the "
            "platform's default."
        ),
    )
    # Issue 19: how long the training gates (training.gates) only warn, instead of refusing,
    # after a new version of a course or of the staff pledge is published.
    training_grace_days = models.PositiveSmallIntegerField(
        _("training grace period (days)"),
        default=14,
        validators=[MaxValueValidator(90)],
        help_text=_(
            "After a new version of a course or of the confidentiality pledge is published, "
            "for how many days people who passed the previous version are only warned "
            "before they are refused reveals or dispatch."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone, in which its pages and texts show times."""
        return zone_named(self.time_zone)


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned model.

    - ``tenant`` is required (no default): no row silently belongs to a "root" tenant.
    - ``objects`` only answers inside ``tenant_scope(tenant)``; outside, every query raises.
    - Writes check the scope too: saving or deleting a row of another tenant than the active
      scope's, or with no scope at all, raises ``ScopeError``.
    - The base manager is the scoped one too, so following a foreign key to a tenant-owned
      row (``anomaly.order``) cannot fetch another tenant's row: Django follows forward
      keys through the base manager, which django-scopes leaves unfiltered.
    - Subclasses declare ``class Meta(TenantOwnedModel.Meta)`` to keep this, and their
      indexes lead with ``tenant``; ``tests/tenants/test_scoping.py`` walks every subclass
      and checks both, against the database's real indexes.
    """

    # No index of its own: every subclass has indexes that lead with tenant (a test holds
    # this), and they serve a lookup by tenant alone too. One less index entry per row
    # written on the hot tables (intake writes five such rows per order).
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tenant"),
        db_index=False,
    )

    objects = TenantScopedManager()

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._check_write_scope("Saving")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        self._check_write_scope("Deleting")
        return super().delete(*args, **kwargs)

    def _check_write_scope(self, verb: str) -> None:
        if scopes_are_disabled():
            return
        active = active_tenant_id()
        if active is None:
            raise ScopeError(f"{verb} {type(self).__name__} needs an active tenant scope.")
        if self.tenant_id != active:
            raise ScopeError(
                f"{verb} {type(self).__name__}: the row belongs to another tenant than the "
                "active scope."
            )


class Role(models.TextChoices):
    TENANT_ADMIN = "tenant_admin", _("Tenant administrator")
    CUSTOMER_SERVICE = "customer_service", _("Customer service")
    DISPATCHER = "dispatcher", _("Dispatcher")
    KITCHEN = "kitchen", _("Kitchen")
    PACKER = "packer", _("Packer")
    RIDER = "rider", _("Rider")
    SUPERVISOR = "supervisor", _("Supervisor")
    PRIVACY_OFFICER = "privacy_officer", _("Privacy officer")


class User(AbstractUser):
    """A person who logs in: staff and riders of exactly one tenant, or a platform operator.

    Users are looked up at login before any tenant is known, so this model is not scoped;
    every screen that lists users filters by the request's tenant (tenants.admin).
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tenant"),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Superusers are platform operators and belong to no tenant; everyone else
            # belongs to exactly one.
            models.CheckConstraint(
                condition=Q(is_superuser=True, tenant__isnull=True)
                | Q(is_superuser=False, tenant__isnull=False),
                name="user_tenant_xor_superuser",
                violation_error_message=_(
                    "A platform operator has no tenant; every other user belongs to one."
                ),
            ),
        ]


class Membership(TenantOwnedModel):
    """One role of one user in the user's tenant. A user may hold several roles."""

    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,  # covered by the (tenant, user) index
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("role membership")
        verbose_name_plural = _("role memberships")
        ordering = ["user_id", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "role"],
                name="membership_unique_role",
                violation_error_message=_("This user already holds this role."),
            ),
        ]
        indexes = [models.Index(fields=["tenant", "role"], name="membership_tenant_role")]

    def __str__(self) -> str:
        # Shown in the back office's messages and confirmations: people read names.
        return f"{self.user.username} · {self.get_role_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A staff user belongs to one tenant: enforced on every save, not only in forms.
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        if self.user_id is not None and self.tenant_id is not None:
            user_tenant_id = (
                User.objects.filter(pk=self.user_id).values_list("tenant_id", flat=True).first()
            )
            if user_tenant_id != self.tenant_id:
                raise ValidationError(
                    {"user": _("A user can only hold roles in the tenant they belong to.")}
                )


class IntegrationToken(TenantOwnedModel):
    """A partner system's credential for the API. The token is shown once, at creation;
    only its keyed hash is stored. Revoked tokens stay listed (who had access, until when)."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("token starts with"), max_length=40)
    token_hash = models.CharField(max_length=64)
    created_by = models.CharField(_("created by"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("integration token")
        verbose_name_plural = _("integration tokens")
        ordering = ["tenant", "-created_at"]
        constraints = [
            # The hash is unique on its own; leading with tenant keeps the rule for indexes.
            models.UniqueConstraint(fields=["tenant", "token_hash"], name="token_hash_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LoginSession(TenantOwnedModel):
    """A live login of a user of the tenant, so that an administrator can end a stolen
    session (the Django session row is deleted with it)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, db_index=False, related_name="+")
    session_key = models.CharField(max_length=40)
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("login session")
        verbose_name_plural = _("login sessions")
        indexes = [models.Index(fields=["tenant", "user"], name="login_session_user")]

    def __str__(self) -> str:
        # In the active zone: the tenant's, in its requests (tenants.middleware).
        return f"{self.user_id}@{timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"


class ScheduledRun(models.Model):
    """One execution of a scheduled job for one period (``tenants.scheduling``).

    The unique (job, period) pair makes a second execution of the same period a no-op,
    whoever sent it: a second beat, a redelivered message, an operator. A platform record,
    not tenant-owned: scheduled jobs work across tenants. ``detail`` holds ids, counts and
    error types, never personal data.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        RETRYING = "retrying", _("waiting to retry")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    job = models.CharField(_("job"), max_length=200)
    # Start of the period, computed by the beat that sent the job (never the worker's clock).
    period = models.DateTimeField(_("period"))
    task_id = models.CharField(max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        ordering = ["-period", "job"]
        constraints = [
            models.UniqueConstraint(fields=["job", "period"], name="scheduled_run_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.period:%Y-%m-%d %H:%M:%S} ({self.status})"


# ---------------------------------------------------------------------------------------
# Back-office notifications (issue 18): what a staff member is told in the inbox (and by the
# tenant's channel). A kind (a code registered by the app that sends it) and parameters
# (codes and ids, never personal data) make the message, rendered in the reader's language;
# the link is a back-office path. ``dedup_key`` makes a notification once per user.
# ---------------------------------------------------------------------------------------


class Notification(TenantOwnedModel):
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, db_index=False, related_name="+", verbose_name=_("user")
    )
    kind = models.CharField(_("kind"), max_length=48)
    params = models.JSONField(default=dict, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    dedup_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # External delivery (the tenant's channel when it was created; "" = back office only).
    channel = models.CharField(max_length=16, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Claimed by a delivery run (under the row lock) while it sends: a concurrent run skips.
    sending_since = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "dedup_key"],
                condition=~Q(dedup_key=""),
                name="notification_once_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "user", "read_at"], name="notification_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


# ---------------------------------------------------------------------------------------
# Suspensions (issue 18: containment; a later issue's sanctions): a user of the tenant kept
# out of dispatch (a rider) or out of reveal, from ``starts_at`` until ``ends_at`` (none:
# until lifted) or until lifted. Kept here, the lowest tenant layer, so that every layer
# above (audits' sanctions, incidents' containment) can write one and riders/privacy can
# enforce them. ``reason`` is a short text without personal data; ``source`` a label of
# what imposed it (an incident case's code, a sanction's number). tenants/suspensions.py.
# ---------------------------------------------------------------------------------------

SUSPENSION_REASON_MAX_LENGTH = 200


class SuspensionScope(models.TextChoices):
    DISPATCH = "dispatch", _("Dispatch")
    REVEAL = "reveal", _("Reveal of personal data")


class UserSuspension(TenantOwnedModel):
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("user")
    )
    scope = models.CharField(_("scope"), max_length=16, choices=SuspensionScope.choices)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=SUSPENSION_REASON_MAX_LENGTH)
    source = models.CharField(_("source"), max_length=40, blank=True)
    created_by = models.CharField(_("created by"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.CharField(_("lifted by"), max_length=64, blank=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = _("suspension")
        verbose_name_plural = _("suspensions")
        ordering = ["-starts_at", "pk"]
        indexes = [
            models.Index(fields=["tenant", "scope", "user"], name="user_suspension_scope"),
            models.Index(fields=["tenant", "source"], name="user_suspension_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()}"

    def is_active_at(self, when: Any) -> bool:
        return (
            self.lifted_at is None
            and self.starts_at <= when
            and (self.ends_at is None or self.ends_at > when)
        )
