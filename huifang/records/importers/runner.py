"""The resumable import runner.

Rows are validated one by one and written in batches. Each batch commits its records, its
quarantined rows and the job's ``rows_committed`` in one transaction, so a process killed at any
point resumes after the last committed row, and upserts by business key make even a full re-run
land every row exactly once.

One run at a time: a run holds the job's run lock (a session-level advisory lock on PostgreSQL, a
file lock next to the SQLite database) for its whole duration; a second run of the same job finds
the lock taken and leaves at once. The lock dies with its process, which is how a stuck job is
recognised (``import_jobs_stale``). As a second line of defence every batch advances
``rows_committed`` only from the value this run last wrote, so two runs can never both commit the
same rows even if the lock were lost.

Memory stays flat however long the file: the runner keeps the current batch only (no per-row
state survives a batch), and reference-data caches are trimmed when they grow large.
"""

import contextlib
import hashlib
import logging
import os
import queue
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
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
from huifang.records.models import (
    Claim,
    Customer,
    ImportJob,
    ImportRowError,
    Policy,
    PolicyEvent,
    Product,
    Salesperson,
)
from huifang.records.schema import BUSINESS_KEYS, KINDS_COLUMNS, header_map, row_validator
from huifang.records.services import REJECTED, UNCHANGED, RecordsFeed

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
KINDS = tuple(KINDS_COLUMNS)
UNFINISHED = (ImportJob.Status.PENDING, ImportJob.Status.RUNNING, ImportJob.Status.FAILED)
# A RUNNING job nobody holds the run lock of, started longer ago than this, is resumed.
STALE_AFTER = timedelta(minutes=30)
# Uploads larger than this are refused (settings.HUIFANG_IMPORT_MAX_BYTES overrides it).
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# Reference-data caches (org units, products, salespeople) are emptied beyond this many entries.
REF_CACHE_LIMIT = 50_000

# UPDATE … FROM needs SQLite 3.33 (PostgreSQL always has it).
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)

MODELS = {
    "customers": Customer,
    "products": Product,
    "salespeople": Salesperson,
    "policies": Policy,
    "claims": Claim,
    "events": PolicyEvent,
}

# Columns holding personal information: their quarantine reasons never keep a cell value.
_PII_SUFFIXES = (
    "name",
    "id_number",
    "birth_date",
    "mobile",
    "other_phones",
    "address",
    "email",
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"\d{6,}")  # a date or a number, not "GB 11643"


def max_upload_bytes() -> int:
    return int(getattr(settings, "HUIFANG_IMPORT_MAX_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def size_text(size: int) -> str:
    """200 MB, 1.5 MB, 900 bytes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    return f"{size} bytes"


def is_pii_column(column: str) -> bool:
    return column.endswith(_PII_SUFFIXES)


def safe_reason(column: str, reason: str) -> str:
    """The reason as stored: values quoted in it, and long digit runs, are hidden for PII columns
    (e.g. "not a date: '1960-13-02'" for a birth date becomes "not a date: '****'")."""
    if is_pii_column(column):
        reason = _DIGITS.sub("****", _QUOTED.sub("'****'", reason))
    return reason[:300]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---- the run lock ------------------------------------------------------------------------------

_PG_LOCK_CLASS = 0x4846494D  # "HFIM": the advisory-lock namespace of import jobs


# An in-memory SQLite database lives in one process only: its jobs' locks need not leave it.
_MEMORY_LOCKS: dict[int, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


def _lock_path(job_id: int) -> Path:
    """The lock file of a job: under ``VAR_DIR/locks``, per database file (two installations, or
    two test databases, sharing a VAR_DIR never block each other)."""
    database = str(Path(connection.settings_dict["NAME"]).resolve())
    directory = Path(settings.VAR_DIR) / "locks" / hashlib.sha256(database.encode()).hexdigest()[:16]
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"import-job-{int(job_id)}.lock"


@contextlib.contextmanager
def _memory_lock(job_id: int) -> Iterator[bool]:
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(int(job_id), threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def import_job_lock(job_id: int) -> Iterator[bool]:
    """Hold the run lock of one import job; yields whether it was acquired (never waits).

    PostgreSQL: a session-level advisory lock (released on unlock or when the session ends, so
    a dead worker releases it). SQLite: an exclusive ``flock`` on a file in ``VAR_DIR/locks``
    (released by the kernel when the process dies), which serialises runs on the one machine
    that an SQLite installation lives on; an in-memory database (tests) locks within its process.
    """
    if connection.vendor == "postgresql":
        key = (_PG_LOCK_CLASS, int(job_id) % 2147483647)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        return
    in_memory = getattr(connection, "is_in_memory_db", None)
    if in_memory is not None and in_memory():
        with _memory_lock(job_id) as acquired:
            yield acquired
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the rows_committed check alone
        yield True
        return
    fh = open(_lock_path(job_id), "a+b")  # noqa: SIM115
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def _lock_forget(job_id: int) -> None:
    """Drop the lock file of a finished job (called while holding it; a later run finds the job
    DONE whichever lock it gets)."""
    if connection.vendor == "postgresql":
        return
    in_memory = getattr(connection, "is_in_memory_db", None)
    if in_memory is not None and in_memory():
        with _MEMORY_LOCKS_GUARD:
            _MEMORY_LOCKS.pop(int(job_id), None)
        return
    with contextlib.suppress(OSError):
        _lock_path(job_id).unlink()


def import_job_is_locked(job_id: int) -> bool:
    """Is a run of this job going on right now (in any process)?"""
    with import_job_lock(job_id) as acquired:
        return not acquired


# ---- creating jobs -----------------------------------------------------------------------------


@transaction.atomic
def import_job_create(
    *, kind: str, path: Path, original_name: str = "", user=None, resume: bool = True
) -> ImportJob:
    """Store the file and create its job. With ``resume``, an unfinished job for the same file
    and kind is returned instead, so re-running a killed import continues it.

    A file that cannot be read at all (empty, an old .xls, "xlsx" that is not a workbook) still
    gets a job: FAILED, with the reason in ``error``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; one of {', '.join(KINDS)}")
    path = Path(path)
    name = Path(original_name or path.name).name[:255] or "upload"
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
        original_name=name,
        file_sha256=sha,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        job.file_format = detect_format(path, name)
    except UnreadableFile as exc:
        job.status, job.error, job.finished_at = ImportJob.Status.FAILED, str(exc), timezone.now()
    with open(path, "rb") as fh:
        job.file.save(f"{sha[:16]}-{name}", File(fh), save=False)
    job.save()
    audit_record(
        events.IMPORT_STARTED,
        actor=user,
        subject=job,
        org_unit_id=getattr(job.created_by, "org_unit_id", None),
        data={"kind": kind, "file_sha256": sha, "name": job.original_name},
    )
    return job


@contextlib.contextmanager
def _uploaded_path(upload) -> Iterator[Path]:
    """A path on disk holding the uploaded file (Django keeps large uploads in a temporary file)."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        upload.seek(0)  # flushes what the upload handler buffered
        yield Path(temporary())
        return
    fd, name = tempfile.mkstemp(prefix="huifang-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.seek(0)
            shutil.copyfileobj(upload, out)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def import_job_submit(*, kind: str, upload, user) -> ImportJob:
    """Store an uploaded file (web form or API) as a new import job and run it in the background.

    Raises ``ValidationError`` (fields ``kind`` and ``file``) for an unknown kind or a file over the
    size limit; nothing is stored then. A file that turns out unreadable gives a FAILED job with
    the reason. The run is enqueued on the ``imports`` queue when the transaction commits.
    """
    from huifang.core.jobs import enqueue_on_commit
    from huifang.records.tasks import import_job_run_task

    if kind not in KINDS:
        message = f"unknown record kind {kind!r}; one of {', '.join(KINDS)}"
        raise ValidationError({"kind": ValidationError(message, code="invalid")})
    limit = max_upload_bytes()
    if upload is None:
        raise ValidationError({"file": ValidationError("no file was uploaded", code="required")})
    if upload.size > limit:
        message = f"the file is larger than the limit of {size_text(limit)}"
        raise ValidationError({"file": ValidationError(message, code="too_large")})
    with _uploaded_path(upload) as path, transaction.atomic():
        job = import_job_create(kind=kind, path=path, original_name=upload.name, user=user, resume=False)
        if job.status == ImportJob.Status.PENDING:
            enqueue_on_commit(import_job_run_task, job.pk)
    return job


# ---- running jobs ------------------------------------------------------------------------------


class _JobTakenOver(Exception):
    """Another run committed rows of this job since this run's last batch: stop, roll back."""


def _stamp_unchanged(job: ImportJob, kind: str, seen: list[tuple[str, int]]) -> None:
    """Mark unchanged records as seen by this job at their row, as a write would have, so that a
    later row with the same key is reported as a duplicate within the file on a re-import too.

    One ``UPDATE … FROM (VALUES …)`` per chunk (PostgreSQL, and SQLite ≥ 3.33): a join, not a
    CASE per row, so a re-import of a large unchanged file stays cheap.
    """
    model = MODELS[kind]
    key_column = model._meta.get_field(BUSINESS_KEYS[kind]).column
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    for start in range(0, len(seen), 500):
        chunk = seen[start : start + 500]
        if connection.vendor == "postgresql" or _UPDATE_FROM:
            values = ", ".join(["(%s, %s)"] * len(chunk))
            sql = (
                f"UPDATE {table} SET {qn('last_import_job')} = %s, {qn('last_import_row')} = v.column2 "
                f"FROM (VALUES {values}) AS v WHERE {table}.{qn(key_column)} = v.column1"
            )
            params = [job.pk] + [p for key, row in chunk for p in (key, row)]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
        else:
            model.objects.filter(**{f"{BUSINESS_KEYS[kind]}__in": [k for k, _row in chunk]}).update(
                last_import_job=job.pk,
                last_import_row=Case(
                    *(When(**{BUSINESS_KEYS[kind]: k}, then=Value(row)) for k, row in chunk),
                    output_field=IntegerField(),
                ),
            )


def _trim_caches(feed: RecordsFeed) -> None:
    refs = getattr(feed, "refs", None)
    for name in ("org_units", "products", "salespeople"):
        cache = getattr(refs, name, None)
        if cache is not None and len(cache) > REF_CACHE_LIMIT:
            cache.clear()


def _flush(job: ImportJob, feed: RecordsFeed, batch: list, bad: list, last_row: int) -> None:
    """Commit one batch: its records, its quarantined rows and the job's progress, together."""
    with transaction.atomic():
        # Claim the rows first (this also locks the job row on PostgreSQL until the commit).
        claimed = ImportJob.objects.filter(
            pk=job.pk, status=ImportJob.Status.RUNNING, rows_committed=job.rows_committed
        ).update(rows_committed=last_row)
        if not claimed:
            raise _JobTakenOver
        outcome = feed.upsert(batch) if batch else None
        errors = [
            ImportRowError(
                job=job,
                row_number=row,
                column=col,
                reason=safe_reason(col, reason),
                business_key=str(bkey)[:60],
            )
            for row, bkey, col, reason in bad
        ]
        created = updated = unchanged = 0
        if outcome is not None:
            summary = outcome.summary
            created, updated, unchanged = summary["created"], summary["updated"], summary["unchanged"]
            seen = []
            for item in outcome.items:
                if item.status == REJECTED:
                    errors.extend(
                        ImportRowError(
                            job=job,
                            row_number=item.index,
                            column=c,
                            reason=safe_reason(c, r),
                            business_key=item.key[:60],
                        )
                        for c, r in item.errors
                    )
                elif item.status == UNCHANGED:
                    seen.append((item.key, item.index))
            if seen:
                _stamp_unchanged(job, job.kind, seen)
        ImportRowError.objects.bulk_create(errors)
        quarantined_rows = len({e.row_number for e in errors})
        ImportJob.objects.filter(pk=job.pk).update(
            created_count=F("created_count") + created,
            updated_count=F("updated_count") + updated,
            unchanged_count=F("unchanged_count") + unchanged,
            quarantined_count=F("quarantined_count") + quarantined_rows,
        )
    job.rows_committed = last_row
    job.created_count += created
    job.updated_count += updated
    job.unchanged_count += unchanged
    job.quarantined_count += quarantined_rows
    _trim_caches(feed)


class _Writer:
    """Commits batches in order, either here (``flush`` returns when the batch is committed) or,
    pipelined, on a second database connection in a thread, so that the database works on one
    batch while this process reads and validates the next (Python waiting for the server releases
    the GIL). At most one batch waits while another is written, so memory stays flat; batches
    commit one after another as before, so resuming after ``rows_committed`` stays exact."""

    def __init__(self, job: ImportJob, feed: RecordsFeed, *, pipelined: bool):
        self.job, self.feed, self.pipelined = job, feed, pipelined
        self.error: BaseException | None = None
        if pipelined:
            self.queue: queue.Queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._work, name=f"import-job-{job.pk}", daemon=True)
            self.thread.start()

    def _work(self) -> None:
        from django.db import connections

        try:
            while (item := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        _flush(self.job, self.feed, *item)
                    except BaseException as exc:  # handed to the reading thread
                        self.error = exc
                self.queue.task_done()
            self.queue.task_done()
        finally:
            connections.close_all()  # this thread's connection

    def _check(self) -> None:
        if self.error is not None:  # kept: batches handed over after it are never written
            raise self.error

    def flush(self, batch: list, bad: list, last_row: int) -> None:
        if not self.pipelined:
            _flush(self.job, self.feed, batch, bad, last_row)
            return
        self._check()
        while self.thread.is_alive():
            try:
                self.queue.put((batch, bad, last_row), timeout=0.5)
                return
            except queue.Full:
                self._check()
        self._check()
        raise RuntimeError("the import writer thread has stopped")

    def wait(self) -> None:
        """Return when every batch handed over is committed (raising what writing one raised)."""
        if self.pipelined:
            self.queue.join()
            self._check()

    def close(self) -> None:
        if self.pipelined and self.thread.is_alive():
            self.queue.join()
            self.queue.put(None)
            self.thread.join()


def _pipeline_possible() -> bool:
    """A second connection sees what this one committed: PostgreSQL, outside a transaction (a
    test's transaction, or a caller's, keeps the whole run on this connection)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _fail(job_id: int, message: str) -> ImportJob:
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    return ImportJob.objects.get(pk=job_id)


def import_job_run(
    job_id: int,
    *,
    batch_size: int = BATCH_SIZE,
    stop_after_rows: int | None = None,
    pipelined: bool | None = None,
) -> ImportJob:
    """Run (or resume) an import job to the end. Safe to call twice: a finished job is left alone,
    and a job another process is running right now is left to it (returned as it stands).

    ``stop_after_rows`` stops early (as a killed process would), for tests and demonstrations.
    ``pipelined`` writes batches on a second connection while the next is read (default: when
    the database allows it, see ``_pipeline_possible``).
    """
    with import_job_lock(job_id) as acquired:
        if not acquired:
            logger.info("import job %s is being run by another process; not started again", job_id)
            return ImportJob.objects.get(pk=job_id)
        if pipelined is None:
            pipelined = _pipeline_possible()
        job = _run(
            job_id, batch_size=max(1, batch_size), stop_after_rows=stop_after_rows, pipelined=pipelined
        )
        if job.status == ImportJob.Status.DONE:
            _lock_forget(job_id)
        return job


def _start(job_id: int) -> ImportJob | None:
    """Check and mark the job RUNNING; None when there is nothing to do (done, or locked)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None:
            if not ImportJob.objects.filter(pk=job_id).exists():
                raise ImportJob.DoesNotExist(f"import job {job_id} does not exist")
            return None  # another transaction holds the row: it is being run
        if job.status == ImportJob.Status.DONE:
            return None
        path = Path(job.file.path)
        try:
            if not job.file_format:
                job.file_format = detect_format(path, job.original_name)
            if job.file_format == "csv" and not job.encoding:
                job.encoding = detect_encoding(path)
            if job.total_rows is None:
                job.total_rows = count_data_rows(path, job.file_format)
        except (UnreadableFile, FileNotFoundError) as exc:
            message = str(exc) if isinstance(exc, UnreadableFile) else "the stored file is missing"
            job.status, job.error, job.finished_at = ImportJob.Status.FAILED, message, timezone.now()
            job.save()
            return job
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.finished_at = None
        job.error = ""
        job.save()
        return job


def _run(job_id: int, *, batch_size: int, stop_after_rows: int | None, pipelined: bool = False) -> ImportJob:
    job = _start(job_id)
    if job is None:
        return ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.FAILED:
        return job
    path = Path(job.file.path)
    # Each batch is one transaction (_flush) that rolls back whole on any error: no savepoint inside.
    feed = RecordsFeed(job.kind, actor=job.created_by, job_id=job.id, source="file", savepoint=False)
    key = BUSINESS_KEYS[job.kind]
    resume_after = job.rows_committed
    batch: list = []
    bad: list = []
    # Business key → row number of its first clean occurrence in the current batch; earlier
    # batches are checked against the database by the feed (records carry their import row).
    batch_keys: dict[str, int] = {}
    data_row = 0
    processed_this_run = 0
    writer = _Writer(job, feed, pipelined=pipelined)
    try:
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
            validate = row_validator(job.kind, mapping)
            key_pos = next((pos for pos, col in mapping.items() if col.name == key), len(headers))
            for cells in rows:
                data_row += 1
                if data_row <= resume_after:
                    continue
                row_number = data_row + 1  # the header is row 1, as in Excel
                if not any(cells) and all(c in (None, "") for c in cells):
                    continue  # blank line
                result = validate(cells, row_number)
                if result.ok:
                    business_key = result.values[key]
                    first = batch_keys.get(business_key)
                    if first is None:
                        batch_keys[business_key] = row_number
                        batch.append((row_number, result.values))
                    else:
                        bad.append((row_number, business_key, key, f"duplicate of row {first} in this file"))
                else:
                    bkey = cells[key_pos] if key_pos < len(cells) else None
                    if isinstance(bkey, float) and bkey.is_integer():
                        bkey = int(bkey)  # a number typed into an XLSX key column
                    bkey = "" if bkey is None else str(bkey).strip()
                    bad.extend((row_number, bkey, col, reason) for col, reason in result.errors)
                processed_this_run += 1
                if len(batch) + len(bad) >= batch_size:
                    writer.flush(batch, bad, data_row)
                    batch, bad, batch_keys = [], [], {}
                    if stop_after_rows is not None and processed_this_run >= stop_after_rows:
                        writer.wait()
                        return job
            writer.flush(batch, bad, data_row)
            writer.wait()
        finally:
            writer.close()  # in-flight batches end (committed, or rolled back) before anything else
    except _JobTakenOver:
        logger.warning("import job %s: another run committed rows meanwhile; this run stops", job.pk)
        return ImportJob.objects.get(pk=job.pk)
    except UnreadableFile as exc:
        return _fail(job.pk, str(exc))
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        _fail(job.pk, f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        finished = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now(), total_rows=data_row
        )
        job.refresh_from_db()
        if finished:
            audit_record(
                events.IMPORT_FINISHED,
                actor=job.created_by,
                subject=job,
                org_unit_id=getattr(job.created_by, "org_unit_id", None),
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


# ---- stuck jobs --------------------------------------------------------------------------------


def import_jobs_stale(now=None) -> list[int]:
    """Ids of jobs that nobody is running and nobody will: RUNNING jobs whose run died (started
    over ``STALE_AFTER`` ago and nobody holds their run lock; a live run always does, so a slow
    import is never taken for a dead one), and PENDING jobs created over ``STALE_AFTER`` ago whose
    run was never started (the enqueue was lost, or a command-line import died before it began)."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    candidates = (
        ImportJob.objects.filter(
            Q(status=ImportJob.Status.RUNNING, started_at__lt=cutoff)
            | Q(status=ImportJob.Status.PENDING, created_at__lt=cutoff)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [pk for pk in candidates if not import_job_is_locked(pk)]
