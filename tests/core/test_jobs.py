"""Background jobs: enqueue on commit, retries with backoff, periodic slots, heartbeats, the worker."""

import sqlite3
import subprocess
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from huifang.core import jobs
from huifang.core.jobs import (
    ATTEMPT_KWARG,
    PeriodicJob,
    RetryableError,
    current_attempt,
    enqueue_on_commit,
    heartbeat_status,
    huifang_task,
    periodic,
    scheduler_tick,
)
from huifang.core.models import PeriodicRun, WorkerHeartbeat
from huifang.core.tasks import heartbeat, prune
from tests.core.test_serve import huifang_cmd, migrated_var_dir, subprocess_env  # noqa: F401

pytestmark = pytest.mark.django_db

CALLS: list[tuple[str, int]] = []


@huifang_task
def record(key: str) -> str:
    CALLS.append((key, current_attempt()))
    return key


@huifang_task(max_attempts=3, backoff_seconds=10, max_backoff_seconds=15)
def always_busy(key: str) -> None:
    CALLS.append((key, current_attempt()))
    raise RetryableError("gateway busy")


@huifang_task(max_attempts=5, backoff_seconds=10)
def busy_once(key: str) -> str:
    CALLS.append((key, current_attempt()))
    if current_attempt() == 1:
        raise RetryableError("try later", retry_after=3)
    return "done"


@huifang_task(max_attempts=5)
def broken(key: str) -> None:
    raise ValueError("a bug, not a busy gateway")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def run_ready_tasks(limit: int = 20) -> list[DBTaskResult]:
    """What `huifang worker` does for each ready task, in-process and inside the test transaction."""
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    ran = []
    for _ in range(limit):
        row = DBTaskResult.objects.ready().first()
        if row is None:
            break
        row.claim(worker.worker_id)
        worker.run_task(row)
        row.refresh_from_db()
        ran.append(row)
    return ran


# ---- enqueue_on_commit --------------------------------------------------------------------------


def test_enqueue_on_commit_enqueues_nothing_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        suppress(RuntimeError),
        transaction.atomic(),
    ):
        enqueue_on_commit(record, "rolled-back")
        raise RuntimeError("the service failed")
    assert callbacks == []
    assert DBTaskResult.objects.count() == 0


def test_enqueue_on_commit_enqueues_once_when_the_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        enqueue_on_commit(record, "committed")
        assert DBTaskResult.objects.count() == 0  # not before the commit
    assert len(callbacks) == 1
    row = DBTaskResult.objects.get()
    assert row.task_path == "tests.core.test_jobs.record"
    assert row.args_kwargs == {"args": ["committed"], "kwargs": {}}
    assert row.status == TaskResultStatus.READY
    run_ready_tasks()
    assert CALLS == [("committed", 1)]
    assert DBTaskResult.objects.get().status == TaskResultStatus.SUCCESSFUL


# ---- retry policy -------------------------------------------------------------------------------


def test_retryable_error_re_enqueues_with_growing_backoff_then_gives_up():
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        always_busy.enqueue("x")
        first = run_ready_tasks()
        assert [r.status for r in first] == [TaskResultStatus.SUCCESSFUL]  # handed over to attempt 2
        assert first[0].return_value["retry"]["attempt"] == 2
        second = DBTaskResult.objects.ready().first()
        assert second is None  # not before its time
        second = DBTaskResult.objects.exclude(pk=first[0].pk).get()
        assert second.run_after == start + timedelta(seconds=10)
        assert second.args_kwargs["kwargs"] == {ATTEMPT_KWARG: 2}

        traveller.move_to(start + timedelta(seconds=10))
        run_ready_tasks()
        third = DBTaskResult.objects.exclude(pk__in=[first[0].pk, second.pk]).get()
        assert third.run_after == start + timedelta(seconds=10 + 15)  # 20 s capped at 15 s
        assert third.args_kwargs["kwargs"] == {ATTEMPT_KWARG: 3}

        traveller.move_to(start + timedelta(seconds=25))
        last = run_ready_tasks()
        assert [r.pk for r in last] == [third.pk]
        assert last[0].status == TaskResultStatus.FAILED
        assert last[0].exception_class_path == "huifang.core.jobs.RetryableError"
        assert "gave up after 3 attempt(s)" in last[0].traceback
        traveller.move_to(start + timedelta(days=1))
        assert run_ready_tasks() == []  # nothing more: given up
    assert CALLS == [("x", 1), ("x", 2), ("x", 3)]
    assert DBTaskResult.objects.count() == 3


def test_retry_after_overrides_backoff_and_the_next_attempt_can_succeed():
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        busy_once.enqueue("y")
        run_ready_tasks()
        retry = DBTaskResult.objects.ready().first()
        assert retry is None
        retry = DBTaskResult.objects.get(status=TaskResultStatus.READY)
        assert retry.run_after == start + timedelta(seconds=3)
        traveller.move_to(start + timedelta(seconds=3))
        run_ready_tasks()
        retry.refresh_from_db()
    assert retry.status == TaskResultStatus.SUCCESSFUL
    assert retry.return_value == "done"
    assert CALLS == [("y", 1), ("y", 2)]


def test_other_exceptions_fail_at_once_without_retry():
    broken.enqueue("z")
    [row] = run_ready_tasks()
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "builtins.ValueError"
    assert "a bug, not a busy gateway" in row.traceback
    assert DBTaskResult.objects.count() == 1


def test_huifang_task_validates_its_policy():
    with pytest.raises(ValueError):
        huifang_task(max_attempts=0)


# ---- periodic jobs and the scheduler ------------------------------------------------------------


def test_slots_are_aligned_in_shanghai_time():
    every_minute = PeriodicJob("t.minute", record, every=timedelta(minutes=1))
    every_day = PeriodicJob("t.day", record, every=timedelta(days=1))
    daily = PeriodicJob("t.daily", record, daily_at=datetime(2000, 1, 1, 2, 0).time())
    now = datetime(2026, 3, 2, 17, 59, 30, tzinfo=UTC)  # 01:59:30 on 3 March in Shanghai
    assert every_minute.slot_at(now) == datetime(2026, 3, 2, 17, 59, tzinfo=UTC)
    assert every_day.slot_at(now) == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # Shanghai midnight
    assert daily.slot_at(now) == datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # 02:00 on 2 March
    assert daily.slot_at(now + timedelta(seconds=30)) == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def test_periodic_rejects_bad_schedules():
    with pytest.raises(ValueError):
        periodic("t.none")
    with pytest.raises(ValueError):
        periodic("t.both", every=timedelta(minutes=5), daily_at="01:00")
    with pytest.raises(ValueError):
        periodic("t.bad", daily_at="25:00")
    with pytest.raises(ValueError):
        periodic("t.fast", every=timedelta(seconds=10))


def test_scheduler_tick_enqueues_each_slot_exactly_once():
    job = PeriodicJob("test.every5", record, every=timedelta(minutes=5))
    now = datetime(2026, 3, 2, 1, 2, 3, tzinfo=UTC)
    assert scheduler_tick(now, jobs=[job]) == ["test.every5"]
    assert scheduler_tick(now, jobs=[job]) == []
    assert scheduler_tick(now + timedelta(minutes=2), jobs=[job]) == []  # same slot (01:00–01:05)
    assert DBTaskResult.objects.count() == 1
    run = PeriodicRun.objects.get()
    assert run.slot == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert run.task_result_id == str(DBTaskResult.objects.get().id)

    assert scheduler_tick(now + timedelta(minutes=3), jobs=[job]) == ["test.every5"]  # next slot
    assert DBTaskResult.objects.count() == 2
    assert PeriodicRun.objects.count() == 2


def test_a_second_scheduler_cannot_insert_the_same_slot():
    slot = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    PeriodicRun.objects.create(job="test.race", slot=slot)
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicRun.objects.create(job="test.race", slot=slot)


def test_scheduler_tick_records_the_scheduler_heartbeat():
    assert heartbeat_status("scheduler")["ok"] is False
    scheduler_tick(jobs=[])
    beat = WorkerHeartbeat.objects.get(kind="scheduler")
    assert beat.name.startswith("scheduler@")
    status = heartbeat_status("scheduler")
    assert status["ok"] is True and status["age_seconds"] < 5


def test_core_jobs_are_discovered():
    names = {job.name for job in jobs.discover_periodic_jobs()}
    assert {"core.heartbeat", "core.prune"} <= names


def test_scheduler_command_once_enqueues_the_heartbeat(capsys):
    call_command("scheduler", "--once")
    assert "core.heartbeat" in capsys.readouterr().out
    assert DBTaskResult.objects.filter(task_path="huifang.core.tasks.heartbeat").count() == 1
    call_command("scheduler", "--once")
    assert DBTaskResult.objects.filter(task_path="huifang.core.tasks.heartbeat").count() == 1


# ---- heartbeats and housekeeping ----------------------------------------------------------------


def test_heartbeat_task_proves_a_worker_runs_tasks():
    heartbeat.enqueue()
    assert heartbeat_status("worker")["ok"] is False
    [row] = run_ready_tasks()
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert heartbeat_status("worker")["ok"] is True
    later = timezone.now() + timedelta(minutes=3, seconds=1)
    assert heartbeat_status("worker", now=later)["ok"] is False


def test_prune_deletes_only_old_rows():
    old = timezone.now() - timedelta(days=100)
    WorkerHeartbeat.objects.create(name="worker@gone:1", kind="worker", beat_at=old)
    jobs.heartbeat_record("worker")
    PeriodicRun.objects.create(job="test.old", slot=old)
    PeriodicRun.objects.create(job="test.new", slot=timezone.now())
    result = prune.call()
    assert result["heartbeats"] == 1 and result["periodic_runs"] == 1
    assert WorkerHeartbeat.objects.count() == 1
    assert list(PeriodicRun.objects.values_list("job", flat=True)) == ["test.new"]


# ---- the real worker process --------------------------------------------------------------------


def _sqlite_rows(db_path, sql, params=()):
    with sqlite3.connect(db_path, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def test_worker_process_runs_an_enqueued_heartbeat(migrated_var_dir):  # noqa: F811
    """`huifang worker` in its own process runs a task enqueued by another process.

    Runs against a temporary SQLite database even when the suite runs on PostgreSQL: it tests the
    process wiring, not the database.
    """
    env = subprocess_env(migrated_var_dir)
    db_path = migrated_var_dir / "huifang.sqlite3"
    subprocess.run(
        [*huifang_cmd(), "shell", "-c", "from huifang.core.tasks import heartbeat; heartbeat.enqueue()"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert _sqlite_rows(db_path, "SELECT count(*) FROM core_workerheartbeat WHERE kind='worker'") == [(0,)]
    proc = subprocess.Popen(
        [*huifang_cmd(), "worker", "--no-scheduler", "--interval", "0.2", "--no-startup-delay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        statuses = []
        while time.monotonic() < deadline and proc.poll() is None:
            statuses = _sqlite_rows(db_path, f"SELECT status FROM {DBTaskResult._meta.db_table}")
            if statuses == [("SUCCESSFUL",)]:
                break
            time.sleep(0.2)
        assert statuses == [("SUCCESSFUL",)], "the worker did not run the heartbeat within 30 s"
        assert _sqlite_rows(db_path, "SELECT kind FROM core_workerheartbeat") == [("worker",)]
        # --no-scheduler: this process enqueued nothing of its own.
        assert _sqlite_rows(db_path, "SELECT count(*) FROM core_periodicrun") == [(0,)]
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_process_runs_the_scheduler_in_a_thread_and_stops_on_sigterm(migrated_var_dir):  # noqa: F811
    """`huifang worker` (without --no-scheduler) ticks the scheduler, which enqueues the heartbeat
    that the same process then runs. Temporary SQLite database, as above."""
    env = subprocess_env(migrated_var_dir)
    db_path = migrated_var_dir / "huifang.sqlite3"
    proc = subprocess.Popen(
        [*huifang_cmd(), "worker", "--interval", "0.2", "--no-startup-delay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        mine = [f"scheduler@%:{proc.pid}", f"worker@%:{proc.pid}"]

        def kinds():
            rows = _sqlite_rows(
                db_path, "SELECT kind FROM core_workerheartbeat WHERE name LIKE ? OR name LIKE ?", mine
            )
            return {kind for (kind,) in rows}

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and kinds() != {"scheduler", "worker"}:
            time.sleep(0.2)
        assert kinds() == {"scheduler", "worker"}, "no scheduler tick or no heartbeat task within 30 s"
        assert (
            _sqlite_rows(db_path, "SELECT count(*) FROM core_periodicrun WHERE job = 'core.heartbeat'")[0][0]
            >= 1
        )
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        assert b"scheduler stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_admin_shows_failed_tasks_with_their_error(client, org_tree):
    from django.urls import reverse

    from huifang.org.models import User

    admin_user = User.objects.create_superuser("root", "root@example.com", "Huifang-test-2026")
    client.force_login(admin_user)
    broken.enqueue("z")
    [row] = run_ready_tasks()
    heartbeat.enqueue()
    run_ready_tasks()
    scheduler_tick(jobs=[PeriodicJob("test.admin", record, every=timedelta(minutes=5))])

    listing = client.get(
        reverse("admin:django_tasks_database_dbtaskresult_changelist") + "?status__exact=FAILED"
    )
    assert listing.status_code == 200
    assert b"builtins.ValueError" in listing.content
    detail = client.get(reverse("admin:django_tasks_database_dbtaskresult_change", args=[row.pk]))
    assert detail.status_code == 200
    assert b"a bug, not a busy gateway" in detail.content  # the traceback
    for name in ("core_workerheartbeat", "core_periodicrun"):
        page = client.get(reverse(f"admin:{name}_changelist"))
        assert page.status_code == 200
    assert b"test.admin" in client.get(reverse("admin:core_periodicrun_changelist")).content
