"""The OpenAPI document at /api/v1/openapi.json lists the records endpoints and documents every
column of the feed: name, type and whether it is required — straight from the column spec."""

import pytest

from config import api as api_module
from huifang.records.api_schemas import BATCH_LIMIT, RECORD_SCHEMAS
from huifang.records.schema import BUSINESS_KEYS, KINDS_COLUMNS

pytestmark = pytest.mark.django_db

SCHEMA_NAMES = {
    "customers": "CustomerIn",
    "products": "ProductIn",
    "salespeople": "SalespersonIn",
    "policies": "PolicyIn",
    "claims": "ClaimIn",
    "events": "EventIn",
}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_router_is_mounted():
    assert ("", "huifang.records.api.router") in api_module.ROUTERS


def test_the_document_lists_every_records_endpoint(document):
    paths = document["paths"]
    for kind, key in BUSINESS_KEYS.items():
        assert "put" in paths[f"/api/v1/{kind}/{{{key}}}"], kind
        assert "post" in paths[f"/api/v1/{kind}/batch"], kind
    assert "get" in paths["/api/v1/policies"]
    assert "get" in paths["/api/v1/policies/{policy_no}"]
    assert "get" in paths["/api/v1/customers/{customer_no}"]
    params = {p["name"] for p in paths["/api/v1/policies"]["get"]["parameters"]}
    assert params == {"policy_no", "status", "org_unit", "limit", "offset"}


@pytest.mark.parametrize("kind", list(BUSINESS_KEYS))
def test_write_endpoints_document_body_and_answers(document, kind):
    key = BUSINESS_KEYS[kind]
    name = SCHEMA_NAMES[kind]
    put = document["paths"][f"/api/v1/{kind}/{{{key}}}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{name}")
    assert {"200", "201", "401", "403", "422"} <= set(put["responses"])
    assert put["security"]  # a bearer token is needed
    batch = document["paths"][f"/api/v1/{kind}/batch"]["post"]
    assert {"200", "401", "403", "413", "422"} <= set(batch["responses"])
    body_ref = batch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    items = document["components"]["schemas"][body_ref]["properties"]["items"]
    assert items["maxItems"] == BATCH_LIMIT
    assert items["items"]["$ref"].endswith(f"/{name}")


@pytest.mark.parametrize("kind", list(KINDS_COLUMNS))
def test_input_schemas_mirror_the_column_spec(document, kind):
    columns = KINDS_COLUMNS[kind]
    assert list(RECORD_SCHEMAS[kind].model_fields) == [c.name for c in columns]
    schema = document["components"]["schemas"][SCHEMA_NAMES[kind]]
    assert list(schema["properties"]) == [c.name for c in columns]
    assert schema["required"] == [c.name for c in columns if c.required]
    assert BUSINESS_KEYS[kind] in schema["required"]
    assert schema["additionalProperties"] is False
    for column in columns:
        prop = schema["properties"][column.name]
        assert prop["title"] == column.zh
        assert prop["type"] in {"string", "number", "integer", "boolean", "array"}
        assert "default" not in prop


def test_field_types_are_documented(document):
    props = document["components"]["schemas"]["PolicyIn"]["properties"]
    assert props["application_date"] == props["application_date"] | {"type": "string", "format": "date"}
    assert props["premium"]["type"] == "number"
    assert props["term_years"]["type"] == "integer"
    assert props["sale_recorded"]["type"] == "boolean"
    assert props["policy_no"]["maxLength"] == 40
    assert set(props["channel"]["enum"]) == {"agency", "bank", "phone", "internet", "group"}
    assert "身份证" in props["applicant_id_type"]["description"]
    assert "checksum" in props["applicant_id_number"]["description"]
    customer = document["components"]["schemas"]["CustomerIn"]["properties"]
    assert customer["other_phones"]["type"] == "array"


def test_read_schemas_are_documented(document):
    schemas = document["components"]["schemas"]
    detail = schemas["PolicyDetailOut"]["properties"]
    assert "derived" in detail and "applicant" in detail
    derived = schemas["PolicyDerivedOut"]["properties"]
    assert set(derived) == {
        "applicant_age",
        "is_long_term",
        "recording_required",
        "cooling_off_days",
        "cooling_off_end",
    }
    assert {"count", "limit", "offset", "items"} <= set(schemas["PolicyListOut"]["properties"])
    assert "birth_date" not in schemas["CustomerOut"]["properties"]
