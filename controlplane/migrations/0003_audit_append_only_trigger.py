"""On PostgreSQL, refuse UPDATE and DELETE of audit events in the database itself, whoever sends them.

The ORM already refuses (see `AuditEvent.save`/`delete`); this also stops raw SQL. SQLite has no such guard: there
the HMAC chain (`manage.py verify_audit_log`) is what detects tampering. TRUNCATE is left alone so test databases
can still be flushed; removing every row also empties the chain, which the recorded head hash exposes.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION controlplane_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on controlplane_auditevent', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS controlplane_auditevent_append_only ON controlplane_auditevent;
CREATE TRIGGER controlplane_auditevent_append_only
    BEFORE UPDATE OR DELETE ON controlplane_auditevent
    FOR EACH ROW EXECUTE FUNCTION controlplane_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS controlplane_auditevent_append_only ON controlplane_auditevent;
DROP FUNCTION IF EXISTS controlplane_auditevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("controlplane", "0002_create_roles"),
    ]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
