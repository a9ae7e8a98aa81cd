"""The task counts the database keeps (huifang.reports.models.TaskCount) are always what a scan of
the tasks gives: after inserts, status changes, claims, attempts, moved due dates and org units,
deletes and bulk updates; before and after they are folded; and with a fold running beside a
writer whose rows are not yet committed (PostgreSQL)."""

import random
import threading
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Sum

from huifang.callbacks.assignment import callback_task_claim_next
from huifang.callbacks.models import CallbackTask, Channel, TaskKind, TaskStatus
from huifang.callbacks.status import callback_task_set_status
from huifang.core.permissions import Role
from huifang.reports.kpis import KpiFilters, kpi_callbacks, kpi_task_groups
from huifang.reports.models import TaskCount
from huifang.reports.services import KEY, task_counts_compact
from tests.callbacks import kpi_factories as f
from tests.conftest import is_postgres

DAY = date(2026, 3, 10)


def scanned() -> Counter:
    """(key) → (n, attempts) from the tasks themselves."""
    rows = (
        CallbackTask.objects.values_list(*KEY).annotate(n=Count("id"), a=Sum("attempts_submitted")).order_by()
    )
    return Counter({tuple(row[:-2]): (row[-2], row[-1] or 0) for row in rows})


def kept() -> Counter:
    rows = TaskCount.objects.values_list(*KEY).annotate(n=Sum("n"), a=Sum("attempts")).order_by()
    return Counter({tuple(row[:-2]): (row[-2], row[-1]) for row in rows if row[-2] or row[-1]})


def assert_kept_is_scanned():
    assert kept() == scanned()


@pytest.mark.django_db
def test_counts_follow_every_kind_of_write_and_survive_folding(org_tree, users, make_user):
    rng = random.Random(7)
    units = [org_tree["GZ"], org_tree["SZ"], org_tree["NJ"]]
    agent = make_user("counter_agent", Role.AGENT, "GD")
    tasks = [
        f.task(
            units[n % 3],
            due=DAY + timedelta(days=rng.randint(-10, 10)),
            kind=rng.choice([TaskKind.NEW_POLICY, TaskKind.CLAIM_CLOSED]),
            channel=rng.choice([Channel.PHONE, Channel.ELECTRONIC]),
        )
        for n in range(40)
    ]
    assert_kept_is_scanned()
    for _ in range(5):  # claims: pending → in progress
        assert callback_task_claim_next(agent, now=f.at(DAY, 10)) is not None
    assert_kept_is_scanned()
    for task in rng.sample(tasks, 10):  # closed through the state machine
        task.refresh_from_db()
        if task.status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            callback_task_set_status(task, rng.choice([TaskStatus.SUCCESS, TaskStatus.FAILED]))
    assert_kept_is_scanned()
    for task in rng.sample(tasks, 8):  # attempts recount the task's attempt facts
        f.attempt(task, channel=rng.choice(["phone", "letter"]))
    assert_kept_is_scanned()
    assert task_counts_compact() > 0
    assert_kept_is_scanned()
    assert not TaskCount.objects.filter(compacted=False).exists()
    # One row per key, none adding up to nothing.
    keys = Counter(TaskCount.objects.values_list(*KEY))
    assert max(keys.values()) == 1 and not TaskCount.objects.filter(n=0, attempts=0).exists()
    # Bulk updates (one statement, many rows), a moved due date and org unit, a delete.
    CallbackTask.objects.filter(status=TaskStatus.PENDING, kind=TaskKind.CLAIM_CLOSED).update(
        channel=Channel.LETTER
    )
    moved = tasks[0]
    CallbackTask.objects.filter(pk=moved.pk).update(due_date=DAY + timedelta(days=30), org_unit=units[2])
    CallbackTask.objects.filter(pk=tasks[1].pk).update(priority=9)  # not a counted column
    CallbackTask.objects.filter(pk=tasks[2].pk).delete()
    assert_kept_is_scanned()
    task_counts_compact()
    assert task_counts_compact() == 0  # nothing left to fold
    assert_kept_is_scanned()


@pytest.mark.django_db
def test_the_kpi_groups_from_the_counts_are_those_of_the_tasks(org_tree, users, world):
    """``kpi_task_groups`` without agent, sales-channel or product filters adds up the counts; the
    same groups come out of the tasks themselves, before and after folding."""
    for folded in (False, True):
        if folded:
            task_counts_compact()
        for kind, units in ((None, None), (TaskKind.NEW_POLICY, None), (None, [org_tree["GZ"].pk])):
            period = KpiFilters(date(2026, 2, 1), date(2026, 4, 30), kind=kind)
            tasks = CallbackTask.objects.filter(due_date__gte=period.start, due_date__lte=period.end)
            if kind:
                tasks = tasks.filter(kind=kind)
            if units:
                tasks = tasks.filter(org_unit_id__in=units)
            expected = (
                tasks.values_list("due_date", "status", "succeeded_in_cooling_off", "last_attempt_channel")
                .annotate(n=Count("id"), a=Sum("attempts_submitted"))
                .order_by()
            )
            got = kpi_task_groups(period, units, by_day=True)
            assert sorted(got, key=repr) == sorted(((*row[:-1], row[-1] or 0) for row in expected), key=repr)
            assert got
    k = kpi_callbacks(
        users["auditor"], KpiFilters(date(2026, 3, 1), date(2026, 3, 31)), today=date(2026, 3, 31)
    )
    assert k.due == CallbackTask.objects.filter(due_date__month=3).count()


@pytest.mark.postgres
@pytest.mark.skipif(not is_postgres(), reason="a fold beside an uncommitted writer: PostgreSQL's MVCC")
@pytest.mark.django_db(transaction=True)
def test_a_fold_beside_an_uncommitted_writer_loses_nothing(org_tree):
    for n in range(6):
        f.task(org_tree["GZ"], due=DAY + timedelta(days=n % 2))
    written, fold_done, errors = threading.Event(), threading.Event(), []

    def writer():
        try:
            from django.db import transaction

            with transaction.atomic():
                f.task(org_tree["GZ"], due=DAY)
                CallbackTask.objects.filter(due_date=DAY + timedelta(days=1)).update(status=TaskStatus.FAILED)
                written.set()
                assert fold_done.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
            written.set()
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(timeout=30)
    task_counts_compact()  # folds what is committed; the writer's rows are not in its snapshot
    fold_done.set()
    thread.join(timeout=30)
    assert not errors
    assert_kept_is_scanned()
    task_counts_compact()
    assert_kept_is_scanned()
