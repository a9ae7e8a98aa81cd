"""Submitted attempts and published scripts cannot change (database triggers, SQLite and
PostgreSQL), and the shipped callback scripts are loaded (huifang/callbacks/script_packs/*.yaml).

Only updates are refused: a submitted attempt is corrected by a new attempt (``corrects``), a
script by publishing a new version. Rows are never deleted by the application (foreign keys are
PROTECT); deletes stay possible so that test databases can be flushed.
"""

from django.db import migrations

ATTEMPT_MESSAGE = "a submitted callback attempt cannot be changed; record a correction as a new attempt"
SCRIPT_MESSAGE = "a published callback script cannot be changed; publish a new version"

SQLITE_FORWARD = [
    f"""CREATE TRIGGER callbacks_attempt_immutable BEFORE UPDATE ON callbacks_attempt
    WHEN OLD.submitted_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, '{ATTEMPT_MESSAGE}'); END""",
    f"""CREATE TRIGGER callbacks_script_immutable BEFORE UPDATE ON callbacks_script
    WHEN OLD.published_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, '{SCRIPT_MESSAGE}'); END""",
    f"""CREATE TRIGGER callbacks_scriptitem_immutable BEFORE UPDATE ON callbacks_scriptitem
    WHEN (SELECT published_at FROM callbacks_script WHERE id = OLD.script_id) IS NOT NULL
    BEGIN SELECT RAISE(ABORT, '{SCRIPT_MESSAGE}'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS callbacks_attempt_immutable",
    "DROP TRIGGER IF EXISTS callbacks_script_immutable",
    "DROP TRIGGER IF EXISTS callbacks_scriptitem_immutable",
]

# ERRCODE 23000 (integrity_constraint_violation): Django raises IntegrityError, as on SQLite.
POSTGRES_FORWARD = [
    f"""CREATE OR REPLACE FUNCTION callbacks_attempt_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.submitted_at IS NOT NULL THEN
            RAISE EXCEPTION '{ATTEMPT_MESSAGE}' USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER callbacks_attempt_immutable BEFORE UPDATE ON callbacks_attempt
    FOR EACH ROW EXECUTE FUNCTION callbacks_attempt_immutable()""",
    f"""CREATE OR REPLACE FUNCTION callbacks_script_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.published_at IS NOT NULL THEN
            RAISE EXCEPTION '{SCRIPT_MESSAGE}' USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER callbacks_script_immutable BEFORE UPDATE ON callbacks_script
    FOR EACH ROW EXECUTE FUNCTION callbacks_script_immutable()""",
    f"""CREATE OR REPLACE FUNCTION callbacks_scriptitem_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT published_at FROM callbacks_script WHERE id = OLD.script_id) IS NOT NULL THEN
            RAISE EXCEPTION '{SCRIPT_MESSAGE}' USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER callbacks_scriptitem_immutable BEFORE UPDATE ON callbacks_scriptitem
    FOR EACH ROW EXECUTE FUNCTION callbacks_scriptitem_immutable()""",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS callbacks_attempt_immutable ON callbacks_attempt",
    "DROP FUNCTION IF EXISTS callbacks_attempt_immutable()",
    "DROP TRIGGER IF EXISTS callbacks_script_immutable ON callbacks_script",
    "DROP FUNCTION IF EXISTS callbacks_script_immutable()",
    "DROP TRIGGER IF EXISTS callbacks_scriptitem_immutable ON callbacks_scriptitem",
    "DROP FUNCTION IF EXISTS callbacks_scriptitem_immutable()",
]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql, params=None)


def triggers_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}.get(vendor, []))


def triggers_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}.get(vendor, []))


def shipped_scripts_load(apps, schema_editor):
    from huifang.callbacks.scripts import script_packs_load

    script_packs_load(
        script_model=apps.get_model("callbacks", "Script"),
        item_model=apps.get_model("callbacks", "ScriptItem"),
        audit=False,
    )


class Migration(migrations.Migration):
    dependencies = [("callbacks", "0001_initial")]

    operations = [
        migrations.RunPython(triggers_create, triggers_drop),
        migrations.RunPython(shipped_scripts_load, migrations.RunPython.noop),
    ]
