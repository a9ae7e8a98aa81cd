"""The import report: an XLSX workbook with a summary sheet and the quarantined rows.

Written with XlsxWriter in constant-memory mode (each row goes to disk as soon as the next one
starts) and fed from the database in chunks, so a job with a million quarantined rows is reported
in flat memory. Cells hold the row number, the column, the reason and the business key, never a
value from the file.
"""

import contextlib
import os
import tempfile
from typing import BinaryIO

from django.utils import timezone
from django.utils.translation import pgettext
from xlsxwriter import Workbook

from huifang.records.importers.messages import column_label, kind_label, message_display, status_label
from huifang.records.models import ImportJob, ImportRowError


def import_report_filename(job: ImportJob) -> str:
    return f"import-{job.pk}-{job.kind}-report.xlsx"


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def import_report_write(job: ImportJob, path: str) -> None:
    """Write the report of ``job`` to the file at ``path``."""
    workbook = Workbook(
        path, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    try:
        bold = workbook.add_format({"bold": True})
        summary = workbook.add_worksheet(pgettext("import", "Summary"))
        summary.set_column(0, 0, 28)
        summary.set_column(1, 1, 60)
        rows = [
            (pgettext("import", "Import job"), str(job.pk)),
            (pgettext("import", "Record kind"), f"{kind_label(job.kind)} ({job.kind})"),
            (pgettext("import", "File name"), job.original_name),
            (pgettext("import", "File SHA-256"), job.file_sha256),
            (pgettext("import", "File format"), job.file_format.upper()),
            (pgettext("import", "Encoding"), job.encoding),
            (pgettext("import", "Status"), status_label(job.status)),
            (
                pgettext("import", "Started by"),
                job.created_by.username if job.created_by_id else pgettext("import", "command line"),
            ),
            (pgettext("import", "Created at"), _local(job.created_at)),
            (pgettext("import", "Started at"), _local(job.started_at)),
            (pgettext("import", "Finished at"), _local(job.finished_at)),
        ]
        numbers = [
            (pgettext("import", "Rows in file"), job.total_rows),
            (pgettext("import", "Rows processed"), job.rows_committed),
            (pgettext("import", "Created"), job.created_count),
            (pgettext("import", "Updated"), job.updated_count),
            (pgettext("import", "Unchanged"), job.unchanged_count),
            (pgettext("import count", "Quarantined rows"), job.quarantined_count),
        ]
        line = 0
        for label, value in rows:
            summary.write_string(line, 0, label, bold)
            summary.write_string(line, 1, value or "")
            line += 1
        for label, value in numbers:
            summary.write_string(line, 0, label, bold)
            if value is None:
                summary.write_string(line, 1, "")
            else:
                summary.write_number(line, 1, value)
            line += 1
        if job.error:
            summary.write_string(line, 0, pgettext("import", "Error"), bold)
            summary.write_string(line, 1, message_display(job.error))
            line += 1
        for problem in job.file_problems or []:
            summary.write_string(line, 0, pgettext("import", "File problem"), bold)
            summary.write_string(line, 1, message_display(problem))
            line += 1
        summary.write_string(line + 1, 0, pgettext("import", "Generated at"), bold)
        summary.write_string(line + 1, 1, _local(timezone.now()))

        quarantine = workbook.add_worksheet(pgettext("import", "Quarantined rows"))
        headers = [
            pgettext("import", "Row"),
            pgettext("import", "Column"),
            pgettext("import", "Column name"),
            pgettext("import", "Reason"),
            pgettext("import", "Business key"),
        ]
        for col, title in enumerate(headers):
            quarantine.write_string(0, col, title, bold)
        quarantine.set_column(0, 0, 8)
        quarantine.set_column(1, 2, 24)
        quarantine.set_column(3, 3, 60)
        quarantine.set_column(4, 4, 24)
        quarantine.freeze_panes(1, 0)
        line = 1
        errors = (
            ImportRowError.objects.filter(job=job)
            .order_by("row_number", "id")
            .values_list("row_number", "column", "reason", "business_key")
        )
        for row_number, column, reason, business_key in errors.iterator(chunk_size=2000):
            quarantine.write_number(line, 0, row_number)
            quarantine.write_string(line, 1, column_label(job.kind, column).split(" ")[0] if column else "")
            quarantine.write_string(line, 2, column or "")
            quarantine.write_string(line, 3, message_display(reason))
            quarantine.write_string(line, 4, business_key or "")
            line += 1
        if line > 1:
            quarantine.autofilter(0, 0, line - 1, len(headers) - 1)
    finally:
        workbook.close()


def import_report_open(job: ImportJob) -> BinaryIO:
    """The report as an open binary file, already unlinked (nothing is left behind on disk)."""
    fd, path = tempfile.mkstemp(prefix="huifang-import-report-", suffix=".xlsx")
    os.close(fd)
    try:
        import_report_write(job, path)
        handle = open(path, "rb")  # noqa: SIM115 - handed to the response, which closes it
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return handle
