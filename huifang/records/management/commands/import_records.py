"""`huifang import KIND FILE`: import a core-system file and print the report summary.

KIND is one of customers, products, salespeople, policies, claims, events. Re-running the same
file after a crash resumes the unfinished job; re-running a finished file changes nothing.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from huifang.records.importers.runner import KINDS, import_job_create, import_job_run
from huifang.records.models import ImportJob


class Command(BaseCommand):
    help = "Import customers, products, salespeople, policies, claims or policy events from CSV or XLSX."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file", type=Path)
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--new", action="store_true", help="start a new job even if one for this file is unfinished"
        )
        parser.add_argument("--errors", type=int, default=20, help="quarantined rows to list (default 20)")

    def handle(self, *args, kind, file, batch_size, new, errors, **options):
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        job = import_job_create(kind=kind, path=file, original_name=file.name, resume=not new)
        if job.rows_committed:
            self.stdout.write(f"resuming import job {job.pk} after row {job.rows_committed + 1}")
        job = import_job_run(job.pk, batch_size=batch_size)
        for problem in job.file_problems:
            self.stdout.write(f"note: {problem}")
        self.stdout.write(
            f"import job {job.pk} ({kind}, {job.original_name}): {job.status}; rows {job.rows_committed}; "
            f"created {job.created_count}, updated {job.updated_count}, unchanged {job.unchanged_count}, "
            f"quarantined {job.quarantined_count}"
        )
        for err in job.row_errors.all()[:errors]:
            self.stdout.write(f"  row {err.row_number} [{err.column}] {err.business_key}: {err.reason}")
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.error or "import failed")
