import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from huifang.core.audit import chain
from huifang.core.audit.events import PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.registry import register
from huifang.core.audit.services import audit_chain_verify, audit_record

pytestmark = pytest.mark.django_db


def _append(n=3, actor=None, subject_id="1"):
    # One subject: one chain, whatever the database (on PostgreSQL a transaction writes to one
    # chain anyway; on SQLite the chain is the subject's).
    return [
        audit_record(
            PII_REVEALED, actor=actor, subject_type="test.thing", subject_id=subject_id, data={"i": i}
        )
        for i in range(n)
    ]


def test_events_link_into_a_chain():
    events = _append(3)
    assert len({e.chain for e in events}) == 1
    assert [e.chain_seq for e in events] == [1, 2, 3]
    assert events[0].seq < events[1].seq < events[2].seq
    assert events[0].prev_hash == chain.GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert all(e.format == chain.CHAINED for e in events)
    assert events[0].rule == "PV-10"  # the event type's rule by default
    result = audit_chain_verify()
    assert result.ok and result.count == 3
    assert result.heads == {events[0].chain: (3, events[2].hash)}


def test_update_and_delete_are_refused_by_the_database():
    ev = _append(1)[0]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=ev.pk).update(event_type="x")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=ev.pk).delete()
    ev.refresh_from_db()
    assert ev.event_type == PII_REVEALED.id


def _drop_triggers():
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP TRIGGER audit_event_no_update_delete ON audit_auditevent")
        else:
            cur.execute("DROP TRIGGER audit_event_no_update")
            cur.execute("DROP TRIGGER audit_event_no_delete")


def test_tampered_row_is_named_by_verify(capsys):
    events = _append(4)
    call_command("audit", "verify")
    assert "4 events verified" in capsys.readouterr().out
    _drop_triggers()  # DDL is transactional on both databases: the test's rollback restores it
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"i": 99}', events[2].pk])
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_seq == events[2].seq and result.broken_id == events[2].pk
    assert result.count == 2
    assert "altered" in result.reason
    with pytest.raises(CommandError, match=f"#{events[2].seq}"):
        call_command("audit", "verify")


def test_deleted_row_is_detected_as_a_gap():
    events = _append(4)
    _drop_triggers()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    result = audit_chain_verify()
    assert not result.ok and result.broken_seq == events[2].seq
    assert "expected link #2, found #3" in result.reason


def test_an_event_moved_to_another_link_is_detected():
    events = _append(3)
    _drop_triggers()
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET chain_seq = 4 WHERE id = %s", [events[2].pk])
        cur.execute("UPDATE audit_auditevent SET chain_seq = 3 WHERE id = %s", [events[1].pk])
        cur.execute("UPDATE audit_auditevent SET chain_seq = 2 WHERE id = %s", [events[2].pk])
    result = audit_chain_verify()
    assert not result.ok and result.broken_id == events[2].pk


def test_sm3_mode_hashes_with_sm3(settings):
    settings.HUIFANG_CRYPTO = "sm"
    ev = _append(1)[0]
    assert ev.algorithm == "sm3"
    settings.HUIFANG_CRYPTO = "aes"
    ev2 = _append(1)[0]
    assert ev2.algorithm == "sha256"
    assert audit_chain_verify().ok  # a chain may mix algorithms; each row says which


def test_event_ids_are_stable_and_unique():
    register("test.once", "Once")
    with pytest.raises(ValueError):
        register("test.once", "Something else")


def test_actor_is_recorded(users):
    ev = _append(1, actor=users["agent"])[0]
    assert ev.actor_id == users["agent"].pk and ev.actor_label == "agent"
