"""Audit records and ledger entries are append-only at the database level too (PostgreSQL).

The models refuse to save an existing row, but a queryset `.update()`/`.delete()`, the admin or a hand-typed
SQL statement would not ask the model. A trigger refuses any UPDATE or DELETE of a row; TRUNCATE (used to
empty a test or benchmark database) is a different statement and still works.
"""
from django.db import migrations

TABLES = ["allowance_auditrecord", "allowance_ledgerentry"]

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION store_allowance_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:  # no parameters: the % in the message stays as it is
        cursor.execute(CREATE_FUNCTION)
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION store_allowance_append_only()"
        )


def backwards(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS store_allowance_append_only()")


class Migration(migrations.Migration):
    dependencies = [("allowance", "0003_idempotency_key")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
