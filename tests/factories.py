from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

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
