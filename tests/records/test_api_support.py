"""Helpers for the records API tests: token clients, JSON payloads, record counts."""

import json
from datetime import date

from django.test import Client

from huifang.core.audit.models import AuditEvent
from huifang.org.tokens import api_token_create
from huifang.records.idnumbers import resident_id_make
from huifang.records.models import Claim, Customer, Policy, PolicyEvent, Product, Salesperson
from tests.records.conftest import policy_values

API = "/api/v1"


class ApiClient:
    """A test client that presents a user's bearer token and speaks JSON."""

    def __init__(self, user):
        _token, secret = api_token_create(user, "test")
        self.client = Client(headers={"authorization": f"Bearer {secret}"})

    def get(self, path, **params):
        return self.client.get(API + path, params)

    def put(self, path, body):
        return self._send("put", path, body)

    def post(self, path, body):
        return self._send("post", path, body)

    def _send(self, method, path, body):
        data = body if isinstance(body, bytes | str) else json.dumps(body, default=str)
        return getattr(self.client, method)(API + path, data=data, content_type="application/json")


def jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values, default=str))


def policy_payload(n=1, **over) -> dict:
    """A policy as the core system sends it (JSON types; dates as strings)."""
    return jsonable(policy_values(n, **over))


def customer_payload(n=1, **over) -> dict:
    values = {
        "customer_no": f"C{n:06d}",
        "name": "张三",
        "id_type": "resident_id",
        "id_number": resident_id_make("110101", date(1990, 3, 7), n),
        "mobile": "13812341234",
        "other_phones": ["020-87654321"],
        "address": "广东省广州市天河区体育西路1号",
        "email": "zhang.san@example.com",
        "org_unit": "GZ",
        "contact_window_start": "09:00",
        "contact_window_end": "18:00",
    }
    values.update(over)
    return jsonable(values)


def product_payload(code="HLT5", **over) -> dict:
    values = {
        "code": code,
        "name": "安康长期医疗",
        "line": "health",
        "kind": "health",
        "term_type": "long",
        "cooling_off_days": 15,
    }
    values.update(over)
    return values


def salesperson_payload(code="S001", **over) -> dict:
    values = {"code": code, "name": "李四", "org_unit": "GZ", "channel": "agency"}
    values.update(over)
    return values


def claim_payload(no="CL001", policy_no="P000001", **over) -> dict:
    values = {"claim_no": no, "policy_no": policy_no, "reported_on": "2026-03-01", "amount_claimed": 5000}
    values.update(over)
    return values


def event_payload(no="E001", policy_no="P000001", **over) -> dict:
    values = {"event_no": no, "policy_no": policy_no, "kind": "service_requested", "event_date": "2026-03-02"}
    values.update(over)
    return values


def counts() -> dict:
    """What a call may have written: records of every kind and audit events."""
    return {
        model.__name__: model.objects.count()
        for model in (Customer, Product, Salesperson, Policy, Claim, PolicyEvent, AuditEvent)
    }


def errors_by_field(body: dict) -> dict:
    return {e["field"]: e["message"] for e in body["errors"]}
