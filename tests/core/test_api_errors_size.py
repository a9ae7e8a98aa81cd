"""An API request body over the upload limit answers 413 JSON, never 500."""

import json

import pytest

from huifang.core.permissions import Role
from huifang.org.tokens import api_token_create

pytestmark = pytest.mark.django_db


def test_oversized_body_is_413_json(client, make_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    user = make_user("integrator", Role.ADMIN, "HO")
    _token, secret = api_token_create(user, "feed")
    body = json.dumps({"items": [{"policy_no": "P" * 50}] * 50})
    response = client.post(
        "/api/v1/policies/batch",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
