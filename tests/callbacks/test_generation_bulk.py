"""A large generation on PostgreSQL (a backfill) is one transaction whose foreign keys are checked
set-based at its end: the same tasks, the same constraints afterwards, and a row without its
referenced record fails the whole load."""

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


@pytest.fixture
def eight_policies(products, time_machine, monkeypatch):
    from huifang.rules.services import rule_packs_load_shipped

    time_machine.move_to(datetime(2026, 2, 6, 10, 0, tzinfo=SHANGHAI), tick=False)
    rule_packs_load_shipped(audit=False)  # a transactional test starts from a flushed database
    for n in range(1, 9):
        add_policy(n)
    monkeypatch.setattr(generation, "BULK_ROWS", 5)


def test_a_bulk_load_creates_every_task_once_and_puts_the_foreign_keys_back(eight_policies):
    keys = foreign_keys()
    assert len(keys) == 8 and all("DEFERRABLE INITIALLY DEFERRED" in d for _n, d in keys)
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 8
    assert foreign_keys() == keys
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
