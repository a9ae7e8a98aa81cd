"""Pipelined imports (PostgreSQL): batches are committed on a second connection while the next
one is read. Same results as a plain run: every good row once, bad rows quarantined, duplicates
across batches found, a stopped run resumes, a run that lost the job to another stops, and a
failure while writing fails the job with what was committed kept."""

import pytest
from django.db import connection

from huifang.records.importers import runner
from huifang.records.importers.runner import import_job_create, import_job_run
from huifang.records.models import Customer, ImportJob, ImportRowError, Policy
from huifang.records.services import RecordsFeed
from tests.records.fixtures.importfiles import bad_checksum_id, policy_row, write_csv

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pipelining needs PostgreSQL"),
]


def errors_of(job):
    return list(
        ImportRowError.objects.filter(job=job)
        .order_by("row_number", "column")
        .values_list("row_number", "column", "reason", "business_key")
    )


def test_pipelining_is_chosen_outside_a_transaction_only():
    from django.db import transaction

    assert runner._pipeline_possible()
    with transaction.atomic():
        assert not runner._pipeline_possible()


def test_a_pipelined_import_lands_every_row_once_and_a_reimport_adds_nothing(products, tmp_path):
    rows = [policy_row(n) for n in range(1, 12)]
    rows.insert(6, policy_row(2, premium="1"))  # a duplicate, in a later batch
    rows.append(policy_row(99, applicant_id_number=bad_checksum_id(99)))
    path = write_csv(tmp_path / "p.csv", rows)
    first = import_job_run(import_job_create(kind="policies", path=path).pk, batch_size=2, pipelined=True)
    assert first.status == ImportJob.Status.DONE
    assert (first.created_count, first.updated_count, first.quarantined_count) == (11, 0, 2)
    assert first.rows_committed == first.total_rows == 13
    assert [(r, c) for r, c, _reason, _k in errors_of(first)] == [
        (8, "policy_no"),
        (14, "applicant_id_number"),
    ]
    assert Policy.objects.count() == 11 and Customer.objects.count() == 11
    assert str(Policy.objects.get(policy_no="P000002").premium) == "12000.50"  # the first one wins

    again = import_job_run(import_job_create(kind="policies", path=path).pk, batch_size=2, pipelined=True)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 11)
    assert errors_of(again) == errors_of(first)
    assert Policy.objects.count() == 11


def test_a_stopped_pipelined_import_resumes_after_the_last_committed_row(products, tmp_path):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 11)])
    job = import_job_create(kind="policies", path=path)
    stopped = import_job_run(job.pk, batch_size=3, stop_after_rows=6, pipelined=True)
    assert stopped.status == ImportJob.Status.RUNNING and stopped.rows_committed == 6
    assert Policy.objects.count() == 6  # what the run reported is committed
    done = import_job_run(job.pk, batch_size=3, pipelined=True)
    assert done.status == ImportJob.Status.DONE and done.created_count == 10
    assert Policy.objects.count() == 10


def test_a_pipelined_run_stops_when_another_run_committed_rows_meanwhile(products, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 5)])
    job = import_job_create(kind="policies", path=path)
    real_start = runner._start

    def start_then_someone_else_commits(job_id):
        started = real_start(job_id)
        ImportJob.objects.filter(pk=job_id).update(rows_committed=2)  # as if another run had
        return started

    monkeypatch.setattr(runner, "_start", start_then_someone_else_commits)
    stopped = import_job_run(job.pk, batch_size=2, pipelined=True)
    assert stopped.rows_committed == 2 and stopped.created_count == 0
    assert Policy.objects.count() == 0


def test_a_failure_while_writing_fails_the_job_and_keeps_what_was_committed(products, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 9)])
    job = import_job_create(kind="policies", path=path)
    real_upsert = RecordsFeed.upsert
    calls = []

    def failing_second_batch(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real_upsert(self, rows)

    monkeypatch.setattr(RecordsFeed, "upsert", failing_second_batch)
    with pytest.raises(RuntimeError, match="went away"):
        import_job_run(job.pk, batch_size=2, pipelined=True)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "went away" in job.error
    assert job.rows_committed == 2 and Policy.objects.count() == 2
    monkeypatch.setattr(RecordsFeed, "upsert", real_upsert)
    done = import_job_run(job.pk, batch_size=2, pipelined=True)  # a failed job can be run again
    assert done.status == ImportJob.Status.DONE and Policy.objects.count() == 8
