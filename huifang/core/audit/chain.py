"""Canonical serialisation and hashing of audit events (pure functions, no database).

Two formats of the hashed fields exist (``AuditEvent.format``):

* ``1`` (``LEGACY``): events written before the chain was split into parallel chains. The hash
  covers ``seq`` … ``algorithm`` below; such events are all in chain 0 with ``chain_seq == seq``.
* ``2`` (``CHAINED``): the hash also covers ``chain``, ``chain_seq`` and ``format`` itself, so an
  event cannot be moved to another chain or position, nor passed off as a legacy event.
"""

import hashlib
import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes

GENESIS = "0" * 64
LEGACY = 1
CHAINED = 2


def digest(algorithm: str, payload: bytes) -> str:
    if algorithm == "sha256":
        return hashlib.sha256(payload).hexdigest()
    if algorithm == "sm3":  # 国密 mode (HUIFANG_CRYPTO=sm)
        h = hashes.Hash(hashes.SM3())
        h.update(payload)
        return h.finalize().hex()
    raise ValueError(f"unknown audit hash algorithm {algorithm!r}")


def normalise_data(data) -> object:
    """JSON round-trip so the stored value and the hashed value are the same thing."""
    return json.loads(json.dumps(data or {}, ensure_ascii=False, default=str, sort_keys=True))


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_fields(
    *,
    seq: int,
    occurred_at: datetime,
    event_type: str,
    actor_id,
    actor_label: str,
    subject_type: str,
    subject_id: str,
    org_unit_id,
    rule: str,
    data,
    prev_hash: str,
    algorithm: str,
    chain: int = 0,
    chain_seq: int | None = None,
    format: int = LEGACY,
) -> dict:
    fields = {
        "seq": int(seq),
        "occurred_at": iso_utc(occurred_at),
        "event_type": event_type,
        "actor_id": actor_id,
        "actor_label": actor_label or "",
        "subject_type": subject_type or "",
        "subject_id": str(subject_id or ""),
        "org_unit_id": org_unit_id,
        "rule": rule or "",
        "data": data,
        "prev_hash": prev_hash,
        "algorithm": algorithm,
    }
    if format != LEGACY:
        fields.update(chain=int(chain), chain_seq=int(chain_seq), format=int(format))
    return fields


def event_hash(fields: dict) -> str:
    return digest(fields["algorithm"], canonical(fields))
