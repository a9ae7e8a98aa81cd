"""The resumable import runner.

Rows are validated one by one and written in batches. Each batch commits its records, its
quarantined rows and the job's ``rows_committed`` in one transaction, so a process killed at any
point resumes after the last committed row, and upserts by business key make even a full re-run
land every row exactly once.
"""

import hashlib
import logging
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from huifang.core.audit.services import audit_record
from huifang.records import events
from huifang.records.importers.readers import (
    UnreadableFile,
    count_data_rows,
    detect_encoding,
    detect_format,
    iter_rows,
)
from huifang.records.models import ImportJob, ImportRowError
from huifang.records.schema import BUSINESS_KEYS, KINDS_COLUMNS, header_map, validate_row
from huifang.records.services import REJECTED, RecordsFeed

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
KINDS = tuple(KINDS_COLUMNS)
UNFINISHED = (ImportJob.Status.PENDING, ImportJob.Status.RUNNING, ImportJob.Status.FAILED)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@transaction.atomic
def import_job_create(
    *, kind: str, path: Path, original_name: str = "", user=None, resume: bool = True
) -> ImportJob:
    """Store the file and create its job. With ``resume``, an unfinished job for the same file
    and kind is returned instead, so re-running a killed import continues it."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; one of {', '.join(KINDS)}")
    path = Path(path)
    sha = file_sha256(path)
    if resume:
        job = (
            ImportJob.objects.filter(kind=kind, file_sha256=sha, status__in=UNFINISHED)
            .order_by("-created_at")
            .first()
        )
        if job is not None:
            return job
    job = ImportJob(
        kind=kind,
        original_name=original_name or path.name,
        file_sha256=sha,
        file_format=detect_format(path),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    with open(path, "rb") as fh:
        job.file.save(f"{sha[:16]}-{path.name}", File(fh), save=False)
    job.save()
    audit_record(
        events.IMPORT_STARTED,
        actor=user,
        subject=job,
        data={"kind": kind, "file_sha256": sha, "name": job.original_name},
    )
    return job


def _flush(job: ImportJob, feed: RecordsFeed, batch: list, bad: list, last_row: int) -> None:
    with transaction.atomic():
        outcome = feed.upsert(batch) if batch else None
        errors = [
            ImportRowError(
                job=job, row_number=row, column=col, reason=reason[:300], business_key=str(bkey)[:60]
            )
            for row, bkey, col, reason in bad
        ]
        created = updated = unchanged = 0
        if outcome is not None:
            summary = outcome.summary
            created, updated, unchanged = summary["created"], summary["updated"], summary["unchanged"]
            for item in outcome.items:
                if item.status == REJECTED:
                    errors.extend(
                        ImportRowError(
                            job=job,
                            row_number=item.index,
                            column=c,
                            reason=r[:300],
                            business_key=item.key[:60],
                        )
                        for c, r in item.errors
                    )
        ImportRowError.objects.bulk_create(errors)
        quarantined_rows = len({e.row_number for e in errors})
        ImportJob.objects.filter(pk=job.pk).update(
            rows_committed=last_row,
            created_count=job.created_count + created,
            updated_count=job.updated_count + updated,
            unchanged_count=job.unchanged_count + unchanged,
            quarantined_count=job.quarantined_count + quarantined_rows,
        )
        job.rows_committed = last_row
        job.created_count += created
        job.updated_count += updated
        job.unchanged_count += unchanged
        job.quarantined_count += quarantined_rows


def import_job_run(
    job_id: int, *, batch_size: int = BATCH_SIZE, stop_after_rows: int | None = None
) -> ImportJob:
    """Run (or resume) an import job to the end. Safe to call twice: a finished job is left alone.

    ``stop_after_rows`` stops early (as a killed process would), for tests and demonstrations.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.DONE:
            return job
        path = Path(job.file.path)
        try:
            if job.file_format == "csv" and not job.encoding:
                job.encoding = detect_encoding(path)
            if job.total_rows is None:
                job.total_rows = count_data_rows(path, job.file_format)
        except UnreadableFile as exc:
            job.status, job.error, job.finished_at = ImportJob.Status.FAILED, str(exc), timezone.now()
            job.save()
            return job
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.error = ""
        job.save()

    feed = RecordsFeed(job.kind, actor=job.created_by, job_id=job.id, source="file")
    key = BUSINESS_KEYS[job.kind]
    resume_after = job.rows_committed
    batch: list = []
    bad: list = []
    data_row = 0
    processed_this_run = 0
    try:
        rows = iter_rows(path, job.file_format, job.encoding)
        headers = next(rows, None)
        if headers is None:
            raise UnreadableFile("the file is empty")
        mapping, problems = header_map(job.kind, [str(h) if h is not None else "" for h in headers])
        if problems != job.file_problems:
            ImportJob.objects.filter(pk=job.pk).update(file_problems=problems)
            job.file_problems = problems
        if problems and problems[0].startswith("missing required"):
            raise UnreadableFile(problems[0])
        positions = list(mapping.items())
        for cells in rows:
            data_row += 1
            if data_row <= resume_after:
                continue
            row_number = data_row + 1  # the header is row 1, as in Excel
            if not any(c not in (None, "") for c in cells):
                continue  # blank line
            raw = {col.name: (cells[pos] if pos < len(cells) else None) for pos, col in positions}
            result = validate_row(job.kind, raw, row_number)
            if result.ok:
                batch.append((row_number, result.values))
            else:
                bad.extend((row_number, raw.get(key) or "", col, reason) for col, reason in result.errors)
            processed_this_run += 1
            if len(batch) + len(bad) >= batch_size:
                _flush(job, feed, batch, bad, data_row)
                batch, bad = [], []
                if stop_after_rows is not None and processed_this_run >= stop_after_rows:
                    return job
        _flush(job, feed, batch, bad, data_row)
    except UnreadableFile as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now(), total_rows=data_row
        )
        job.refresh_from_db()
        audit_record(
            events.IMPORT_FINISHED,
            actor=job.created_by,
            subject=job,
            data={
                "kind": job.kind,
                "rows": data_row,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "quarantined": job.quarantined_count,
            },
        )
    return job
