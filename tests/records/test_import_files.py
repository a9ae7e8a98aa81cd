"""File imports end to end in-process: encodings, XLSX, headers, quarantine, duplicates, re-import,
resume, unreadable files, the run lock."""

import threading
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from huifang.records.importers import runner
from huifang.records.importers.runner import (
    import_job_create,
    import_job_lock,
    import_job_run,
    import_job_submit,
)
from huifang.records.models import Customer, ImportJob, ImportRowError, Policy
from tests.records.fixtures.importfiles import (
    NAME,
    POLICY_COLUMNS,
    bad_checksum_id,
    policy_row,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db


def run_file(path: Path, kind: str = "policies", **run_options) -> ImportJob:
    job = import_job_create(kind=kind, path=path, resume=False)
    return import_job_run(job.pk, **run_options)


def errors_of(job: ImportJob) -> list[tuple[int, str, str, str]]:
    return list(
        ImportRowError.objects.filter(job=job)
        .order_by("row_number", "id")
        .values_list("row_number", "column", "reason", "business_key")
    )


# ---- encodings, formats, headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
@pytest.mark.parametrize("headers", ["zh", "en"])
def test_csv_in_each_encoding_round_trips_chinese_values(products, tmp_path, encoding, detected, headers):
    path = write_csv(
        tmp_path / "policies.csv",
        [policy_row(n, applicant_name=f"{NAME}{n}") for n in range(1, 4)],
        encoding=encoding,
        headers=headers,
    )
    if encoding == "utf-8-sig":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")

    job = run_file(path)

    assert job.status == ImportJob.Status.DONE, job.error
    assert job.file_format == "csv" and job.encoding == detected
    assert job.file_problems == []
    assert (job.created_count, job.updated_count, job.quarantined_count) == (3, 0, 0)
    assert job.total_rows == 3 and job.rows_committed == 3
    policy = Policy.objects.select_related("applicant", "product").get(policy_no="P000002")
    assert policy.channel == "bank" and policy.payment_frequency == "annual"
    assert str(policy.premium) == "12000.50"
    customer = Customer.objects.get(customer_no="C000002")
    assert customer.name == f"{NAME}2"  # decrypted from the stored token
    assert customer.address == "广东省广州市天河区体育西路1号"


@pytest.mark.parametrize("headers", ["zh", "en"])
def test_xlsx_with_typed_cells(products, tmp_path, headers):
    path = write_xlsx(tmp_path / "保单.xlsx", [policy_row(n) for n in range(1, 6)], headers=headers)
    job = run_file(path)
    assert job.status == ImportJob.Status.DONE, job.error
    assert job.file_format == "xlsx" and job.encoding == ""
    assert job.created_count == 5 and job.quarantined_count == 0
    customer = Customer.objects.get(customer_no="C000005")
    assert customer.name == NAME
    policy = Policy.objects.get(policy_no="P000005")
    assert policy.application_date.isoformat() == "2026-02-01"
    assert policy.payment_years == 10


def test_xlsx_file_named_csv_is_still_read_as_a_workbook(products, tmp_path):
    path = write_xlsx(tmp_path / "wrongly-named.csv", [policy_row(1)])
    job = run_file(path)
    assert job.status == ImportJob.Status.DONE and job.file_format == "xlsx"
    assert job.created_count == 1


def test_unknown_column_is_noted_and_ignored(products, tmp_path):
    columns = [*POLICY_COLUMNS, "备注"]
    path = write_csv(tmp_path / "p.csv", [policy_row(1) | {"备注": "x"}], columns=columns, headers="en")
    job = run_file(path)
    assert job.status == ImportJob.Status.DONE
    assert job.file_problems == ["unknown column '备注' ignored"]


# ---- quarantine ---------------------------------------------------------------------------------


def test_bad_id_checksum_is_quarantined_with_row_column_reason_and_the_good_rows_land(products, tmp_path):
    rows = [policy_row(1), policy_row(2, applicant_id_number=bad_checksum_id(2)), policy_row(3)]
    job = run_file(write_csv(tmp_path / "p.csv", rows))
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.quarantined_count) == (2, 1)
    [(row, column, reason, key)] = errors_of(job)
    assert row == 3  # the header is row 1: the second data row is row 3, as Excel shows it
    assert column == "applicant_id_number"
    assert "checksum" in reason
    assert key == "P000002"
    assert set(Policy.objects.values_list("policy_no", flat=True)) == {"P000001", "P000003"}


def test_missing_policy_number_is_quarantined(products, tmp_path):
    rows = [policy_row(1, policy_no=""), policy_row(2)]
    job = run_file(write_csv(tmp_path / "p.csv", rows))
    assert job.status == ImportJob.Status.DONE
    assert errors_of(job) == [(2, "policy_no", "required", "")]
    assert list(Policy.objects.values_list("policy_no", flat=True)) == ["P000002"]


def test_malformed_date_is_quarantined(products, tmp_path):
    rows = [policy_row(1, application_date="2026-13-45"), policy_row(2), policy_row(3, receipt_date="昨天")]
    job = run_file(write_csv(tmp_path / "p.csv", rows))
    errors = errors_of(job)
    assert [(r, c) for r, c, _reason, _key in errors] == [(2, "application_date"), (4, "receipt_date")]
    assert errors[0][2] == "not a date: '2026-13-45' (use YYYY-MM-DD)"
    assert errors[0][3] == "P000001"
    assert job.created_count == 1 and job.quarantined_count == 2


def test_reasons_of_personal_columns_never_keep_the_value(products, tmp_path):
    rows = [
        policy_row(1, applicant_birth_date="1960-13-02"),
        policy_row(2, applicant_mobile="1381234"),
        policy_row(3, applicant_id_number="440104196013021234"),
    ]
    columns = [*POLICY_COLUMNS, "applicant_birth_date"]
    job = run_file(write_csv(tmp_path / "p.csv", rows, columns=columns))
    errors = errors_of(job)
    assert {c for _r, c, _reason, _k in errors} == {
        "applicant_birth_date",
        "applicant_mobile",
        "applicant_id_number",
    }
    for _row, _column, reason, _key in errors:
        assert "1960" not in reason and "1381234" not in reason and "19601302" not in reason
    assert any(reason == "not a date: '****' (use YYYY-MM-DD)" for _r, _c, reason, _k in errors)


def test_a_row_with_several_errors_counts_once(products, tmp_path):
    rows = [policy_row(1, premium="abc", application_date="x"), policy_row(2)]
    job = run_file(write_csv(tmp_path / "p.csv", rows))
    assert job.quarantined_count == 1
    assert [c for _r, c, _reason, _k in errors_of(job)] == ["premium", "application_date"]


# ---- duplicates ---------------------------------------------------------------------------------


def test_duplicate_row_in_the_same_batch_is_quarantined(products, tmp_path):
    rows = [policy_row(1), policy_row(2), policy_row(1, premium="99")]
    job = run_file(write_csv(tmp_path / "p.csv", rows))
    assert errors_of(job) == [(4, "policy_no", "duplicate of row 2 in this file", "P000001")]
    assert job.created_count == 2 and job.quarantined_count == 1
    assert str(Policy.objects.get(policy_no="P000001").premium) == "12000.50"  # the first one wins


def test_duplicate_row_in_a_later_batch_is_quarantined(products, tmp_path):
    rows = [policy_row(1), policy_row(2), policy_row(3), policy_row(4), policy_row(1, premium="99")]
    job = run_file(write_csv(tmp_path / "p.csv", rows), batch_size=2)
    assert errors_of(job) == [(6, "policy_no", "duplicate of row 2 in this file", "P000001")]
    assert job.created_count == 4 and job.quarantined_count == 1
    assert str(Policy.objects.get(policy_no="P000001").premium) == "12000.50"


def test_a_quarantined_first_occurrence_does_not_make_the_second_a_duplicate(products, tmp_path):
    rows = [policy_row(1, premium="abc"), policy_row(2), policy_row(3), policy_row(1)]
    job = run_file(write_csv(tmp_path / "p.csv", rows), batch_size=2)
    assert [(r, c) for r, c, _reason, _k in errors_of(job)] == [(2, "premium")]
    assert job.created_count == 3


# ---- idempotency and resume ---------------------------------------------------------------------


def test_reimporting_the_same_file_adds_nothing(products, tmp_path):
    rows = [policy_row(n) for n in range(1, 8)]
    rows.insert(5, policy_row(2, premium="1"))  # a duplicate, in a later batch
    rows.append(policy_row(99, applicant_id_number=bad_checksum_id(99)))
    path = write_csv(tmp_path / "p.csv", rows)
    first = run_file(path, batch_size=2)
    assert (first.created_count, first.updated_count, first.unchanged_count) == (7, 0, 0)
    assert first.quarantined_count == 2
    counts = (Policy.objects.count(), Customer.objects.count())
    policy_updated_at = Policy.objects.get(policy_no="P000002").updated_at

    again = import_job_create(kind="policies", path=path)  # the first job is done: a new job
    assert again.pk != first.pk
    again = import_job_run(again.pk, batch_size=2)

    assert again.status == ImportJob.Status.DONE
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 7)
    assert again.quarantined_count == 2  # the same rows, for the same reasons
    assert errors_of(again) == errors_of(first)
    assert (Policy.objects.count(), Customer.objects.count()) == counts
    policy = Policy.objects.get(policy_no="P000002")
    assert str(policy.premium) == "12000.50" and policy.updated_at == policy_updated_at


def test_stopped_import_resumes_after_the_last_committed_row(products, tmp_path):
    rows = [policy_row(n) for n in range(1, 11)]
    rows[3] = policy_row(4, applicant_id_number=bad_checksum_id(4))
    rows.append(policy_row(2))  # a duplicate after the stop
    path = write_csv(tmp_path / "p.csv", rows)
    job = import_job_create(kind="policies", path=path)

    stopped = import_job_run(job.pk, batch_size=3, stop_after_rows=3)
    assert stopped.status == ImportJob.Status.RUNNING
    assert stopped.rows_committed == 3
    assert Policy.objects.count() == 3

    again = import_job_create(kind="policies", path=path)  # resumes the unfinished job
    assert again.pk == job.pk and again.rows_committed == 3
    done = import_job_run(job.pk, batch_size=3)

    assert done.status == ImportJob.Status.DONE
    assert done.rows_committed == done.total_rows == 11
    assert done.created_count == 9 and done.quarantined_count == 2
    assert Policy.objects.count() == 9
    assert [(r, c) for r, c, _reason, _k in errors_of(done)] == [
        (5, "applicant_id_number"),
        (12, "policy_no"),
    ]
    # A finished job is left alone.
    assert import_job_run(job.pk).created_count == 9
    assert ImportRowError.objects.filter(job=job).count() == 2


# ---- whole-file problems ------------------------------------------------------------------------


def test_missing_required_column_fails_the_job(products, tmp_path):
    columns = [c for c in POLICY_COLUMNS if c not in ("premium", "applicant_name")]
    job = run_file(write_csv(tmp_path / "p.csv", [policy_row(1)], columns=columns))
    assert job.status == ImportJob.Status.FAILED
    assert job.error == "missing required columns: premium (保费), applicant_name (投保人姓名)"
    assert job.finished_at is not None
    assert Policy.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.csv", bytes(range(256)) * 4, "NUL bytes"),
        ("garbage.csv", b"\xff\xfe\x81\x30\xff" * 50, "neither UTF-8 nor GB18030"),
        ("not-a-zip.xlsx", b"this is not a workbook", "named .xlsx but is not an Excel workbook"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel format"),
        ("empty.csv", b"", "the file is empty"),
    ],
)
def test_unreadable_files_give_a_failed_job_with_a_message(products, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    job = import_job_create(kind="policies", path=path)
    job = import_job_run(job.pk)
    assert job.status == ImportJob.Status.FAILED
    assert message in job.error
    assert job.finished_at is not None


def test_a_zip_that_is_not_a_workbook_fails_cleanly(products, tmp_path):
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    job = import_job_run(import_job_create(kind="policies", path=path).pk)
    assert job.status == ImportJob.Status.FAILED
    assert "not a readable Excel workbook" in job.error


def test_a_file_that_is_only_a_header_is_done_with_nothing(products, tmp_path):
    job = run_file(write_csv(tmp_path / "p.csv", []))
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_committed, job.created_count, job.quarantined_count) == (0, 0, 0)


def test_unknown_kind_is_refused_and_creates_no_job(products, tmp_path):
    path = write_csv(tmp_path / "p.csv", [policy_row(1)])
    with pytest.raises(ValueError, match="unknown record kind 'widgets'"):
        import_job_create(kind="widgets", path=path)
    upload = SimpleUploadedFile("p.csv", path.read_bytes())
    with pytest.raises(ValidationError) as exc:
        import_job_submit(kind="widgets", upload=upload, user=None)
    assert "kind" in exc.value.error_dict
    with pytest.raises(CommandError, match="invalid choice: 'widgets'"):
        call_command("import_records", "widgets", str(path))
    assert ImportJob.objects.count() == 0


def test_the_command_reports_an_unreadable_file_as_an_error_not_a_crash(products, tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(CommandError, match="not an Excel workbook"):
        call_command("import_records", "policies", str(path))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED and job.error


def test_the_command_imports_and_prints_the_summary(products, tmp_path, capsys):
    rows = [policy_row(1), policy_row(2, policy_no="")]
    path = write_csv(tmp_path / "p.csv", rows)
    call_command("import_records", "policies", str(path), "--batch-size", "50")
    out = capsys.readouterr().out
    assert "done" in out and "created 1" in out and "quarantined 1" in out
    assert "row 3 [policy_no]" in out


# ---- one run at a time --------------------------------------------------------------------------


def hold_lock_in_other_thread(job_id: int):
    """Take the job's run lock from another thread (another database session) until released."""
    from django.db import connection

    taken, release = threading.Event(), threading.Event()
    result = {}

    def hold():
        try:
            with import_job_lock(job_id) as acquired:
                result["acquired"] = acquired
                taken.set()
                release.wait(10)
        finally:
            connection.close()
            taken.set()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(10)
    return result, release, thread


def test_a_second_run_leaves_a_job_another_run_holds(products, tmp_path):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 4)])
    job = import_job_create(kind="policies", path=path)
    result, release, thread = hold_lock_in_other_thread(job.pk)
    try:
        assert result["acquired"] is True
        assert runner.import_job_is_locked(job.pk)
        skipped = import_job_run(job.pk)
        assert skipped.status == ImportJob.Status.PENDING
        assert Policy.objects.count() == 0
    finally:
        release.set()
        thread.join()
    assert not runner.import_job_is_locked(job.pk)
    assert import_job_run(job.pk).created_count == 3


def test_a_run_stops_when_another_run_committed_rows_meanwhile(products, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 5)])
    job = import_job_create(kind="policies", path=path)
    real_start = runner._start

    def start_then_someone_else_commits(job_id):
        started = real_start(job_id)
        ImportJob.objects.filter(pk=job_id).update(rows_committed=2)  # as if another run had
        return started

    monkeypatch.setattr(runner, "_start", start_then_someone_else_commits)
    stopped = import_job_run(job.pk, batch_size=2)
    assert stopped.rows_committed == 2 and stopped.created_count == 0
    assert Policy.objects.count() == 0  # the claimed batch rolled back whole
    monkeypatch.setattr(runner, "_start", real_start)
    done = import_job_run(job.pk, batch_size=2)
    assert done.status == ImportJob.Status.DONE
    assert sorted(Policy.objects.values_list("policy_no", flat=True)) == ["P000003", "P000004"]
