"""Background jobs of the callback engine: task generation when records arrive, the daily sweep,
and recomputing due dates after a rule changed.

* ``generate_for(kind, keys)`` — enqueued by the records hook after a feed batch commits (see
  ``apps.py``); takes the batch's business keys; safe to run twice (unique constraint, anti-joins).
* ``daily_sweep()`` — periodic job ``callbacks.daily_sweep`` at 01:30 Asia/Shanghai: catches
  anything missed, draws the KP-08 daily lists, closes tasks of cancelled policies (KP-01) and
  recomputes stale due dates.
* ``recompute_due(rule_ids)`` — enqueued after a rule pack load or rule edit commits.
"""

import logging

from huifang.callbacks.generation import (
    callback_tasks_generate_for,
    callback_tasks_refresh_stale,
    callback_tasks_sweep,
)
from huifang.core.jobs import huifang_task, periodic

logger = logging.getLogger(__name__)


@huifang_task(queue_name="default", max_attempts=3, backoff_seconds=60)
def generate_for(kind: str, keys: list[str]) -> dict:
    """Create the callback tasks the records ``keys`` of ``kind`` now require."""
    return callback_tasks_generate_for(kind, keys)


@periodic("callbacks.daily_sweep", daily_at="01:30")
@huifang_task(queue_name="sweeps", max_attempts=1)
def daily_sweep() -> dict:
    """Create every missing callback task, close cancelled ones, recompute stale due dates."""
    return callback_tasks_sweep().as_dict()


@huifang_task(queue_name="sweeps", max_attempts=1)
def recompute_due(rule_ids: list[str] | None = None) -> dict:
    """Recompute open tasks' due dates after rules changed (all stale tasks, whatever the rule)."""
    return {"rule_ids": rule_ids or [], "recomputed": callback_tasks_refresh_stale()}
