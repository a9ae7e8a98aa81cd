"""Background jobs of the records app: running file imports, and resuming imports whose worker died."""

import logging
from datetime import timedelta

from huifang.core.jobs import huifang_task, periodic
from huifang.records.importers.runner import import_job_run, import_jobs_stale
from huifang.records.models import ImportJob

logger = logging.getLogger(__name__)


@huifang_task(queue_name="imports", max_attempts=1)
def import_job_run_task(job_id: int) -> dict:
    """Run (or resume) one import job. Safe to run twice: a finished job is left alone, and a
    job another worker is running right now is left to it (``import_job_run`` takes the job's run
    lock and returns at once when it is held)."""
    try:
        job = import_job_run(job_id)
    except ImportJob.DoesNotExist:
        logger.warning("import job %s no longer exists; nothing to run", job_id)
        return {"job_id": job_id, "status": "missing"}
    return {
        "job_id": job.pk,
        "status": job.status,
        "rows_committed": job.rows_committed,
        "quarantined": job.quarantined_count,
    }


@periodic("records.import_jobs_resume", every=timedelta(minutes=10))
@huifang_task(queue_name="sweeps", max_attempts=1)
def import_jobs_resume() -> list[int]:
    """Enqueue a run for every import nobody is running: stuck in "running" with its worker dead
    (no process holds its run lock, started over 30 minutes ago), or still "pending" 30 minutes
    after it was created (its enqueue was lost). Enqueuing one that meanwhile started is harmless:
    the run takes the job's lock and leaves a job that is done or being run."""
    stale = import_jobs_stale()
    for job_id in stale:
        logger.warning("import job %s: its run died; resuming it", job_id)
        import_job_run_task.enqueue(job_id)
    return stale
