"""Browser tests against the real server.

``e2e_server`` (session) starts Huifang the way it runs in production shape: a fresh database
(SQLite in a temporary var dir, or, when DATABASE_URL points at PostgreSQL, a separate database
``<name>_e2e`` that the fixture creates and drops), ``huifang migrate``, ``huifang demo`` and
``collectstatic`` in subprocesses, then gunicorn on a free port with HUIFANG_ENV=local. Django's
live_server is not used: pytest-django would flush the database between tests, and the audit
table refuses DELETE.

``browser`` (session) is the system Chromium driven by Playwright; ``page`` (function) is a fresh
context with a Chinese browser locale. Screenshots go to test-artifacts/e2e/ (see ``screenshot``).
Demo users and their password: huifang.org.demo.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _huifang(env: dict, *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "huifang.cli", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def _server_env(var_dir: Path, database_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HUIFANG_TEST"))}
    env.update(
        HUIFANG_ENV="local",
        HUIFANG_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        HUIFANG_TASKS_IMMEDIATE="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


class _PostgresE2EDatabase:
    """A throw-away PostgreSQL database next to the one DATABASE_URL names."""

    def __init__(self, url: str):
        import dj_database_url

        self.config = dj_database_url.parse(url)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.name = f"{self.config['NAME']}_e2e{'_' + worker if worker else ''}"
        self.url = url.rsplit("/", 1)[0] + "/" + self.name

    def _admin(self):
        import psycopg

        return psycopg.connect(
            dbname="postgres",
            user=self.config.get("USER") or None,
            password=self.config.get("PASSWORD") or None,
            host=self.config.get("HOST") or None,
            port=self.config.get("PORT") or None,
            autocommit=True,
        )

    def create(self) -> None:
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


# The environment of the running e2e server (set by ``e2e_server``), for ``e2e_shell``.
_SERVER_ENV: dict = {}


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory):
    """Base URL (``http://127.0.0.1:PORT``) of a real Huifang with demo data loaded."""
    var_dir = tmp_path_factory.mktemp("e2e-var")
    url = os.environ.get("DATABASE_URL", "")
    pg = _PostgresE2EDatabase(url) if url.startswith(("postgres://", "postgresql://")) else None
    if pg:
        pg.create()
    env = _server_env(var_dir, pg.url if pg else None)
    _SERVER_ENV.clear()
    _SERVER_ENV.update(env)
    log_path = var_dir / "gunicorn.log"
    server = None
    try:
        _huifang(env, "migrate", "--noinput")
        _huifang(env, "demo", "--policies", "20")
        _huifang(env, "collectstatic", "--noinput")
        port = _free_port()
        with log_path.open("wb") as log:
            server = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi:application",
                    "-b",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--worker-class",
                    "gthread",
                    "--threads",
                    "4",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"{' '.join(exc.cmd[2:])} failed:\n{exc.stdout.decode()}\n{exc.stderr.decode()}"
        ) from exc
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if pg:
            pg.drop()


@pytest.fixture
def e2e_shell(e2e_server):
    """``e2e_shell(code) -> str``: run Python in ``huifang shell`` against the e2e server's database
    (same settings and keys as the server) and return what it printed. For arranging a scenario or
    checking the database behind the page; the server itself is never touched."""

    def run(code: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            [sys.executable, "-m", "huifang.cli", "shell", "--no-imports", "-c", code],
            cwd=ROOT,
            env=_SERVER_ENV,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"e2e_shell failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    return run


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk (never `playwright install`)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, e2e_server):
    """A fresh browser context (no cookies) with a Simplified Chinese browser, on the real server."""
    context = browser.new_context(
        base_url=e2e_server,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "name")`` saves test-artifacts/e2e/<name>.png (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
