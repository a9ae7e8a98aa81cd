"""A large generation on PostgreSQL (a backfill) is one transaction whose foreign keys are checked
set-based at its end: the same tasks, the same constraints afterwards, and a row without its
referenced record fails the whole load."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection

from huifang.callbacks import generation
from huifang.callbacks.generation import callback_tasks_generate
from huifang.callbacks.models import CallbackTask, TaskKind
from tests.callbacks.test_generation import add_policy, created_events
from tests.conftest import is_postgres

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not is_postgres(), reason="the bulk load is PostgreSQL's (SQLite inserts in chunks)"),
    pytest.mark.django_db(transaction=True),
]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def foreign_keys() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'callbacks_callbacktask'::regclass AND contype = 'f'"
        )
        return set(cursor.fetchall())


def indexes_and_unique() -> set[tuple]:
    """Index names with their columns, uniqueness and partial predicate, and the unique
    constraints' definitions. A rebuilt partial index prints its IN list another way (an ARRAY of
    casts instead of an array literal: the same constant to the planner), so predicates are
    compared by the values they name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indkey::text, indisunique, pg_get_expr(indpred, indrelid) "
            "FROM pg_index WHERE indrelid = 'callbacks_callbacktask'::regclass"
        )
        indexes = {(name, key, unique, _words(pred)) for name, key, unique, pred in cursor.fetchall()}
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'callbacks_callbacktask'::regclass AND contype = 'u'"
        )
        return indexes | set(cursor.fetchall())


def _words(predicate: str | None) -> tuple[str, ...] | None:
    if predicate is None:
        return None
    cleaned = re.sub(r"::[a-z ]+(\[\])?|ARRAY|ANY|[()\[\]{}',]", " ", predicate)
    return tuple(sorted(cleaned.split()))


@pytest.fixture
def eight_policies(products, time_machine, monkeypatch):
    from huifang.rules.services import rule_packs_load_shipped

    time_machine.move_to(datetime(2026, 2, 6, 10, 0, tzinfo=SHANGHAI), tick=False)
    rule_packs_load_shipped(audit=False)  # a transactional test starts from a flushed database
    for n in range(1, 9):
        add_policy(n)
    monkeypatch.setattr(generation, "BULK_ROWS", 5)


def test_a_bulk_load_creates_every_task_once_and_puts_the_foreign_keys_back(eight_policies, monkeypatch):
    keys, indexes = foreign_keys(), indexes_and_unique()
    assert len(keys) == 8 and all("DEFERRABLE INITIALLY DEFERRED" in d for _n, d in keys)
    assert ("callback_task_once_per_cycle", "UNIQUE (subject_key, rule_id, cycle)") in indexes
    seen_during = []
    insert = generation._insert

    def insert_and_look(*args, **kwargs):
        seen_during.append(indexes_and_unique())
        return insert(*args, **kwargs)

    monkeypatch.setattr(generation, "_insert", insert_and_look)
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 8
    # Built again after the rows: during the load only the primary key is there.
    assert [{row[0] for row in during} for during in seen_during] == [{"callbacks_callbacktask_pkey"}]
    assert foreign_keys() == keys and indexes_and_unique() == indexes
    assert CallbackTask.objects.count() == 8
    events = created_events()
    assert len(events) == 1 and events[0].data["created"] == 8  # one statement
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 0  # below the threshold: the probe


def test_a_row_without_its_policy_fails_the_whole_bulk_load(eight_policies, monkeypatch):
    keys = foreign_keys()
    insert = generation._insert

    def insert_and_orphan(*args, **kwargs):
        done = insert(*args, **kwargs)
        CallbackTask.objects.filter(pk=CallbackTask.objects.order_by("pk").first().pk).update(policy_id=10**9)
        return done

    monkeypatch.setattr(generation, "_insert", insert_and_orphan)
    with pytest.raises(IntegrityError):
        callback_tasks_generate(TaskKind.NEW_POLICY)
    assert CallbackTask.objects.count() == 0 and created_events() == []
    assert foreign_keys() == keys


def test_inserts_larger_than_the_statistics_know_are_planned_with_hash_joins(eight_policies):
    assert generation._stale_statistics(1)  # an empty task table: any insert is more than it knows
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 8
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE callbacks_callbacktask")
    assert not generation._stale_statistics(5) and generation._stale_statistics(9)


def test_a_load_smaller_than_the_table_keeps_its_indexes_and_keys(eight_policies, monkeypatch):
    """Rebuilding the indexes and checking the keys covers the whole table: only a load at least
    as large as the table is a bulk load."""
    monkeypatch.setattr(generation, "_task_rows_estimate", lambda: 1_000_000.0)
    assert not generation._bulk(8)
    seen_during = []
    insert = generation._insert

    def insert_and_look(*args, **kwargs):
        seen_during.append(len(foreign_keys()))
        return insert(*args, **kwargs)

    monkeypatch.setattr(generation, "_insert", insert_and_look)
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 8
    assert seen_during and set(seen_during) == {8}
