"""The scheduler loop: every few seconds, ``scheduler_tick`` enqueues the periodic jobs that are due.

Run it as ``huifang scheduler``, inside ``huifang worker`` (a thread) or under ``huifang serve``.
Several schedulers may run at once (one per worker host): ``PeriodicRun`` keeps each slot to one
enqueue.
"""

import logging
import threading

from django.db import close_old_connections, connections

from huifang.core.jobs import discover_periodic_jobs, scheduler_tick

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0  # seconds between ticks; slots are at least a minute long


def run_scheduler(stop: threading.Event, *, interval: float = DEFAULT_INTERVAL) -> None:
    """Tick until ``stop`` is set. Errors of one tick are logged and the next tick tries again."""
    jobs = discover_periodic_jobs()
    logger.info(
        "scheduler started with %d periodic job(s): %s",
        len(jobs),
        ", ".join(f"{job.name} ({job.describe()})" for job in jobs) or "-",
    )
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                scheduler_tick()
            except Exception:
                logger.exception("scheduler tick failed; retrying in %.0f s", interval)
            finally:
                close_old_connections()
            stop.wait(interval)
    finally:
        # Connections are per thread: close the ones this thread opened.
        connections.close_all()
        logger.info("scheduler stopped")


def start_scheduler_thread(*, interval: float = DEFAULT_INTERVAL) -> tuple[threading.Thread, threading.Event]:
    """Run the scheduler in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler,
        args=(stop,),
        kwargs={"interval": interval},
        name="huifang-scheduler",
        daemon=True,
    )
    thread.start()
    return thread, stop
