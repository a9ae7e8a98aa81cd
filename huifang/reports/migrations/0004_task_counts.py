"""Task counts kept by triggers (huifang.reports.models.TaskCount).

Triggers on ``callbacks_callbacktask`` append, in the transaction that writes tasks, +1 for each
new task, −1 and +1 for each task whose counted columns changed, −1 for each deleted task (each with
its submitted attempts). On PostgreSQL they are statement triggers over the transition tables, so a
sweep inserting a million tasks appends a few thousand grouped rows in one statement; on SQLite
they are row triggers. Existing tasks are counted once, after the triggers exist (on PostgreSQL
the trigger's lock keeps writers out until this migration commits, so no task is missed or counted
twice).
"""

from django.db import migrations, models

KEY = "due_date, org_unit_id, kind, channel, status, succeeded_in_cooling_off, last_attempt_channel"
KEY_COLUMNS = [c.strip() for c in KEY.split(",")]
INSERT = f"INSERT INTO reports_taskcount ({KEY}, n, attempts, compacted)"


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in KEY_COLUMNS)


_CHANGED = f"({_cols('o')}) IS DISTINCT FROM ({_cols('w')})"

POSTGRES = [
    f"""CREATE FUNCTION reports_taskcount_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      {INSERT}
      SELECT {KEY}, count(*), coalesce(sum(attempts_submitted), 0), false FROM new_rows
      GROUP BY {KEY};
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION reports_taskcount_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      {INSERT}
      SELECT {KEY}, sum(n), sum(a), false FROM (
        SELECT {_cols("o")}, -1 AS n, -o.attempts_submitted AS a
          FROM old_rows o JOIN new_rows w ON w.id = o.id
          WHERE {_CHANGED} OR o.attempts_submitted <> w.attempts_submitted
        UNION ALL
        SELECT {_cols("w")}, 1, w.attempts_submitted
          FROM old_rows o JOIN new_rows w ON w.id = o.id
          WHERE {_CHANGED} OR o.attempts_submitted <> w.attempts_submitted
      ) moved
      GROUP BY {KEY} HAVING sum(n) <> 0 OR sum(a) <> 0;
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION reports_taskcount_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      {INSERT}
      SELECT {KEY}, -count(*), -coalesce(sum(attempts_submitted), 0), false FROM old_rows
      GROUP BY {KEY};
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER reports_taskcount_ai AFTER INSERT ON callbacks_callbacktask
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reports_taskcount_inserted()""",
    """CREATE TRIGGER reports_taskcount_au AFTER UPDATE ON callbacks_callbacktask
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION reports_taskcount_updated()""",
    """CREATE TRIGGER reports_taskcount_ad AFTER DELETE ON callbacks_callbacktask
       REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reports_taskcount_deleted()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS reports_taskcount_ai ON callbacks_callbacktask",
    "DROP TRIGGER IF EXISTS reports_taskcount_au ON callbacks_callbacktask",
    "DROP TRIGGER IF EXISTS reports_taskcount_ad ON callbacks_callbacktask",
    "DROP FUNCTION IF EXISTS reports_taskcount_inserted()",
    "DROP FUNCTION IF EXISTS reports_taskcount_updated()",
    "DROP FUNCTION IF EXISTS reports_taskcount_deleted()",
]


def _values(row: str, sign: str) -> str:
    cols = ", ".join(f"{row}.{c}" for c in KEY_COLUMNS)
    return f"{INSERT} VALUES ({cols}, {sign}1, {sign}{row}.attempts_submitted, 0);"


_SQLITE_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in [*KEY_COLUMNS, "attempts_submitted"])
SQLITE = [
    f"""CREATE TRIGGER reports_taskcount_ai AFTER INSERT ON callbacks_callbacktask
       BEGIN {_values("NEW", "")} END""",
    f"""CREATE TRIGGER reports_taskcount_au AFTER UPDATE ON callbacks_callbacktask
       WHEN {_SQLITE_CHANGED}
       BEGIN {_values("OLD", "-")} {_values("NEW", "")} END""",
    f"""CREATE TRIGGER reports_taskcount_ad AFTER DELETE ON callbacks_callbacktask
       BEGIN {_values("OLD", "-")} END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS reports_taskcount_ai",
    "DROP TRIGGER IF EXISTS reports_taskcount_au",
    "DROP TRIGGER IF EXISTS reports_taskcount_ad",
]
BACKFILL = (
    f"{INSERT} SELECT {KEY}, count(*), coalesce(sum(attempts_submitted), 0), {{true}} "
    f"FROM callbacks_callbacktask GROUP BY {KEY}"
)


def forwards(apps, schema_editor):
    pg = schema_editor.connection.vendor == "postgresql"
    for sql in POSTGRES if pg else SQLITE:
        schema_editor.execute(sql)
    schema_editor.execute(BACKFILL.format(true="true" if pg else "1"))


def backwards(apps, schema_editor):
    pg = schema_editor.connection.vendor == "postgresql"
    for sql in POSTGRES_DROP if pg else SQLITE_DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_board_indexes"),
        ("callbacks", "0005_org_status_due_index_carries_kind_and_policy"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("due_date", models.DateField()),
                ("org_unit_id", models.BigIntegerField()),
                ("kind", models.CharField(max_length=30)),
                ("channel", models.CharField(max_length=12)),
                ("status", models.CharField(max_length=20)),
                ("succeeded_in_cooling_off", models.BooleanField(null=True)),
                ("last_attempt_channel", models.CharField(max_length=12)),
                ("n", models.BigIntegerField()),
                ("attempts", models.BigIntegerField()),
                ("compacted", models.BooleanField(default=False)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["due_date", "org_unit_id"], name="taskcount_due_org_idx"),
                    models.Index(
                        condition=models.Q(("compacted", False)), fields=["id"], name="taskcount_delta_idx"
                    ),
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
