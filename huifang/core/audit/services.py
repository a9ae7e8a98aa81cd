"""Writing and verifying the audit chains.

The trail is ``HUIFANG_AUDIT_CHAINS`` (default 16) hash chains written side by side
(docs/audit-chain.md). Each chain has its own links (``chain_seq`` 1, 2, 3 …) and, on PostgreSQL,
its own advisory lock held until commit, so writers in different chains never wait for each other,
while each chain stays a single, unforked line that ``audit_chain_verify`` walks on its own. A
transaction writes all its events into one chain, the chain of its first event's subject: it never
holds two chain locks (no lock-order deadlocks between writers) and takes its lock once.
``audit_chains_anchor`` (a periodic job, and ``huifang audit anchor``) seals the heads of all chains
into one event, so removing the last events of a chain is detected too.

The event is written in the caller's transaction, without a savepoint: if writing it fails, the
caller's transaction cannot commit (a change is never kept without its event).
"""

import logging
import os
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from huifang.core.audit import chain
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.registry import EventType, get

logger = logging.getLogger(__name__)

# Class id of the per-chain PostgreSQL advisory locks (two-key form: "HUIF", chain).
_PG_LOCK_KEY = 0x48554946
DEFAULT_CHAINS = 16
MAX_CHAINS = 1024
ANCHOR_EVENT = "audit.anchored"


def current_algorithm() -> str:
    return "sm3" if getattr(settings, "HUIFANG_CRYPTO", "aes") == "sm" else "sha256"


def chain_count() -> int:
    """How many chains new events are spread over (``HUIFANG_AUDIT_CHAINS``, setting or environment).

    Changing it is safe at any time: every event says which chain it is in, and each chain present
    in the table is verified, whatever the setting is now."""
    raw = getattr(settings, "HUIFANG_AUDIT_CHAINS", None)
    if raw in (None, ""):
        raw = os.environ.get("HUIFANG_AUDIT_CHAINS", "")
    if raw in (None, ""):
        return DEFAULT_CHAINS
    try:
        n = int(raw)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_CHAINS:
        raise ImproperlyConfigured(
            f"HUIFANG_AUDIT_CHAINS must be a whole number from 1 to {MAX_CHAINS}, not {raw!r}"
        )
    return n


def chain_for(key: str, chains: int | None = None) -> int:
    """The chain of a subject ("type:id"): stable, spread evenly (CRC-32 modulo the chain count)."""
    return zlib.crc32(key.encode()) % (chains or chain_count())


# One round trip on PostgreSQL: choose the chain (the one this transaction already writes to, else
# the subject's), take its lock (re-entrant), then, in a new statement and therefore a snapshot
# taken after the lock was granted, read the chain's head; plus the next global ``seq``. Created by
# migration 0004 (huifang.core.audit.migrations).
_PG_RESERVE = "SELECT * FROM audit_chain_reserve(%s, %s, %s)"


def _reserve_link(key: str) -> tuple[int, int, int, str]:
    """Lock a chain for this transaction and return (chain, seq, link, prev_hash) for a new event."""
    if connection.vendor == "postgresql":
        held_txid, held_chain = getattr(connection, "_huifang_audit_tx", (-1, 0))
        with connection.cursor() as cur:
            cur.execute(_PG_RESERVE, [chain_for(key), held_txid, held_chain])
            txid, chain_no, seq, last_link, last_hash = cur.fetchone()
        connection._huifang_audit_tx = (txid, chain_no)
    else:
        # SQLite: transactions are IMMEDIATE (settings), so this writer already holds the database's
        # one write lock; nothing to lock, and any chain may be used.
        chain_no = chain_for(key)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT (SELECT MAX(seq) FROM audit_auditevent),"
                " (SELECT chain_seq FROM audit_auditevent WHERE chain = %s ORDER BY chain_seq DESC LIMIT 1),"
                " (SELECT hash FROM audit_auditevent WHERE chain = %s ORDER BY chain_seq DESC LIMIT 1)",
                [chain_no, chain_no],
            )
            max_seq, last_link, last_hash = cur.fetchone()
        seq = (max_seq or 0) + 1
    return chain_no, seq, (last_link or 0) + 1, last_hash or chain.GENESIS


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
    """Append one event to the audit trail, inside the caller's transaction.

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
    subject_id = str(subject_id or "")
    actor_id = (
        getattr(actor, "pk", None)
        if actor is not None and getattr(actor, "is_authenticated", False)
        else None
    )
    actor_label = (getattr(actor, "username", "") or str(actor)) if actor is not None else "system"
    clean = chain.normalise_data(data)  # before the lock: keep the time it is held short
    algorithm = current_algorithm()
    rule = rule or event.rule
    key = f"{subject_type}:{subject_id}" if subject_type or subject_id else f"actor:{actor_label}"
    # No savepoint: should the append fail, the whole transaction is marked for rollback.
    with transaction.atomic(savepoint=False):
        chain_no, seq, link, prev_hash = _reserve_link(key)
        occurred_at = timezone.now()
        fields = chain.event_fields(
            seq=seq,
            occurred_at=occurred_at,
            event_type=event.id,
            actor_id=actor_id,
            actor_label=actor_label,
            subject_type=subject_type,
            subject_id=subject_id,
            org_unit_id=org_unit_id,
            rule=rule,
            data=clean,
            prev_hash=prev_hash,
            algorithm=algorithm,
            chain=chain_no,
            chain_seq=link,
            format=chain.CHAINED,
        )
        return AuditEvent.objects.create(
            seq=seq,
            chain=chain_no,
            chain_seq=link,
            format=chain.CHAINED,
            occurred_at=occurred_at,
            event_type=event.id,
            actor_id=actor_id,
            actor_label=actor_label,
            subject_type=subject_type,
            subject_id=subject_id,
            org_unit_id=org_unit_id,
            rule=rule,
            data=clean,
            prev_hash=prev_hash,
            hash=chain.event_hash(fields),
            algorithm=algorithm,
        )


# ---- heads and anchors ----------------------------------------------------------------------------


def audit_chain_heads() -> dict[int, tuple[int, str]]:
    """The last link of every chain that has one: {chain: (chain_seq, hash)} (committed events)."""
    highest = AuditEvent.objects.order_by("-chain").values_list("chain", flat=True).first()
    if highest is None:
        return {}
    heads = {}
    for chain_no in range(max(highest + 1, chain_count())):
        head = (
            AuditEvent.objects.filter(chain=chain_no)
            .order_by("-chain_seq")
            .values_list("chain_seq", "hash")
            .first()
        )
        if head is not None:
            heads[chain_no] = (head[0], head[1])
    return heads


def audit_chains_anchor(*, actor=None, force: bool = False) -> AuditEvent | None:
    """Seal the head of every chain into one event (``audit.anchored``), or None when the trail is
    empty or nothing but the last anchor was written since it (unless ``force``).

    Each chain proves its own events up to its last link; an anchor also proves how long each chain
    was when it was written, so events removed from the end of a chain are found by
    ``audit_chain_verify`` as long as an anchor was written after them.
    """
    from huifang.core.audit.events import AUDIT_ANCHORED

    with transaction.atomic():
        heads = audit_chain_heads()
        if not heads and not force:
            return None  # an empty trail: nothing to seal
        last = AuditEvent.objects.filter(event_type=ANCHOR_EVENT).order_by("-seq").first()
        if last is not None and not force:
            sealed = _sealed_heads(last)
            unchanged = all(
                head == ((last.chain_seq, last.hash) if c == last.chain else sealed.get(c))
                for c, head in heads.items()
            )
            if unchanged:
                return None
        return audit_record(
            AUDIT_ANCHORED,
            actor=actor,
            subject_type="audit.chains",
            subject_id="heads",
            data={"heads": {str(c): [link, digest] for c, (link, digest) in sorted(heads.items())}},
        )


def _sealed_heads(anchor: AuditEvent) -> dict[int, tuple[int, str]]:
    """The heads an anchor sealed; malformed data yields what can be read (verify reports it)."""
    raw = (anchor.data or {}).get("heads") if isinstance(anchor.data, dict) else None
    heads = {}
    for c, value in (raw or {}).items() if isinstance(raw, dict) else ():
        try:
            heads[int(c)] = (int(value[0]), str(value[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            continue
    return heads


# ---- verification ---------------------------------------------------------------------------------


@dataclass
class ChainBreak:
    """The first event of one chain that does not hold (or, for a shortened chain, the anchor that
    proves events are missing)."""

    chain: int
    chain_seq: int | None
    seq: int
    id: int
    reason: str


@dataclass
class VerifyResult:
    ok: bool
    count: int  # events verified (in every chain, up to its first break)
    broken_seq: int | None = None  # the first broken event (lowest seq among the breaks)
    broken_id: int | None = None
    reason: str = ""
    breaks: list[ChainBreak] = field(default_factory=list)  # one per broken chain, by seq
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)  # last verified link per chain
    anchors: int = 0  # anchors whose sealed heads were checked


def _check_link(ev: AuditEvent, expected_link: int, prev_hash: str) -> str:
    """Why ``ev`` is not a valid next link of its chain, or ""."""
    if ev.chain_seq != expected_link:
        return f"sequence gap in chain {ev.chain}: expected link #{expected_link}, found #{ev.chain_seq}"
    if ev.format == chain.LEGACY and (ev.chain != 0 or ev.chain_seq != ev.seq):
        return "an event in the original single-chain format outside its place (chain 0, link = seq)"
    if ev.format not in (chain.LEGACY, chain.CHAINED):
        return f"unknown event format {ev.format}"
    if ev.prev_hash != prev_hash:
        return "prev_hash does not match the previous event's hash"
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
        chain=ev.chain,
        chain_seq=ev.chain_seq,
        format=ev.format,
    )
    try:
        computed = chain.event_hash(fields)
    except ValueError as exc:
        return str(exc)
    if computed != ev.hash:
        return "content does not match its hash (altered)"
    return ""


def audit_chain_verify(chunk_size: int = 5000) -> VerifyResult:
    """Walk every chain from its first link; then check every anchor against the chains.

    Each chain is verified on its own (its first broken event is reported, the rest of that chain
    is not trusted); the result names the earliest of those events. An anchor that sealed a link a
    chain no longer has, or with another hash, means events were removed from (or rewritten at)
    the end of that chain.
    """
    heads: dict[int, tuple[int, str]] = {}
    broken: dict[int, ChainBreak] = {}
    count = 0
    for ev in AuditEvent.objects.order_by("chain", "chain_seq").iterator(chunk_size=chunk_size):
        if ev.chain in broken:
            continue
        link, prev_hash = heads.get(ev.chain, (0, chain.GENESIS))
        problem = _check_link(ev, link + 1, prev_hash)
        if problem:
            broken[ev.chain] = ChainBreak(ev.chain, ev.chain_seq, ev.seq, ev.pk, problem)
            continue
        heads[ev.chain] = (ev.chain_seq, ev.hash)
        count += 1
    anchors = _verify_anchors(heads, broken, chunk_size=min(chunk_size, 500))
    breaks = sorted(broken.values(), key=lambda b: b.seq)
    if not breaks:
        return VerifyResult(True, count, heads=heads, anchors=anchors)
    first = breaks[0]
    return VerifyResult(
        False,
        count,
        first.seq,
        first.id,
        f"chain {first.chain}: {first.reason}",
        breaks=breaks,
        heads=heads,
        anchors=anchors,
    )


def _verify_anchors(heads: dict, broken: dict, *, chunk_size: int) -> int:
    """Check the heads sealed by every trusted anchor (one in the verified part of its chain)."""
    checked = 0
    batch: list[AuditEvent] = []
    anchors = AuditEvent.objects.filter(event_type=ANCHOR_EVENT).order_by("seq")
    for anchor in anchors.iterator(chunk_size=chunk_size):
        if anchor.chain_seq > heads.get(anchor.chain, (0, ""))[0]:
            continue  # beyond its chain's first break: already reported, not evidence
        batch.append(anchor)
        if len(batch) >= chunk_size:
            checked += _check_anchor_batch(batch, heads, broken)
            batch = []
    if batch:
        checked += _check_anchor_batch(batch, heads, broken)
    return checked


def _check_anchor_batch(batch: list[AuditEvent], heads: dict, broken: dict) -> int:
    wanted: dict[int, set[int]] = {}
    for anchor in batch:
        for c, (link, _digest) in _sealed_heads(anchor).items():
            if c not in broken and link <= heads.get(c, (0, ""))[0]:
                wanted.setdefault(c, set()).add(link)
    found = {
        (c, link): (digest, seq, pk)
        for c, links in wanted.items()
        for link, digest, seq, pk in AuditEvent.objects.filter(chain=c, chain_seq__in=links).values_list(
            "chain_seq", "hash", "seq", "id"
        )
    }
    for anchor in batch:
        for c, (link, digest) in sorted(_sealed_heads(anchor).items()):
            if c in broken:
                continue
            last = heads.get(c, (0, ""))[0]
            if link > last:
                broken[c] = ChainBreak(
                    c,
                    None,
                    anchor.seq,
                    anchor.pk,
                    f"anchor #{anchor.seq} sealed link #{link}, but the chain ends at link #{last}: "
                    f"{link - last} event(s) removed from its end",
                )
            elif found[(c, link)][0] != digest:
                _digest, seq, pk = found[(c, link)]
                broken[c] = ChainBreak(
                    c,
                    link,
                    seq,
                    pk,
                    f"link #{link} does not have the hash that anchor #{anchor.seq} sealed "
                    "(the chain was rewritten from there)",
                )
    return len(batch)


def audit_events_for(subject_type: str, subject_id) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(subject_type=subject_type, subject_id=str(subject_id)).order_by("seq")
    )
