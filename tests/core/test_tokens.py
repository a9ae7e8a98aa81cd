"""API tokens: services, bearer authentication, the `huifang token` command, per-role /api/v1/me."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from huifang.core.audit.events import API_TOKEN_CREATED, API_TOKEN_REVOKED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import audit_chain_verify
from huifang.core.permissions import ROLE_CAPABILITIES, Role
from huifang.org.models import ApiToken
from huifang.org.tokens import api_token_authenticate, api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_create_stores_only_the_hash_and_audits(users):
    agent, admin = users["agent"], users["admin"]
    token, secret = api_token_create(agent, "core system feed", actor=admin)
    assert secret.startswith(f"hf_{token.prefix}_") and len(secret) > 40
    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(secret in str(value) for value in stored.values())

    event = AuditEvent.objects.get(event_type=API_TOKEN_CREATED.id)
    assert (event.subject_type, event.subject_id) == ("org.apitoken", str(token.pk))
    assert event.actor_id == admin.pk
    assert event.org_unit_id == agent.org_unit_id
    assert event.data["prefix"] == token.prefix and event.data["user_id"] == agent.pk
    assert secret not in str(event.data) and token.token_hash not in str(event.data)
    assert audit_chain_verify().ok


def test_bearer_token_authenticates_api_calls(client, users):
    token, secret = api_token_create(users["agent"], "feed")
    response = client.get(ME, **bearer(secret))
    assert response.status_code == 200
    assert response.json() == {
        "username": "agent",
        "org_unit": "GZ",
        "roles": [Role.AGENT.value],
        "capabilities": sorted(c.value for c in ROLE_CAPABILITIES[Role.AGENT]),
    }
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [None, "Bearer hf_00000000_wrong", "Bearer ", "Token whatever", "Basic YWdlbnQ6cGFzcw=="],
)
def test_missing_or_wrong_token_is_401_json(client, users, header):
    token, _secret = api_token_create(users["agent"], "feed")
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get(ME, **extra)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response["WWW-Authenticate"] == "Bearer"
    token.refresh_from_db()
    assert token.last_used_at is None  # the refused call changed nothing


def test_revoked_token_is_refused_and_revocation_is_audited(client, users):
    token, secret = api_token_create(users["agent"], "feed")
    assert client.get(ME, **bearer(secret)).status_code == 200
    api_token_revoke(token, actor=users["admin"])
    response = client.get(ME, **bearer(secret))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    event = AuditEvent.objects.get(event_type=API_TOKEN_REVOKED.id)
    assert event.actor_id == users["admin"].pk and event.subject_id == str(token.pk)
    api_token_revoke(token, actor=users["admin"])  # idempotent: no second event
    assert AuditEvent.objects.filter(event_type=API_TOKEN_REVOKED.id).count() == 1


def test_expired_token_is_refused(client, users):
    _token, secret = api_token_create(users["agent"], "feed", expires_at=timezone.now() + timedelta(days=1))
    assert client.get(ME, **bearer(secret)).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert client.get(ME, **bearer(secret)).status_code == 401


def test_inactive_users_token_is_refused(client, users):
    agent = users["agent"]
    _token, secret = api_token_create(agent, "feed")
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    response = client.get(ME, **bearer(secret))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_last_used_at_is_written_at_most_once_a_minute(users):
    token, secret = api_token_create(users["agent"], "feed")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        assert api_token_authenticate(secret).last_used_at == start
        traveller.shift(timedelta(seconds=30))
        api_token_authenticate(secret)
        token.refresh_from_db()
        assert token.last_used_at == start
        traveller.shift(timedelta(seconds=31))
        api_token_authenticate(secret)
        token.refresh_from_db()
        assert token.last_used_at == start + timedelta(seconds=61)


@pytest.mark.parametrize(
    "username",
    [
        "agent",
        "supervisor",
        "problem_handler",
        "complaint_handler",
        "qa_inspector",
        "auditor",
        "admin",
        "agent_js",
        "norole",
    ],
)
def test_me_works_for_every_active_user(client, users, username):
    user = users[username]
    _token, secret = api_token_create(user, "feed")
    response = client.get(ME, **bearer(secret))
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == username
    assert body["org_unit"] == user.org_unit.code
    assert body["roles"] == [g for g in (r.value for r in Role) if user.groups.filter(name=g).exists()]


def test_session_login_does_not_authenticate_the_api(client, users):
    client.force_login(users["admin"])
    assert client.get(ME).status_code == 401


# ---- the command --------------------------------------------------------------------------------


def test_token_command_create_list_revoke(client, users, capsys):
    call_command("token", "create", "--user", "supervisor", "--name", "core feed", "--days", "30")
    out, err = capsys.readouterr()
    secret = out.strip()
    token = ApiToken.objects.get()
    assert secret.startswith(f"hf_{token.prefix}_")
    assert "shown only once" in err
    assert token.name == "core feed"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert client.get(ME, **bearer(secret)).json()["username"] == "supervisor"

    call_command("token", "list")
    listing = capsys.readouterr().out
    assert token.prefix in listing and "supervisor" in listing and "active" in listing
    assert secret not in listing

    call_command("token", "revoke", token.prefix)
    assert "revoked" in capsys.readouterr().out
    assert client.get(ME, **bearer(secret)).status_code == 401
    call_command("token", "list", "--user", "supervisor")
    assert "revoked" in capsys.readouterr().out
    event = AuditEvent.objects.get(event_type=API_TOKEN_REVOKED.id)
    assert event.actor_id is None and event.actor_label == "system"


def test_token_command_without_expiry_and_errors(users, capsys):
    call_command("token", "create", "--user", "agent", "--days", "0")
    assert ApiToken.objects.get().expires_at is None
    with pytest.raises(CommandError, match="no user"):
        call_command("token", "create", "--user", "nobody")
    with pytest.raises(CommandError, match="no token"):
        call_command("token", "revoke", "deadbeef")
    users["norole"].is_active = False
    users["norole"].save()
    with pytest.raises(CommandError, match="inactive"):
        call_command("token", "create", "--user", "norole")
    assert ApiToken.objects.count() == 1
