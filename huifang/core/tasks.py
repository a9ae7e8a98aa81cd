"""Periodic housekeeping jobs of the core app."""

from datetime import timedelta

from django.utils import timezone

from huifang.core.jobs import heartbeat_record, huifang_task, periodic

# Rows older than these are removed by ``prune``: they only serve operations, not evidence.
HEARTBEAT_KEEP = timedelta(days=7)
PERIODIC_RUN_KEEP = timedelta(days=30)
TASK_RESULT_KEEP = timedelta(days=14)
FAILED_TASK_RESULT_KEEP = timedelta(days=90)


@periodic("core.heartbeat", every=timedelta(minutes=1))
@huifang_task(queue_name="default", max_attempts=1)
def heartbeat() -> str:
    """Prove that a worker executes tasks: /api/v1/health reads the row this writes."""
    return heartbeat_record("worker").name


@periodic("core.prune", daily_at="03:17")
@huifang_task(queue_name="sweeps", max_attempts=1)
def prune() -> dict:
    """Delete old heartbeats, periodic-run rows and finished task results (safe to run twice)."""
    from django_tasks_db.models import DBTaskResult

    from huifang.core.models import PeriodicRun, WorkerHeartbeat

    now = timezone.now()
    heartbeats, _ = WorkerHeartbeat.objects.filter(beat_at__lt=now - HEARTBEAT_KEEP).delete()
    runs, _ = PeriodicRun.objects.filter(slot__lt=now - PERIODIC_RUN_KEEP).delete()
    successful, _ = DBTaskResult.objects.successful().filter(finished_at__lt=now - TASK_RESULT_KEEP).delete()
    failed, _ = DBTaskResult.objects.failed().filter(finished_at__lt=now - FAILED_TASK_RESULT_KEEP).delete()
    return {"heartbeats": heartbeats, "periodic_runs": runs, "task_results": successful + failed}
