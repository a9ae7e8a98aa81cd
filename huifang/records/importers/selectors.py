"""Reads of import jobs, scoped: a job is visible to the org subtree of the user who created it, or
to holders of VIEW_ALL_ORGS; a job of another branch is answered like a missing one (404).
Jobs started from the command line (no creator) are visible to VIEW_ALL_ORGS holders only."""

from django.db.models import QuerySet

from huifang.core.permissions import Cap, access_object, scope_queryset
from huifang.records.models import ImportJob, ImportRowError

ORG_FIELD = "created_by__org_unit"
FINISHED = (ImportJob.Status.DONE, ImportJob.Status.FAILED)


def import_job_list(user) -> QuerySet:
    """Import jobs ``user`` may see, newest first."""
    qs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-pk")
    return scope_queryset(user, qs, ORG_FIELD)


def access_import_job(user, pk: int) -> ImportJob:
    """One import job the user may see (and import records); Http404 for missing and not yours."""
    return access_object(
        user,
        ImportJob.objects.select_related("created_by"),
        cap=Cap.IMPORT_RECORDS,
        org_field=ORG_FIELD,
        pk=pk,
    )


def import_job_errors(job: ImportJob, *, offset: int = 0, limit: int = 100) -> QuerySet:
    """Quarantined rows of a job in file order (row number, column, reason, business key)."""
    return ImportRowError.objects.filter(job=job).order_by("row_number", "id")[offset : offset + limit]


def import_job_is_finished(job: ImportJob) -> bool:
    return job.status in FINISHED


def import_job_progress(job: ImportJob) -> dict:
    """Rows committed of the total (the total is an estimate until the job is done)."""
    return {
        "rows_committed": job.rows_committed,
        "total_rows": job.total_rows,
        "percent": job.progress_percent,
    }


def import_job_counts(job: ImportJob) -> dict:
    return {
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "quarantined": job.quarantined_count,
    }
