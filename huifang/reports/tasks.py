"""Periodic jobs of the reports app, and the callback engine's recall hand-back.

``callbacks.recalls_release`` belongs to the callback engine (huifang.callbacks.assignment); it is
registered here because the scheduler discovers periodic jobs in each app's ``tasks`` module.
"""

from datetime import timedelta

from huifang.callbacks.assignment import callback_recalls_release
from huifang.core.jobs import huifang_task, periodic
from huifang.reports.services import task_counts_compact


@periodic("callbacks.recalls_release", every=timedelta(minutes=5))
@huifang_task(queue_name="sweeps", max_attempts=1)
def callback_recalls_release_job() -> list[int]:
    """Return to the pool the recalls overdue by ``HUIFANG_RECALL_RELEASE_MINUTES`` (default 120).
    Safe to run twice: a released task has no assignee and is not picked again."""
    return callback_recalls_release().task_ids


@periodic("reports.task_counts_compact", every=timedelta(minutes=1))
@huifang_task(queue_name="sweeps", max_attempts=1)
def task_counts_compact_job() -> int:
    """Fold the task counts appended by the triggers (huifang.reports.models.TaskCount) so that the
    KPI and board reads add up a few rows per day and org unit. Safe to run twice or not at all:
    the sums are the same either way, only the table grows."""
    return task_counts_compact()
