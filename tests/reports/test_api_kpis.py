"""GET /api/v1/kpis/callbacks: who may read it, what it answers for the hand-built month, bad input."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase
from huifang.core.audit.models import AuditEvent
from tests.records.test_api_support import ApiClient

pytestmark = pytest.mark.django_db

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
ALLOWED = {"supervisor": 200, "auditor": 200, "admin": 200}  # view_reports
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


def state():
    return [m.objects.count() for m in (CallbackTask, Attempt, ProblemCase, AuditEvent)]


@pytest.fixture
def on_march_31():
    with time_machine.travel(datetime(2026, 3, 31, 12, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        yield


@pytest.mark.parametrize("role", ROLES)
def test_who_may_read_kpis(world, users, role):
    api = ApiClient(users[role])
    before = state()
    response = api.get("/kpis/callbacks", **MARCH)
    assert response.status_code == ALLOWED.get(role, 403), response.json()
    assert state() == before


def test_the_supervisors_month(world, users, on_march_31):
    body = ApiClient(users["supervisor"]).get("/kpis/callbacks", **MARCH).json()
    # The figures of tests/reports/test_kpis.py::test_a_supervisor_sees_guangdong.
    assert body["counts"] == {
        "due": 12,
        "success": 5,
        "refused": 2,
        "cancelled_before_callback": 1,
        "failed": 1,
        "problem_found": 1,
        "open": 2,
    }
    assert body["success_rate"] == {
        "rule": "KP-01",
        "numerator": 5,
        "denominator": 9,  # 12 − 2 refused − 1 cancelled
        "value": pytest.approx(5 / 9),
        "target": 0.9,
        "below_target": True,
    }
    assert body["success_in_cooling_off"] | {"value": None} == {
        "rule": "BS-12",
        "numerator": 4,
        "denominator": 9,
        "value": None,
    }
    assert (body["coverage"]["numerator"], body["coverage"]["denominator"]) == (3, 5)
    assert body["letter_visit_share"] | {"value": None} == {
        "rule": "KP-03",
        "numerator": 2,
        "denominator": 9,
        "value": None,
        "limit": 0.1,
        "alert": True,
    }
    assert body["problem_cases_on_time"] == {
        "rule": "BS-17",
        "numerator": 2,
        "denominator": 4,
        "value": 0.5,
        "due": 6,
        "open_overdue": 1,
    }
    assert body["attempts_per_success"] == {"rule": "", "numerator": 18, "denominator": 5, "value": 3.6}
    assert body["filters"] == {
        "start": "2026-03-01",
        "end": "2026-03-31",
        "org_unit": None,
        "channel": None,
        "product": None,
        "agent": None,
        "kind": None,
        "callback_channel": None,
    }


def test_filters(world, users, on_march_31):
    api = ApiClient(users["supervisor"])

    def get(**params):
        response = api.get("/kpis/callbacks", **MARCH, **params)
        assert response.status_code == 200, response.json()
        return response.json()

    sz = get(org_unit="SZ")
    assert (sz["counts"]["due"], sz["success_rate"]["value"]) == (2, 1.0)
    mine = get(agent="agent")
    assert (mine["counts"]["due"], mine["coverage"]) == (3, None)
    agency = get(channel="agency")
    assert agency["success_rate"]["value"] is None and agency["success_rate"]["below_target"] is None
    assert get(product="UL10")["counts"]["due"] == 1
    assert get(kind="claim_closed")["counts"]["due"] == 0
    assert get(callback_channel="visit")["counts"]["failed"] == 1
    everything = ApiClient(users["auditor"]).get("/kpis/callbacks", **MARCH).json()
    assert everything["counts"]["due"] == 14


def test_out_of_scope_and_unknown_filters(world, users):
    api = ApiClient(users["supervisor"])
    before = state()
    for params in (
        {"org_unit": "NJ"},
        {"org_unit": "HO"},
        {"org_unit": "NOPE"},
        {"agent": "agent_js"},
        {"agent": "x"},
    ):
        response = api.get("/kpis/callbacks", **MARCH, **params)
        assert response.status_code == 404, params
        assert response.json()["code"] == "not_found"
    assert (
        api.get("/kpis/callbacks", **MARCH, org_unit="NJ").json()
        == api.get("/kpis/callbacks", **MARCH, org_unit="NOPE").json()
    )  # not probe-able
    bad = {
        "product": ({"product": "NOPE"}, "product"),
        "reversed": ({"start": "2026-03-31", "end": "2026-03-01"}, "end"),
        "too long": ({"start": "2000-01-01", "end": "2026-03-01"}, "end"),
        "no end": ({"start": "2026-03-01"}, "query.end"),
        "not a date": ({"start": "2026-02-30", "end": "2026-03-01"}, "query.start"),
        "channel": ({"channel": "fax"}, "query.channel"),
    }
    for name, (params, field) in bad.items():
        query = MARCH | params
        if name == "no end":
            query = params
        response = api.get("/kpis/callbacks", **query)
        assert response.status_code == 422, (name, response.json())
        assert field in [e["field"] for e in response.json()["errors"]], (name, response.json())
    assert state() == before
