"""Page benchmark (issue 5): server time of the supervisor board and the agent's task page with
1,000,000 policies in PostgreSQL.

The database (``hf_bench_pages`` by default) is filled by the callback sweep benchmark's own steps
(bench/callback_sweep.py): migrate, 1,000,000 policies with set-based SQL, then the daily sweep that
creates their callback tasks. Filling takes minutes: keep the database with ``--keep`` and a later
run with ``--keep`` reuses it (the pages only read; the few rows the measuring step arranges are
made idempotently).

Then, in a child process on the real settings (``python -m bench.pages child measure …``), the
measuring step arranges what a working day looks like (once; a kept database is not arranged
again): tasks due before today closed with the usual mix of outcomes (80 % success, 4 % refused,
2 % cancelled before the callback, 4 % failed, 2 % problem found; the rest open and overdue) and
one submitted attempt each (2 % letters, 2 % visits), a supervisor of one province and an auditor
at head office, 20 agents holding 100 tasks each with 50 attempts each today, letter and visit
requests awaiting approval, stale recalls and open problem cases. It then times, with Django's
test ``Client`` in-process (middleware, session, templates; no network), N requests each of:

* the baseline: ``/api/v1/health`` (the cheapest request through the same stack);
* the board ``/board/`` as the province supervisor (their subtree) and as a head-office auditor
  (everything);
* the board's task list (drill-down, first page);
* the task page ``work:task`` as the agent, if that URL exists in the code being measured.

Reported: p50, p95 and max in ms, the ratio of p95 to the baseline's p95, and the number of SQL
queries of one request. Target (issue 5): p95 ≤ 100 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench pages --keep
    .venv/bin/python -m bench.pages --policies 100000 --no-write      # a quick look
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
SECTION = "## Pages: board and task page (issue 5)"
BLOCK = "pages"
TARGET_P95_MS = 100.0
DEFAULT_POLICIES = 1_000_000
DEFAULT_REQUESTS = 200


# ---- the bench process (no Django) ------------------------------------------------------------------


def _child(step: str, env: dict, log_path: Path, **kwargs) -> dict:
    """Run ``step`` of this module in a child process; it prints one JSON line last."""
    cmd = [sys.executable, "-m", "bench.pages", "child", step, json.dumps(kwargs, default=str)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    with open(log_path, "a", encoding="utf-8") as out:
        out.write(f"$ child {step} {kwargs}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode:
        raise RuntimeError(f"child {step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _filled(bench_url: str) -> dict | None:
    """Counts of a kept database, or None when it is not there or not filled."""
    import psycopg

    try:
        with psycopg.connect(bench_url, autocommit=True) as conn:
            policies = conn.execute("SELECT count(*) FROM records_policy").fetchone()[0]
            tasks = conn.execute("SELECT count(*) FROM callbacks_callbacktask").fetchone()[0]
    except psycopg.Error:
        return None
    return {"policies": policies, "tasks": tasks} if policies and tasks else None


def fill(pg_url: str, db_name: str, policies: int, env: dict, log_path: Path, log=print) -> dict:
    """(Re)create ``db_name`` and fill it with the callback sweep benchmark's steps."""
    import psycopg

    from bench import callback_sweep as sweep

    # The pages are measured on today's date (the board counts from timezone.localdate()), so the
    # data are made around today, not around the sweep benchmark's fixed day.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    log(f"(re)creating database {db_name} and migrating …")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    started = time.perf_counter()
    sweep._migrate(env, log_path)
    log(f"filling {policies:,} policies (bench/callback_sweep.py) …")
    filled = sweep._child("fill", env, log_path, policies=policies, today=today)
    log(f"  {filled['seconds']:.0f} s: {filled['counts']}")
    bench_url = env["DATABASE_URL"]
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log("creating the callback tasks (the daily sweep) …")
    swept = sweep._child("sweep", env, log_path, today=today)
    log(f"  {swept['seconds']:.0f} s, {swept['created_total']:,} tasks")
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {
        "seconds": time.perf_counter() - started,
        "counts": filled["counts"],
        "tasks_created": swept["created_total"],
    }


# ---- the measuring child (Django) -------------------------------------------------------------------

PASSWORD = "Bench-pages-2026"
AGENTS = 20
HELD_PER_AGENT = 100
LETTER_VISIT_REQUESTS = 60
STALE_RECALLS = 120
PROBLEM_CASES = 600


def _arrange(today) -> dict:
    """What a working day looks like, made once (idempotent): users, tasks closed with the
    usual mix of outcomes, tasks held by agents with attempts today, letter/visit requests, stale
    recalls and open problem cases."""
    from datetime import datetime, timedelta
    from datetime import time as dtime

    from django.db import connection, transaction
    from django.utils import timezone

    from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase
    from huifang.core.permissions import Role
    from huifang.org.models import OrgUnit, User
    from huifang.org.services import user_create

    units = {u.code: u for u in OrgUnit.objects.filter(code__in=["HO", "GD", "GZ", "SZ"])}

    def user(username, role, unit):
        found = User.objects.filter(username=username).first()
        return found or user_create(username=username, password=PASSWORD, org_unit=units[unit], roles=[role])

    supervisor = user("bench_supervisor", Role.SUPERVISOR, "GD")
    auditor = user("bench_auditor", Role.AUDITOR, "HO")
    agents = [user(f"bench_agent_{i:02d}", Role.AGENT, "GZ" if i % 2 == 0 else "SZ") for i in range(AGENTS)]
    arranged = CallbackTask.objects.filter(assignee__in=agents).exists()
    now = timezone.now()
    if not arranged:
        with transaction.atomic(), connection.cursor() as cursor:
            # Tasks due before today are mostly closed: 80 % success (60 % of all inside the
            # cooling-off period), 4 % refused, 2 % cancelled before the callback, 4 % failed,
            # 2 % problem found; the rest stays open (overdue backlog).
            cursor.execute(
                """
                UPDATE callbacks_callbacktask SET
                  status = CASE WHEN id %% 100 < 80 THEN 'success' WHEN id %% 100 < 84 THEN 'refused'
                                WHEN id %% 100 < 86 THEN 'cancelled_before' WHEN id %% 100 < 90 THEN 'failed'
                                WHEN id %% 100 < 92 THEN 'problem_found' ELSE status END,
                  succeeded_in_cooling_off = CASE WHEN id %% 100 < 60 THEN true
                                                  WHEN id %% 100 < 80 THEN false ELSE NULL END,
                  closed_at = CASE WHEN id %% 100 < 92 THEN %s ELSE NULL END
                WHERE due_date < %s AND status = 'pending'
                """,
                [now - timedelta(days=1), today],
            )
            closed = cursor.rowcount
            # One submitted attempt per closed task (its deciding one): 2 % letters, 2 % visits.
            cursor.execute(
                """
                INSERT INTO callbacks_attempt (task_id, channel, agent_id, started_at, ended_at, disposition,
                  identity_confirmed, answers, notes, recording, recording_sha256, recording_url, external_ref,
                  evidence, submitted_at)
                SELECT id, CASE WHEN id % 50 = 7 THEN 'letter' WHEN id % 50 = 9 THEN 'visit' ELSE 'phone' END,
                  NULL, closed_at - interval '1 hour', closed_at - interval '50 minutes',
                  CASE WHEN status = 'failed' THEN 'no_answer' WHEN status = 'refused' THEN 'refused'
                       ELSE 'reached' END,
                  status IN ('success', 'problem_found'), '{}'::jsonb, '', '', '', '', '', '{}'::jsonb, closed_at
                FROM callbacks_callbacktask WHERE closed_at IS NOT NULL AND status <> 'cancelled_before'
                """
            )
            attempts = cursor.rowcount
            if any(field.name == "attempts_submitted" for field in CallbackTask._meta.get_fields()):
                # The attempt facts kept on the task row (callbacks migration 0004), as after real attempts.
                facts = importlib.import_module("huifang.callbacks.migrations.0004_task_attempt_facts")
                cursor.execute(facts.BACKFILL)
            for i, agent in enumerate(agents):
                unit = units["GZ" if i % 2 == 0 else "SZ"]
                ids = list(
                    CallbackTask.objects.filter(
                        org_unit=unit, status="pending", assignee__isnull=True, due_date__gte=today
                    )
                    .order_by("due_date", "id")
                    .values_list("id", flat=True)[i * HELD_PER_AGENT : (i + 1) * HELD_PER_AGENT]
                )
                CallbackTask.objects.filter(id__in=ids).update(
                    assignee=agent, assigned_at=now, status="in_progress", channel="phone"
                )
                day_start = timezone.make_aware(datetime.combine(today, dtime(9, 0)))
                Attempt.objects.bulk_create(
                    Attempt(
                        task_id=pk,
                        channel="phone",
                        agent=agent,
                        started_at=day_start + timedelta(minutes=n),
                        ended_at=day_start + timedelta(minutes=n + 3),
                        disposition="no_answer" if n % 3 else "reached",
                        submitted_at=day_start + timedelta(minutes=n + 3),
                    )
                    for n, pk in enumerate(ids[: HELD_PER_AGENT // 2])
                )
            pending = CallbackTask.objects.filter(
                status="pending",
                assignee__isnull=True,
                org_unit__in=[units["GZ"], units["SZ"]],
                due_date__gte=today,
            ).order_by("-id")
            letters = list(pending.values_list("id", flat=True)[:LETTER_VISIT_REQUESTS])
            CallbackTask.objects.filter(id__in=letters).update(
                letter_visit_requested="visit", phone_attempts=3, channel="phone"
            )
            stale_ids = list(
                CallbackTask.objects.filter(assignee__in=agents)
                .order_by("-id")
                .values_list("id", flat=True)[:STALE_RECALLS]
            )
            CallbackTask.objects.filter(id__in=stale_ids).update(recall_at=now - timedelta(days=1))
            problem_tasks = list(
                CallbackTask.objects.filter(status="problem_found")
                .order_by("id")
                .values_list("id", "org_unit_id")[:PROBLEM_CASES]
            )
            ProblemCase.objects.bulk_create(
                ProblemCase(
                    number=f"BPC{n:07d}",
                    task_id=pk,
                    category="sales_misleading",
                    org_unit_id=unit_id,
                    discovered_on=today - timedelta(days=20),
                    due_date=today + timedelta(days=(n % 30) - 10),
                )
                for n, (pk, unit_id) in enumerate(problem_tasks)
            )
        # The task counts the triggers appended, folded as the minute job does.
        from huifang.reports.services import task_counts_compact

        task_counts_compact()
        with connection.cursor() as cursor:
            # As autovacuum would before the next morning: the visibility map again covers the
            # rows just updated, so that index-only scans stay index-only.
            cursor.execute("VACUUM ANALYZE callbacks_callbacktask")
            cursor.execute("VACUUM ANALYZE callbacks_attempt")
            cursor.execute("VACUUM ANALYZE callbacks_problemcase")
            cursor.execute("VACUUM ANALYZE reports_taskcount")
    else:
        closed = attempts = None
    task = (
        CallbackTask.objects.filter(assignee=agents[0], status="in_progress", policy__isnull=False)
        .order_by("id")
        .first()
    )
    return {
        "supervisor": supervisor,
        "auditor": auditor,
        "agent": agents[0],
        "task": task,
        "closed_now": closed,
        "attempts_now": attempts,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def _time_requests(client, url: str, requests: int, warmup: int = 5) -> dict:
    from django.db import connection

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    # Counted on the connection wrapper: the test client closes the database connection after
    # each request (as a server does without persistent connections).
    with connection.execute_wrapper(count):
        client.get(url)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return {
        "url": url,
        "requests": requests,
        "p50_ms": statistics.median(times),
        "p95_ms": _percentile(times, 0.95),
        "max_ms": max(times),
        "queries": len(executed),
    }


def _board_parts(viewer, today, repeat: int = 5) -> dict:
    """Where the board's time goes: each card's reads on their own (median of ``repeat`` runs, ms)."""
    from huifang.reports import selectors_board as sel
    from huifang.reports.forms import BoardFilterForm
    from huifang.reports.kpis import kpi_callbacks

    form = BoardFilterForm({}, viewer=viewer, today=today)
    form.is_valid()
    f = form.filters()
    units = sel.board_units(viewer, None)
    parts = {
        "KPI tiles (kpi_callbacks)": lambda: kpi_callbacks(viewer, f, today=today),
        "trend": lambda: sel.board_trend(units, f, "week"),
        "backlog": lambda: sel.board_backlog(units, f, today),
        "agents": lambda: sel.board_agents(units, f, today),
        "cooling-off risks": lambda: sel.board_at_risk(units, f, today),
        "letter/visit approvals": lambda: sel.board_awaiting_approval(units, f),
        "stale recalls": lambda: sel.board_stale_recalls(units, f),
        "problem cases near deadline": lambda: sel.board_problems_near(units, f, today),
    }
    out = {}
    for name, read in parts.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            read()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = statistics.median(times)
    return out


def child_measure(requests: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from huifang.callbacks.models import CallbackTask
    from huifang.records.models import Policy

    today = timezone.localdate()
    # Production-shaped static files (hashed names from the manifest), as `huifang serve` has them.
    call_command("collectstatic", interactive=False, verbosity=0)
    t0 = time.perf_counter()
    who = _arrange(today)
    arrange_seconds = time.perf_counter() - t0
    results = {
        "today": today.isoformat(),
        "arrange_seconds": arrange_seconds,
        "counts": {
            "policies": Policy.objects.count(),
            "tasks": CallbackTask.objects.count(),
            "tasks_due_this_month": CallbackTask.objects.filter(
                due_date__year=today.year, due_date__month=today.month
            ).count(),
        },
        "pages": [],
    }

    def client_for(user):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        return client

    supervisor, auditor, agent = (
        client_for(who["supervisor"]),
        client_for(who["auditor"]),
        client_for(who["agent"]),
    )
    pages = [
        ("baseline: /api/v1/health", supervisor, "/api/v1/health"),
        ("board, province supervisor (广东)", supervisor, reverse("board:home")),
        ("board, head-office auditor (all)", auditor, reverse("board:home")),
        ("board task list (drill-down, first page)", supervisor, reverse("board:tasks") + "?figure=due"),
    ]
    try:
        task_url = reverse("work:task", args=[who["task"].pk])
    except NoReverseMatch:
        results["task_page_missing"] = True
    else:
        pages.append(("task page (work:task), agent", agent, task_url))
    for label, client, url in pages:
        row = _time_requests(client, url, requests)
        row["page"] = label
        results["pages"].append(row)
    results["board_parts"] = _board_parts(who["supervisor"], today)
    results["postgresql_settings"] = {
        name: connection.cursor().execute(f"SHOW {name}").fetchone()[0]  # noqa: S608
        for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather")
    }
    return results


def _child_main(step: str, kwargs: str) -> None:
    import django

    django.setup()
    args = json.loads(kwargs)
    result = {"measure": child_measure}[step](**args)
    print(json.dumps(result, default=str))


# ---- run, report --------------------------------------------------------------------------------------


def run(
    *,
    policies: int = DEFAULT_POLICIES,
    requests: int = DEFAULT_REQUESTS,
    db_name: str = "hf_bench_pages",
    keep: bool = False,
    write: bool = True,
    command: str = "",
    log=print,
) -> dict:
    """The whole benchmark (PostgreSQL); returns the results and (``write``) updates BENCHMARKS.md."""
    import psycopg

    from bench import callback_sweep as sweep
    from bench.import_policies import is_postgres_url, load_average, machine_info, with_database

    pg_url = os.environ.get("DATABASE_URL", "")
    if not is_postgres_url(pg_url):
        raise SystemExit("The page benchmark needs DATABASE_URL pointing at PostgreSQL.")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = OUT_DIR / f"pages-{stamp}.log"
    bench_url = with_database(pg_url, db_name)
    env = sweep._child_env(bench_url)
    env["HUIFANG_DEBUG"] = "0"
    results: dict = {
        "command": command,
        "code": sweep._code_label(),
        "machine": machine_info(pg_url),
        "load_average": {"start": load_average()},
    }
    try:
        existing = _filled(bench_url) if keep else None
        if existing and existing["policies"] >= policies:
            log(f"reusing database {db_name}: {existing['policies']:,} policies, {existing['tasks']:,} tasks")
            results["fill"] = {"reused": True, **existing}
            sweep._migrate(env, log_path)  # the code may have new migrations since the fill
        else:
            results["fill"] = fill(pg_url, db_name, policies, env, log_path, log=log)
        log(f"measuring {requests} requests per page …")
        results["load_average"]["before"] = load_average()
        results["measure"] = _child("measure", env, log_path, requests=requests)
        results["load_average"]["end"] = load_average()
    finally:
        if not keep:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    (OUT_DIR / f"pages-{stamp}.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str)
    )
    text = report_markdown(results)
    log("")
    log(text)
    if write:
        write_benchmarks_md(text)
        log("\nfigures written to BENCHMARKS.md")
    return results


def report_markdown(r: dict) -> str:
    m, measure, la = r["machine"], r["measure"], r["load_average"]
    pages = measure["pages"]
    baseline = pages[0]["p95_ms"]
    counts = measure["counts"]
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu'] or 'unknown CPU'}), {m['memory_gb']} GB, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}, Django {m.get('django', '?')}; code: {r['code']}.",
        f"Command: `{r['command']}`.",
        f"Load average (1/5/15 min): {la['start']} at the start, {la.get('before')} before measuring, "
        f"{la.get('end')} at the end (a shared machine: the figures are what this run saw).",
        "",
        f"Data: {counts['policies']:,} policies, {counts['tasks']:,} callback tasks "
        f"({counts['tasks_due_this_month']:,} due in the month of today, {measure['today']}, which the board's "
        "KPI tiles count by default); PostgreSQL settings: "
        + ", ".join(f"{k} {v}" for k, v in measure.get("postgresql_settings", {}).items())
        + ".",
        "",
        f"| page | requests | p50 ms | p95 ms | max ms | p95 vs baseline | SQL queries | target p95 ≤ {TARGET_P95_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, row in enumerate(pages):
        target = "—" if i == 0 else ("✅" if row["p95_ms"] <= TARGET_P95_MS else "❌")
        ratio = "—" if i == 0 else f"{row['p95_ms'] / baseline:.1f}×"
        lines.append(
            f"| {row['page']} | {row['requests']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
            f"{row['max_ms']:.1f} | {ratio} | {row['queries']} | {target} |"
        )
    parts = measure.get("board_parts")
    if parts:
        lines += [
            "",
            "Where the province supervisor's board spends its time (each card's reads alone, median of 5, ms): "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in parts.items())
            + ".",
        ]
    if measure.get("task_page_missing"):
        lines += ["", "The task page (`work:task`) was not in the code measured."]
    return "\n".join(lines)


def write_benchmarks_md(body: str) -> None:
    from bench.import_policies import BENCHMARKS_MD, replace_block

    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    start = f"<!-- bench:{BLOCK}:start -->"
    if start not in text:
        text = text.rstrip() + f"\n\n{SECTION}\n\n{start}\n<!-- bench:{BLOCK}:end -->\n"
    BENCHMARKS_MD.write_text(replace_block(text, BLOCK, body), encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", type=int, default=DEFAULT_POLICIES, help="policies (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="timed requests per page")
    parser.add_argument("--db-name", default="hf_bench_pages", help="PostgreSQL database to fill (or reuse)")
    parser.add_argument("--keep", action="store_true", help="keep the database, and reuse a kept one")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        _child_main(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    run(
        policies=args.policies,
        requests=args.requests,
        db_name=args.db_name,
        keep=args.keep,
        write=not args.no_write,
        command=" ".join([".venv/bin/python -m bench.pages", *argv]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
