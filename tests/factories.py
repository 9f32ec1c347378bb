from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from audits.models import AccessAlert, AccessAlertEvent, AuditEvent, Violation
from audits.violations.services import record_violation
from orders.intake import create_order
from orders.models import Order
from privacy.models import DataSubject, PrivacyNotice
from privacy.notices import publish_notice
from privacy.selectors import current_notice
from privacy.subjects import create_subject
from tenants.actors import SystemActor
from tenants.models import IntegrationToken, Membership, Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.services import issue_api_token

PASSWORD = "correct-horse-battery-staple"


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")


class TenantOwnedFactory(DjangoModelFactory):
    """Creates tenant-owned rows inside their tenant's scope, as the product does."""

    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        with tenant_scope(kwargs["tenant"]):
            return super()._create(model_class, *args, **kwargs)


class UserFactory(DjangoModelFactory):
    """A user of a tenant. ``roles=[...]`` grants roles; back-office roles make staff."""

    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    tenant = factory.SubFactory(TenantFactory)
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        for role in extracted:
            MembershipFactory(tenant=self.tenant, user=self, role=role)
        if any(role != Role.RIDER for role in extracted) and not self.is_staff:
            self.is_staff = True
            self.save(update_fields=["is_staff"])


class OperatorFactory(DjangoModelFactory):
    """A platform operator: a superuser without a tenant."""

    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator-{n}")
    tenant = None
    is_superuser = True
    is_staff = True
    password = factory.django.Password(PASSWORD)


class MembershipFactory(TenantOwnedFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    role = Role.CUSTOMER_SERVICE


class DataSubjectFactory(factory.Factory):
    """A customer stored through the vault (keys, ciphertext, masks, blind index)."""

    class Meta:
        model = DataSubject

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Faker("name", locale="zh_CN")
    phone = factory.Faker("phone_number", locale="zh_CN")
    address = factory.Faker("address", locale="zh_CN")
    note = factory.Faker("sentence", locale="zh_CN")

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        return create_subject(actor=SystemActor("tests"), **kwargs)

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Data subjects exist only as stored by the vault; use create().")


class PrivacyNoticeFactory(factory.Factory):
    class Meta:
        model = PrivacyNotice

    tenant = factory.SubFactory(TenantFactory)
    retention_days = 7
    purpose_zh = "仅用于配送您的订单。"
    purpose_en = "Only to deliver your order."
    scope_zh = "姓名、电话、地址和订单内容。"
    scope_en = "Name, phone, address and order contents."
    use_zh = "不复制、不导出、不出售。"
    use_en = "Never copied, exported or sold."

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        return publish_notice(actor=SystemActor("tests"), **kwargs)


class IntegrationTokenFactory(factory.Factory):
    """A live integration token; ``token.raw`` holds the clear token (tests only)."""

    class Meta:
        model = IntegrationToken

    tenant = factory.SubFactory(TenantFactory)
    name = "partner POS"

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        token, raw = issue_api_token(actor=SystemActor("tests"), **kwargs)
        token.raw = raw
        return token


class OrderFactory(factory.Factory):
    """An order taken by a customer-service agent through the intake service;
    ``order.delivery_pin`` holds the PIN the customer was given (tests only)."""

    class Meta:
        model = Order

    tenant = factory.SubFactory(TenantFactory)
    customer = factory.LazyFunction(
        lambda: {
            "name": "欧阳娜娜",
            "phone": "13912345678",
            "address": "上海市浦东新区张江路88号7栋1201室",
        }
    )
    items = factory.LazyFunction(
        lambda: [{"name": "宫保鸡丁", "quantity": 2}, {"name": "米饭", "quantity": 1}]
    )
    note = "放门口"
    channel = "phone"

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        tenant = kwargs.pop("tenant")
        notice = current_notice(tenant) or PrivacyNoticeFactory(tenant=tenant)
        agent = UserFactory(tenant=tenant, roles=[Role.CUSTOMER_SERVICE])
        created = create_order(
            tenant=tenant, actor=agent, privacy_notice_version=notice.version, **kwargs
        )
        created.order.delivery_pin = created.pin
        return created.order


def verified_second_factor(client: Any, user: User) -> None:
    """Give ``user`` a confirmed TOTP device and mark ``client``'s session as verified with
    it, as the two-factor page does (django_otp.login). For users whose role needs one."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


# --- violations (issue 20) ---


class ViolationFactory(factory.Factory):
    """A violation recorded by a supervisor of the tenant through the service (the person
    is told). ``person`` defaults to a customer-service agent; ``recorder`` to a supervisor."""

    class Meta:
        model = Violation

    tenant = factory.SubFactory(TenantFactory)
    person = factory.SubFactory(
        UserFactory, tenant=factory.SelfAttribute("..tenant"), roles=[Role.CUSTOMER_SERVICE]
    )
    recorder = factory.SubFactory(
        UserFactory, tenant=factory.SelfAttribute("..tenant"), roles=[Role.SUPERVISOR]
    )
    clause = "2.3.1"
    severity = "serious"
    description = "Revealed the phones of orders not assigned to them, order codes in evidence."
    occurred_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=1))
    evidence: Any = ()

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        person, recorder = kwargs.pop("person"), kwargs.pop("recorder")
        return record_violation(person_id=person.pk, actor=recorder, **kwargs)

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Violations exist only as recorded by the service; use create().")


# --- inspections (issue 20) ------------------------------------------------------------------


class InspectionFactory(DjangoModelFactory):
    """A planned inspection, through the service (its checklist from the registry). The
    inspector, a supervisor of the tenant, plans it unless ``inspector`` is given."""

    class Meta:
        model = "audits.Inspection"

    tenant = factory.SubFactory(TenantFactory)
    title = factory.Sequence(lambda n: f"Packing station check {n}")
    scope = "packing"
    recurrence = ""

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        from audits.inspections.services import local_today, plan_inspection

        tenant = kwargs.pop("tenant")
        inspector = kwargs.pop("inspector", None) or UserFactory(
            tenant=tenant, roles=[Role.SUPERVISOR]
        )
        kwargs.setdefault("planned_for", local_today(tenant))
        return plan_inspection(tenant=tenant, actor=inspector, inspector_id=inspector.pk, **kwargs)


# --- access statistics (issue 20) ---


def _this_hour() -> Any:
    from django.utils import timezone

    return timezone.now().replace(minute=0, second=0, microsecond=0)


class AccessRollupFactory(TenantOwnedFactory):
    """An hour's access statistics row, as ``audits.access_rollups`` writes them (panel
    tests that need given hours; the roll-up itself is tested from real events)."""

    class Meta:
        model = "audits.AccessRollup"

    bucket = factory.LazyFunction(lambda: _this_hour())
    kind = "reveal"
    purpose = "delivery"
    actor = "user:1"
    roles = ""
    records = 1
    events = 1


# --- anchoring (issue 20) ---


class ChainVerificationFactory(TenantOwnedFactory):
    """A recorded verification of a tenant's audit chain (the nightly job writes them)."""

    class Meta:
        model = "audits.ChainVerification"

    period = factory.Sequence(lambda n: timezone.now() - timedelta(days=n))
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda run: run.started_at)
    events_checked = 10
    ok = True
    first_break = ""
    anchors_checked = 2
    anchors_failed = 0


# --- evidence (issue 20): evidence packs ----------------------------------------------------

import datetime  # noqa: E402


class EvidencePackFactory(TenantOwnedFactory):
    """A queued evidence pack (audits.models.EvidencePack); ``requested_by`` a supervisor."""

    class Meta:
        model = "audits.EvidencePack"

    requested_by = factory.SubFactory(
        UserFactory, tenant=factory.SelfAttribute("..tenant"), roles=[Role.SUPERVISOR]
    )
    period_start = datetime.date(2026, 1, 1)
    period_end = datetime.date(2026, 1, 31)
    language = "en"


# --- alerts (issue 20) ---------------------------------------------------------------------


class AuditEventFactory(factory.Factory):
    """An event appended through ``audits.services.record_event`` by ``actor``; ``at`` (an
    aware datetime, optional) is the time it is recorded at (the clock is moved for the
    append only)."""

    class Meta:
        model = AuditEvent

    tenant = factory.SubFactory(TenantFactory)
    action = "privacy.reveal"
    object_type = "orders.order"
    object_id = factory.Faker("uuid4")
    details = None

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        from unittest import mock

        from audits.services import record_event

        at = kwargs.pop("at", None)
        if at is None:
            return record_event(**kwargs)
        with mock.patch("django.utils.timezone.now", return_value=at):
            return record_event(**kwargs)


class AccessAlertFactory(TenantOwnedFactory):
    """An open alert of ``rule`` about ``user``, fired by one reveal event of theirs."""

    class Meta:
        model = AccessAlert
        skip_postgeneration_save = True

    user = factory.SubFactory(
        UserFactory, tenant=factory.SelfAttribute("..tenant"), roles=[Role.CUSTOMER_SERVICE]
    )
    rule = "reveal_burst"
    person = factory.LazyAttribute(lambda alert: f"user:{alert.user.pk}")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
    event_count = 1

    @factory.post_generation
    def fired_by(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        event = extracted or AuditEventFactory(tenant=self.tenant, actor=self.user)
        with tenant_scope(self.tenant):
            AccessAlertEventFactory(tenant=self.tenant, alert=self, event=event)


class AccessAlertEventFactory(TenantOwnedFactory):
    class Meta:
        model = AccessAlertEvent


# --- The supervisor dashboard (issue 20, area "dashboard") -------------------------------
# Rows the dashboard counts, made directly where the product's own path (an online
# verification, a sweep, a beat job) is beside the point of the test.


class ErasureRequestFactory(TenantOwnedFactory):
    """A customer's erasure request waiting for verification, due in ``due_in``."""

    class Meta:
        model = "privacy.ErasureRequest"
        exclude = ["due_in"]

    due_in = factory.LazyFunction(lambda: timedelta(days=10))
    channel = "web"
    status = "pending"
    due_at = factory.LazyAttribute(lambda o: timezone.now() + o.due_in)


class ErasureLedgerEntryFactory(TenantOwnedFactory):
    """A ledger entry, erased now (the ledger is append-only: its time is never moved)."""

    class Meta:
        model = "privacy.ErasureLedgerEntry"

    subject_id = factory.Faker("uuid4")
    reference = factory.Sequence(lambda n: f"E{n:07d}")
    reason = "retention"
    actor = "system:retention"


class ScheduledRunFactory(DjangoModelFactory):
    """A platform job's run for one period (tenants.scheduling)."""

    class Meta:
        model = "tenants.ScheduledRun"

    job = "privacy.tasks.retention_sweep"
    period = factory.LazyFunction(lambda: timezone.now())
    task_id = factory.Sequence(lambda n: f"task-{n}")
    status = "done"
    started_at = factory.LazyAttribute(lambda o: o.period)
    finished_at = factory.LazyAttribute(lambda o: o.period)
    detail = factory.LazyFunction(dict)


class PrivacyReportFactory(TenantOwnedFactory):
    """A customer's privacy report on ``order``, open, due in ``due_in``."""

    class Meta:
        model = "incidents.PrivacyReport"
        exclude = ["due_in"]

    due_in = factory.LazyFunction(lambda: timedelta(days=15))
    order = factory.LazyAttribute(lambda o: OrderFactory(tenant=o.tenant))
    subject_id = factory.LazyAttribute(lambda o: o.order.subject_id)
    kind = "data_shown"
    tracking_hash = factory.Sequence(lambda n: f"{n:064d}")
    due_at = factory.LazyAttribute(lambda o: timezone.now() + o.due_in)
