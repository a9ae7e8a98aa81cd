"""Task counts kept by the database: how many callback tasks there are of each due date, org unit,
kind, callback channel, status, cooling-off flag and deciding channel, with their submitted
attempts.

The KPI tiles, their trend and the board's backlog add up these rows (a few per day and org unit)
instead of scanning every task of the period (huifang.reports.kpis, .selectors_board). Triggers on
``callbacks_callbacktask`` (huifang/reports/migrations/0004_task_counts.py) append a row of +1 for
each new task, −1/+1 for each task whose counted columns change and −1 for each deleted task, in
the transaction that writes the task — so the counts are exactly what a scan of the tasks would
give, at every moment and on both databases. Appending never waits for another writer (no counter
row is updated in place); ``task_counts_compact`` (every minute, ``reports.task_counts_compact``)
folds the appended rows into one row per key so that the table stays small.
"""

from django.db import models


class TaskCount(models.Model):
    """``n`` tasks (and their submitted ``attempts``) with these values; ``compacted`` rows are sums,
    the others deltas appended by the triggers. Readers add up every row of a key; a key whose rows
    add up to nothing has no tasks."""

    due_date = models.DateField()
    org_unit_id = models.BigIntegerField()
    kind = models.CharField(max_length=30)
    channel = models.CharField(max_length=12)
    status = models.CharField(max_length=20)
    succeeded_in_cooling_off = models.BooleanField(null=True)
    last_attempt_channel = models.CharField(max_length=12)
    n = models.BigIntegerField()
    attempts = models.BigIntegerField()
    compacted = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["due_date", "org_unit_id"], name="taskcount_due_org_idx"),
            models.Index(fields=["id"], name="taskcount_delta_idx", condition=models.Q(compacted=False)),
        ]

    def __str__(self):
        return f"{self.due_date} {self.org_unit_id} {self.kind} {self.status}: {self.n}"
