"""`huifang serve`: gunicorn + task worker + scheduler as supervised child processes.

These tests start real processes against a temporary SQLite database (even when the suite runs on
PostgreSQL): they test the process wiring, signals and static files, not the database.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def huifang_cmd() -> list[str]:
    return [sys.executable, "-m", "huifang.cli"]


def subprocess_env(var_dir: Path) -> dict[str, str]:
    """The environment of a local installation whose data lives in ``var_dir`` (SQLite)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "HUIFANG_TASKS_IMMEDIATE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        HUIFANG_ENV="local",
        HUIFANG_VAR_DIR=str(var_dir),
        HUIFANG_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.pop("HUIFANG_STATIC_ROOT", None)
    env.pop("HUIFANG_TEST_SQLITE", None)
    return env


@pytest.fixture(scope="module")
def migrated_var_dir(tmp_path_factory) -> Path:
    var_dir = tmp_path_factory.mktemp("var")
    subprocess.run(
        [*huifang_cmd(), "migrate", "--noinput", "-v", "0"],
        env=subprocess_env(var_dir),
        cwd=ROOT,
        check=True,
        timeout=180,
        capture_output=True,
    )
    return var_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local test server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has exited all the same.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class Serve:
    """A `huifang serve` process whose output goes to a file (read without blocking)."""

    def __init__(self, var_dir: Path, *extra: str):
        self.port = free_port()
        self.log = var_dir / f"serve-{self.port}.log"
        self.log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [*huifang_cmd(), "serve", "--port", str(self.port), "--grace", "15", *extra],
            env=subprocess_env(var_dir),
            cwd=ROOT,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", self.output())}

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            return http_get(self.base + path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, b""

    def wait_ready(self, timeout: float = 120) -> None:
        ok = wait_until(
            lambda: self.proc.poll() is not None or self.get("/accounts/login/")[0] == 200, timeout
        )
        assert ok and self.proc.poll() is None, f"serve did not come up:\n{self.output()}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pid in self.child_pids().values():
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.log_file.close()


def test_serve_runs_web_worker_and_scheduler_and_stops_them_all_on_sigterm(migrated_var_dir):
    serve = Serve(migrated_var_dir)
    try:
        serve.wait_ready()
        assert f"http://127.0.0.1:{serve.port}/" in serve.output()
        assert set(serve.child_pids()) == {"web", "worker", "scheduler"}

        status, body = serve.get("/api/v1/health")
        assert status == 200, body
        health = json.loads(body)
        assert health["database"] == {"ok": True, "vendor": "sqlite"}

        # The scheduler enqueues the heartbeat at its first tick and the worker runs it.
        def worker_ok():
            code, raw = serve.get("/api/v1/health")
            return code == 200 and json.loads(raw)["worker"]["ok"] and json.loads(raw)

        health = wait_until(worker_ok, timeout=60)
        assert health, f"the worker never reported:\n{serve.output()}"
        assert health["scheduler"]["ok"] is True
        assert health["status"] == "ok"

        status, css = serve.get("/static/admin/css/base.css")
        assert status == 200 and b"{" in css  # whitenoise serves collected static files
        assert (migrated_var_dir / "staticfiles" / "staticfiles.json").is_file()

        children = serve.child_pids()
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=30) == 0, serve.output()
        assert not [name for name, pid in children.items() if pid_alive(pid)]
        assert serve.get("/accounts/login/")[0] == 0  # nothing listens any more
        assert "Huifang stopped" in serve.output()
    finally:
        serve.close()


def test_serve_stops_everything_and_fails_when_a_child_dies(migrated_var_dir):
    serve = Serve(migrated_var_dir)
    try:
        serve.wait_ready()
        children = serve.child_pids()
        os.kill(children["worker"], signal.SIGKILL)
        returncode = serve.proc.wait(timeout=30)
        assert returncode != 0
        assert "worker exited" in serve.output()
        assert not [name for name, pid in children.items() if pid_alive(pid)]
    finally:
        serve.close()
