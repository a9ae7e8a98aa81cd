"""API bearer tokens: create, revoke, authenticate.

A token's secret looks like ``hf_<prefix>_<random>``. It is shown once, at creation; the database
keeps only its SHA-256 (``token_hash``) and the prefix, which names the token in lists and logs.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from huifang.core.audit.events import API_TOKEN_CREATED, API_TOKEN_REVOKED
from huifang.core.audit.services import audit_record
from huifang.org.models import ApiToken, User

SECRET_PREFIX = "hf"  # noqa: S105 - the fixed start of every secret, not a secret
# last_used_at is written at most this often, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_prefix() -> str:
    while True:
        prefix = secrets.token_hex(4)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix


def _audit_data(token: ApiToken) -> dict:
    return {
        "prefix": token.prefix,
        "name": token.name,
        "user_id": token.user_id,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


@transaction.atomic
def api_token_create(
    user: User, name: str, expires_at: datetime | None = None, *, actor=None
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it and its secret (the only time the secret exists).

    ``actor`` is who asked for it (the user themself, an administrator; None for the command line).
    """
    prefix = _new_prefix()
    secret = f"{SECRET_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=prefix, token_hash=token_hash(secret), expires_at=expires_at
    )
    audit_record(
        API_TOKEN_CREATED, actor=actor, subject=token, org_unit_id=user.org_unit_id, data=_audit_data(token)
    )
    return token, secret


@transaction.atomic
def api_token_revoke(token: ApiToken, actor=None) -> ApiToken:
    """Revoke a token (idempotent: revoking a revoked token changes and records nothing)."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        API_TOKEN_REVOKED,
        actor=actor,
        subject=token,
        org_unit_id=token.user.org_unit_id,
        data=_audit_data(token),
    )
    return token


def api_token_authenticate(secret: str, now: datetime | None = None) -> ApiToken | None:
    """The live token for a presented secret, or None (unknown, revoked, expired, inactive user).

    Touches ``last_used_at`` at most once a minute.
    """
    if not secret or len(secret) > 200:
        return None
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("user", "user__org_unit")
        .filter(token_hash=token_hash(secret.strip()))
        .first()
    )
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_status(token: ApiToken, now: datetime | None = None) -> str:
    """ "active", "revoked" or "expired"."""
    now = now or timezone.now()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def api_token_list(user: User | None = None):
    """Selector: tokens, newest first, optionally of one user."""
    qs = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    return qs.filter(user=user) if user is not None else qs


def api_token_find(prefix_or_secret: str) -> list[ApiToken]:
    """Tokens whose prefix matches; a full secret (``hf_<prefix>_…``) is accepted too."""
    value = prefix_or_secret.strip()
    parts = value.split("_")
    if len(parts) >= 3 and parts[0] == SECRET_PREFIX:
        value = parts[1]
    return list(ApiToken.objects.select_related("user").filter(prefix=value))
