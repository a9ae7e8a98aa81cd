"""Import pages: per-role permissions (a refused call changes nothing), org scoping, the upload form
with its size limit and CSRF, the htmx progress panel and the XLSX report."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from openpyxl import load_workbook

from huifang.core.audit.models import AuditEvent
from huifang.records.importers.runner import import_job_create, import_job_run
from huifang.records.models import ImportJob, Policy
from tests.records.fixtures.importfiles import (
    BAD_ID,
    branch_importers,
    finished_job,
    policy_row,
    sample_file,
    write_csv,
)

pytestmark = pytest.mark.django_db

TASK_PATH = "huifang.records.tasks.import_job_run_task"

ROLES = [
    "agent",
    "supervisor",
    "problem_handler",
    "complaint_handler",
    "qa_inspector",
    "auditor",
    "admin",
    "agent_js",
    "norole",
]
IMPORTERS = {"admin"}  # the roles holding Cap.IMPORT_RECORDS


@pytest.fixture
def importers(make_user):
    return branch_importers(make_user)


@pytest.fixture
def job(products, users, tmp_path):
    """A finished job uploaded by the administrator (head office), with one quarantined row."""
    return finished_job(users["admin"], tmp_path)


def state():
    return (
        ImportJob.objects.count(),
        Policy.objects.count(),
        DBTaskResult.objects.count(),
        AuditEvent.objects.count(),
    )


def urls_of(job_id: int) -> dict[str, str]:
    return {
        "list": reverse("imports:list"),
        "new": reverse("imports:new"),
        "detail": reverse("imports:detail", args=[job_id]),
        "progress": reverse("imports:progress", args=[job_id]),
        "report": reverse("imports:report", args=[job_id]),
    }


# ---- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_import_page_per_role(client, users, job, role, tmp_path):
    client.force_login(users[role])
    before = state()
    allowed = role in IMPORTERS
    for name, url in urls_of(job.pk).items():
        response = client.get(url)
        assert response.status_code == (200 if allowed else 403), (role, name)
    upload = SimpleUploadedFile("new.csv", write_csv(tmp_path / "new.csv", [policy_row(7)]).read_bytes())
    response = client.post(reverse("imports:new"), {"kind": "policies", "file": upload})
    if allowed:
        assert response.status_code == 302
        assert ImportJob.objects.count() == before[0] + 1
    else:
        assert response.status_code == 403
        assert state() == before  # refused: no job, no task, no audit event


def test_anonymous_visitors_are_sent_to_the_login(client, job):
    for url in urls_of(job.pk).values():
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = client.post(reverse("imports:new"), {"kind": "policies"})
    assert response.status_code == 302
    assert ImportJob.objects.count() == 1


def test_jobs_are_scoped_to_the_creators_branch(client, products, users, importers, tmp_path):
    gd_job = finished_job(importers["gd"], tmp_path, "gd.csv")
    gz_job = finished_job(importers["gz"], tmp_path, "gz.csv")
    js_job = finished_job(importers["js"], tmp_path, "js.csv")
    cli_job = finished_job(None, tmp_path, "cli.csv")

    client.force_login(importers["gd"])
    listed = client.get(reverse("imports:list")).context["page"].object_list
    assert {j.pk for j in listed} == {gd_job.pk, gz_job.pk}  # GD's subtree
    for visible in (gd_job, gz_job):
        assert client.get(reverse("imports:detail", args=[visible.pk])).status_code == 200
    for hidden in (js_job, cli_job):
        for name, url in urls_of(hidden.pk).items():
            if name not in ("list", "new"):
                assert client.get(url).status_code == 404, name
    assert client.get(reverse("imports:detail", args=[999999])).status_code == 404  # same as missing

    client.force_login(importers["gz"])
    assert client.get(reverse("imports:detail", args=[gd_job.pk])).status_code == 404  # not upwards

    client.force_login(users["admin"])  # VIEW_ALL_ORGS
    listed = client.get(reverse("imports:list")).context["page"].object_list
    assert {j.pk for j in listed} == {gd_job.pk, gz_job.pk, js_job.pk, cli_job.pk}


# ---- upload -------------------------------------------------------------------------------------


def test_upload_creates_a_job_enqueues_its_run_and_shows_its_page(
    client, products, users, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(users["admin"])
    page = client.get(reverse("imports:new"))
    assert "csrfmiddlewaretoken" in page.content.decode()
    path = sample_file(tmp_path, "保单导入.csv")
    with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as fh:
        response = client.post(reverse("imports:new"), {"kind": "policies", "file": fh})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("imports:detail", args=[job.pk])
    assert (job.kind, job.original_name, job.created_by) == ("policies", "保单导入.csv", users["admin"])
    task = DBTaskResult.objects.get(task_path=TASK_PATH)
    assert task.queue_name == "imports" and task.args_kwargs["args"] == [job.pk]

    detail = client.get(response["Location"])
    html = detail.content.decode()
    assert 'hx-trigger="every 2s"' in html  # waiting: the panel polls
    assert "文件已收到" in html  # the success message, in Chinese by default


def test_upload_over_the_size_limit_is_refused_with_a_clear_error(client, products, users, settings):
    settings.HUIFANG_IMPORT_MAX_BYTES = 1024 * 1024
    client.force_login(users["admin"])
    big = SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 * 3 // 2))
    response = client.post(reverse("imports:new"), {"kind": "policies", "file": big})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["文件大小为 1.5 MB，最大可导入 1 MB 的文件。"]
    assert "文件大小为 1.5 MB，最大可导入 1 MB 的文件。" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_upload_needs_a_known_kind_and_a_file(client, products, users, tmp_path):
    client.force_login(users["admin"])
    path = sample_file(tmp_path)
    with open(path, "rb") as fh:
        response = client.post(reverse("imports:new"), {"kind": "widgets", "file": fh})
    assert response.status_code == 400
    assert response.context["form"].errors["kind"]
    response = client.post(reverse("imports:new"), {"kind": "policies"})
    assert response.status_code == 400 and response.context["form"].errors["file"]
    assert ImportJob.objects.count() == 0


def test_upload_without_the_csrf_token_is_refused(products, users, tmp_path):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    with open(sample_file(tmp_path), "rb") as fh:
        response = client.post(reverse("imports:new"), {"kind": "policies", "file": fh})
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_an_unreadable_upload_shows_a_failed_job_with_the_reason(client, products, users):
    client.force_login(users["admin"])
    upload = SimpleUploadedFile("data.xlsx", b"\x00\x01 definitely not a workbook")
    response = client.post(reverse("imports:new"), {"kind": "policies", "file": upload}, follow=True)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    html = response.content.decode()
    assert 'data-testid="job-error"' in html
    assert "hx-trigger" not in html  # nothing to wait for


# ---- the job page and its progress panel ---------------------------------------------------------


def test_progress_panel_polls_while_running_and_stops_when_done(client, users, products, tmp_path):
    client.force_login(users["admin"])
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 6)])
    job = import_job_create(kind="policies", path=path, user=users["admin"])
    import_job_run(job.pk, batch_size=2, stop_after_rows=2)
    panel = client.get(reverse("imports:progress", args=[job.pk]))
    html = panel.content.decode()
    assert panel.status_code == 200
    assert f'hx-get="{reverse("imports:progress", args=[job.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerHTML"' in html
    assert 'aria-valuenow="40"' in html  # 2 of 5 rows
    assert "已处理 2 / 5 行" in html and "本页面自动刷新" in html
    assert "<html" not in html  # a fragment, not a page

    import_job_run(job.pk)
    html = client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in html
    assert 'data-status="done"' in html and 'aria-valuenow="100"' in html


def test_job_page_shows_counts_and_the_first_quarantined_rows_without_personal_data(client, users, job):
    client.force_login(users["admin"])
    response = client.get(reverse("imports:detail", args=[job.pk]))
    html = response.content.decode()
    ctx = response.context
    assert ctx["job"].created_count == 2 and ctx["job"].quarantined_count == 1
    assert ctx["errors"] == [
        {
            "row_number": 3,
            "column": "投保人证件号码 applicant_id_number",
            "reason": ctx["errors"][0]["reason"],
            "business_key": "P000002",
        }
    ]
    assert "GB 11643" in ctx["errors"][0]["reason"] and "校验" in ctx["errors"][0]["reason"]
    assert "P000002" in html and "投保人证件号码" in html
    assert BAD_ID not in html and "张三丰" not in html  # never a value from the file
    assert "导入" in html and "已隔离" in html  # Chinese by default
    assert f'href="{reverse("imports:report", args=[job.pk])}"' in html


def test_pages_read_in_english_when_asked(client, users, job):
    client.force_login(users["admin"])
    html = client.get(reverse("imports:detail", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Quarantined rows" in html and "resident ID checksum does not match" in html


def test_list_shows_jobs_newest_first(client, users, job, products, tmp_path):
    second = finished_job(users["admin"], tmp_path, "second.csv")
    client.force_login(users["admin"])
    response = client.get(reverse("imports:list"))
    assert [j.pk for j in response.context["page"].object_list] == [second.pk, job.pk]
    html = response.content.decode()
    assert "second.csv" in html and reverse("imports:new") in html


# ---- the report ---------------------------------------------------------------------------------


def read_report(content: bytes):
    wb = load_workbook(io.BytesIO(content), read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    wb.close()
    return sheets


def test_report_has_a_summary_and_the_quarantined_rows(client, users, job):
    client.force_login(users["admin"])
    response = client.get(reverse("imports:report", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"import-{job.pk}-policies-report.xlsx" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    sheets = read_report(content)
    summary, quarantine = list(sheets.values())
    summary_map = {row[0]: row[1] for row in summary if row and row[0]}
    assert summary_map["新建"] == 2 and summary_map["隔离行数"] == 1
    assert summary_map["导入任务"] == str(job.pk)
    assert quarantine[0] == ["行号", "列", "列名", "原因", "业务主键"]
    [row] = quarantine[1:]
    assert row[0] == 3 and row[1] == "投保人证件号码" and row[2] == "applicant_id_number"
    assert row[4] == "P000002" and "GB 11643" in row[3]
    flat = repr(sheets)
    assert BAD_ID not in flat and "张三丰" not in flat and "13812341234" not in flat
