"""POST /api/v1/{kind}/batch: up to 1,000 records, one result per item, good items land."""

import pytest

from huifang.core.audit.models import AuditEvent
from huifang.records.models import Customer, Policy, PolicyEvent, Product
from tests.records.test_api_support import (
    ApiClient,
    counts,
    customer_payload,
    errors_by_field,
    event_payload,
    policy_payload,
    product_payload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(users):
    return ApiClient(users["admin"])


def bad_checksum(n):
    body = policy_payload(n)
    last = body["applicant_id_number"][-1]
    body["applicant_id_number"] = body["applicant_id_number"][:-1] + ("0" if last != "0" else "1")
    return body


def test_one_bad_item_is_rejected_and_the_good_ones_land(admin_api, products):
    items = [policy_payload(1), bad_checksum(2), policy_payload(3, application_date="2026-02-31")]
    items.append(policy_payload(4))
    response = admin_api.post("/policies/batch", {"items": items})
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    assert [(i["index"], i["key"], i["status"]) for i in body["items"]] == [
        (0, "P000001", "created"),
        (1, "P000002", "rejected"),
        (2, "P000003", "rejected"),
        (3, "P000004", "created"),
    ]
    assert list(errors_by_field(body["items"][1])) == ["applicant_id_number"]
    assert list(errors_by_field(body["items"][2])) == ["application_date"]
    assert body["items"][0]["errors"] == []
    # Nothing of a rejected item is written: neither the policy nor its embedded applicant.
    assert set(Policy.objects.values_list("policy_no", flat=True)) == {"P000001", "P000004"}
    assert set(Customer.objects.values_list("customer_no", flat=True)) == {"C000001", "C000004"}


def test_resending_a_batch_says_unchanged_and_writes_no_audit_event(admin_api, products):
    items = [policy_payload(n) for n in range(1, 6)]
    first = admin_api.post("/policies/batch", {"items": items}).json()
    assert first["summary"]["created"] == 5
    before = counts()
    again = admin_api.post("/policies/batch", {"items": items})
    assert again.status_code == 200
    assert again.json()["summary"] == {"created": 0, "updated": 0, "unchanged": 5, "rejected": 0}
    assert {i["status"] for i in again.json()["items"]} == {"unchanged"}
    assert counts() == before


def test_a_mixed_batch_is_one_audit_event_with_the_counts(admin_api, products):
    admin_api.post("/policies/batch", {"items": [policy_payload(1), policy_payload(2)]})
    before = AuditEvent.objects.count()
    items = [policy_payload(1), policy_payload(2, premium=1), policy_payload(3), bad_checksum(4)]
    body = admin_api.post("/policies/batch", {"items": items}).json()
    assert body["summary"] == {"created": 1, "updated": 1, "unchanged": 1, "rejected": 1}
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("id")
    assert event.event_type == "records.batch_upserted"
    assert {k: event.data[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "rejected": 0,  # the service never saw the invalid item
    }


def test_a_key_twice_in_one_batch_keeps_the_first(admin_api, products):
    items = [policy_payload(1), policy_payload(1, premium=1)]
    body = admin_api.post("/policies/batch", {"items": items}).json()
    assert [i["status"] for i in body["items"]] == ["created", "rejected"]
    assert "duplicate" in errors_by_field(body["items"][1])["policy_no"]
    assert Policy.objects.get().premium == 10000


def test_unknown_references_reject_only_their_items(admin_api, products):
    items = [policy_payload(1, product_code="NOPE"), policy_payload(2, org_unit="XX"), policy_payload(3)]
    body = admin_api.post("/policies/batch", {"items": items}).json()
    assert [list(errors_by_field(i)) for i in body["items"]] == [["product_code"], ["org_unit"], []]
    assert Policy.objects.count() == 1


def test_events_in_a_batch_are_applied(admin_api, products):
    admin_api.put("/policies/P000001", policy_payload(1))
    items = [event_payload("E1", kind="cooling_off_cancel", event_date="2026-02-10"), event_payload("E2")]
    body = admin_api.post("/events/batch", {"items": items}).json()
    assert body["summary"]["created"] == 2
    assert Policy.objects.get().status == "cancelled_cooling_off"
    assert PolicyEvent.objects.filter(applied_at__isnull=False).count() == 2


def test_an_empty_batch_does_nothing(admin_api, org_tree):
    before = counts()
    response = admin_api.post("/customers/batch", {"items": []})
    assert response.status_code == 200
    assert response.json() == {
        "summary": {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0},
        "items": [],
    }
    assert counts() == before


def test_a_full_batch_of_1000_is_accepted(admin_api, org_tree):
    items = [product_payload(f"P{n:04d}", line="life", kind="traditional") for n in range(1000)]
    response = admin_api.post("/products/batch", {"items": items})
    assert response.status_code == 200
    assert response.json()["summary"]["created"] == 1000
    assert Product.objects.count() == 1000


@pytest.mark.parametrize("broken", [False, True], ids=["valid-items", "invalid-items"])
def test_an_oversize_batch_is_refused_whole(admin_api, products, broken):
    items = [policy_payload(n) for n in range(1, 1002)]
    if broken:  # the size is answered first, whatever the items hold
        items[5] = {"premium": [1, 2], "nonsense": True}
        items[7] = "not an object"
    before = counts()
    response = admin_api.post("/policies/batch", {"items": items})
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "batch_too_large"
    assert "1000" in body["message"] and "1001" in body["message"]
    assert body["errors"] == [{"field": "items", "message": body["errors"][0]["message"]}]
    assert "1000" in body["errors"][0]["message"]
    assert counts() == before


def test_customers_batch_accepts_phones_as_a_list_or_a_string(admin_api, org_tree):
    items = [
        customer_payload(1, other_phones=["020-87654321", "13900001111"]),
        customer_payload(2, other_phones="020-87654321；13900001111"),
    ]
    body = admin_api.post("/customers/batch", {"items": items}).json()
    assert body["summary"]["created"] == 2
    phones = {c.customer_no: c.other_phones for c in Customer.objects.all()}
    assert phones["C000001"] == phones["C000002"] == ["020-87654321", "13900001111"]
