"""REST endpoints for file imports from the core system (``/api/v1/imports``).

Upload a CSV or XLSX file with its record kind; the import runs in the background and the job can
be followed, its quarantined rows read page by page and its XLSX report downloaded. Every endpoint
needs ``Cap.IMPORT_RECORDS``; a job is visible to the org subtree of its creator (or to holders of
VIEW_ALL_ORGS), and another branch's job answers 404 like a missing one.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.urls import reverse
from ninja import File, Form, Schema, Status, UploadedFile
from ninja.errors import HttpError

from huifang.core.api import ErrorOut, Router, require_cap
from huifang.core.permissions import Cap
from huifang.records.importers.runner import import_job_submit
from huifang.records.importers.selectors import (
    access_import_job,
    import_job_counts,
    import_job_errors,
    import_job_list,
    import_job_progress,
)
from huifang.records.models import ImportJob
from huifang.records.reports import import_report_filename, import_report_open

router = Router(tags=["imports"])

MAX_PAGE = 1000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ProgressOut(Schema):
    rows_committed: int
    total_rows: int | None
    percent: int


class CountsOut(Schema):
    created: int
    updated: int
    unchanged: int
    quarantined: int


class ImportUrlsOut(Schema):
    self: str
    errors: str
    report: str
    page: str


class ImportJobOut(Schema):
    id: int
    kind: str
    status: str
    file_name: str
    file_sha256: str
    file_format: str
    encoding: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut
    counts: CountsOut
    file_problems: list[str]
    error: str
    urls: ImportUrlsOut


class ImportJobPage(Schema):
    count: int
    offset: int
    limit: int
    items: list[ImportJobOut]


class RowErrorOut(Schema):
    row: int
    column: str
    reason: str
    business_key: str


class RowErrorPage(Schema):
    count: int
    offset: int
    limit: int
    items: list[RowErrorOut]


def import_job_out(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "file_name": job.original_name,
        "file_sha256": job.file_sha256,
        "file_format": job.file_format,
        "encoding": job.encoding,
        "created_by": job.created_by.username if job.created_by_id else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": import_job_progress(job),
        "counts": import_job_counts(job),
        "file_problems": list(job.file_problems or []),
        "error": job.error,
        "urls": {
            "self": reverse("api:import_detail", args=[job.pk]),
            "errors": reverse("api:import_errors", args=[job.pk]),
            "report": reverse("api:import_report", args=[job.pk]),
            "page": reverse("imports:detail", args=[job.pk]),
        },
    }


def _page(offset: int, limit: int) -> tuple[int, int]:
    errors = []
    if offset < 0:
        errors.append({"offset": "must be 0 or more"})
    if not 1 <= limit <= MAX_PAGE:
        errors.append({"limit": f"must be between 1 and {MAX_PAGE}"})
    if errors:
        raise ValidationError({k: v for e in errors for k, v in e.items()})
    return offset, limit


@router.post(
    "/imports",
    response={202: ImportJobOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    url_name="import_create",
    summary="Upload a file to import",
)
def import_create(request, kind: Form[str], file: File[UploadedFile]):
    """Upload a CSV (UTF-8, UTF-8 with BOM or GB18030) or XLSX file of one record kind
    (``customers``, ``products``, ``salespeople``, ``policies``, ``claims``, ``events``).

    Answers 202 with the new job; the rows are imported in the background. Follow ``urls.self``
    until ``status`` is ``done`` or ``failed``. Files over the size limit answer 413. A file that
    cannot be read at all still gives a job, ``failed`` with the reason in ``error``.
    """
    require_cap(request, Cap.IMPORT_RECORDS)
    try:
        job = import_job_submit(kind=kind, upload=file, user=request.user)
    except ValidationError as exc:
        if exc.error_dict.get("file") and exc.error_dict["file"][0].code == "too_large":
            raise HttpError(413, exc.error_dict["file"][0].message) from None
        raise
    return Status(202, import_job_out(job))


@router.get(
    "/imports",
    response={200: ImportJobPage, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    url_name="import_list",
    summary="Import jobs",
)
def import_list(request, offset: int = 0, limit: int = 50, status: str = "", kind: str = ""):
    """Import jobs visible to the caller, newest first; filter by ``status`` and ``kind``."""
    require_cap(request, Cap.IMPORT_RECORDS)
    offset, limit = _page(offset, limit)
    jobs = import_job_list(request.user)
    if status:
        jobs = jobs.filter(status=status)
    if kind:
        jobs = jobs.filter(kind=kind)
    return {
        "count": jobs.count(),
        "offset": offset,
        "limit": limit,
        "items": [import_job_out(job) for job in jobs[offset : offset + limit]],
    }


@router.get(
    "/imports/{int:job_id}",
    response={200: ImportJobOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    url_name="import_detail",
    summary="One import job",
)
def import_detail(request, job_id: int):
    """Status, progress (rows committed of the total, percent), counts and file problems."""
    require_cap(request, Cap.IMPORT_RECORDS)
    return import_job_out(access_import_job(request.user, job_id))


@router.get(
    "/imports/{int:job_id}/errors",
    response={200: RowErrorPage, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    url_name="import_errors",
    summary="Quarantined rows of an import job",
)
def import_errors(request, job_id: int, offset: int = 0, limit: int = 100):
    """Quarantined rows in file order: the row number (the header is row 1), the column, the
    reason and the business key. Cell values are never returned."""
    require_cap(request, Cap.IMPORT_RECORDS)
    job = access_import_job(request.user, job_id)
    offset, limit = _page(offset, limit)
    items = [
        {"row": e.row_number, "column": e.column, "reason": e.reason, "business_key": e.business_key}
        for e in import_job_errors(job, offset=offset, limit=limit)
    ]
    return {"count": job.row_errors.count(), "offset": offset, "limit": limit, "items": items}


@router.get(
    "/imports/{int:job_id}/report.xlsx",
    response={200: None, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    url_name="import_report",
    summary="The XLSX report of an import job",
)
def import_report(request, job_id: int):
    """An XLSX workbook: a summary sheet and every quarantined row (row, column, reason, key)."""
    require_cap(request, Cap.IMPORT_RECORDS)
    job = access_import_job(request.user, job_id)
    return FileResponse(
        import_report_open(job),
        as_attachment=True,
        filename=import_report_filename(job),
        content_type=XLSX_TYPE,
    )
