from __future__ import annotations

import pytest

from tenants.actors import SystemActor
from tenants.models import Tenant
from tests.factories import TenantFactory
from training.starter import seed_training

SYSTEM = SystemActor("tests")


@pytest.fixture
def tenant() -> Tenant:
    tenant = TenantFactory()
    seed_training(tenant, SYSTEM)
    return tenant
