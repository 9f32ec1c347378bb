from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from tenants.models import Membership, Role, Tenant, User
from tenants.scoping import tenant_scope

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
