from django.db import migrations

# PostgreSQL only: like the audit log, the erasure ledger rejects UPDATE and DELETE
# (the function is created by audits.0002).
CREATE = """
CREATE TRIGGER privacy_erasureledgerentry_append_only
    BEFORE UPDATE OR DELETE ON privacy_erasureledgerentry
    FOR EACH ROW EXECUTE FUNCTION audits_reject_change();
"""
DROP = "DROP TRIGGER IF EXISTS privacy_erasureledgerentry_append_only ON privacy_erasureledgerentry;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0002_erasure"), ("audits", "0002_append_only_trigger")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
