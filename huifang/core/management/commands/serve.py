"""``huifang serve``: the whole application on one machine, in production shape.

Starts three kinds of child process and supervises them together:

* ``web``: gunicorn serving ``config.wsgi:application`` (whitenoise serves the static files);
* ``worker``: ``huifang worker --no-scheduler`` (``--task-workers`` of them);
* ``scheduler``: ``huifang scheduler``.

SIGINT/SIGTERM are passed on to every child and ``serve`` waits for them (``--grace`` seconds, then
SIGKILL). If any child dies, the others are stopped and ``serve`` exits non-zero, so that a process
manager (systemd, a container runtime) restarts the whole set. Never ``runserver``.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

POLL_SECONDS = 0.25


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel send SIGTERM to the child if ``serve`` itself is killed."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: S110 - best effort; supervision still works without it
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            self.argv,
            # Own process group: a Ctrl-C in the terminal reaches only `serve`, which passes it on
            # once (a second signal would make the task worker abandon its current task).
            process_group=0,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)


class Command(BaseCommand):
    help = (
        "Start Huifang: gunicorn (web), a task worker and the scheduler, supervised together. "
        "Ctrl-C or SIGTERM stops them all; if one dies, the others are stopped too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="web processes (default: 1 on SQLite; 2×CPUs+1, at most 8, on PostgreSQL)",
        )
        parser.add_argument("--threads", type=int, default=4, help="threads per web process (default: 4)")
        parser.add_argument(
            "--task-workers", type=int, default=1, help="task worker processes; 0 for none (default: 1)"
        )
        parser.add_argument("--no-scheduler", action="store_false", dest="scheduler", help="no scheduler")
        parser.add_argument(
            "--collectstatic",
            action="store_true",
            help="always run collectstatic first (by default only when the static files are missing)",
        )
        parser.add_argument(
            "--grace", type=float, default=25.0, help="seconds to wait for children to stop (default: 25)"
        )

    def handle(self, *args, **options) -> None:
        workers = options["workers"] or self._default_web_workers()
        if workers < 1 or options["threads"] < 1 or options["task_workers"] < 0:
            raise CommandError("--workers and --threads must be at least 1, --task-workers at least 0")
        self._prepare(force_collectstatic=options["collectstatic"])

        children = self._children(options, workers)
        url = self._url(options["host"], options["port"])
        stop_signals: list[int] = []

        def on_signal(signum, frame):
            stop_signals.append(signum)
            if len(stop_signals) > 1:  # a second Ctrl-C: stop waiting
                for child in children:
                    child.signal(signal.SIGKILL)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        failed: Child | None = None
        try:
            for child in children:
                child.start()
                self.stdout.write(f"started {child.name} (pid {child.proc.pid})")
            self.stdout.write(
                self.style.SUCCESS(f"Huifang is running at {url}")
                + f"  (web: {workers}×{options['threads']} threads, task workers: "
                f"{options['task_workers']}, scheduler: {'on' if options['scheduler'] else 'off'}; "
                "Ctrl-C to stop)"
            )
            self.stdout.flush()
            while not stop_signals and failed is None:
                failed = next((c for c in children if not c.alive), None)
                if failed is None:
                    time.sleep(POLL_SECONDS)
        finally:
            self._stop_all(children, options["grace"])
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if failed is not None:
            raise CommandError(
                f"{failed.name} exited with code {failed.proc.returncode}; stopped the other processes",
                returncode=failed.proc.returncode
                if failed.proc.returncode and failed.proc.returncode > 0
                else 1,
            )
        self.stdout.write("Huifang stopped")

    # ---- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _default_web_workers() -> int:
        if connection.vendor == "sqlite":
            # WAL lets processes read at once (writers queue on SQLite's lock, busy_timeout 30 s);
            # a process per CPU, because threads share one interpreter lock.
            return max(1, min(os.cpu_count() or 1, 4))
        return min(2 * (os.cpu_count() or 1) + 1, 8)

    @staticmethod
    def _url(host: str, port: int) -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def _prepare(self, *, force_collectstatic: bool) -> None:
        if force_collectstatic or not self._static_collected():
            self.stdout.write(f"collecting static files into {settings.STATIC_ROOT} …")
            call_command("collectstatic", interactive=False, verbosity=0)
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            self.stderr.write(
                self.style.WARNING("The database has unapplied migrations: run `huifang migrate` first.")
            )
        # Children open their own connections; this process keeps none while it supervises.
        connections.close_all()

    @staticmethod
    def _static_collected() -> bool:
        from django.contrib.staticfiles.storage import staticfiles_storage

        root = Path(settings.STATIC_ROOT)
        manifest = getattr(staticfiles_storage, "manifest_name", None)
        if manifest:
            return (root / manifest).is_file()
        return root.is_dir() and any(root.iterdir())

    @staticmethod
    def _children(options, workers: int) -> list[Child]:
        host = options["host"]
        bind = f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"
        huifang = [sys.executable, "-m", "huifang.cli"]
        children = [
            Child(
                "web",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi:application",
                    "--bind",
                    bind,
                    "--workers",
                    str(workers),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(options["threads"]),
                    "--graceful-timeout",
                    str(max(int(options["grace"]) - 5, 1)),
                    "--timeout",
                    "120",
                    "--access-logfile",
                    "-",
                    # No control socket in $HOME: several instances on one host must not collide.
                    "--no-control-socket",
                ],
            )
        ]
        for i in range(options["task_workers"]):
            name = "worker" if options["task_workers"] == 1 else f"worker-{i + 1}"
            children.append(Child(name, [*huifang, "worker", "--no-scheduler"]))
        if options["scheduler"]:
            children.append(Child("scheduler", [*huifang, "scheduler"]))
        return children

    def _stop_all(self, children: list[Child], grace: float) -> None:
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(c.alive for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in children:
            if child.alive:
                self.stderr.write(f"{child.name} did not stop within {grace:.0f} s; killing it")
                child.signal(signal.SIGKILL)
            if child.proc is not None:
                child.proc.wait()
