"""Parallel audit chains: spreading, one chain per transaction, anchors against removed tails,
the chain count setting, the periodic anchor job and the command."""

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from huifang.core.audit import chain
from huifang.core.audit.events import AUDIT_ANCHORED, PII_REVEALED
from huifang.core.audit.models import AuditEvent
from huifang.core.audit.services import (
    audit_chain_heads,
    audit_chain_verify,
    audit_chains_anchor,
    audit_record,
    chain_count,
    chain_for,
)
from tests.conftest import is_postgres


def forget_chain():
    vars(connections["default"]).pop("_huifang_audit_tx", None)


def record(subject_id, **kw):
    """An event as the first of its own transaction: its chain is its subject's. (On PostgreSQL a
    transaction writes to one chain; the test runs in one transaction, so it forgets which.)"""
    forget_chain()
    return audit_record(PII_REVEALED, subject_type="test.thing", subject_id=subject_id, **kw)


def subjects_in_distinct_chains(n, chains=None):
    """Subjects whose chains differ from each other and from the anchors' chain."""
    seen, out, i = {chain_for("audit.chains:heads", chains)}, [], 0
    while len(out) < n:
        c = chain_for(f"test.thing:{i}", chains)
        if c not in seen:
            seen.add(c)
            out.append(str(i))
        i += 1
    return out


def _drop_triggers():
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP TRIGGER audit_event_no_update_delete ON audit_auditevent")
        else:
            cur.execute("DROP TRIGGER audit_event_no_update")
            cur.execute("DROP TRIGGER audit_event_no_delete")


@pytest.mark.django_db
def test_subjects_spread_over_chains_each_linked_on_its_own():
    a, b, c = subjects_in_distinct_chains(3)
    events = [record(s, data={"n": n}) for n in range(3) for s in (a, b, c)]
    by_chain = {}
    for ev in events:
        by_chain.setdefault(ev.chain, []).append(ev)
    assert len(by_chain) == 3
    for chain_no, evs in by_chain.items():
        assert chain_no == chain_for(f"test.thing:{evs[0].subject_id}")
        assert [e.chain_seq for e in evs] == [1, 2, 3]
        assert evs[0].prev_hash == chain.GENESIS
        assert [e.prev_hash for e in evs[1:]] == [e.hash for e in evs[:-1]]
    assert [e.seq for e in events] == sorted(e.seq for e in events)  # seq: the order written
    result = audit_chain_verify()
    assert result.ok and result.count == 9 and len(result.heads) == 3


@pytest.mark.django_db
def test_a_broken_chain_does_not_hide_the_others():
    a, b = subjects_in_distinct_chains(2)
    ev_a = [record(a) for _ in range(3)]
    ev_b = [record(b) for _ in range(3)]
    _drop_triggers()  # DDL is transactional on both databases: the test's rollback restores it
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET actor_label = 'x' WHERE id IN (%s, %s)", [ev_a[1].pk, ev_b[2].pk]
        )
    result = audit_chain_verify()
    assert not result.ok
    assert [(b.chain, b.id) for b in result.breaks] == [
        (ev_a[1].chain, ev_a[1].pk),
        (ev_b[2].chain, ev_b[2].pk),
    ]
    assert result.broken_id == ev_a[1].pk  # the earliest written of the broken events
    assert result.count == 1 + 2


@pytest.mark.django_db
def test_an_anchor_seals_every_head_and_finds_a_removed_tail(capsys):
    a, b = subjects_in_distinct_chains(2)
    ev_a = [record(a) for _ in range(3)]
    ev_b = [record(b) for _ in range(2)]
    forget_chain()
    anchor = audit_chains_anchor()
    assert anchor.event_type == AUDIT_ANCHORED.id
    assert anchor.data["heads"][str(ev_a[0].chain)] == [3, ev_a[2].hash]
    assert anchor.data["heads"][str(ev_b[0].chain)] == [2, ev_b[1].hash]
    assert audit_chain_verify().ok and audit_chain_verify().anchors == 1
    assert anchor.chain not in (ev_a[0].chain, ev_b[0].chain)
    _drop_triggers()
    with connection.cursor() as cur:  # remove the last event of chain a: the chain alone still holds
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [ev_a[2].pk])
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_id == anchor.pk
    assert "sealed link #3, but the chain ends at link #2" in result.reason
    with pytest.raises(CommandError, match="removed from its end"):
        call_command("audit", "verify")


@pytest.mark.django_db
def test_an_anchor_finds_a_rewritten_chain_end():
    (a,) = subjects_in_distinct_chains(1)
    events = [record(a) for _ in range(2)]
    forget_chain()
    anchor = audit_chains_anchor()
    assert anchor.chain != events[0].chain
    last = events[-1]
    # Rewrite the last event consistently (its hash recomputed): the chain alone cannot tell.
    fields = chain.event_fields(
        seq=last.seq,
        occurred_at=last.occurred_at,
        event_type=last.event_type,
        actor_id=last.actor_id,
        actor_label="someone else",
        subject_type=last.subject_type,
        subject_id=last.subject_id,
        org_unit_id=last.org_unit_id,
        rule=last.rule,
        data=last.data,
        prev_hash=last.prev_hash,
        algorithm=last.algorithm,
        chain=last.chain,
        chain_seq=last.chain_seq,
        format=last.format,
    )
    _drop_triggers()
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET actor_label = %s, hash = %s WHERE id = %s",
            ["someone else", chain.event_hash(fields), last.pk],
        )
    result = audit_chain_verify()
    assert not result.ok and result.broken_id == last.pk
    assert "rewritten" in result.reason


@pytest.mark.django_db
def test_an_anchor_is_only_written_when_something_changed(capsys):
    assert audit_chains_anchor() is None  # an empty trail: nothing to seal
    record("1")
    forget_chain()
    first = audit_chains_anchor()
    assert first is not None
    forget_chain()
    assert audit_chains_anchor() is None
    call_command("audit", "anchor")
    assert "no new anchor" in capsys.readouterr().out
    record("2")
    forget_chain()
    assert audit_chains_anchor() is not None
    forget_chain()
    call_command("audit", "anchor", "--force")
    assert "sealed the heads of" in capsys.readouterr().out
    call_command("audit", "verify", "--heads")
    out = capsys.readouterr().out
    assert "audit chain OK" in out and "3 anchor(s) checked" in out
    heads = audit_chain_heads()
    assert all(f"chain {c}: link #{link} {digest}" in out for c, (link, digest) in heads.items())


@pytest.mark.django_db
def test_the_anchor_runs_as_a_periodic_job():
    from datetime import timedelta

    from huifang.core.audit.tasks import audit_chains_anchor_job
    from huifang.core.jobs import discover_periodic_jobs

    job = {j.name: j for j in discover_periodic_jobs()}["audit.anchor"]
    assert job.every == timedelta(minutes=5)
    record("1")
    forget_chain()
    seq = audit_chains_anchor_job.call()
    assert AuditEvent.objects.get(seq=seq).event_type == AUDIT_ANCHORED.id


def test_the_chain_count_comes_from_the_settings_and_is_checked(settings):
    assert chain_count() == 16
    settings.HUIFANG_AUDIT_CHAINS = "4"
    assert chain_count() == 4
    assert {chain_for(f"k{i}") for i in range(200)} == {0, 1, 2, 3}
    for bad in ("0", "lots", 5000):
        settings.HUIFANG_AUDIT_CHAINS = bad
        with pytest.raises(ImproperlyConfigured, match="HUIFANG_AUDIT_CHAINS must be a whole number"):
            chain_count()


@pytest.mark.django_db
def test_fewer_chains_later_still_verifies_every_chain(settings):
    subjects = subjects_in_distinct_chains(3)
    for s in subjects:
        record(s)
    settings.HUIFANG_AUDIT_CHAINS = 1
    record("after")
    assert record("after2").chain == 0
    result = audit_chain_verify()
    assert result.ok and result.count == 5
    forget_chain()
    anchor = audit_chains_anchor()
    assert len(anchor.data["heads"]) == len(result.heads)  # chains beyond the setting still sealed


# ---- PostgreSQL: one chain per transaction, concurrent writers -------------------------------------

pg_only = pytest.mark.skipif(not is_postgres(), reason="advisory locks and concurrent writers: PostgreSQL")


@pg_only
@pytest.mark.postgres
@pytest.mark.django_db
def test_a_transaction_writes_all_its_events_into_its_first_subjects_chain():
    a, b, c = subjects_in_distinct_chains(3)
    with transaction.atomic():
        forget_chain()
        events = [audit_record(PII_REVEALED, subject_type="test.thing", subject_id=s) for s in (a, b, c)]
    assert {e.chain for e in events} == {chain_for(f"test.thing:{a}")}
    assert [e.chain_seq for e in events] == [1, 2, 3]


@pg_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_a_chain():
    threads_n, per_thread = 8, 15
    barrier = threading.Barrier(threads_n)
    errors = []

    def work(i):
        try:
            barrier.wait(timeout=30)
            for n in range(per_thread):
                with transaction.atomic():  # two events per transaction, two subjects
                    audit_record(PII_REVEALED, subject_type="test.thing", subject_id=f"{i}-{n}")
                    audit_record(PII_REVEALED, subject_type="test.other", subject_id=f"{i}-{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    result = audit_chain_verify()
    assert result.ok and result.count == threads_n * per_thread * 2
    assert len(result.heads) > 1
    rows = list(AuditEvent.objects.values_list("subject_type", "subject_id", "chain"))
    chain_of = {(t, s): c for t, s, c in rows}
    for i in range(threads_n):
        for n in range(per_thread):  # both events of a transaction share its first subject's chain
            first = chain_for(f"test.thing:{i}-{n}")
            assert chain_of[("test.thing", f"{i}-{n}")] == chain_of[("test.other", f"{i}-{n}")] == first
