"""Bad input to the records API is a 4xx with a clear error, never a 500, and writes nothing."""

import pytest

from tests.records.test_api_support import (
    ApiClient,
    counts,
    errors_by_field,
    policy_payload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(users):
    return ApiClient(users["admin"])


@pytest.fixture
def before(products, admin_api):
    return counts()


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"policy_no": "P1",', b"\xff\xfe\x00", b"null", b"[1, 2]", b'"text"', b"", b"[" * 50000],
    ids=["broken", "truncated", "binary", "null", "array", "string", "empty", "deep"],
)
@pytest.mark.parametrize("url", ["/policies/P000001", "/policies/batch"])
def test_malformed_json_is_4xx(admin_api, before, url, raw):
    method = admin_api.post if url.endswith("batch") else admin_api.put
    response = method(url, raw)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["code"] in {"bad_request", "validation_error"}
    assert counts() == before


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([1, 2], "body.premium"),
        ({"amount": 1}, "body.premium"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_422_naming_it(admin_api, before, value, field):
    response = admin_api.put("/policies/P000001", policy_payload(1, premium=value))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert field in errors_by_field(response.json())
    assert counts() == before


def test_a_scalar_of_the_wrong_kind_is_rejected_by_the_column_check(admin_api, before):
    # JSON numbers, strings and booleans are all taken; the column decides (as for a file cell).
    response = admin_api.put("/policies/P000001", policy_payload(1, premium=True, application_date=20260230))
    assert response.status_code == 422
    assert set(errors_by_field(response.json())) == {"premium", "application_date"}
    assert counts() == before


def test_json_nan_and_infinity_are_rejected(admin_api, before):
    raw = policy_payload(1)
    text = (
        '{"premium": NaN, "term_years": Infinity, '
        + ", ".join(f'"{k}": "{v}"' for k, v in raw.items() if k not in ("premium", "term_years"))
        + "}"
    )
    response = admin_api.put("/policies/P000001", text)
    assert response.status_code == 422
    assert set(errors_by_field(response.json())) == {"premium", "term_years"}
    assert counts() == before


def test_an_unknown_field_is_refused_not_dropped(admin_api, before):
    response = admin_api.put("/policies/P000001", policy_payload(1, applicant_mobil="13812341234"))
    assert response.status_code == 422
    assert list(errors_by_field(response.json())) == ["body.applicant_mobil"]
    response = admin_api.post(
        "/policies/batch", {"items": [policy_payload(1), policy_payload(2, colour="red")]}
    )
    assert response.status_code == 422
    assert list(errors_by_field(response.json())) == ["body.items.1.colour"]
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.items"),
        ({"items": "P000001"}, "body.items"),
        ({"items": None}, "body.items"),
        ({"items": [1]}, "body.items.0"),
        ({"items": [{"premium": [1]}]}, "body.items.0.premium"),
        ({"records": []}, "body.items"),
    ],
)
def test_a_batch_of_the_wrong_shape_is_422(admin_api, before, body, field):
    response = admin_api.post("/policies/batch", body)
    assert response.status_code == 422
    assert field in errors_by_field(response.json()), response.json()
    assert counts() == before


def test_a_form_encoded_body_is_4xx(admin_api, before):
    response = admin_api.client.put(
        "/api/v1/policies/P000001", data="policy_no=P000001", content_type="application/x-www-form-urlencoded"
    )
    assert 400 <= response.status_code < 500
    assert counts() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/widgets/W1"),
        ("post", "/widgets/batch"),
        ("get", "/widgets"),
        ("put", "/policy/P000001"),
        ("put", "/policies/"),  # no key
        ("put", "/policies/P000001/extra"),
    ],
)
def test_an_unknown_kind_or_a_missing_key_is_json_404(admin_api, before, method, path):
    response = getattr(admin_api, method)(path, policy_payload(1)) if method != "get" else admin_api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert counts() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/policies/P000001"), ("put", "/policies"), ("put", "/policies/batch")],
)
def test_a_wrong_method_is_json_405(admin_api, before, method, path):
    response = getattr(admin_api, method)(path, policy_payload(1))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert counts() == before
    response = admin_api.client.delete("/api/v1/policies/P000001")
    assert response.status_code == 405
