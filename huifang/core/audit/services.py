"""Writing and verifying the audit chain."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from huifang.core.audit import chain
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.registry import EventType, get

logger = logging.getLogger(__name__)

# Any constant: the PostgreSQL advisory lock that serialises appends to the chain.
_PG_LOCK_KEY = 0x48554946  # "HUIF"


def current_algorithm() -> str:
    return "sm3" if getattr(settings, "HUIFANG_CRYPTO", "aes") == "sm" else "sha256"


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])
    # SQLite: transactions are IMMEDIATE (settings), so this writer already holds the write lock.


def audit_record(
    event: EventType | str,
    *,
    actor=None,
    subject=None,
    subject_type: str = "",
    subject_id: str = "",
    org_unit_id: int | None = None,
    rule: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    ``subject`` may be a model instance (its label and pk are used). ``rule`` defaults to the
    event type's rule. ``data`` must already be masked: it is stored for ever.
    """
    if isinstance(event, str):
        event = get(event)
    if subject is not None:
        subject_type = subject_type or subject._meta.label_lower
        subject_id = subject_id or str(subject.pk)
        if org_unit_id is None:
            org_unit_id = getattr(subject, "org_unit_id", None)
    actor_id = (
        getattr(actor, "pk", None)
        if actor is not None and getattr(actor, "is_authenticated", False)
        else None
    )
    actor_label = (getattr(actor, "username", "") or str(actor)) if actor is not None else "system"
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
        occurred_at = timezone.now()
        algorithm = current_algorithm()
        clean = chain.normalise_data(data)
        fields = chain.event_fields(
            seq=seq,
            occurred_at=occurred_at,
            event_type=event.id,
            actor_id=actor_id,
            actor_label=actor_label,
            subject_type=subject_type,
            subject_id=subject_id,
            org_unit_id=org_unit_id,
            rule=rule or event.rule,
            data=clean,
            prev_hash=prev_hash,
            algorithm=algorithm,
        )
        return AuditEvent.objects.create(
            seq=seq,
            occurred_at=occurred_at,
            event_type=event.id,
            actor_id=actor_id,
            actor_label=actor_label,
            subject_type=subject_type,
            subject_id=str(subject_id or ""),
            org_unit_id=org_unit_id,
            rule=fields["rule"],
            data=clean,
            prev_hash=prev_hash,
            hash=chain.event_hash(fields),
            algorithm=algorithm,
        )


@dataclass
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""


def audit_chain_verify(chunk_size: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; report the first event whose link or hash does not hold."""
    prev_hash = chain.GENESIS
    expected_seq = 1
    count = 0
    qs = AuditEvent.objects.order_by("seq")
    for ev in qs.iterator(chunk_size=chunk_size):
        if ev.seq != expected_seq:
            return VerifyResult(
                False, count, ev.seq, ev.pk, f"sequence gap: expected #{expected_seq}, found #{ev.seq}"
            )
        if ev.prev_hash != prev_hash:
            return VerifyResult(
                False, count, ev.seq, ev.pk, "prev_hash does not match the previous event's hash"
            )
        fields = chain.event_fields(
            seq=ev.seq,
            occurred_at=ev.occurred_at,
            event_type=ev.event_type,
            actor_id=ev.actor_id,
            actor_label=ev.actor_label,
            subject_type=ev.subject_type,
            subject_id=ev.subject_id,
            org_unit_id=ev.org_unit_id,
            rule=ev.rule,
            data=chain.normalise_data(ev.data),
            prev_hash=ev.prev_hash,
            algorithm=ev.algorithm,
        )
        try:
            computed = chain.event_hash(fields)
        except ValueError as exc:
            return VerifyResult(False, count, ev.seq, ev.pk, str(exc))
        if computed != ev.hash:
            return VerifyResult(False, count, ev.seq, ev.pk, "content does not match its hash (altered)")
        prev_hash = ev.hash
        expected_seq += 1
        count += 1
    return VerifyResult(True, count)


def audit_events_for(subject_type: str, subject_id) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(subject_type=subject_type, subject_id=str(subject_id)).order_by("seq")
    )
