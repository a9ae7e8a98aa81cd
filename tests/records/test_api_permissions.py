"""Who may use the records API: writes need import_records (administrators, integration users),
reads need view_records and see only their org units. A refused call changes nothing."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from huifang.org.tokens import api_token_create, api_token_revoke
from huifang.records.models import Policy
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values
from tests.records.test_api_support import API, ApiClient, counts, customer_payload, policy_payload

pytestmark = pytest.mark.django_db

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

WRITES = {
    "put-policy": lambda api: api.put("/policies/P000001", policy_payload(1)),
    "batch-policies": lambda api: api.post(
        "/policies/batch", {"items": [policy_payload(1), policy_payload(2)]}
    ),
    "put-customer": lambda api: api.put("/customers/C000009", customer_payload(9)),
    "batch-customers": lambda api: api.post("/customers/batch", {"items": [customer_payload(9)]}),
}
WRITE_ALLOWED = {
    "admin": {"put-policy": 201, "batch-policies": 200, "put-customer": 201, "batch-customers": 200}
}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("role", ROLES)
def test_write_permission_matrix(users, products, role, write):
    api = ApiClient(users[role])
    before = counts()
    response = WRITES[write](api)
    expected = WRITE_ALLOWED.get(role, {}).get(write, 403)
    assert response.status_code == expected, response.json()
    if expected == 403:
        assert response.json()["code"] == "forbidden"
        assert counts() == before  # a refused call writes nothing
    else:
        assert counts() != before


@pytest.fixture
def records(products):
    """A policy (and its applicant) in 广州 (under 广东) and one in 南京 (under 江苏)."""
    RecordsFeed("policies").upsert(
        [(1, policy_values(1, org_unit="GZ")), (2, policy_values(2, org_unit="NJ"))]
    )


READ_GZ = {
    "agent": 200,  # 广州 itself
    "supervisor": 200,  # 广东, the parent
    "problem_handler": 200,
    "complaint_handler": 200,
    "qa_inspector": 200,
    "auditor": 200,  # sees every org unit
    "admin": 200,
    "agent_js": 404,  # 江苏 cannot see 广东: the same answer as for a missing record
    "norole": 403,  # no view_records at all
}


@pytest.mark.parametrize("role", ROLES)
def test_read_permission_matrix(users, records, role):
    api = ApiClient(users[role])
    before = counts()
    expected = READ_GZ[role]
    for path in ("/policies/P000001", "/customers/C000001"):
        response = api.get(path)
        assert response.status_code == expected, (path, response.json())
        if expected == 404:
            assert response.json() == api.get(path.replace("000001", "999999")).json()  # not probe-able
    listing = api.get("/policies")
    if expected == 403:
        assert listing.status_code == 403
    else:
        assert listing.status_code == 200
        seen = {p["policy_no"] for p in listing.json()["items"]}
        assert ("P000001" in seen) == (expected == 200)
    assert counts() == before


@pytest.mark.parametrize(
    ("role", "gz", "nj"),
    [("agent", 200, 404), ("agent_js", 404, 200), ("supervisor", 200, 404), ("auditor", 200, 200)],
)
def test_each_branch_sees_its_own_policies(users, records, role, gz, nj):
    api = ApiClient(users[role])
    assert api.get("/policies/P000001").status_code == gz
    assert api.get("/policies/P000002").status_code == nj
    assert api.get("/customers/C000002").status_code == nj
    visible = {p["policy_no"] for p in api.get("/policies").json()["items"]}
    assert visible == {no for no, code in (("P000001", gz), ("P000002", nj)) if code == 200}


def test_an_integration_user_with_only_import_records_can_write_but_not_read(make_user, products):
    user = make_user("core_system", None, "HO")
    user.user_permissions.add(Permission.objects.get(codename="import_records"))
    api = ApiClient(user)
    assert api.put("/policies/P000001", policy_payload(1)).status_code == 201
    assert api.get("/policies/P000001").status_code == 403
    assert api.get("/policies").status_code == 403


def test_no_token_a_wrong_token_or_a_revoked_token_is_401_and_writes_nothing(users, products):
    token, secret = api_token_create(users["admin"], "revoked")
    api_token_revoke(token)
    before = counts()
    clients = [
        Client(),
        Client(headers={"authorization": "Bearer hf_nope_nope"}),
        Client(headers={"authorization": f"Bearer {secret}"}),
    ]
    for client in clients:
        response = client.put(
            f"{API}/policies/P000001", data=policy_payload(1), content_type="application/json"
        )
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
        assert client.get(f"{API}/policies").status_code == 401
    assert counts() == before
    assert not Policy.objects.exists()
