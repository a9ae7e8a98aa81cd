"""Attempt facts on the task row: how many attempts were submitted and the deciding (last) one.

The KPIs (huifang.reports.kpis) count attempts per success and the KP-03 letter/visit share from
the grouped scan of the tasks due in a period instead of joining every attempt. Saving or deleting
an attempt recounts its task (``huifang.callbacks.models.attempt_facts_refresh``, in the same
transaction); existing rows are filled here from their attempts (``BACKFILL``, one set-based
statement, also used by the KPI benchmark after it bulk-loads attempts).
"""

from django.db import migrations, models

# Every task from its submitted attempts (SQLite ≥ 3.33 and PostgreSQL: UPDATE … FROM).
BACKFILL = """UPDATE callbacks_callbacktask SET
        attempts_submitted = f.n, last_attempt_channel = f.channel, last_attempt_at = f.started_at,
        last_attempt_id = f.id
    FROM (SELECT task_id, n, channel, started_at, id FROM (
            SELECT task_id, channel, started_at, id, count(*) OVER (PARTITION BY task_id) AS n,
                   row_number() OVER (PARTITION BY task_id ORDER BY started_at DESC, id DESC) AS r
            FROM callbacks_attempt WHERE submitted_at IS NOT NULL) ranked
          WHERE r = 1) f
    WHERE callbacks_callbacktask.id = f.task_id"""


class Migration(migrations.Migration):
    dependencies = [("callbacks", "0003_task_indexes_for_new_rows")]

    operations = [
        migrations.AddField(
            model_name="callbacktask",
            name="attempts_submitted",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="callbacktask",
            name="last_attempt_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="callbacktask",
            name="last_attempt_channel",
            field=models.CharField(
                blank=True,
                choices=[
                    ("electronic", "Electronic (电子化回访)"),
                    ("phone", "Phone (电话回访)"),
                    ("letter", "Letter (信函回访)"),
                    ("visit", "Visit (上门回访)"),
                ],
                db_default="",
                default="",
                editable=False,
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="callbacktask",
            name="last_attempt_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
