"""Policy import benchmark (issue: records feed).

Generates a CSV of policies with their applicants and insured (Chinese headers, UTF-8, one row in
1,000 deliberately bad) and imports it through the real pipeline, ``huifang import policies FILE``
(``import_job_create`` + ``import_job_run``: validation, encryption, blind indexes, derived facts,
quarantine), each run in a fresh, migrated database holding the demo org units, products and
salespeople. The import runs in its own process: its wall time is the end-to-end figure and its
peak resident memory comes from ``os.wait4`` (``ru_maxrss`` of that one child).

Baseline in the same run: the same file loaded into a bare table (every column ``text``, no
constraints) with PostgreSQL ``COPY`` (psycopg ``cursor.copy()``); on SQLite, a bare
``executemany`` INSERT. The ratio is pipeline time / baseline time.

Targets (issue): ≥ 20,000 rows/s end to end on PostgreSQL, within 5× of COPY, peak memory under
300 MB and the same for 100k and 1M rows.

    .venv/bin/python -m bench import --rows 1000000     # PostgreSQL 100k + 1M, SQLite 100k
    .venv/bin/python -m bench profile --rows 50000      # cProfile of one import: where time goes

DATABASE_URL must point at a PostgreSQL server for the PostgreSQL figures; the benchmark creates
(and drops) its own database there (``huifang_bench`` by default), never touching the one named in
the URL. Without it, only the SQLite figure is measured.
"""

import contextlib
import csv
import json
import os
import platform
import pstats
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import gen

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION = "## Policy import (issue: records feed)"
TARGET_ROWS_PER_S = 20_000
TARGET_RATIO = 5.0
TARGET_RSS_MB = 300
SMALL_ROWS = 100_000


class BenchError(RuntimeError):
    pass


# ---- environment ----------------------------------------------------------------------------------


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def machine_info(pg_url: str | None = None) -> dict:
    info = {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": "",
        "memory_gb": None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": None,
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        import django

        info["django"] = django.get_version()
    except ImportError:
        pass
    if is_postgres_url(pg_url):
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    return info


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


# The code the ``huifang`` children run: the working tree (default) or a snapshot of a commit.
CODE = {"dir": ROOT, "label": ""}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def use_code(which: str) -> str:
    """``worktree``: run the files as they are; ``head``: a snapshot of the last commit (so that
    edits made while a long run is under way cannot change what is measured). Returns a label."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        CODE["label"] = "working tree (not a git checkout)"
        return CODE["label"]
    if which == "head":
        target = OUT_DIR / f"code-{sha}"
        if not (target / "huifang").is_dir():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            archive = subprocess.run(
                ["git", "archive", "HEAD", "huifang", "config", "manage.py", "pyproject.toml"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        CODE.update(dir=target, label=f"commit {sha}")
    else:
        dirty = [line[3:] for line in _git("status", "--porcelain", "huifang", "config").splitlines()]
        CODE.update(dir=ROOT, label=f"working tree at {sha}")
        if dirty:
            CODE["label"] += f" with uncommitted changes in {len(dirty)} paths under huifang/ and config/"
    return CODE["label"]


def huifang_env(database_url: str, var_dir: Path) -> dict:
    """Environment for a ``huifang`` child process on the given database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        HUIFANG_VAR_DIR=str(var_dir),
        HUIFANG_ENV="local",
        DJANGO_SETTINGS_MODULE="config.settings",
        HUIFANG_LOG_LEVEL="WARNING",
        PYTHONPATH=str(CODE["dir"]) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def huifang(args: list[str], env: dict, *, log: Path, prefix: list[str] | None = None) -> dict:
    """Run ``huifang ARGS`` in a child process; return wall seconds and the child's peak RSS."""
    cmd = [sys.executable, *(prefix or []), "-m", "huifang.cli", *args]
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ huifang {' '.join(args)}\n")
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=CODE["dir"], stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        tail = "".join(Path(log).read_text(encoding="utf-8").splitlines(keepends=True)[-15:])
        raise BenchError(f"huifang {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # of the child only, not the database server
    }


ORG_UNITS_SNIPPET = """
from huifang.org.demo import DEMO_ORG_UNITS
from huifang.org.models import OrgUnit
from huifang.org.services import org_unit_upsert
units = {}
for code, name, kind, parent in DEMO_ORG_UNITS:
    units[code] = OrgUnit.objects.filter(code=code).first() or org_unit_upsert(
        code=code, name=name, kind=kind, parent=units.get(parent))
"""


def prepare_database(env: dict, refs: dict[str, Path], log: Path) -> None:
    """Migrate, then load org units, products and salespeople (the last two as file imports)."""
    huifang(["migrate", "--noinput", "-v", "0"], env, log=log)
    huifang(["shell", "-c", ORG_UNITS_SNIPPET], env, log=log)
    huifang(["import", "products", str(refs["products"])], env, log=log)
    huifang(["import", "salespeople", str(refs["salespeople"])], env, log=log)


class BackendCpu:
    """CPU time of the PostgreSQL backends serving one database, polled from ``/proc`` while a
    block runs (only when the server is on this host; otherwise ``seconds`` stays None).

    A backend's last half second before it exits can be missed; that is all."""

    def __init__(self, admin_url: str, db_name: str, interval: float = 0.5):
        import threading

        self.admin_url, self.db_name, self.interval = admin_url, db_name, interval
        self.ticks: dict[int, int] = {}
        self.local = urlsplit(admin_url).hostname in (None, "", "localhost", "127.0.0.1", "::1")
        self.local = self.local and Path("/proc/self/stat").exists()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        if self.local:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _poll(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.db_name]
                ).fetchall()
                for (pid,) in rows:
                    try:
                        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                            continue
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    # Fields 14 and 15 of /proc/PID/stat (utime, stime); the list starts at field 3.
                    self.ticks[pid] = max(self.ticks.get(pid, 0), int(fields[11]) + int(fields[12]))
                if self._stop.wait(self.interval):
                    break

    @property
    def seconds(self) -> float | None:
        if not self.local:
            return None
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


# ---- baselines ------------------------------------------------------------------------------------


def _bare_table_sql(headers: list[str], table: str, *, temporary: bool = False) -> str:
    cols = ", ".join(f'"{h}" text' for h in headers)
    return f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {table} ({cols})"


def _headers(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def copy_into_bare_table(
    pg_conn, path: Path, *, table: str = "bench_copy_policies", temporary=False
) -> float:
    """Load the CSV into a fresh all-text table with COPY; return (seconds, rows loaded). The time
    includes the commit, except for a ``temporary`` table inside the caller's transaction."""
    headers = _headers(path)
    cur = pg_conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(_bare_table_sql(headers, table, temporary=temporary))
    if not temporary:
        pg_conn.commit()
    started = time.perf_counter()
    sql = f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"
    with cur.copy(sql) as copy, open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    if not temporary:
        pg_conn.commit()
    seconds = time.perf_counter() - started
    cur.execute(f"SELECT count(*) FROM {table}")
    loaded = cur.fetchone()[0]
    cur.execute(f"DROP TABLE {table}")
    if not temporary:
        pg_conn.commit()
    return seconds, loaded


def insert_into_bare_table(sqlite_cursor, path: Path, *, table: str = "bench_bare_policies", temporary=False):
    """SQLite's nearest to COPY: executemany INSERT of the raw rows into an all-text table."""
    headers = _headers(path)
    sqlite_cursor.execute(f"DROP TABLE IF EXISTS {table}")
    sqlite_cursor.execute(_bare_table_sql(headers, table, temporary=temporary))
    placeholders = ", ".join("?" * len(headers))
    started = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        sqlite_cursor.executemany(f"INSERT INTO {table} VALUES ({placeholders})", reader)
    seconds = time.perf_counter() - started
    sqlite_cursor.execute(f"SELECT count(*) FROM {table}")
    loaded = sqlite_cursor.fetchone()[0]
    sqlite_cursor.execute(f"DROP TABLE {table}")
    return seconds, loaded


def _result(
    database, meta, job, seconds, peak_rss_mb, baseline, baseline_seconds, loaded, cpu_seconds=None
) -> dict:
    rows = meta["rows"]
    if loaded != rows:
        raise BenchError(f"the baseline loaded {loaded} rows, the file has {rows}")
    return {
        "database": database,
        "rows": rows,
        "bad_rows": meta["bad_rows"],
        "status": job["status"],
        "created": job["created"],
        "quarantined": job["quarantined"],
        "seconds": round(seconds, 6),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(peak_rss_mb, 1) if peak_rss_mb is not None else None,
        "cpu_seconds": round(cpu_seconds, 2) if cpu_seconds is not None else None,
        "rows_per_cpu_s": round(rows / cpu_seconds) if cpu_seconds else None,
        "baseline": baseline,
        "baseline_seconds": round(baseline_seconds, 6),
        "baseline_rows_per_s": round(rows / baseline_seconds),
        "ratio": round(seconds / baseline_seconds, 2),
    }


def _check_job(job: dict, meta: dict) -> None:
    if job["status"] != "done":
        raise BenchError(f"import ended {job['status']}")
    if job["created"] + job["quarantined"] != meta["rows"] or job["quarantined"] != meta["bad_rows"]:
        raise BenchError(
            f"import created {job['created']} and quarantined {job['quarantined']} of {meta['rows']} "
            f"rows ({meta['bad_rows']} bad)"
        )


# ---- one run per database -------------------------------------------------------------------------


def run_postgres(pg_url: str, db_name: str, path: Path, meta: dict, refs, *, keep=False, log) -> dict:
    import psycopg

    if urlsplit(pg_url).path.lstrip("/") == db_name:
        raise BenchError(f"the benchmark database {db_name!r} must not be the one in DATABASE_URL")
    bench_url = with_database(pg_url, db_name)
    var_dir = OUT_DIR / f"var-{db_name}"
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    logfile = OUT_DIR / f"{db_name}-{meta['rows']}.log"
    logfile.unlink(missing_ok=True)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    try:
        env = huifang_env(bench_url, var_dir)
        log(f"  PostgreSQL {meta['rows']:,} rows: migrating {db_name} and loading reference data …")
        prepare_database(env, refs, logfile)
        log(f"  PostgreSQL {meta['rows']:,} rows: huifang import policies (load average {load_average()}) …")
        with BackendCpu(pg_url, db_name) as server:
            measured = huifang(["import", "policies", str(path)], env, log=logfile)
        with psycopg.connect(bench_url) as conn:
            job = _job_counts(conn.cursor(), "%s")
            _check_job(job, meta)
            conn.commit()
            log(f"  PostgreSQL {meta['rows']:,} rows: COPY into a bare table …")
            copy_seconds, loaded = copy_into_bare_table(conn, path)
        return _result(
            "postgresql",
            meta,
            job,
            measured["seconds"],
            measured["peak_rss_mb"],
            "COPY",
            copy_seconds,
            loaded,
            measured["cpu_seconds"],
        ) | {"load_average_after": load_average(), "server_cpu_seconds": _round(server.seconds)}
    finally:
        shutil.rmtree(var_dir / "media", ignore_errors=True)  # the stored copy of the import file
        if not keep:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')


def run_sqlite(path: Path, meta: dict, refs, *, log) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="huifang-bench-"))
    try:
        db = workdir / "bench.sqlite3"
        env = huifang_env(f"sqlite:///{db}", workdir / "var")
        logfile = OUT_DIR / f"sqlite-{meta['rows']}.log"
        logfile.unlink(missing_ok=True)
        log(f"  SQLite {meta['rows']:,} rows: migrating a temporary database and loading reference data …")
        prepare_database(env, refs, logfile)
        log(f"  SQLite {meta['rows']:,} rows: huifang import policies (load average {load_average()}) …")
        measured = huifang(["import", "policies", str(path)], env, log=logfile)
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            job = _job_counts(conn.cursor(), "?")
            _check_job(job, meta)
            log(f"  SQLite {meta['rows']:,} rows: bare INSERT …")
            cur = conn.cursor()
            cur.execute("BEGIN")
            seconds, loaded = insert_into_bare_table(cur, path)
            started = time.perf_counter()
            cur.execute("COMMIT")
            seconds += time.perf_counter() - started
        finally:
            conn.close()
        return _result(
            "sqlite",
            meta,
            job,
            measured["seconds"],
            measured["peak_rss_mb"],
            "bare INSERT",
            seconds,
            loaded,
            measured["cpu_seconds"],
        ) | {"load_average_after": load_average()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _job_counts(cursor, param: str) -> dict:
    cursor.execute(
        "SELECT status, rows_committed, created_count, updated_count, unchanged_count, quarantined_count "
        f"FROM records_importjob WHERE kind = {param} ORDER BY id DESC LIMIT 1",
        ["policies"],
    )
    status, committed, created, updated, unchanged, quarantined = cursor.fetchone()
    return {
        "status": status,
        "rows_committed": committed,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "quarantined": quarantined,
    }


# ---- in-process (the smoke test, on whatever database Django is connected to) -----------------------


def run_inprocess(rows: int, workdir: Path, *, seed: int = gen.BENCH_SEED, batch_size: int = 2000) -> dict:
    """The same measurement inside an already configured Django process (e.g. the test database):
    generate, load reference data through RecordsFeed, import through import_job_create +
    import_job_run, then the bare-table baseline in a temporary table. No peak memory figure."""
    from django.db import connection

    from huifang.org.demo import DEMO_ORG_UNITS
    from huifang.org.models import OrgUnit
    from huifang.org.services import org_unit_upsert
    from huifang.records import demo_data
    from huifang.records.importers.runner import import_job_create, import_job_run
    from huifang.records.schema import validate_row
    from huifang.records.services import RecordsFeed

    units: dict = {}
    for code, name, kind, parent in DEMO_ORG_UNITS:
        units[code] = OrgUnit.objects.filter(code=code).first() or org_unit_upsert(
            code=code, name=name, kind=kind, parent=units.get(parent)
        )
    for kind, values in (
        ("products", demo_data.product_rows()),
        ("salespeople", demo_data.salesperson_rows(seed, gen.BENCH_ANCHOR)),
    ):
        RecordsFeed(kind).upsert([(i, validate_row(kind, v, i).values) for i, v in enumerate(values, 1)])
    path, meta = gen.policies_csv(rows, seed=seed, data_dir=workdir, bad_every=max(2, min(1000, rows // 10)))

    started = time.perf_counter()
    job = import_job_create(kind="policies", path=path, resume=False)
    job = import_job_run(job.pk, batch_size=batch_size)
    seconds = time.perf_counter() - started
    counts = {"status": job.status, "created": job.created_count, "quarantined": job.quarantined_count}
    _check_job(counts, meta)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            baseline_seconds, loaded = copy_into_bare_table(cursor.connection, path, temporary=True)
        baseline = "COPY"
    else:
        with connection.cursor() as cursor:
            baseline_seconds, loaded = insert_into_bare_table(cursor, path, temporary=True)
        baseline = "bare INSERT"
    return _result(connection.vendor, meta, counts, seconds, None, baseline, baseline_seconds, loaded)


# ---- report ---------------------------------------------------------------------------------------


def _n(x) -> str:
    return "–" if x is None else f"{x:,.0f}" if isinstance(x, int | float) and x >= 100 else f"{x}"


def _round(x, digits=1):
    return None if x is None else round(x, digits)


def _cpu(r: dict) -> str:
    if not r.get("cpu_seconds"):
        return "–"
    return f"{r['cpu_seconds']:,.1f} s ({r['rows_per_cpu_s']:,} rows/CPU-s)"


def _server_cpu(r: dict) -> str:
    if r.get("server_cpu_seconds") is None:
        return "–" if r["database"] == "postgresql" else "(in-process)"
    return f"{r['server_cpu_seconds']:,.1f} s"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def report_table(results: dict) -> str:
    """A Markdown table of the runs (also printed to the terminal)."""
    lines = [
        "| database | rows | pipeline: time | pipeline: rows/s | peak RSS | import CPU time | "
        "DB server CPU time | baseline | baseline: rows/s | ratio (pipeline / baseline) | quarantined |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results["runs"]:
        db = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[r["database"]]
        lines.append(
            f"| {db} | {r['rows']:,} | {r['seconds']:,.1f} s | {r['rows_per_s']:,} | "
            f"{_n(r['peak_rss_mb'])} MB | {_cpu(r)} | {_server_cpu(r)} | {r['baseline']} | "
            f"{r['baseline_rows_per_s']:,} | "
            f"{r['ratio']}× | {r['quarantined']:,} |"
        )
    return "\n".join(lines)


def targets_table(results: dict) -> str:
    pg = [r for r in results["runs"] if r["database"] == "postgresql"]
    if not pg:
        return "_No PostgreSQL run (DATABASE_URL does not point at PostgreSQL): targets not assessed._"
    big = max(pg, key=lambda r: r["rows"])
    small = min(pg, key=lambda r: r["rows"])
    rss_big, rss_small = big["peak_rss_mb"], small["peak_rss_mb"]
    same = rss_big <= rss_small * 1.2 + 10  # "the same": within 20% (+10 MB of noise)
    lines = [
        "| target (issue) | measured | met |",
        "|---|---|:---:|",
        f"| ≥ {TARGET_ROWS_PER_S:,} rows/s end to end on PostgreSQL | {big['rows_per_s']:,} rows/s "
        f"({big['rows']:,} rows) | {_mark(big['rows_per_s'] >= TARGET_ROWS_PER_S)} |",
        f"| within {TARGET_RATIO:g}× of COPY | {big['ratio']}× (COPY {big['baseline_rows_per_s']:,} rows/s) "
        f"| {_mark(big['ratio'] <= TARGET_RATIO)} |",
        f"| peak memory < {TARGET_RSS_MB} MB | {_n(rss_big)} MB | {_mark(rss_big < TARGET_RSS_MB)} |",
        f"| peak memory the same for {small['rows']:,} and {big['rows']:,} rows | "
        f"{_n(rss_small)} MB vs {_n(rss_big)} MB | {_mark(same) if small is not big else '–'} |",
    ]
    return "\n".join(lines)


def report_markdown(results: dict) -> str:
    m = results["machine"]
    machine = (
        f"{m['nproc']} CPUs ({m['cpu'] or 'unknown CPU'}), {m['memory_gb']} GB RAM, {m['os']}; "
        f"Python {m['python']}, Django {m.get('django', '?')}, "
        f"PostgreSQL {m['postgresql'] or '–'} (same host), SQLite {m['sqlite']}"
    )
    loads = ", ".join(f"{r['database']} {r['rows']:,}: {r['load_average_after']}" for r in results["runs"])
    return "\n".join(
        [
            f"Measured {m['date']} with `{results['command']}` ({results['code']}).",
            "",
            f"Machine: {machine}. Load average (1/5/15 min) at the start: {results['load_average_before']}; "
            f"after each run: {loads}.",
            "",
            report_table(results),
            "",
            targets_table(results),
            "",
            "Pipeline time is the wall time of the `huifang import policies FILE` process (start-up, "
            "storing and hashing the file, counting its rows, validation, encryption, blind indexes, "
            "derived facts, upserts, quarantine, audit). Peak RSS is that process's `ru_maxrss`. "
            "The baseline loads the same file into a table of text columns without constraints "
            "(PostgreSQL `COPY` via psycopg `cursor.copy()`; SQLite: `executemany` INSERT). "
            "Import CPU time is user + system time of the import process alone; DB server CPU time "
            "is that of the PostgreSQL backends serving the benchmark database during the import "
            "(polled from /proc; SQLite works inside the import process). What is left of the wall "
            "time is waiting: for a CPU on a busy machine (see the load average) and for I/O.",
        ]
    )


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    if SECTION not in text:
        text = text.rstrip() + f"\n\n{SECTION}\n"
    # Append the block at the end of the section (before the next "## " heading).
    head, _sep, tail = text.partition(SECTION)
    nxt = re.search(r"^## ", tail, flags=re.M)
    cut = nxt.start() if nxt else len(tail)
    return head + SECTION + tail[:cut].rstrip() + "\n\n" + block + "\n" + ("\n" + tail[cut:] if nxt else "")


def write_benchmarks_md(name: str, body: str) -> None:
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    BENCHMARKS_MD.write_text(replace_block(text, name, body), encoding="utf-8")


# ---- entry points ---------------------------------------------------------------------------------


def command_line(argv: list[str]) -> str:
    return " ".join([".venv/bin/python -m bench", *argv]) if argv else ".venv/bin/python -m bench"


def run(
    *,
    rows: int = 1_000_000,
    small_rows: int = SMALL_ROWS,
    sqlite_rows: int = SMALL_ROWS,
    seed: int = gen.BENCH_SEED,
    postgres: bool = True,
    sqlite: bool = True,
    db_name: str = "huifang_bench",
    keep: bool = False,
    write: bool = True,
    command: str = "",
    code: str = "worktree",
    data_dir: Path = gen.DATA_DIR,
    log=print,
) -> dict:
    """The whole benchmark: PostgreSQL at ``small_rows`` and ``rows`` (memory comparison),
    SQLite at ``sqlite_rows``. Returns the results and (``write``) updates BENCHMARKS.md."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    pg_url = os.environ.get("DATABASE_URL", "")
    if postgres and not is_postgres_url(pg_url):
        log("DATABASE_URL does not point at PostgreSQL: skipping the PostgreSQL figures.")
        postgres = False
    results = {
        "command": command,
        "code": use_code(code),
        "machine": machine_info(pg_url if postgres else None),
        "load_average_before": load_average(),
        "runs": [],
    }
    refs = gen.reference_csvs(seed=seed, data_dir=data_dir)
    if postgres:
        for n in sorted({min(small_rows, rows), rows}):
            path, meta = gen.policies_csv(n, seed=seed, data_dir=data_dir, log=log)
            results["runs"].append(run_postgres(pg_url, db_name, path, meta, refs, keep=keep, log=log))
    if sqlite:
        path, meta = gen.policies_csv(min(sqlite_rows, rows), seed=seed, data_dir=data_dir, log=log)
        results["runs"].append(run_sqlite(path, meta, refs, log=log))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT_DIR / f"import-{stamp}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    log("")
    log(report_table(results))
    log("")
    log(targets_table(results))
    if write and results["runs"]:
        write_benchmarks_md("import", report_markdown(results))
        log(f"\nfigures written to {BENCHMARKS_MD.name}")
    return results


# Functions whose cumulative time answers "where does the time go" (file suffix, function name).
PROFILE_BUCKETS = (
    ("whole import (import_job_run)", "importers/runner.py", "import_job_run"),
    ("reading the CSV (iter_csv)", "importers/readers.py", "iter_csv"),
    ("validating rows (schema.row_validator: parse + checks)", "records/schema.py", "validate"),
    ("  resident ID checks", "records/idnumbers.py", "resident_id_parse"),
    ("per-batch flush (upsert, quarantined rows, job counters)", "importers/runner.py", "_flush"),
    ("  RecordsFeed.upsert", "records/services.py", "upsert"),
    (
        "    customers from policy rows (incl. identity fingerprint)",
        "records/services.py",
        "_embedded_customer",
    ),
    ("    blind indexes of written customers", "records/services.py", "_blind_indexes"),
    ("    fingerprints (MAC of the values)", "records/fingerprints.py", "fingerprint_parts"),
    ("    blind_index (all)", "crypto/blind_index.py", "blind_index"),
    ("    policy_derive", "records/derive.py", "policy_derive"),
    (
        "    _in_file_duplicates (one lookup: duplicates and existing records)",
        "records/services.py",
        "_in_file_duplicates",
    ),
    ("    _write (customers and policies)", "records/services.py", "_write"),
    ("      bulk_upsert (records/bulk.py)", "records/bulk.py", "bulk_upsert"),
    ("      rows to tuples (records/bulk.py)", "records/bulk.py", "_tuples"),
    ("        encryption (encrypt_str)", "crypto/cipher.py", "encrypt_str"),
    ("      COPY rows (psycopg write_row)", "psycopg/_copy_base.py", "write_row"),
    ("    SQL (client side, incl. waiting for the server)", "db/backends/utils.py", "_execute"),
    ("    audit_record", "audit/services.py", "audit_record"),
)


def profile_summary(prof: Path, top: int = 25) -> tuple[str, dict]:
    stats = pstats.Stats(str(prof))
    by_key: dict[tuple[str, str], float] = {}
    tottime_rows = []
    for (filename, _line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        key = (filename.replace("\\", "/"), func)
        by_key[key] = max(by_key.get(key, 0.0), ct)
        tottime_rows.append((tt, ct, filename, func))
    total = max(
        (
            ct
            for (f, fn), ct in by_key.items()
            if f.endswith("importers/runner.py") and fn == "import_job_run"
        ),
        default=stats.total_tt,
    )
    buckets = {}
    lines = ["| part | cumulative s | share of the import |", "|---|---:|---:|"]
    for label, suffix, func in PROFILE_BUCKETS:
        found = [ct for (f, fn), ct in by_key.items() if fn == func and (not suffix or f.endswith(suffix))]
        if not found:
            continue
        ct = max(found)
        if ct < 0.05:
            continue
        buckets[label.strip()] = ct
        lines.append(f"| {label.replace('  ', '&nbsp;&nbsp;')} | {ct:.1f} | {100 * ct / total:.0f}% |")
    lines += [
        "",
        f"Top {top} functions by own time:",
        "",
        "| own s | cumulative s | function |",
        "|---:|---:|---|",
    ]
    for tt, ct, filename, func in sorted(tottime_rows, reverse=True)[:top]:
        where = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", filename)
        where = re.sub(r"^bench/out/code-[0-9a-f]+/", "", where.replace(str(ROOT) + "/", ""))
        func = re.sub(r" at 0x[0-9a-f]+>", ">", func)
        lines.append(f"| {tt:.1f} | {ct:.1f} | `{where}` {func} |")
    return "\n".join(lines), buckets


def profile(
    *,
    rows: int = 50_000,
    seed: int = gen.BENCH_SEED,
    db_name: str = "huifang_bench_profile",
    code: str = "worktree",
    command: str = "",
    write=True,
    log=print,
):
    """Import ``rows`` policies into a fresh database twice, plain and under cProfile (PostgreSQL if
    DATABASE_URL points at it, else SQLite), and summarise where the time goes."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    code_label = use_code(code)
    pg_url = os.environ.get("DATABASE_URL", "")
    postgres = is_postgres_url(pg_url)
    refs = gen.reference_csvs(seed=seed)
    path, _meta = gen.policies_csv(rows, seed=seed, log=log)
    prof = OUT_DIR / f"import-{rows}.prof"
    logfile = OUT_DIR / f"profile-{rows}.log"
    logfile.unlink(missing_ok=True)
    measured = {}
    for mode, prefix in (("plain", None), ("profiled", ["-m", "cProfile", "-o", str(prof)])):
        workdir = Path(tempfile.mkdtemp(prefix="huifang-bench-"))
        try:
            if postgres:
                import psycopg

                url = with_database(pg_url, db_name)
                with psycopg.connect(pg_url, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
                    admin.execute(f'CREATE DATABASE "{db_name}"')
            else:
                url = f"sqlite:///{workdir / 'bench.sqlite3'}"
            env = huifang_env(url, workdir / "var")
            log(f"{mode} import of {rows:,} rows on {'PostgreSQL' if postgres else 'SQLite'} …")
            prepare_database(env, refs, logfile)
            server = BackendCpu(pg_url, db_name) if postgres else None
            with server or contextlib.nullcontext():
                measured[mode] = huifang(["import", "policies", str(path)], env, log=logfile, prefix=prefix)
            measured[mode]["server_cpu_seconds"] = server.seconds if server else None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if postgres:
                with psycopg.connect(pg_url, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
    plain, profiled = measured["plain"], measured["profiled"]
    table, buckets = profile_summary(prof)
    body = "\n".join(
        [
            f"cProfile of `huifang import policies` with {rows:,} new rows on "
            f"{'PostgreSQL' if postgres else 'SQLite'}, {datetime.now():%Y-%m-%d %H:%M} "
            f"(`{command or command_line(['profile', '--rows', str(rows)])}`, {code_label}; "
            f"load average {load_average()}). "
            f"Without the profiler the same import took {plain['seconds']:.1f} s "
            f"({rows / plain['seconds']:,.0f} rows/s). The import process was on a CPU for "
            f"{plain['cpu_seconds']:.1f} s ({rows / plain['cpu_seconds']:,.0f} rows per CPU-second)"
            + (
                f", the PostgreSQL backend for {plain['server_cpu_seconds']:.1f} s"
                if plain.get("server_cpu_seconds") is not None
                else ""
            )
            + "; the rest of the wall time is waiting (for a CPU on a busy machine, for I/O). "
            f"Under the profiler the import took {profiled['seconds']:.1f} s: the profiler slows "
            "Python code, not the database, so in the table below Python's share is overstated and "
            "time spent in the database (waiting in psycopg, or inside SQLite's `executemany`) understated."
            + (
                " On PostgreSQL the import writes each batch on a second thread while it reads the next; "
                "the profile covers both threads, so the parts add up to more than the whole and include "
                "time a thread waited for the other (for the interpreter lock, or for the batch queue)."
                if postgres
                else ""
            ),
            "",
            table,
        ]
    )
    log(body)
    if write:
        write_benchmarks_md(f"profile-{'postgresql' if postgres else 'sqlite'}", body)
    return {"rows": rows, "plain_seconds": plain["seconds"], "buckets": buckets}
