"""Background jobs on Django's tasks API (``django.tasks``) with the database backend (django-tasks-db).

The contract every task follows
-------------------------------
* **Arguments are ids and plain JSON values**, never model instances: the task loads what it needs,
  so it sees the current state when it runs, not the state when it was enqueued.
* **Running a task twice is harmless.** A task may run twice (a retry after a crash, a slot caught
  up, an operator re-running it): it checks the state it is about to change, relies on unique
  constraints and upserts, and does nothing when the work is already done.
* **Enqueue with** ``enqueue_on_commit(task, ...)`` from services, so a job never sees data that
  was rolled back and never runs before the rows it refers to are visible.

Defining a task (in ``huifang/<app>/tasks.py``)::

    from huifang.core.jobs import RetryableError, huifang_task

    @huifang_task(queue_name="default", max_attempts=5, backoff_seconds=30)
    def sms_send(message_id: int) -> None:
        message = Message.objects.get(pk=message_id)
        if message.sent_at:  # already done: safe to run twice
            return
        try:
            gateway.send(message)
        except GatewayBusy as exc:
            raise RetryableError("SMS gateway busy") from exc  # again in 30 s, 60 s, 120 s, …

    # in a service, inside its transaction:
    enqueue_on_commit(sms_send, message.pk)

A task that raises ``RetryableError`` is enqueued again with exponential backoff
(``backoff_seconds * 2 ** (attempt - 1)``, capped by ``max_backoff_seconds``); the attempt number
travels in the task's kwargs as ``_attempt`` (read it with ``current_attempt()``). After
``max_attempts`` the error is raised: the task result is FAILED, with the traceback, in the admin
(Django tasks → Task results). Any other exception fails the task at once.

Periodic jobs (registered when the app's ``tasks`` module is imported; the scheduler imports every
installed app's ``tasks`` module at start)::

    @periodic("callbacks.sweep_overdue", every=timedelta(minutes=5))
    @huifang_task(queue_name="sweeps")
    def sweep_overdue() -> None: ...

    @periodic("reports.daily_snapshot", daily_at="01:30")  # Asia/Shanghai
    @huifang_task(queue_name="sweeps")
    def daily_snapshot() -> None: ...

``scheduler_tick(now)`` enqueues each job whose current slot has not run yet; a ``PeriodicRun`` row
per (job, slot), under a unique constraint, makes that exactly once however many schedulers run.
Only the latest slot is enqueued: a scheduler that was down for a day runs a job once on restart,
not once per missed slot. Periodic tasks take no arguments.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.tasks import Task, task
from django.utils import timezone

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ATTEMPT_KWARG = "_attempt"

# ---- enqueueing ---------------------------------------------------------------------------------


def enqueue_on_commit(task_: Task, *args, **kwargs) -> None:
    """Enqueue ``task_(*args, **kwargs)`` when the current transaction commits (at once outside one).

    Nothing is enqueued when the transaction rolls back. Arguments must be JSON values (ids).
    Use ``task_.using(queue_name=..., run_after=...)`` to change where or when it runs.
    """
    transaction.on_commit(functools.partial(task_.enqueue, *args, **kwargs))


# ---- retry policy -------------------------------------------------------------------------------


class RetryableError(Exception):
    """Raised by a task body for a temporary failure (gateway busy, lock held, peer down).

    ``retry_after`` (seconds) overrides the backoff for the next attempt, e.g. from a Retry-After
    header. Keep the message free of personal information: it is stored with the task result.
    """

    def __init__(self, message: str = "", *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


_current_attempt: contextvars.ContextVar[int] = contextvars.ContextVar("huifang_task_attempt", default=1)


def current_attempt() -> int:
    """The attempt number (1, 2, …) of the task being run by ``huifang_task``."""
    return _current_attempt.get()


def retry_delay(attempt: int, backoff_seconds: float, max_backoff_seconds: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, capped."""
    return min(backoff_seconds * (2 ** (attempt - 1)), max_backoff_seconds)


def huifang_task(
    function: Callable | None = None,
    *,
    queue_name: str = "default",
    priority: int = 0,
    max_attempts: int = 5,
    backoff_seconds: float = 30.0,
    max_backoff_seconds: float = 3600.0,
    takes_context: bool = False,
):
    """Declare a task (``django.tasks.task``) with Huifang's retry policy.

    Use as ``@huifang_task`` or ``@huifang_task(queue_name="sweeps", max_attempts=3)``. The task
    must be defined at module level (the worker imports it by dotted path).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def decorate(func: Callable) -> Task:
        @functools.wraps(func)
        def run(*args, **kwargs):
            attempt = int(kwargs.pop(ATTEMPT_KWARG, 1))
            token = _current_attempt.set(attempt)
            try:
                return func(*args, **kwargs)
            except RetryableError as exc:
                if attempt >= max_attempts:
                    exc.add_note(f"gave up after {attempt} attempt(s)")
                    logger.error("task %s gave up after %s attempt(s): %s", task_.name, attempt, exc)
                    raise
                task_args = args[1:] if takes_context else args
                scheduled = _schedule_retry(
                    task_, task_args, kwargs, attempt, exc, backoff_seconds, max_backoff_seconds
                )
                logger.warning(
                    "task %s attempt %s/%s failed (%s); retry at %s",
                    task_.name,
                    attempt,
                    max_attempts,
                    exc,
                    scheduled["run_after"],
                )
                # The attempt itself ends "successful": it did what it should, hand over to the next.
                return {"retry": scheduled}
            finally:
                _current_attempt.reset(token)

        task_ = task(run, queue_name=queue_name, priority=priority, takes_context=takes_context)
        return task_

    if function is not None:
        return decorate(function)
    return decorate


def _schedule_retry(task_: Task, args, kwargs, attempt, exc, backoff_seconds, max_backoff_seconds) -> dict:
    delay = exc.retry_after if exc.retry_after is not None else None
    if delay is None:
        delay = retry_delay(attempt, backoff_seconds, max_backoff_seconds)
    run_after = timezone.now() + timedelta(seconds=delay)
    retry = task_.using(run_after=run_after) if task_.get_backend().supports_defer else task_
    result = retry.enqueue(*args, **{**kwargs, ATTEMPT_KWARG: attempt + 1})
    return {
        "attempt": attempt + 1,
        "run_after": run_after.isoformat(),
        "task_result_id": str(result.id),
        "error": str(exc)[:500],
    }


# ---- periodic jobs ------------------------------------------------------------------------------

# Slots of ``every`` jobs are counted from this instant, so a daily job starts at Shanghai midnight
# and an hourly one on the hour.
_EPOCH = datetime(2000, 1, 1, tzinfo=SHANGHAI)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class PeriodicJob:
    """A task enqueued once per time slot: every ``every``, or daily at ``daily_at`` (Shanghai)."""

    name: str
    task: Task
    every: timedelta | None = None
    daily_at: time | None = None

    def slot_at(self, now: datetime) -> datetime:
        """The latest slot that has started at ``now`` (an aware UTC datetime)."""
        if self.every is not None:
            return (now - ((now - _EPOCH) % self.every)).astimezone(UTC)
        local = now.astimezone(SHANGHAI)
        slot = local.replace(hour=self.daily_at.hour, minute=self.daily_at.minute, second=0, microsecond=0)
        if slot > local:
            slot -= timedelta(days=1)
        return slot.astimezone(UTC)

    def describe(self) -> str:
        if self.every is not None:
            return f"every {self.every}"
        return f"daily at {self.daily_at:%H:%M} Asia/Shanghai"


_PERIODIC: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every: timedelta | None = None, daily_at: str | None = None):
    """Register the decorated task as a periodic job (decorate a ``huifang_task`` with it).

    ``name`` is stable ("app.job"): ``PeriodicRun`` rows refer to it. Give exactly one of
    ``every`` (a timedelta of at least a minute) or ``daily_at`` ("HH:MM", Asia/Shanghai).
    A plain function is wrapped with ``huifang_task()`` first.
    """
    if (every is None) == (daily_at is None):
        raise ValueError("periodic() needs exactly one of every= or daily_at=")
    at: time | None = None
    if every is not None and every < timedelta(minutes=1):
        raise ValueError("periodic jobs run at most once a minute")
    if daily_at is not None:
        match = _HHMM.match(daily_at)
        if not match:
            raise ValueError(f"daily_at must be 'HH:MM', got {daily_at!r}")
        at = time(int(match.group(1)), int(match.group(2)))

    def register(target) -> Task:
        task_ = target if isinstance(target, Task) else huifang_task(target)
        existing = _PERIODIC.get(name)
        if existing is not None and existing.task.module_path != task_.module_path:
            raise ValueError(f"periodic job {name!r} is already registered for {existing.task.module_path}")
        _PERIODIC[name] = PeriodicJob(name=name, task=task_, every=every, daily_at=at)
        return task_

    return register


def periodic_jobs() -> list[PeriodicJob]:
    """Registered periodic jobs, by name."""
    return [_PERIODIC[name] for name in sorted(_PERIODIC)]


def discover_periodic_jobs() -> list[PeriodicJob]:
    """Import every installed app's ``tasks`` module so that its periodic jobs register."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")
    return periodic_jobs()


def scheduler_tick(
    now: datetime | None = None, *, jobs: Iterable[PeriodicJob] | None = None, heartbeat: bool = True
) -> list[str]:
    """Enqueue every periodic job whose current slot has not been enqueued yet; return their names.

    Safe with several schedulers: the ``PeriodicRun`` insert and the enqueue share one
    transaction, and the unique (job, slot) constraint lets only one of them through. Records the
    scheduler heartbeat unless ``heartbeat=False``.
    """
    from huifang.core.models import PeriodicRun

    now = now or timezone.now()
    if heartbeat:
        heartbeat_record("scheduler")
    enqueued = []
    for job in periodic_jobs() if jobs is None else jobs:
        slot = job.slot_at(now)
        if PeriodicRun.objects.filter(job=job.name, slot=slot).exists():
            continue
        try:
            with transaction.atomic():
                run = PeriodicRun.objects.create(job=job.name, slot=slot)
                result = job.task.enqueue()
                PeriodicRun.objects.filter(pk=run.pk).update(task_result_id=str(result.id)[:64])
        except IntegrityError:
            continue  # another scheduler took this slot a moment ago
        except Exception:
            logger.exception("periodic job %s: could not enqueue slot %s", job.name, slot.isoformat())
            continue
        logger.info("periodic job %s enqueued for slot %s", job.name, slot.isoformat())
        enqueued.append(job.name)
    return enqueued


# ---- heartbeats ---------------------------------------------------------------------------------

HEARTBEAT_MAX_AGE = timedelta(minutes=3)


def heartbeat_name(kind: str) -> str:
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"[:100]


def heartbeat_record(kind: str):
    """Record that this process (a worker running a task, or a scheduler ticking) is alive."""
    from huifang.core.models import WorkerHeartbeat

    beat, _created = WorkerHeartbeat.objects.update_or_create(
        name=heartbeat_name(kind),
        defaults={
            "kind": kind,
            "pid": os.getpid(),
            "hostname": socket.gethostname()[:255],
            "beat_at": timezone.now(),
        },
    )
    return beat


def heartbeat_status(kind: str, now: datetime | None = None, max_age: timedelta = HEARTBEAT_MAX_AGE) -> dict:
    """Selector: the newest heartbeat of ``kind`` and whether it is fresh enough."""
    from huifang.core.models import WorkerHeartbeat

    now = now or timezone.now()
    last = WorkerHeartbeat.objects.filter(kind=kind).order_by("-beat_at").values_list("beat_at", flat=True)
    last_beat = last.first()
    if last_beat is None:
        return {"ok": False, "last_beat": None, "age_seconds": None}
    age = (now - last_beat).total_seconds()
    return {
        "ok": age < max_age.total_seconds(),
        "last_beat": last_beat.isoformat(),
        "age_seconds": round(age, 1),
    }
