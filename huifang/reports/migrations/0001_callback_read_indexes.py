"""Indexes for the callback engine's hot reads: claim-next and the KPI queries.

They are partial or covering indexes on the callbacks tables, created with SQL that PostgreSQL and
SQLite both accept; they change no model state (``makemigrations`` stays clean). They live in the
reports app's migrations so that they never compete with the callbacks app's own migration
numbering.

* ``cbtask_claim_free_idx`` — the free pool in claim order: ``ORDER BY due_date, priority DESC, id
  LIMIT 1 FOR UPDATE SKIP LOCKED`` walks it and stops at the first row it may take, instead of
  sorting every open task in the agent's org units.
* ``cbtask_claim_held_idx`` — open tasks someone holds (given by a supervisor, due recalls), in the
  same order: the agent's own candidates without reading their closed history.
* ``cbtask_kpi_due_idx`` — the tasks due in a KPI period with their org unit, status and
  cooling-off flag: the task counts are an index-only scan instead of a read of every task row.
* ``attempt_letter_visit_idx`` — the few letter and visit attempts, so that KP-03 does not read
  every attempt to find them.
"""

from django.db import migrations

OPEN = "status IN ('pending', 'in_progress')"

INDEXES = {
    "cbtask_claim_free_idx": (
        "callbacks_callbacktask (due_date, priority DESC, id)",
        f"assignee_id IS NULL AND {OPEN}",
    ),
    "cbtask_claim_held_idx": (
        "callbacks_callbacktask (assignee_id, due_date, priority DESC, id)",
        f"assignee_id IS NOT NULL AND {OPEN}",
    ),
    "cbtask_kpi_due_idx": (
        "callbacks_callbacktask (due_date, org_unit_id, status, succeeded_in_cooling_off)",
        None,
    ),
    "attempt_letter_visit_idx": (
        "callbacks_attempt (task_id, started_at, id)",
        "channel IN ('letter', 'visit') AND submitted_at IS NOT NULL",
    ),
}


def create(name: str, on: str, where: str | None) -> str:
    return f"CREATE INDEX IF NOT EXISTS {name} ON {on}" + (f" WHERE {where}" if where else "")


class Migration(migrations.Migration):
    dependencies = [("callbacks", "0001_initial")]

    operations = [
        migrations.RunSQL(create(name, on, where), f"DROP INDEX IF EXISTS {name}")
        for name, (on, where) in INDEXES.items()
    ]
