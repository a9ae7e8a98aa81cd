"""The API skeleton: health, OpenAPI and docs, JSON 404/405, the router list."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from config import api as api_module
from huifang.core import api as core_api
from huifang.core.jobs import heartbeat_record
from huifang.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/health"


def test_health_is_degraded_without_heartbeats(client):
    response = client.get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["worker"] == {"ok": False, "last_beat": None, "age_seconds": None}
    assert body["scheduler"]["ok"] is False
    assert body["version"]


def test_health_is_ok_with_fresh_heartbeats_and_degraded_with_stale_ones(client):
    heartbeat_record("worker")
    heartbeat_record("scheduler")
    body = client.get(HEALTH).json()
    assert body["status"] == "ok"
    assert body["worker"]["ok"] and body["worker"]["age_seconds"] < 5
    assert body["worker"]["last_beat"]

    WorkerHeartbeat.objects.filter(kind="worker").update(beat_at=timezone.now() - timedelta(minutes=4))
    body = client.get(HEALTH).json()
    assert body["status"] == "degraded"
    assert body["worker"]["ok"] is False and body["worker"]["age_seconds"] >= 240
    assert body["scheduler"]["ok"] is True


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    monkeypatch.setattr(core_api, "database_answers", lambda: False)
    response = client.get(HEALTH)
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is False and body["status"] == "degraded"


def test_openapi_document_and_docs_are_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/health", "/api/v1/me"} <= set(schema["paths"])
    assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())
    assert "security" not in schema["paths"]["/api/v1/health"]["get"]  # health needs no token
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger-ui-bundle.js" in docs.content  # served locally, not from a CDN


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_path_is_json_404(method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_json_405(client):
    response = client.post(HEALTH, data="{", content_type="application/json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_core_router_is_mounted_from_the_router_list():
    assert ("", "huifang.core.api.router") in api_module.ROUTERS
