"""Indexes for the supervisor board's "now" cards (huifang/reports/selectors_board.py).

Each is partial, so a new task from the sweep enters none of them:

* ``cbtask_lv_pending_idx``: letter/visit requests awaiting approval (KP-04), by org unit — a
  handful of rows among a million open tasks;
* ``cbtask_closed_held_idx``: tasks closed by an agent, by closing time — the agents' outcomes
  today are a range scan of today's rows;
* ``attempt_submitted_agent_idx``: attempts submitted by an agent, by time — the agents' attempts
  today, without reading every attempt ever made.
"""

from django.db import migrations

OPEN = "status IN ('pending', 'in_progress')"

INDEXES = {
    "cbtask_lv_pending_idx": (
        "callbacks_callbacktask (org_unit_id, due_date)",
        f"letter_visit_requested <> '' AND letter_visit_approved_by_id IS NULL AND {OPEN}",
    ),
    "cbtask_closed_held_idx": (
        "callbacks_callbacktask (closed_at, assignee_id)",
        "closed_at IS NOT NULL AND assignee_id IS NOT NULL",
    ),
    "attempt_submitted_agent_idx": (
        "callbacks_attempt (submitted_at, agent_id)",
        "submitted_at IS NOT NULL AND agent_id IS NOT NULL",
    ),
}


def create(name: str, on: str, where: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS {name} ON {on} WHERE {where}"


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_kpi_index_with_attempt_facts")]

    operations = [
        migrations.RunSQL(create(name, on, where), f"DROP INDEX IF EXISTS {name}")
        for name, (on, where) in INDEXES.items()
    ]
