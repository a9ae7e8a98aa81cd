"""The import task (queue "imports"), enqueued on commit, safe twice; the periodic resume of imports
whose worker died."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from huifang.core.jobs import periodic_jobs
from huifang.records.importers.runner import import_job_create, import_job_run, import_jobs_stale
from huifang.records.importers.runner import import_job_submit as submit
from huifang.records.models import ImportJob, Policy
from huifang.records.tasks import import_job_run_task, import_jobs_resume
from tests.records.fixtures.importfiles import policy_row, write_csv
from tests.records.test_import_files import hold_lock_in_other_thread

pytestmark = pytest.mark.django_db

TASK_PATH = "huifang.records.tasks.import_job_run_task"


def upload_of(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")


def test_submit_enqueues_the_run_on_commit_and_the_task_is_safe_twice(
    products, users, tmp_path, django_capture_on_commit_callbacks
):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 4)])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = submit(kind="policies", upload=upload_of(path), user=users["admin"])
        assert not DBTaskResult.objects.filter(task_path=TASK_PATH).exists()  # not before the commit
    assert callbacks  # the run is enqueued by an on-commit callback
    task = DBTaskResult.objects.get(task_path=TASK_PATH)
    assert task.task_path == TASK_PATH
    assert task.queue_name == "imports"
    assert task.args_kwargs == {"args": [job.pk], "kwargs": {}}
    assert job.status == ImportJob.Status.PENDING and job.created_by == users["admin"]
    assert job.original_name == "p.csv"

    first = import_job_run_task.call(job.pk)
    assert first == {"job_id": job.pk, "status": "done", "rows_committed": 3, "quarantined": 0}
    second = import_job_run_task.call(job.pk)
    assert second == first
    job.refresh_from_db()
    assert (job.created_count, job.unchanged_count) == (3, 0)
    assert Policy.objects.count() == 3


def test_submit_of_an_unreadable_file_enqueues_nothing(products, users, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("bad.xlsx", b"not a workbook")
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(kind="policies", upload=upload, user=users["admin"])
    assert job.status == ImportJob.Status.FAILED
    assert job.error == "the file is named .xlsx but is not an Excel workbook"
    assert not DBTaskResult.objects.filter(task_path=TASK_PATH).exists()


def test_submit_refuses_a_file_over_the_limit(products, users, settings):
    settings.HUIFANG_IMPORT_MAX_BYTES = 100
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        submit(kind="policies", upload=SimpleUploadedFile("p.csv", b"x" * 101), user=users["admin"])
    assert exc.value.error_dict["file"][0].code == "too_large"
    assert ImportJob.objects.count() == 0


def test_the_periodic_job_resumes_only_dead_runs(products, tmp_path, django_capture_on_commit_callbacks):
    assert "records.import_jobs_resume" in {job.name for job in periodic_jobs()}
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 7)])
    job = import_job_create(kind="policies", path=path)
    import_job_run(job.pk, batch_size=2, stop_after_rows=2)  # the worker "died" after one batch
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING and job.rows_committed == 2

    assert import_jobs_stale() == []  # started a moment ago: not stale yet
    later = timezone.now() + timedelta(minutes=31)
    assert import_jobs_stale(later) == [job.pk]

    # A run that is alive holds the lock: it is never taken for a dead one, however slow.
    result, release, thread = hold_lock_in_other_thread(job.pk)
    try:
        assert result["acquired"]
        assert import_jobs_stale(later) == []
    finally:
        release.set()
        thread.join()

    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(minutes=31))
    assert import_jobs_resume.call() == [job.pk]
    task = DBTaskResult.objects.get(task_path=TASK_PATH)
    assert task.args_kwargs["args"] == [job.pk] and task.queue_name == "imports"
    import_job_run_task.call(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.created_count == 6 and Policy.objects.count() == 6
    assert import_jobs_stale(later) == []


def test_failed_and_done_jobs_are_not_resumed(products, tmp_path):
    ok = import_job_run(
        import_job_create(kind="policies", path=write_csv(tmp_path / "a.csv", [policy_row(1)])).pk
    )
    bad = tmp_path / "b.xlsx"
    bad.write_bytes(b"nope")
    failed = import_job_run(import_job_create(kind="policies", path=bad).pk)
    assert (ok.status, failed.status) == ("done", "failed")
    assert import_jobs_stale(timezone.now() + timedelta(days=1)) == []


def test_the_task_of_a_deleted_job_ends_quietly():
    assert import_job_run_task.call(424242) == {"job_id": 424242, "status": "missing"}


def test_a_pending_job_whose_enqueue_was_lost_is_started_by_the_periodic_job(products, tmp_path):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 4)])
    job = import_job_create(kind="policies", path=path)  # created, but its run never enqueued
    assert job.status == ImportJob.Status.PENDING
    assert import_jobs_stale() == []  # a queue may just be busy: not yet
    later = timezone.now() + timedelta(minutes=31)
    assert import_jobs_stale(later) == [job.pk]

    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    assert import_jobs_resume.call() == [job.pk]
    task = DBTaskResult.objects.get(task_path=TASK_PATH)
    assert task.args_kwargs["args"] == [job.pk] and task.queue_name == "imports"
    import_job_run_task.call(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Policy.objects.count() == 3
    assert import_jobs_stale(later) == []
