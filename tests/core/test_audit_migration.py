"""Events written before the parallel chains keep verifying after migration 0004: they become chain
0 (link = seq, format 1, hashes untouched) and new events link on."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from huifang.core.audit import chain
from huifang.core.audit.events import PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import audit_chain_verify, audit_record, chain_for
from tests.conftest import is_postgres

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not is_postgres(),
        reason="migrates back and forth, so it commits; on SQLite the flush after a committing test "
        "cannot empty the append-only table (its triggers refuse DELETE), on PostgreSQL it truncates",
    ),
    pytest.mark.django_db(transaction=True),
]

BEFORE = [("audit", "0003_append_only_triggers")]
AFTER = [("audit", "0004_parallel_chains")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _legacy_rows(n):
    """Rows as the single-chain code wrote them (hash over the original fields)."""
    prev = chain.GENESIS
    rows = []
    for seq in range(1, n + 1):
        moment = datetime(2026, 11, 1, 8, 0, seq, tzinfo=UTC)
        fields = chain.event_fields(
            seq=seq,
            occurred_at=moment,
            event_type="pii.revealed",
            actor_id=None,
            actor_label="system",
            subject_type="test.thing",
            subject_id=str(seq),
            org_unit_id=None,
            rule="PV-10",
            data={"i": seq},
            prev_hash=prev,
            algorithm="sha256",
        )
        digest = chain.event_hash(fields)
        rows.append((seq, moment, prev, digest))
        prev = digest
    return rows


def test_legacy_events_become_chain_zero_and_still_verify():
    _migrate(BEFORE)
    try:
        with connection.cursor() as cur:
            for seq, moment, prev, digest in _legacy_rows(3):
                cur.execute(
                    "INSERT INTO audit_auditevent (seq, occurred_at, event_type, actor_label, subject_type,"
                    " subject_id, org_unit_id, rule, data, prev_hash, hash, algorithm)"
                    " VALUES (%s, %s, 'pii.revealed', 'system', 'test.thing', %s, NULL, 'PV-10', %s, %s, %s, 'sha256')",
                    [seq, moment, str(seq), f'{{"i": {seq}}}', prev, digest],
                )
    finally:
        _migrate(AFTER)
    legacy = list(AuditEvent.objects.order_by("seq"))
    assert [(e.chain, e.chain_seq, e.format) for e in legacy] == [(0, 1, 1), (0, 2, 1), (0, 3, 1)]
    result = audit_chain_verify()
    assert result.ok and result.count == 3
    # A new event of a subject whose chain is 0 links onto the last legacy event.
    subject = next(str(i) for i in range(1000) if chain_for(f"test.thing:x{i}") == 0)
    new = audit_record(PII_REVEALED, subject_type="test.thing", subject_id=f"x{subject}")
    assert (new.chain, new.chain_seq, new.prev_hash, new.format) == (0, 4, legacy[-1].hash, 2)
    assert new.seq > 3
    other = audit_record(PII_REVEALED, subject_type="test.thing", subject_id="elsewhere")
    assert audit_chain_verify().ok and audit_chain_verify().count == 5
    assert other.seq > new.seq
    # The triggers are back: the table is append-only again.
    with pytest.raises(Exception, match="append-only"):
        AuditEvent.objects.filter(pk=new.pk).update(rule="x")
