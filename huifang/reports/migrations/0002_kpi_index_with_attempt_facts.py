"""The KPI index carries the attempt facts (huifang/callbacks/migrations/0004_task_attempt_facts.py).

``cbtask_kpi_due_idx`` becomes (due date, org unit, status, cooling-off flag, deciding channel,
attempts submitted): the tasks due in a period — their statuses, the KP-03 letter/visit count and
the attempts per success — are one grouped index-only scan, with no join to the attempts.
``attempt_letter_visit_idx`` served the old KP-03 anti-join over the attempts and goes.
"""

from django.db import migrations

OLD_KPI = "callbacks_callbacktask (due_date, org_unit_id, status, succeeded_in_cooling_off)"
NEW_KPI = (
    "callbacks_callbacktask (due_date, org_unit_id, status, succeeded_in_cooling_off, "
    "last_attempt_channel, attempts_submitted)"
)
LETTER_VISIT = (
    "CREATE INDEX IF NOT EXISTS attempt_letter_visit_idx ON callbacks_attempt (task_id, started_at, id) "
    "WHERE channel IN ('letter', 'visit') AND submitted_at IS NOT NULL"
)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_callback_read_indexes"),
        ("callbacks", "0004_task_attempt_facts"),
    ]

    operations = [
        migrations.RunSQL(
            ["DROP INDEX IF EXISTS cbtask_kpi_due_idx", f"CREATE INDEX cbtask_kpi_due_idx ON {NEW_KPI}"],
            ["DROP INDEX IF EXISTS cbtask_kpi_due_idx", f"CREATE INDEX cbtask_kpi_due_idx ON {OLD_KPI}"],
        ),
        migrations.RunSQL("DROP INDEX IF EXISTS attempt_letter_visit_idx", LETTER_VISIT),
    ]
