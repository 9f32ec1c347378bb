from django.db import migrations

# PostgreSQL only: the event table, and the chain head, refuse TRUNCATE, as the events
# already refuse UPDATE and DELETE (0002). A row trigger never sees TRUNCATE, so this is a
# statement trigger; it also fires when the table is reached through CASCADE (say,
# `TRUNCATE tenants_tenant CASCADE`), which then fails as a whole.
#
# The chain head is covered too: it is the only record of where each chain ends, so
# emptying it hides newest events cut off at the end, and every later append of the tenant
# would restart at sequence 1 and fail on UNIQUE(tenant, sequence).
#
# The test harness (and `manage.py flush`) empty the database with one TRUNCATE. The
# function lets TRUNCATE through when the transaction-local setting baomi.allow_truncate
# is 'on'; tests/conftest.py sets it inside Django's flush, for the tests only. That setting
# is not a privilege: any role that may TRUNCATE a table may also set it, and the owner may
# drop the trigger. The trigger stops accidents (a stray TRUNCATE … CASCADE, `flush`
# against the wrong database), not a determined holder of those rights. What protects
# production is that the application role does not own these tables and has no TRUNCATE
# grant on them (docs/privacy.md). SQLite, the demo's database, has no such guard.
CREATE = """
CREATE OR REPLACE FUNCTION audits_reject_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('baomi.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of % is not allowed: the audit log and erasure ledger are append-only',
        TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audits_auditevent_no_truncate
    BEFORE TRUNCATE ON audits_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audits_reject_truncate();
CREATE TRIGGER audits_auditchainhead_no_truncate
    BEFORE TRUNCATE ON audits_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION audits_reject_truncate();
"""
DROP = """
DROP TRIGGER IF EXISTS audits_auditchainhead_no_truncate ON audits_auditchainhead;
DROP TRIGGER IF EXISTS audits_auditevent_no_truncate ON audits_auditevent;
DROP FUNCTION IF EXISTS audits_reject_truncate();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audits", "0003_tenant_key_without_own_index")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
