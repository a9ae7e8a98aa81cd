"""Error shapes of the API: every failure is JSON with a code and field-level messages, never a 500
for bad input. A test-only API (same class, handlers and auth as /api/v1/) is mounted beside the real one."""

import logging

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import path
from ninja import Field, Schema
from ninja.errors import HttpError

from config.api import api
from huifang.core.api import HuifangAPI, require_cap
from huifang.core.permissions import Cap
from huifang.org.api_auth import ApiTokenAuth
from huifang.org.models import User
from huifang.org.tokens import api_token_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class ItemIn(Schema):
    policy_no: str = Field(min_length=3)
    amount: int


class OrderIn(Schema):
    items: list[ItemIn]


errors_api = HuifangAPI(title="errors", version="test", urls_namespace="api-errors", auth=ApiTokenAuth())


@errors_api.post("/orders", auth=None)
def order_create(request, payload: OrderIn):
    return {"count": len(payload.items)}


@errors_api.get("/items/{item_id}", auth=None)
def item_detail(request, item_id: int, verbose: bool = False):
    if item_id == 404:
        raise Http404
    return {"id": item_id}


@errors_api.get("/users/{user_id}", auth=None)
def user_detail(request, user_id: int):
    return {"username": User.objects.get(pk=user_id).username}


@errors_api.post("/service-refuses", auth=None)
def service_refuses(request):
    raise DjangoValidationError({"policy_no": ["Unknown policy."], NON_FIELD_ERRORS: ["Nothing saved."]})


@errors_api.post("/service-refuses-plain", auth=None)
def service_refuses_plain(request):
    raise DjangoValidationError("The policy is cancelled.")


@errors_api.get("/boom", auth=None)
def boom(request):
    raise RuntimeError("internal detail 13800138000")


@errors_api.post("/conflict", auth=None)
def conflict(request):
    raise HttpError(409, "The policy changed meanwhile.")


@errors_api.get("/admin-only")
def admin_only(request):
    require_cap(request, Cap.ADMINISTER)
    return {"ok": True}


urlpatterns = [path("api/errors/", errors_api.urls), path("api/v1/", api.urls)]

ORDERS = "/api/errors/orders"


def post_json(client, url, body):
    return client.post(url, data=body, content_type="application/json")


def test_valid_body_passes(client):
    response = post_json(client, ORDERS, {"items": [{"policy_no": "P0001", "amount": 3}]})
    assert response.status_code == 200
    assert response.json() == {"count": 1}


def test_invalid_body_is_422_with_field_paths(client):
    response = post_json(client, ORDERS, {"items": [{"policy_no": "P0001", "amount": 1}, {"policy_no": "P"}]})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error" and body["message"]
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"body.items.1.policy_no", "body.items.1.amount"}
    assert all(fields.values())


def test_invalid_query_and_path_params_are_422(client):
    response = client.get("/api/errors/items/abc")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["path.item_id"]
    response = client.get("/api/errors/items/1?verbose=maybe")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.verbose"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"items": [', b"\xff\xfe\x00", b"null", b"[1, 2]", b'"text"', b""],
    ids=["broken", "truncated", "binary", "null", "array", "string", "empty"],
)
def test_malformed_json_is_4xx_never_500(client, raw):
    response = client.post(ORDERS, data=raw, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    body = response.json()
    assert body["code"] in {"bad_request", "validation_error"}
    assert body["message"]


def test_form_encoded_body_is_4xx(client):
    response = client.post(ORDERS, data={"items": "x"})
    assert 400 <= response.status_code < 500


def test_http404_and_does_not_exist_are_json_404(client):
    for url in ("/api/errors/items/404", "/api/errors/users/999999"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "message": response.json()["message"], "errors": []}


def test_django_validation_error_from_a_service_is_422_with_field_names(client):
    response = client.post("/api/errors/service-refuses")
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"field": "policy_no", "message": "Unknown policy."} in errors
    assert {"field": "", "message": "Nothing saved."} in errors
    response = client.post("/api/errors/service-refuses-plain")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "", "message": "The policy is cancelled."}]


def test_unexpected_error_is_500_without_details(client, caplog):
    with caplog.at_level(logging.ERROR, logger="huifang.core.api"):
        response = client.get("/api/errors/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert "13800138000" not in response.content.decode() and "RuntimeError" not in response.content.decode()
    assert any("boom" in r.getMessage() for r in caplog.records)  # logged, with the path


@pytest.mark.parametrize(
    "username,status", [("admin", 200), ("agent", 403), ("auditor", 403), ("norole", 403)]
)
def test_require_cap_answers_403_json(client, users, username, status):
    _token, secret = api_token_create(users[username], "feed")
    response = client.get("/api/errors/admin-only", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "forbidden"


def test_authenticated_endpoint_without_token_is_401(client):
    response = client.get("/api/errors/admin-only")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_http_error_keeps_its_status_and_message(client):
    response = client.post("/api/errors/conflict")
    assert response.status_code == 409
    assert response.json() == {"code": "conflict", "message": "The policy changed meanwhile.", "errors": []}
