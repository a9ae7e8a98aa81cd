"""/api/v1/imports with bearer tokens: per-role permissions (refused calls create nothing), org
scoping (404 for another branch), upload → 202, status and progress, quarantined rows, the report."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult
from openpyxl import load_workbook

from huifang.org.tokens import api_token_create
from huifang.records.importers.runner import import_job_create, import_job_run
from huifang.records.models import ImportJob
from huifang.records.tasks import import_job_run_task
from tests.records.fixtures.importfiles import BAD_ID, branch_importers, finished_job, policy_row, write_csv
from tests.records.test_import_views import IMPORTERS, ROLES, state

pytestmark = pytest.mark.django_db

TASK_PATH = "huifang.records.tasks.import_job_run_task"

BASE = "/api/v1/imports"


@pytest.fixture
def importers(make_user):
    return branch_importers(make_user)


@pytest.fixture
def job(products, users, tmp_path):
    return finished_job(users["admin"], tmp_path)


def bearer(user) -> dict:
    _token, secret = api_token_create(user, "imports test")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def upload(tmp_path, name="upload.csv", rows=None):
    path = write_csv(tmp_path / name, rows or [policy_row(1), policy_row(2)])
    return SimpleUploadedFile(name, path.read_bytes(), content_type="text/csv")


@pytest.mark.parametrize("role", ROLES)
def test_every_import_endpoint_per_role(client, users, job, role, tmp_path):
    auth = bearer(users[role])
    before = state()
    allowed = role in IMPORTERS
    reads = [f"{BASE}", f"{BASE}/{job.pk}", f"{BASE}/{job.pk}/errors", f"{BASE}/{job.pk}/report.xlsx"]
    for url in reads:
        response = client.get(url, **auth)
        assert response.status_code == (200 if allowed else 403), (role, url)
        if not allowed:
            assert response.json()["code"] == "forbidden"
    response = client.post(BASE, {"kind": "policies", "file": upload(tmp_path)}, **auth)
    if allowed:
        assert response.status_code == 202
        assert ImportJob.objects.count() == before[0] + 1
    else:
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert state() == before  # refused: no job, no task, no audit event


def test_without_a_token_every_endpoint_answers_401(client, job, tmp_path):
    for url in (BASE, f"{BASE}/{job.pk}", f"{BASE}/{job.pk}/errors", f"{BASE}/{job.pk}/report.xlsx"):
        response = client.get(url)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    response = client.post(BASE, {"kind": "policies", "file": upload(tmp_path)})
    assert response.status_code == 401
    assert ImportJob.objects.count() == 1


def test_upload_answers_202_and_the_job_can_be_followed(
    client, products, users, tmp_path, django_capture_on_commit_callbacks
):
    auth = bearer(users["admin"])
    rows = [policy_row(1), policy_row(2, applicant_id_number=BAD_ID), policy_row(3, policy_no="")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BASE, {"kind": "policies", "file": upload(tmp_path, rows=rows)}, **auth)
    assert response.status_code == 202
    body = response.json()
    job_id = body["id"]
    assert body["status"] == "pending" and body["kind"] == "policies"
    assert body["file_name"] == "upload.csv" and body["created_by"] == "admin"
    assert body["urls"] == {
        "self": f"{BASE}/{job_id}",
        "errors": f"{BASE}/{job_id}/errors",
        "report": f"{BASE}/{job_id}/report.xlsx",
        "page": f"/imports/{job_id}/",
    }
    assert DBTaskResult.objects.get(task_path=TASK_PATH).queue_name == "imports"

    import_job_run_task.call(job_id)  # what the worker does

    status = client.get(body["urls"]["self"], **auth).json()
    assert status["status"] == "done"
    assert status["progress"] == {"rows_committed": 3, "total_rows": 3, "percent": 100}
    assert status["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "quarantined": 2}
    assert status["file_problems"] == [] and status["error"] == ""
    assert status["encoding"] == "utf-8" and status["file_format"] == "csv"

    errors = client.get(body["urls"]["errors"], **auth).json()
    assert errors["count"] == 2
    assert errors["items"] == [
        {
            "row": 3,
            "column": "applicant_id_number",
            "reason": "resident ID checksum does not match (GB 11643)",
            "business_key": "P000002",
        },
        {"row": 4, "column": "policy_no", "reason": "required", "business_key": ""},
    ]
    page = client.get(body["urls"]["errors"], {"offset": 1, "limit": 1}, **auth).json()
    assert (page["count"], page["offset"], page["limit"]) == (2, 1, 1)
    assert [e["row"] for e in page["items"]] == [4]
    assert BAD_ID not in repr(errors)

    listed = client.get(BASE, {"status": "done"}, **auth).json()
    assert [j["id"] for j in listed["items"]] == [job_id]


def test_paging_parameters_are_validated(client, users, job):
    auth = bearer(users["admin"])
    for params in ({"limit": 0}, {"limit": 5000}, {"offset": -1}):
        response = client.get(f"{BASE}/{job.pk}/errors", params, **auth)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"
    response = client.get(f"{BASE}/{job.pk}/errors", {"limit": "many"}, **auth)
    assert response.status_code == 422


def test_report_is_an_xlsx_workbook(client, users, job):
    response = client.get(f"{BASE}/{job.pk}/report.xlsx", **bearer(users["admin"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert len(wb.worksheets) == 2
    rows = list(wb.worksheets[1].iter_rows(values_only=True))
    wb.close()
    assert rows[1][0] == 3 and rows[1][2] == "applicant_id_number" and rows[1][4] == "P000002"


def test_unknown_kind_is_422_and_creates_no_job(client, users, tmp_path):
    response = client.post(BASE, {"kind": "widgets", "file": upload(tmp_path)}, **bearer(users["admin"]))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "kind"
    assert "unknown record kind 'widgets'" in body["errors"][0]["message"]
    assert ImportJob.objects.count() == 0


def test_missing_file_is_422(client, users):
    response = client.post(BASE, {"kind": "policies"}, **bearer(users["admin"]))
    assert response.status_code == 422
    assert any("file" in e["field"] for e in response.json()["errors"])
    assert ImportJob.objects.count() == 0


def test_a_file_over_the_limit_is_413(client, users, settings):
    settings.HUIFANG_IMPORT_MAX_BYTES = 1000
    big = SimpleUploadedFile("big.csv", b"x" * 1001)
    response = client.post(BASE, {"kind": "policies", "file": big}, **bearer(users["admin"]))
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "too_large"
    assert body["message"] == "the file is larger than the limit of 1000 bytes"
    assert ImportJob.objects.count() == 0


def test_an_unreadable_file_gives_a_failed_job(client, users, django_capture_on_commit_callbacks):
    garbage = SimpleUploadedFile("data.xlsx", b"\x00garbage")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BASE, {"kind": "policies", "file": garbage}, **bearer(users["admin"]))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "failed"
    assert body["error"] == "the file is named .xlsx but is not an Excel workbook"
    assert not DBTaskResult.objects.filter(task_path=TASK_PATH).exists()


def test_jobs_are_scoped_to_the_creators_branch(client, products, users, importers, tmp_path):
    gd_job = finished_job(importers["gd"], tmp_path, "gd.csv")
    js_job = finished_job(importers["js"], tmp_path, "js.csv")
    auth = bearer(importers["gd"])
    assert client.get(f"{BASE}/{gd_job.pk}", **auth).status_code == 200
    for url in (f"{BASE}/{js_job.pk}", f"{BASE}/{js_job.pk}/errors", f"{BASE}/{js_job.pk}/report.xlsx"):
        response = client.get(url, **auth)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert client.get(f"{BASE}/999999", **auth).status_code == 404
    assert [j["id"] for j in client.get(BASE, **auth).json()["items"]] == [gd_job.pk]
    # The auditor sees every branch but may not import: still 403.
    assert client.get(f"{BASE}/{js_job.pk}", **bearer(users["auditor"])).status_code == 403


def test_the_openapi_document_lists_the_import_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {
        "/api/v1/imports",
        "/api/v1/imports/{job_id}",
        "/api/v1/imports/{job_id}/errors",
        "/api/v1/imports/{job_id}/report.xlsx",
    } <= set(paths)
    assert "multipart/form-data" in paths["/api/v1/imports"]["post"]["requestBody"]["content"]


def test_a_running_job_reports_its_progress(client, products, users, tmp_path):
    path = write_csv(tmp_path / "p.csv", [policy_row(n) for n in range(1, 5)])
    created = import_job_create(kind="policies", path=path, user=users["admin"])
    import_job_run(created.pk, batch_size=1, stop_after_rows=1)
    body = client.get(f"{BASE}/{created.pk}", **bearer(users["admin"])).json()
    assert body["status"] == "running"
    assert body["progress"] == {"rows_committed": 1, "total_rows": 4, "percent": 25}
    assert body["started_at"] and body["finished_at"] is None
