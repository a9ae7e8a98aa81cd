"""``huifang scheduler``: enqueue periodic jobs when their slot is due (``--once`` for one tick)."""

import signal
import threading

from django.core.management.base import BaseCommand

from huifang.core.jobs import discover_periodic_jobs, scheduler_tick
from huifang.core.scheduler import DEFAULT_INTERVAL, run_scheduler


class Command(BaseCommand):
    help = (
        "Run the periodic-job scheduler (it only enqueues; `huifang worker` runs the tasks). "
        "Several schedulers may run at once: each slot is enqueued exactly once."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="run one tick and exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=DEFAULT_INTERVAL,
            help="seconds between ticks (default: %(default)s)",
        )

    def handle(self, *args, once: bool, interval: float, **options) -> None:
        if once:
            discover_periodic_jobs()
            enqueued = scheduler_tick()
            self.stdout.write(f"enqueued {len(enqueued)} periodic job(s): {', '.join(enqueued) or '-'}")
            return
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        run_scheduler(stop, interval=interval)
