from django.db import migrations

# PostgreSQL only: like the audit log, the erasure ledger refuses TRUNCATE, also through
# CASCADE (the statement trigger's function, and what it does and does not stop, are in
# audits.0004: tests/conftest.py lets Django's flush through with the transaction-local
# setting baomi.allow_truncate; production relies on the application role neither owning
# the table nor holding TRUNCATE on it).
CREATE = """
CREATE TRIGGER privacy_erasureledgerentry_no_truncate
    BEFORE TRUNCATE ON privacy_erasureledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION audits_reject_truncate();
"""
DROP = (
    "DROP TRIGGER IF EXISTS privacy_erasureledgerentry_no_truncate ON privacy_erasureledgerentry;"
)


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0006_tenant_key_without_own_index"),
        ("audits", "0004_refuse_truncate"),
    ]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
