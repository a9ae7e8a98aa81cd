"""Web pages for file imports: the list of import jobs, the upload form, a job's page with a live
progress bar (htmx polling every 2 s until the job ends) and the XLSX report.

Every view needs ``Cap.IMPORT_RECORDS`` (403 otherwise) and sees only the jobs of the org subtree
of their creator (or every job with VIEW_ALL_ORGS); another branch's job is a 404.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from huifang.core.permissions import Cap, has_cap
from huifang.records.importers.messages import (
    KIND_LABELS,
    column_label,
    kind_label,
    message_display,
    status_label,
)
from huifang.records.importers.runner import KINDS, import_job_submit, max_upload_bytes, size_text
from huifang.records.importers.selectors import (
    access_import_job,
    import_job_errors,
    import_job_is_finished,
    import_job_list,
)
from huifang.records.reports import import_report_filename, import_report_open

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIRST_ERRORS = 20  # quarantined rows shown on the job page; the report has all of them
JOBS_PER_PAGE = 50
STATUS_BADGES = {
    "pending": "bg-secondary-lt",
    "running": "bg-blue-lt",
    "done": "bg-green-lt",
    "failed": "bg-red-lt",
}


def _require_import(request) -> None:
    if not has_cap(request.user, Cap.IMPORT_RECORDS):
        raise PermissionDenied


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=pgettext_lazy("import", "Record kind"), choices=[("", "---------"), *KIND_LABELS.items()]
    )
    file = forms.FileField(
        label=pgettext_lazy("import", "File"),
        help_text=_("CSV (UTF-8 or GB18030) or Excel .xlsx; the first row holds the column headers."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = max_upload_bytes()
        if upload.size > limit:
            raise ValidationError(
                gettext("The file is %(size)s; files up to %(limit)s can be imported.")
                % {"size": size_text(upload.size), "limit": size_text(limit)},
                code="too_large",
            )
        return upload


def _job_row(job) -> dict:
    return {
        "job": job,
        "kind_label": kind_label(job.kind),
        "status_label": status_label(job.status),
        "badge": STATUS_BADGES.get(job.status, "bg-secondary-lt"),
    }


def _progress_context(job) -> dict:
    errors = [
        {
            "row_number": e.row_number,
            "column": column_label(job.kind, e.column) if e.column else "",
            "reason": message_display(e.reason),
            "business_key": e.business_key,
        }
        for e in import_job_errors(job, limit=FIRST_ERRORS)
    ]
    return {
        **_job_row(job),
        "finished": import_job_is_finished(job),
        "first_errors": FIRST_ERRORS,
        "percent": job.progress_percent,
        "errors": errors,
        "more_errors": job.quarantined_count > len({e["row_number"] for e in errors}),
        "error_message": message_display(job.error) if job.error else "",
        "file_problems": [message_display(p) for p in job.file_problems or []],
    }


@require_GET
def import_list(request):
    _require_import(request)
    page = Paginator(import_job_list(request.user), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "records/imports/list.html",
        {"page": page, "rows": [_job_row(job) for job in page.object_list]},
    )


@require_http_methods(["GET", "POST"])
def import_new(request):
    _require_import(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_submit(
                kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"], user=request.user
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, gettext("The file was received; the import runs in the background."))
            return redirect("imports:detail", pk=job.pk)
    return render(
        request,
        "records/imports/new.html",
        {"form": form, "limit": size_text(max_upload_bytes()), "kinds": KINDS},
        status=400 if form.is_bound and form.errors else 200,
    )


@require_GET
def import_detail(request, pk: int):
    _require_import(request)
    job = access_import_job(request.user, pk)
    return render(request, "records/imports/detail.html", _progress_context(job))


@require_GET
def import_progress(request, pk: int):
    """The progress panel alone, for htmx polling; it stops polling once the job has ended."""
    _require_import(request)
    job = access_import_job(request.user, pk)
    return render(request, "records/imports/_progress.html", _progress_context(job))


@require_GET
def import_report(request, pk: int):
    _require_import(request)
    job = access_import_job(request.user, pk)
    return FileResponse(
        import_report_open(job),
        as_attachment=True,
        filename=import_report_filename(job),
        content_type=XLSX_TYPE,
    )
