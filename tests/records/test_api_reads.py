"""GET /api/v1/policies, /policies/{policy_no}, /customers/{customer_no}: scoped, masked, with the
derived facts and the rules behind them."""

from datetime import date

import pytest

from huifang.core.crypto.masking import mask_phone
from huifang.records.derive import DERIVED_FACTS
from huifang.records.idnumbers import resident_id_make
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values
from tests.records.test_api_support import ApiClient, customer_payload

pytestmark = pytest.mark.django_db

ID_NUMBER = resident_id_make("110101", date(1960, 1, 2), 123)  # 110101196001021238-like


@pytest.fixture
def agent(users):
    return ApiClient(users["agent"])


@pytest.fixture
def policy(products):
    values = policy_values(
        1,
        applicant_id_number=ID_NUMBER,
        insured_no="I000001",
        insured_name="李小明",
        insured_id_number=resident_id_make("440104", date(2000, 5, 6), 7),
        insured_mobile="13900002222",
        insured_address="广东省深圳市南山区科技园",
    )
    outcome = RecordsFeed("policies").upsert([(1, values)])
    assert outcome.summary["created"] == 1
    return values


def test_policy_detail_is_masked_and_has_the_derived_facts_with_their_rules(agent, policy):
    response = agent.get("/policies/P000001")
    assert response.status_code == 200
    body = response.json()
    assert body["policy_no"] == "P000001" and body["product_code"] == "LIFE20"
    assert body["org_unit"] == "GZ" and body["status"] == "in_force" and body["premium"] == "10000.00"
    assert body["applicant"] == {
        "customer_no": "C000001",
        "name": "张*",
        "id_type": "resident_id",
        "id_number": f"{ID_NUMBER[:6]}********{ID_NUMBER[-4:]}",
        "sex": "M",
        "mobile": "138****1234",
    }
    assert body["insured"]["name"] == "李**" and body["insured"]["mobile"] == "139****2222"
    derived = body["derived"]
    assert set(derived) == {fact.field for fact in DERIVED_FACTS}
    assert derived["applicant_age"] == {
        "value": 66,
        "rule": "RC-04",
        "explanation": derived["applicant_age"]["explanation"],
    }
    assert derived["recording_required"]["value"] is True and derived["recording_required"]["rule"] == "RC-04"
    assert (
        derived["cooling_off_end"]["value"] == "2026-02-20" and derived["cooling_off_end"]["rule"] == "CO-03"
    )
    assert derived["cooling_off_days"]["value"] == 15
    assert all(fact["explanation"] for fact in derived.values())


def test_no_plaintext_personal_information_in_any_read(users, policy, admin_api_customer):
    api = ApiClient(users["admin"])
    plaintext = [
        "张三",
        "李小明",
        ID_NUMBER,
        policy["insured_id_number"],
        "13812341234",
        "13900002222",
        "87654321",
        "体育西路",
        "科技园",
        "zhang.san",
        "1960-01-02",  # the birth date is part of what the masked ID number hides
    ]
    for path in ("/policies/P000001", "/policies", "/customers/C000001", "/customers/I000001"):
        response = api.get(path)
        assert response.status_code == 200, path
        text = response.content.decode()
        for value in plaintext:
            assert value not in text, (path, value)
            assert value.encode("unicode_escape").decode() not in text, (path, value)


@pytest.fixture
def admin_api_customer(users, policy):
    """The applicant's full customer record, sent through the API (contact details, preferences)."""
    api = ApiClient(users["admin"])
    body = customer_payload(
        1,
        id_number=ID_NUMBER,
        do_not_call_reason="客户要求",
        do_not_call_until="2026-12-31",
        e_callback_declined=True,
    )
    assert api.put("/customers/C000001", body).status_code == 200


def test_customer_detail_is_masked(agent, admin_api_customer):
    response = agent.get("/customers/C000001")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "张*" and body["mobile"] == "138****1234"
    assert body["id_number"] == f"{ID_NUMBER[:6]}********{ID_NUMBER[-4:]}"
    assert body["other_phones"] == [mask_phone("020-87654321")] and "8765" not in body["other_phones"][0]
    assert body["address"] == "广东省广州市****"
    assert body["email"] == "z***@example.com"
    assert body["org_unit"] == "GZ"
    assert body["contact_window_start"] == "09:00:00" and body["contact_window_end"] == "18:00:00"
    assert body["do_not_call_until"] == "2026-12-31" and body["e_callback_declined"] is True
    assert "birth_date" not in body and "do_not_call_reason" not in body


@pytest.fixture
def many(products):
    rows = [
        policy_values(1, org_unit="GZ"),
        policy_values(2, org_unit="SZ", status="lapsed"),
        policy_values(3, org_unit="NJ"),
        policy_values(4, org_unit="GD"),
        policy_values(5, org_unit="SUZ", status="surrendered"),
    ]
    RecordsFeed("policies").upsert(list(enumerate(rows)))


def numbers(response):
    assert response.status_code == 200, response.json()
    return [p["policy_no"] for p in response.json()["items"]]


def test_list_filters(users, many):
    api = ApiClient(users["auditor"])
    assert numbers(api.get("/policies")) == ["P000001", "P000002", "P000003", "P000004", "P000005"]
    assert numbers(api.get("/policies", policy_no="P000003")) == ["P000003"]
    assert numbers(api.get("/policies", policy_no="P404")) == []
    assert numbers(api.get("/policies", status="lapsed")) == ["P000002"]
    assert numbers(api.get("/policies", org_unit="GD")) == ["P000001", "P000002", "P000004"]  # subtree
    assert numbers(api.get("/policies", org_unit="JS", status="in_force")) == ["P000003"]
    assert numbers(api.get("/policies", org_unit="NOPE")) == []


def test_list_filters_stay_inside_the_callers_scope(users, many):
    api = ApiClient(users["supervisor"])  # 广东
    assert numbers(api.get("/policies")) == ["P000001", "P000002", "P000004"]
    assert numbers(api.get("/policies", org_unit="JS")) == []
    assert numbers(api.get("/policies", policy_no="P000003")) == []


def test_list_pages_with_limit_and_offset(users, many):
    api = ApiClient(users["auditor"])
    page = api.get("/policies", limit=2, offset=1).json()
    assert page["count"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [p["policy_no"] for p in page["items"]] == ["P000002", "P000003"]
    assert api.get("/policies", limit=2, offset=10).json()["items"] == []
    assert api.get("/policies").json()["limit"] == 50


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "cancelled"}, "query.status"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"offset": 2**70}, "query.offset"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(users, many, params, field):
    response = ApiClient(users["auditor"]).get("/policies", **params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_missing_records_are_404(agent, policy):
    for path in ("/policies/P404", "/customers/C404", "/policies/P%00", "/customers/" + "C" * 5000):
        response = agent.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert agent.get("/policies", policy_no="P\x00", org_unit="G\x00").json()["items"] == []
