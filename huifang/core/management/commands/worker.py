"""``huifang worker``: the django-tasks-db worker on every queue, plus the scheduler in a thread."""

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from huifang.core.scheduler import DEFAULT_INTERVAL, start_scheduler_thread


class Command(DbWorkerCommand):
    help = (
        "Run background tasks (all queues unless --queue-name) and, unless --no-scheduler, the "
        "periodic-job scheduler. Start as many workers as needed, on any host sharing the database."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(queue_name="*", reload=False)
        parser.add_argument(
            "--no-scheduler",
            action="store_false",
            dest="scheduler",
            help="do not run the periodic-job scheduler in this process",
        )
        parser.add_argument(
            "--scheduler-interval",
            type=float,
            default=DEFAULT_INTERVAL,
            help="seconds between scheduler ticks (default: %(default)s)",
        )

    def handle(self, *args, scheduler: bool, scheduler_interval: float, **options) -> None:
        if not scheduler:
            return super().handle(*args, **options)
        thread, stop = start_scheduler_thread(interval=scheduler_interval)
        try:
            # The worker installs its own SIGINT/SIGTERM handlers and leaves via SystemExit.
            return super().handle(*args, **options)
        finally:
            stop.set()
            thread.join(timeout=15)
