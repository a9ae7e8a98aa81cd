"""PUT /api/v1/{kind}/{key}: one record upserted by business key, validated like a file row."""

from datetime import date
from decimal import Decimal

import pytest

from huifang.core.audit.models import AuditEvent
from huifang.records.models import Claim, Customer, Policy, PolicyEvent, PolicyStatus, Product, Salesperson
from huifang.records.schema import validate_row
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values
from tests.records.test_api_support import (
    ApiClient,
    claim_payload,
    counts,
    customer_payload,
    errors_by_field,
    event_payload,
    policy_payload,
    product_payload,
    salesperson_payload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(users):
    return ApiClient(users["admin"])


@pytest.fixture
def policy(products):
    RecordsFeed("policies").upsert([(1, policy_values(1))])
    return Policy.objects.get(policy_no="P000001")


# kind → (URL, payload, a change, how to read the changed value back, the changed value)
CASES = {
    "customers": (
        "/customers/C000009",
        lambda: customer_payload(9),
        {"mobile": "13900001111"},
        lambda: Customer.objects.get(customer_no="C000009").mobile,
        "13900001111",
    ),
    "products": (
        "/products/HLT5",
        lambda: product_payload(),
        {"name": "安康长期医疗（2026版）"},
        lambda: Product.objects.get(code="HLT5").name,
        "安康长期医疗（2026版）",
    ),
    "salespeople": (
        "/salespeople/S001",
        lambda: salesperson_payload(),
        {"status": "离司", "departed_on": "2026-03-31"},
        lambda: Salesperson.objects.get(code="S001").status,
        "departed",
    ),
    "policies": (
        "/policies/P000002",
        lambda: policy_payload(2),
        {"premium": "20000.50"},
        lambda: Policy.objects.get(policy_no="P000002").premium,
        Decimal("20000.50"),
    ),
    "claims": (
        "/claims/CL001",
        lambda: claim_payload(),
        {"status": "结案", "closed_on": "2026-03-20", "amount_paid": 4800},
        lambda: Claim.objects.get(claim_no="CL001").status,
        "closed",
    ),
    "events": (
        "/events/E001",
        lambda: event_payload(),
        {"note": "变更受益人"},
        lambda: PolicyEvent.objects.get(event_no="E001").details,
        {"note": "变更受益人"},
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_is_created_then_unchanged_then_updated(kind, admin_api, policy):
    url, payload, change, read_back, changed = CASES[kind]

    response = admin_api.put(url, payload())
    assert response.status_code == 201, response.json()
    key = url.rsplit("/", 1)[1]
    assert response.json() == {"index": 0, "key": key, "status": "created", "errors": []}

    before = counts()
    response = admin_api.put(url, payload())
    assert response.status_code == 200
    assert response.json()["status"] == "unchanged"  # changes nothing and says so
    assert counts() == before  # no write, no audit event

    response = admin_api.put(url, payload() | change)
    assert response.status_code == 200
    assert response.json() == {"index": 0, "key": key, "status": "updated", "errors": []}
    assert read_back() == changed
    assert counts()["AuditEvent"] == before["AuditEvent"] + 1


def test_a_write_is_audited_with_the_caller_and_the_source(admin_api, users, products):
    admin_api.put("/policies/P000001", policy_payload(1))
    event = AuditEvent.objects.filter(event_type="records.batch_upserted").latest("id")
    assert event.actor_id == users["admin"].pk
    assert event.data["source"] == "api" and event.data["kind"] == "policies"
    assert event.data["created"] == 1


def test_idempotent_resend_writes_no_audit_event_and_keeps_updated_at(admin_api, products):
    assert admin_api.put("/policies/P000001", policy_payload(1)).status_code == 201
    stamp = Policy.objects.get(policy_no="P000001").updated_at
    audit_before = AuditEvent.objects.count()
    for _ in range(3):
        response = admin_api.put("/policies/P000001", policy_payload(1))
        assert response.status_code == 200 and response.json()["status"] == "unchanged"
    assert AuditEvent.objects.count() == audit_before
    assert Policy.objects.get(policy_no="P000001").updated_at == stamp


def test_policy_embeds_applicant_and_insured_by_column_name(admin_api, products):
    body = policy_payload(
        3,
        insured_no="I000003",
        insured_name="张小明",
        insured_id_type="身份证",
        insured_id_number="110101201001010015",
        insured_mobile="+86 139 0000 2222",
        channel="银保",  # Chinese labels are accepted as in files
        payment_mode="趸交",
    )
    assert admin_api.put("/policies/P000003", body).status_code == 201
    p = Policy.objects.select_related("applicant", "insured").get(policy_no="P000003")
    assert p.applicant.customer_no == "C000003" and p.applicant.name == "张三"
    assert p.insured.customer_no == "I000003" and p.insured.mobile == "13900002222"
    assert p.insured.birth_date == date(2010, 1, 1) and p.insured.sex == "M"  # from the ID number
    assert p.channel == "bank" and p.payment_mode == "single" and p.payment_frequency == "single"
    assert p.cooling_off_end == date(2026, 2, 20)  # derived on the way in (CO-03)


def test_a_changed_applicant_makes_the_policy_updated_and_audited(admin_api, products):
    admin_api.put("/policies/P000001", policy_payload(1))
    audit_before = AuditEvent.objects.count()
    response = admin_api.put("/policies/P000001", policy_payload(1, applicant_mobile="13900001111"))
    assert response.status_code == 200 and response.json()["status"] == "updated"
    assert Customer.objects.get(customer_no="C000001").mobile == "13900001111"
    assert AuditEvent.objects.count() == audit_before + 1


def test_a_policy_does_not_wipe_the_customers_contact_preferences(admin_api, products):
    customer = customer_payload(
        1, do_not_call_reason="客户要求", do_not_call_until="2026-12-31", e_callback_declined=True
    )
    assert admin_api.put("/customers/C000001", customer).status_code == 201
    assert admin_api.put("/policies/P000001", policy_payload(1)).status_code == 201
    c = Customer.objects.get(customer_no="C000001")
    assert c.do_not_call_until == date(2026, 12, 31) and c.do_not_call_reason == "客户要求"
    assert c.e_callback_declined is True
    assert c.email == "zhang.san@example.com" and c.other_phones == ["020-87654321"]


def test_an_event_is_applied_to_its_policy(admin_api, policy):
    body = event_payload("E9", kind="退保", event_date="2026-04-01")
    assert admin_api.put("/events/E9", body).status_code == 201
    policy.refresh_from_db()
    assert policy.status == PolicyStatus.SURRENDERED and policy.termination_date == date(2026, 4, 1)


# ---- rejected records: 422 naming the field, nothing written ----------------------------------


def assert_rejected(response, field, key=None):
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["code"] == "validation_error" and body["status"] == "rejected" and body["index"] == 0
    if key is not None:
        assert body["key"] == key
    assert field in errors_by_field(body), body["errors"]
    assert errors_by_field(body)[field]
    return body


def test_bad_id_checksum_is_rejected_naming_applicant_id_number(admin_api, products):
    before = counts()
    body = policy_payload(1)
    body["applicant_id_number"] = body["applicant_id_number"][:-1] + (
        "0" if body["applicant_id_number"][-1] != "0" else "1"
    )
    response = admin_api.put("/policies/P000001", body)
    assert_rejected(response, "applicant_id_number", key="P000001")
    assert "checksum" in errors_by_field(response.json())["applicant_id_number"]
    assert counts() == before


@pytest.mark.parametrize("missing", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_missing_policy_number_is_rejected(admin_api, products, missing):
    before = counts()
    body = policy_payload(1)
    if missing is None:
        del body["policy_no"]
    else:
        body["policy_no"] = missing
    response = admin_api.put("/policies/P000001", body)
    assert errors_by_field(assert_rejected(response, "policy_no"))["policy_no"] == "required"
    assert counts() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application_date", "2026-02-30"),
        ("application_date", "next tuesday"),
        ("receipt_date", "2026/13/01"),
        ("applicant_birth_date", "1960-01"),
    ],
)
def test_malformed_date_is_rejected_naming_the_field(admin_api, products, field, value):
    before = counts()
    response = admin_api.put("/policies/P000001", policy_payload(1, **{field: value}))
    assert "not a date" in errors_by_field(assert_rejected(response, field))[field]
    assert counts() == before


def test_key_in_the_url_must_equal_the_key_in_the_body(admin_api, products):
    before = counts()
    response = admin_api.put("/policies/P000009", policy_payload(1))
    body = assert_rejected(response, "policy_no", key="P000001")
    assert "P000009" in errors_by_field(body)["policy_no"]
    response = admin_api.put("/products/OTHER", product_payload("HLT5"))
    assert_rejected(response, "code")
    assert counts() == before


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"product_code": "NOPE"}, "product_code"),
        ({"org_unit": "XX"}, "org_unit"),
        ({"salesperson_code": "S404"}, "salesperson_code"),
    ],
)
def test_unknown_references_are_rejected_naming_the_column(admin_api, products, over, field):
    before = counts()
    response = admin_api.put("/policies/P000001", policy_payload(1, **over))
    assert "unknown" in errors_by_field(assert_rejected(response, field))[field]
    assert counts() == before


def test_claim_and_event_of_an_unknown_policy_are_rejected(admin_api, policy):
    before = counts()
    assert_rejected(admin_api.put("/claims/CL9", claim_payload("CL9", "P404")), "policy_no")
    assert_rejected(admin_api.put("/claims/CL9", claim_payload("CL9", claimant_no="C404")), "claimant_no")
    assert_rejected(admin_api.put("/events/E9", event_payload("E9", "P404")), "policy_no")
    assert_rejected(admin_api.put("/customers/C000009", customer_payload(9, org_unit="XX")), "org_unit")
    assert_rejected(admin_api.put("/salespeople/S9", salesperson_payload("S9", org_unit="XX")), "org_unit")
    assert counts() == before


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"channel": "carrier pigeon"}, "channel"),
        ({"premium": "abc"}, "premium"),
        ({"premium": -1}, "premium"),
        ({"premium": 1e13}, "premium"),
        ({"premium": "1e30"}, "premium"),
        ({"term_years": "Infinity"}, "term_years"),
        ({"payment_years": 40000}, "payment_years"),
        ({"is_group": "maybe"}, "is_group"),
        ({"applicant_mobile": "12345"}, "applicant_mobile"),
        ({"applicant_name": "张" * 101}, "applicant_name"),
        ({"receipt_date": "2026-01-01"}, "receipt_date"),  # before the application date
        ({"insured_no": "I1"}, "insured_name"),
        ({"policy_no": "P\x00"}, "policy_no"),
    ],
)
def test_bad_values_are_rejected_like_a_file_row(admin_api, products, over, field):
    before = counts()
    payload = policy_payload(1, **over)
    response = admin_api.put(f"/policies/{payload['policy_no']}", payload)
    body = assert_rejected(response, field)
    # Same check, same message as the file import (validate_row).
    expected = validate_row("policies", payload).errors
    assert [(e["field"], e["message"]) for e in body["errors"]] == expected
    assert counts() == before


def test_products_follow_the_cooling_off_rule(admin_api, org_tree):
    response = admin_api.put("/products/HLT5", product_payload(cooling_off_days=10))
    assert "CO-01" in errors_by_field(assert_rejected(response, "cooling_off_days"))["cooling_off_days"]
    assert not Product.objects.exists()
