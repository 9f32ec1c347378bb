"""Every tenant-owned table's keys lead with, or include, the tenant (issue 21, point 8).

Why: when one PostgreSQL primary is not enough, the schema goes onto a distributed engine
with ``tenant_id`` as the distribution column (Citus) or the partition key (declarative
partitioning by tenant) — docs/scaling.md. Both need every unique key, and in the end the
primary key, to contain the tenant: a unique key without it could only be enforced across
all nodes or partitions, which neither engine does.

What is checked, for every tenant-owned table found by walking the app registry (so a
model added later is covered without touching this file):

- the model's declared unique keys (``unique=True`` fields, ``unique_together``,
  ``UniqueConstraint``) name the tenant;
- the database's real unique keys (PostgreSQL's catalogue: every unique or primary index
  in ``pg_index`` and every unique, primary and exclusion constraint in ``pg_constraint``,
  key columns only, INCLUDE columns do not count) contain ``tenant_id`` and lead with it;
- the primary key: today every tenant-owned table has a surrogate ``id`` (a bigint from a
  sequence or a UUID), unique on its own, so ``(tenant_id, id)`` is unique too and becomes
  the primary key in the distribution step. Which tables still have an ``id``-only primary
  key is recorded in ``PRIMARY_KEY_WITHOUT_TENANT`` below — one explicit list, the reason
  beside it — and the test fails both when a table is missing from it and when a table on
  it no longer needs to be there;
- the tables that hold a tenant's rows without a tenant column, and the models with a
  tenant key that are deliberately not tenant-owned, are listed with their reasons too;
- foreign keys out of tenant-owned tables point at tenant-owned tables (co-locatable) or at
  the few reference tables named here.

The checkers are plain functions; the last tests feed them a unique key without the tenant
(a real index added inside the test's transaction, rolled back after) to show they fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.db import connections, models, router
from django.db.models.expressions import F
from django.db.models.functions import Lower
from django.test.utils import isolate_apps

from tenants.models import Tenant, TenantOwnedModel

TENANT_COLUMN = "tenant_id"


# --- How tenancy is declared ------------------------------------------------------------
# A tenant-owned model inherits TenantOwnedModel (docs/architecture.md, "How tenant scoping
# works"). A model with a foreign key to Tenant that does not inherit it is listed here with
# the reason it is not tenant-owned; a model that holds rows of a tenant-owned model without
# a tenant column of its own is listed in TENANT_ROWS_WITHOUT_TENANT_COLUMN.

TENANT_KEY_BUT_NOT_TENANT_OWNED: dict[str, str] = {
    "tenants.User": (
        "login looks a user up by username before any tenant is known, and platform "
        "operators belong to no tenant (tenant is NULL): users are platform-wide; in a "
        "distributed layout tenants_user is a reference table (docs/scaling.md)"
    ),
    "privacy.ErasureChallenge": (
        "an online erasure request before verification: the tenant is unknown (NULL) until "
        "a task matches the order code and phone; short-lived, stays on the coordinator"
    ),
    "incidents.ReportChallenge": (
        "a public privacy report's identity check before verification: the tenant is "
        "unknown (NULL) until a task matches the code; short-lived, stays on the coordinator"
    ),
}

TENANT_ROWS_WITHOUT_TENANT_COLUMN: dict[str, str] = {
    "orders.OrderUserObjectPermission": (
        "django-guardian's direct object permission (a rider may deliver this order): rows "
        "of one tenant's order with no tenant_id; its unique key (user, permission, order) "
        "has no tenant. Not done: the distribution step adds tenant_id (docs/scaling.md)"
    ),
    "orders.OrderGroupObjectPermission": (
        "django-guardian's direct group permission on an order (unused by the product, "
        "guardian requires it beside the user one); same as the user table"
    ),
}

# Unique keys that deliberately do not contain the tenant: (table, key columns) -> reason.
UNIQUE_WITHOUT_TENANT: dict[tuple[str, tuple[str, ...]], str] = {
    ("tenants_user", ("username",)): (
        "usernames are platform-wide: login finds the user, and so the tenant, by username"
    ),
}

# The primary keys that do not contain the tenant yet. Every one is the surrogate ``id``
# alone (checked below): a bigint from a sequence or a UUID, unique across all tenants, so
# ``(tenant_id, id)`` is unique today and becomes the primary key in the distribution step
# (docs/scaling.md, "Migration path", step 4) with no change to the data. Not done yet:
# turning them into (tenant_id, id) costs a wider index on every hot table and buys nothing
# on one primary. A new tenant-owned model goes on this list consciously, or declares a
# composite primary key with the tenant first.
_SURROGATE_ID = "surrogate id alone; becomes (tenant_id, id) in the distribution step"
_SURROGATE_ID_TABLES = (
    "audits.AccessAlert",
    "audits.AccessAlertEvent",
    "audits.AccessRollup",
    "audits.AccessRollupCursor",
    "audits.AlertWatermark",
    "audits.AuditChainHead",
    "audits.AuditEvent",
    "audits.ChainAnchor",
    "audits.ChainVerification",
    "audits.EvidenceFile",
    "audits.EvidencePack",
    "audits.Finding",
    "audits.FollowUp",
    "audits.Inspection",
    "audits.InspectionItem",
    "audits.Sanction",
    "audits.SupervisionSettings",
    "audits.TokenNetwork",
    "audits.Violation",
    "audits.ViolationAnswer",
    "audits.ViolationEvidence",
    "incidents.AffectedCustomer",
    "incidents.CaseEvent",
    "incidents.CaseNotice",
    "incidents.CaseReport",
    "incidents.EvidenceFile",
    "incidents.IncidentCase",
    "incidents.IncidentProfile",
    "incidents.InvestigationItem",
    "incidents.NoticeDelivery",
    "incidents.OrderAnomaly",
    "incidents.PrivacyReport",
    "orders.Order",
    "orders.OrderTransition",
    "privacy.DataSubject",
    "privacy.ErasureLedgerEntry",
    "privacy.ErasureRequest",
    "privacy.NoticeRecord",
    "privacy.PrivacyNotice",
    "privacy.RetentionPolicy",
    "privacy.SubjectKey",
    "privacy.TenantKey",
    "riders.AgreementSignature",
    "riders.Assignment",
    "riders.ConfidentialityAgreement",
    "riders.HandoverCode",
    "riders.Rider",
    "tenants.IntegrationToken",
    "tenants.LoginSession",
    "tenants.Membership",
    "tenants.Notification",
    "tenants.UserSuspension",
    "training.Course",
    "training.CourseCaseStudy",
    "training.CourseVersion",
    "training.Drill",
    "training.Enrolment",
    "training.GateGeneration",
    "training.LessonImage",
    "training.LessonRead",
    "training.PledgeSignature",
    "training.QuizAttempt",
    "training.StaffPledge",
    "training.TrainingReminder",
)
PRIMARY_KEY_WITHOUT_TENANT: dict[str, str] = dict.fromkeys(_SURROGATE_ID_TABLES, _SURROGATE_ID)

# Foreign keys out of a tenant-owned table go to another tenant-owned table (co-located by
# tenant_id) or to one of these, which stay whole on every node (Citus reference tables).
REFERENCE_MODELS = {"tenants.Tenant", "tenants.User"}


def _target(field: Any) -> type[models.Model] | None:
    """The model a concrete foreign key points at (None: not a relation)."""
    target = field.related_model if field.is_relation else None
    return target if isinstance(target, type) else None


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{model._meta.label}.{name}"
    return field.column


def _has_tenant_key(model: type[models.Model]) -> bool:
    return any(_target(field) is Tenant for field in model._meta.concrete_fields)


def _concrete_models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if not m._meta.abstract and not m._meta.proxy and m._meta.managed
    ]


TENANT_OWNED = [m for m in _concrete_models() if issubclass(m, TenantOwnedModel)]
WITH_TENANT_KEY = [
    m for m in _concrete_models() if _has_tenant_key(m) and not issubclass(m, TenantOwnedModel)
]
ROWS_WITHOUT_TENANT_COLUMN = [
    m
    for m in _concrete_models()
    if not _has_tenant_key(m)
    and any(issubclass(_target(f) or Tenant, TenantOwnedModel) for f in m._meta.concrete_fields)
]
# Every table whose unique keys must contain the tenant: the tenant-owned ones, and the
# others with a tenant key (their exceptions are in UNIQUE_WITHOUT_TENANT).
KEYED_BY_TENANT = TENANT_OWNED + WITH_TENANT_KEY


def _ids(models_: Iterable[type[models.Model]]) -> list[str]:
    return [m._meta.label for m in models_]


# --- The checkers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One unique key of a table, as declared on the model or found in the catalogue."""

    table: str
    name: str
    columns: tuple[str | None, ...]  # None: an expression
    primary: bool = False


def _expression_columns(expression: Any, model: type[models.Model]) -> Iterator[str | None]:
    if isinstance(expression, F):
        yield _column(model, expression.name)
        return
    children = (
        expression.get_source_expressions() if hasattr(expression, "get_source_expressions") else []
    )
    if not children:
        yield None
    for child in children:
        yield from _expression_columns(child, model)


def declared_unique_keys(model: type[models.Model]) -> list[Key]:
    """The model's own unique keys: unique fields, unique_together, UniqueConstraint."""
    opts, table = model._meta, model._meta.db_table
    keys = [
        Key(table, f"{f.name} (unique=True)", (f.column,))
        for f in opts.concrete_fields
        if f.unique and not f.primary_key
    ]
    for fields in opts.unique_together:
        together = tuple(_column(model, name) for name in fields)
        keys.append(Key(table, f"unique_together {tuple(fields)}", together))
    for constraint in opts.constraints:
        if not isinstance(constraint, models.UniqueConstraint):
            continue
        columns: tuple[str | None, ...]
        if constraint.fields:
            columns = tuple(_column(model, name) for name in constraint.fields)
        else:
            columns = tuple(
                c for e in constraint.expressions for c in _expression_columns(e, model)
            )
        keys.append(Key(table, constraint.name, columns))
    return keys


# Every unique or primary index, and the index behind every unique, primary or exclusion
# constraint, with its key columns in order (INCLUDE columns left out; NULL: an expression).
CATALOGUE_KEYS_SQL = """
SELECT i.relname,
       ix.indisprimary,
       ARRAY(
           SELECT a.attname
           FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
           LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
           WHERE k.n <= ix.indnkeyatts
           ORDER BY k.n
       )
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
WHERE ix.indrelid = %s::regclass
  AND (ix.indisunique OR ix.indisprimary OR EXISTS (
      SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'x'))
ORDER BY i.relname
"""
# Every unique, primary and exclusion constraint: each must be backed by an index above.
CATALOGUE_CONSTRAINTS_SQL = """
SELECT c.conname, i.relname
FROM pg_constraint c
LEFT JOIN pg_class i ON i.oid = c.conindid
WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'x')
"""


def catalogue_unique_keys(model: type[models.Model]) -> list[Key]:
    """The table's unique keys as PostgreSQL enforces them."""
    connection = connections[router.db_for_write(model)]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(CATALOGUE_KEYS_SQL, [connection.ops.quote_name(table)])
        keys = [Key(table, name, tuple(columns), primary) for name, primary, columns in cursor]
        cursor.execute(CATALOGUE_CONSTRAINTS_SQL, [connection.ops.quote_name(table)])
        constraints = cursor.fetchall()
    indexed = {key.name for key in keys}
    unbacked = [name for name, index in constraints if index not in indexed]
    assert unbacked == [], f"{table}: constraints without a unique index: {unbacked}"
    return keys


def keys_without_the_tenant(keys: Iterable[Key]) -> list[str]:
    """The non-primary unique keys that do not lead with tenant_id, less the listed
    exceptions. Each finding names the table, the key and its columns."""
    found = []
    for key in keys:
        if key.primary or (key.table, key.columns) in UNIQUE_WITHOUT_TENANT:
            continue
        if TENANT_COLUMN not in key.columns:
            found.append(f"{key.table}.{key.name} {key.columns}: no tenant_id")
        elif key.columns[0] != TENANT_COLUMN:
            found.append(f"{key.table}.{key.name} {key.columns}: tenant_id is not first")
    return found


# --- The tests -----------------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="the catalogue check reads PostgreSQL's pg_index and pg_constraint",
)


def test_the_walk_finds_the_tenant_tables() -> None:
    labels = set(_ids(TENANT_OWNED))
    assert {"orders.Order", "audits.AuditEvent", "privacy.SubjectKey"} <= labels
    assert len(labels) >= 60


def test_every_model_with_a_tenant_key_is_tenant_owned_or_listed_with_its_reason() -> None:
    assert set(_ids(WITH_TENANT_KEY)) == set(TENANT_KEY_BUT_NOT_TENANT_OWNED)
    for model in WITH_TENANT_KEY:
        # Not tenant-owned means: some rows belong to no tenant (yet).
        field = model._meta.get_field("tenant")
        assert isinstance(field, models.ForeignKey) and field.null, model._meta.label


def test_every_table_holding_a_tenants_rows_has_a_tenant_column_or_is_listed() -> None:
    assert set(_ids(ROWS_WITHOUT_TENANT_COLUMN)) == set(TENANT_ROWS_WITHOUT_TENANT_COLUMN)


@pytest.mark.parametrize("model", KEYED_BY_TENANT, ids=_ids(KEYED_BY_TENANT))
def test_the_models_unique_keys_lead_with_the_tenant(model: type[models.Model]) -> None:
    assert keys_without_the_tenant(declared_unique_keys(model)) == []


@needs_postgresql
@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("model", KEYED_BY_TENANT, ids=_ids(KEYED_BY_TENANT))
def test_the_databases_unique_keys_lead_with_the_tenant(model: type[models.Model]) -> None:
    keys = catalogue_unique_keys(model)
    assert [key for key in keys if key.primary], f"{model._meta.db_table} has no primary key"
    assert keys_without_the_tenant(keys) == []
    # Every unique key the model declares is in the database (same columns, same order).
    enforced = {key.columns for key in keys}
    declared = {key.columns for key in declared_unique_keys(model)}
    assert declared - enforced == set()


@needs_postgresql
@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("model", TENANT_OWNED, ids=_ids(TENANT_OWNED))
def test_the_primary_key_includes_the_tenant_or_is_listed_as_a_surrogate_id(
    model: type[models.Model],
) -> None:
    (primary,) = [key for key in catalogue_unique_keys(model) if key.primary]
    label = model._meta.label
    if TENANT_COLUMN in primary.columns:
        assert label not in PRIMARY_KEY_WITHOUT_TENANT, (
            f"{label}'s primary key {primary.columns} includes the tenant: take it off "
            "PRIMARY_KEY_WITHOUT_TENANT"
        )
        return
    assert label in PRIMARY_KEY_WITHOUT_TENANT, (
        f"{label}'s primary key {primary.columns} has no tenant_id: lead it with the tenant, "
        "or add the model to PRIMARY_KEY_WITHOUT_TENANT (docs/scaling.md)"
    )
    # The listed ones are the surrogate id alone, unique across tenants by construction.
    assert primary.columns == ("id",)
    assert isinstance(model._meta.pk, models.BigAutoField | models.UUIDField)


def test_the_lists_name_only_real_models() -> None:
    every = set(_ids(_concrete_models()))
    for listed in (
        TENANT_KEY_BUT_NOT_TENANT_OWNED,
        TENANT_ROWS_WITHOUT_TENANT_COLUMN,
        PRIMARY_KEY_WITHOUT_TENANT,
    ):
        assert set(listed) - every == set()
    tables = {m._meta.db_table for m in _concrete_models()}
    assert {table for table, _ in UNIQUE_WITHOUT_TENANT} - tables == set()


@pytest.mark.parametrize("model", TENANT_OWNED, ids=_ids(TENANT_OWNED))
def test_foreign_keys_out_of_a_tenant_table_can_be_co_located(model: type[models.Model]) -> None:
    targets = {field.name: _target(field) for field in model._meta.concrete_fields}
    elsewhere = {
        f"{name} -> {target._meta.label}"
        for name, target in targets.items()
        if target is not None
        and not issubclass(target, TenantOwnedModel)
        and target._meta.label not in REFERENCE_MODELS
    }
    assert elsewhere == set()


# --- The checkers fail on a key without the tenant --------------------------------------


def test_the_model_checker_finds_a_unique_key_without_the_tenant() -> None:
    from orders.models import Order

    keys = [
        Key("orders_order", "by_code", ("code",)),
        Key("orders_order", "code_then_tenant", ("code", TENANT_COLUMN)),
        Key("orders_order", "by_expression", (None,)),
        Key("orders_order", "fine", (TENANT_COLUMN, "code")),
        Key("orders_order", "orders_order_pkey", ("id",), primary=True),
    ]
    assert keys_without_the_tenant(keys) == [
        "orders_order.by_code ('code',): no tenant_id",
        "orders_order.code_then_tenant ('code', 'tenant_id'): tenant_id is not first",
        "orders_order.by_expression (None,): no tenant_id",
    ]
    # And on the declarations of a model built in a throwaway app registry.
    assert keys_without_the_tenant(declared_unique_keys(Order)) == []
    with isolate_apps("orders"):

        class Throwaway(TenantOwnedModel):
            code = models.CharField(max_length=8, unique=True)
            ref = models.CharField(max_length=8)

            class Meta(TenantOwnedModel.Meta):
                app_label = "orders"
                unique_together = [("ref", "tenant")]
                constraints = [
                    models.UniqueConstraint(fields=["tenant", "ref"], name="fine"),
                    models.UniqueConstraint(Lower("ref"), name="by_lower_ref"),
                    models.UniqueConstraint(F("tenant"), Lower("ref"), name="fine_too"),
                ]

        assert keys_without_the_tenant(declared_unique_keys(Throwaway)) == [
            "orders_throwaway.code (unique=True) ('code',): no tenant_id",
            "orders_throwaway.unique_together ('ref', 'tenant') ('ref', 'tenant_id'): "
            "tenant_id is not first",
            "orders_throwaway.by_lower_ref ('ref',): no tenant_id",
        ]


@needs_postgresql
@pytest.mark.django_db
def test_the_catalogue_checker_finds_a_unique_key_without_the_tenant() -> None:
    """A unique index and a unique constraint added behind the models' back (as a RunSQL
    migration could) are found; the test's transaction rolls them back."""
    from orders.models import Order

    assert keys_without_the_tenant(catalogue_unique_keys(Order)) == []
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE UNIQUE INDEX throwaway_code ON orders_order (code)")
        cursor.execute(
            "ALTER TABLE orders_order ADD CONSTRAINT throwaway_code_tenant "
            "UNIQUE (code, tenant_id) INCLUDE (id)"
        )
        cursor.execute("CREATE UNIQUE INDEX throwaway_lower ON orders_order (lower(code))")
    assert sorted(keys_without_the_tenant(catalogue_unique_keys(Order))) == [
        "orders_order.throwaway_code ('code',): no tenant_id",
        "orders_order.throwaway_code_tenant ('code', 'tenant_id'): tenant_id is not first",
        "orders_order.throwaway_lower (None,): no tenant_id",
    ]
