"""E-callback evidence is append-only (RULES.md EC-03: no manual change of the data): the database
refuses any UPDATE or DELETE of an evidence step or a sealed bundle, on SQLite and PostgreSQL."""

from django.db import migrations

MESSAGE = "e-callback evidence is append-only (EC-03)"
TABLES = ("selfservice_ecallbackstep", "selfservice_evidencebundle")

SQLITE_FORWARD = [
    sql
    for table in TABLES
    for sql in (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    )
]
SQLITE_BACKWARD = [
    sql
    for table in TABLES
    for sql in (f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete")
]
PG_FORWARD = [
    f"""CREATE OR REPLACE FUNCTION selfservice_evidence_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = '23000'; END; $$ LANGUAGE plpgsql""",
    *(
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
           FOR EACH ROW EXECUTE FUNCTION selfservice_evidence_append_only()"""
        for table in TABLES
    ),
]
PG_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS selfservice_evidence_append_only()",
]


def forward(apps, schema_editor):
    statements = PG_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    statements = PG_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("selfservice", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
