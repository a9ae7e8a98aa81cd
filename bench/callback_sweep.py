"""Callback sweep benchmark (issue: callback engine).

A dedicated PostgreSQL database (``huifang_bench_sweep`` by default, dropped and created again) is
migrated and filled with set-based SQL (``INSERT … SELECT … FROM generate_series``) with 1,000,000
individual and group policies across five products (life, health, 万能, 投连, one-year accident),
one applicant each (PII columns hold real ciphertext, one token per column), 100 salespeople (one
departed ten days ago), 20,000 claims, 10,000 保全 and 5,000 lapse events, and expiring policies.
Then, each in a child process (``python -m bench.callback_sweep child …``, the real code on the
real settings):

1. the daily sweep (``callback_tasks_sweep``) generates every task (first sweep);
2. baseline: the bare ``INSERT … SELECT`` of the same new-policy rows (same joins and filters, no
   anti-join, constant columns) into a scratch table without indexes or constraints;
3. ``ANALYZE`` of the task table (autovacuum would have done it before the next night's sweep);
4. the sweep again: nothing to create (second sweep, a no-op);
5. baseline: the bare anti-join (``SELECT count(*) … WHERE NOT EXISTS``) of the new-policy trigger.

Targets (issue): first sweep ≤ 30 s, no-op sweep ≤ 10 s on 1,000,000 policies. Ratios are sweep
time / baseline time. The load average is recorded before and after: the machine may be shared.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/huifang .venv/bin/python -m bench sweep
    .venv/bin/python -m bench.callback_sweep --policies 100000 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
SECTION = "## Callback sweep (issue: callback engine)"
BLOCK = "sweep"
TARGET_FIRST_S = 30.0
TARGET_NOOP_S = 10.0
# A fixed "today" so runs compare (every date it needs is in a confirmed calendar year).
TODAY = date(2026, 11, 20)
DEFAULT_POLICIES = 1_000_000


# ---- the bench process (no Django) ------------------------------------------------------------------


def _pg_helpers():
    from bench.import_policies import is_postgres_url, load_average, machine_info, with_database

    return is_postgres_url, load_average, machine_info, with_database


def _child_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        HUIFANG_VAR_DIR=str(OUT_DIR / "var-sweep"),
        HUIFANG_ENV="local",
        DJANGO_SETTINGS_MODULE="config.settings",
        HUIFANG_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _child(step: str, env: dict, log_path: Path, **kwargs) -> dict:
    """Run ``step`` of this module in a child process; it prints one JSON line last."""
    cmd = [sys.executable, "-m", "bench.callback_sweep", "child", step, json.dumps(kwargs, default=str)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    with open(log_path, "a", encoding="utf-8") as out:
        out.write(f"$ child {step} {kwargs}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode:
        raise RuntimeError(f"child {step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["child_wall_seconds"] = wall
    return result


def _migrate(env: dict, log_path: Path) -> None:
    with open(log_path, "a", encoding="utf-8") as out:
        subprocess.run(
            [sys.executable, "-m", "huifang.cli", "migrate", "--noinput", "-v", "0"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


def _timed(conn, sql: str, params=None) -> tuple[float, object]:
    started = time.perf_counter()
    cur = conn.execute(sql, params)
    seconds = time.perf_counter() - started
    try:
        value = cur.fetchone()
    except Exception:  # no result set
        value = cur.rowcount
    return seconds, value


def baseline_insert_sql(today: date) -> str:
    """The new-policy rows of the first sweep, bare: same joins and filters, constant columns, into
    a table with no index, no constraint and no anti-join."""
    lo = today - timedelta(days=365)
    return f"""
        INSERT INTO bench_scratch_tasks
        SELECT 'new_policy', 'BS-12', 'policy:' || p.id::text, '', p.id, p.applicant_id, p.org_unit_id,
               'pending', p.cooling_off_end, jsonb_build_object('base_date', p.receipt_date),
               CASE WHEN c.mobile <> '' THEN 'electronic' ELSE 'phone' END, now()
        FROM records_policy p JOIN records_product pr ON pr.id = p.product_id
        JOIN records_customer c ON c.id = p.applicant_id
        WHERE p.receipt_date BETWEEN DATE '{lo}' AND DATE '{today}' AND p.cooling_off_end IS NOT NULL
          AND NOT p.is_group AND p.is_long_term AND pr.line IN ('life', 'health')
          AND p.status = 'in_force'
    """


def baseline_noop_sql(today: date) -> str:
    lo = today - timedelta(days=365)
    return f"""
        SELECT count(*) FROM records_policy p JOIN records_product pr ON pr.id = p.product_id
        WHERE p.receipt_date BETWEEN DATE '{lo}' AND DATE '{today}' AND p.cooling_off_end IS NOT NULL
          AND NOT p.is_group AND p.is_long_term AND pr.line IN ('life', 'health')
          AND p.status = 'in_force'
          AND NOT EXISTS (SELECT 1 FROM callbacks_callbacktask t
                          WHERE t.policy_id = p.id AND t.kind = 'new_policy')
    """


def run(
    *,
    policies: int = DEFAULT_POLICIES,
    db_name: str = "huifang_bench_sweep",
    keep: bool = False,
    reuse: bool = False,
    write: bool = True,
    command: str = "",
    log=print,
) -> dict:
    """The whole benchmark (PostgreSQL); returns the results and (``write``) updates BENCHMARKS.md."""
    import psycopg

    is_postgres_url, load_average, machine_info, with_database = _pg_helpers()
    pg_url = os.environ.get("DATABASE_URL", "")
    if not is_postgres_url(pg_url):
        raise SystemExit("The callback sweep benchmark needs DATABASE_URL pointing at PostgreSQL.")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = OUT_DIR / f"sweep-{stamp}.log"
    bench_url = with_database(pg_url, db_name)
    env = _child_env(bench_url)
    results: dict = {
        "command": command,
        "code": _code_label(),
        "machine": machine_info(pg_url),
        "policies": policies,
        "today": TODAY.isoformat(),
        "load_average": {"start": load_average()},
    }
    with psycopg.connect(pg_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
    try:
        if reuse and exists:
            # Development only: keep the filled records, forget the tasks of the last run.
            log(f"reusing database {db_name} (tasks truncated) …")
            with psycopg.connect(bench_url, autocommit=True) as conn:
                conn.execute("TRUNCATE callbacks_callbacktask, reports_taskcount CASCADE")
                conn.execute("DROP TABLE IF EXISTS bench_scratch_tasks")
                counts = {
                    name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                    for name, table in (
                        ("customers", "records_customer"),
                        ("policies", "records_policy"),
                        ("claims", "records_claim"),
                        ("events", "records_policyevent"),
                    )
                }
            results["fill"] = {"seconds": 0.0, "counts": counts, "reused": True}
            results["policies"] = counts["policies"]
            _migrate(env, log_path)  # the code measured may bring migrations the kept database lacks
        else:
            log(f"(re)creating database {db_name} and migrating …")
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{db_name}"')
            _migrate(env, log_path)
            log(f"filling {policies:,} policies with INSERT … SELECT generate_series …")
            results["fill"] = _child("fill", env, log_path, policies=policies, today=TODAY)
            log(f"  {results['fill']['seconds']:.1f} s: {results['fill']['counts']}")
        with psycopg.connect(bench_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            results["load_average"]["before_first"] = load_average()
            log("first sweep …")
            results["first"] = _child("sweep", env, log_path, today=TODAY)
            log(f"  {results['first']['seconds']:.2f} s, {results['first']['created_total']:,} tasks")
            results["load_average"]["after_first"] = load_average()
            conn.execute(
                "CREATE TABLE bench_scratch_tasks (kind text, rule_id text, subject_key text, cycle text, "
                "policy_id bigint, customer_id bigint, org_unit_id bigint, status text, due_date date, "
                "due_explanation jsonb, channel text, created_at timestamptz)"
            )
            seconds, rows = _timed(conn, baseline_insert_sql(TODAY))
            results["baseline_insert"] = {"seconds": seconds, "rows": rows}
            log(f"  baseline INSERT … SELECT: {seconds:.2f} s, {rows:,} rows")
            conn.execute("ANALYZE callbacks_callbacktask")
            results["load_average"]["before_second"] = load_average()
            log("second (no-op) sweep …")
            results["second"] = _child("sweep", env, log_path, today=TODAY)
            log(f"  {results['second']['seconds']:.2f} s, {results['second']['created_total']:,} tasks")
            seconds, (missing,) = _timed(conn, baseline_noop_sql(TODAY))
            results["baseline_noop"] = {"seconds": seconds, "missing": missing}
            log(f"  baseline anti-join: {seconds:.2f} s ({missing} missing)")
            results["load_average"]["end"] = load_average()
            results["sizes"] = dict(
                conn.execute(
                    "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
                    "WHERE relname IN ('records_policy', 'records_customer', 'callbacks_callbacktask')"
                ).fetchall()
            )
    finally:
        if not keep and not reuse:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    results["ratios"] = {
        "first": results["first"]["seconds"] / results["baseline_insert"]["seconds"],
        "second": results["second"]["seconds"] / results["baseline_noop"]["seconds"],
    }
    (OUT_DIR / f"sweep-{stamp}.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str)
    )
    text = report_markdown(results)
    log("")
    log(text)
    if write:
        write_benchmarks_md(text)
        log("\nfigures written to BENCHMARKS.md")
    return results


def _code_label() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "huifang", "config", "bench/callback_sweep.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "working tree (not a git checkout)"
    return f"working tree at {sha}" + (" (with uncommitted changes)" if dirty else "")


# ---- report -----------------------------------------------------------------------------------------


def _ok(ok: bool) -> str:
    return "✅" if ok else "❌"


def report_markdown(r: dict) -> str:
    m = r["machine"]
    first, second = r["first"], r["second"]
    created = ", ".join(f"{k} {v:,}" for k, v in first["created"].items() if v)
    la = r["load_average"]
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu'] or 'unknown CPU'}), {m['memory_gb']} GB, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}; code: {r['code']}.",
        f"Command: `{r['command']}`.",
        f"Load average (1/5/15 min): {la['start']} at the start, {la.get('before_first')} before the first "
        f"sweep, {la.get('before_second')} before the second, {la.get('end')} at the end "
        "(a shared machine: the figures are what this run saw, not a quiet machine's).",
        "",
        f"Data: {r['policies']:,} policies, {r['fill']['counts'].get('customers', 0):,} customers, "
        f"{r['fill']['counts'].get('claims', 0):,} claims, {r['fill']['counts'].get('events', 0):,} policy events "
        f"(filled in {r['fill']['seconds']:.0f} s); today = {r['today']}. Sizes after the run: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r.get("sizes", {}).items()))
        + ".",
        "",
        "| step | seconds | rows | baseline | baseline seconds | ratio | target |",
        "|---|---:|---:|---|---:|---:|---|",
        f"| first sweep (creates every task) | {first['seconds']:.2f} | {first['created_total']:,} | "
        f"bare INSERT … SELECT of the {r['baseline_insert']['rows']:,} new-policy rows into an unindexed table | "
        f"{r['baseline_insert']['seconds']:.2f} | {r['ratios']['first']:.1f}× | ≤ {TARGET_FIRST_S:.0f} s "
        f"{_ok(first['seconds'] <= TARGET_FIRST_S)} |",
        f"| second sweep (no-op) | {second['seconds']:.2f} | {second['created_total']:,} | "
        f"bare anti-join count of the new-policy trigger | {r['baseline_noop']['seconds']:.2f} | "
        f"{r['ratios']['second']:.1f}× | ≤ {TARGET_NOOP_S:.0f} s {_ok(second['seconds'] <= TARGET_NOOP_S)} |",
        "",
        f"Tasks created by the first sweep: {created}. Where the first sweep's time went: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in first["steps"].items())
        + ". Second sweep: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in second["steps"].items())
        + ".",
    ]
    return "\n".join(lines)


def write_benchmarks_md(body: str) -> None:
    from bench.import_policies import BENCHMARKS_MD, replace_block

    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    if f"<!-- bench:{BLOCK}:start -->" not in text:
        raise SystemExit(f"BENCHMARKS.md has no <!-- bench:{BLOCK}:start --> block under '{SECTION}'")
    BENCHMARKS_MD.write_text(replace_block(text, BLOCK, body), encoding="utf-8")


# ---- the child processes (Django) -------------------------------------------------------------------


def _setup_django() -> None:
    import django

    django.setup()


def child_fill(policies: int, today: str) -> dict:
    """Reference data through the services, then the bulk rows with set-based SQL."""
    from django.db import connection, transaction

    from huifang.org.demo import DEMO_ORG_UNITS
    from huifang.org.models import OrgUnit
    from huifang.org.services import org_unit_upsert
    from huifang.records.models import Claim, Customer, Policy, PolicyEvent
    from huifang.records.services import RecordsFeed

    started = time.perf_counter()
    today_d = date.fromisoformat(today)
    units: dict[str, OrgUnit] = {}
    for code, name, kind, parent in DEMO_ORG_UNITS:
        units[code] = OrgUnit.objects.filter(code=code).first() or org_unit_upsert(
            code=code, name=name, kind=kind, parent=units.get(parent)
        )
    cities = [units[c].pk for c in ("GZ", "SZ", "NJ", "SUZ")]
    products = [
        ("BLIFE", "鑫福终身寿险", "life", "traditional", "long", 15, False),
        ("BHLT", "安康长期医疗险", "health", "health", "long", 15, False),
        ("BUL", "金账户万能险", "life", "universal", "long", 15, True),
        ("BILP", "稳健投连", "life", "investment_linked", "long", 20, True),
        ("BACC", "一年期意外险", "accident", "traditional", "short", 0, False),
    ]
    RecordsFeed("products").upsert(
        [
            (
                i,
                {
                    "code": c,
                    "name": n,
                    "line": line,
                    "kind": kind,
                    "term_type": term,
                    "cooling_off_days": days,
                    "high_risk": risk,
                },
            )
            for i, (c, n, line, kind, term, days, risk) in enumerate(products, start=1)
        ]
    )
    RecordsFeed("salespeople").upsert(
        [
            (
                i,
                {
                    "code": f"BS{i:03d}",
                    "name": f"业务员{i}",
                    "org_unit": "GZ",
                    "channel": "agency",
                    "status": "departed" if i == 1 else "active",
                    "departed_on": today_d - timedelta(days=10) if i == 1 else None,
                },
            )
            for i in range(1, 101)
        ]
    )
    pid = dict(connection.cursor().execute("SELECT code, id FROM records_product").fetchall())
    sp_first = connection.cursor().execute("SELECT min(id) FROM records_salesperson").fetchone()[0]
    name_token = Customer._meta.get_field("name").get_db_prep_save("张三", connection)
    mobile_token = Customer._meta.get_field("mobile").get_db_prep_save("13812341234", connection)
    t = f"DATE '{today_d.isoformat()}'"
    city = f"(ARRAY{cities})[1 + (i % {len(cities)})]"
    with connection.cursor() as cursor, transaction.atomic():
        cust_cols = {
            "customer_no": "'BC' || lpad(i::text, 9, '0')",
            "name": "%(name)s",
            "birth_date": "DATE '1940-01-01' + (i % 18000)",
            "mobile": "CASE WHEN i % 5 = 0 THEN '' ELSE %(mobile)s END",
            "mobile_bidx": "CASE WHEN i % 5 = 0 THEN '' ELSE 'bench' END",
            "e_callback_declined": "(i % 50 = 3)",
            "org_unit_id": city,
            "source_hash": "'bench'",
        }
        _named_series_insert(
            cursor, Customer, policies, cust_cols, {"name": name_token, "mobile": mobile_token}
        )
        cust_first = cursor.execute("SELECT min(id) FROM records_customer").fetchone()[0]
        product = (
            f"CASE WHEN i % 20 < 11 THEN {pid['BLIFE']} WHEN i % 20 < 14 THEN {pid['BHLT']} "
            f"WHEN i % 20 < 16 THEN {pid['BUL']} WHEN i % 20 = 16 THEN {pid['BILP']} ELSE {pid['BACC']} END"
        )
        short = "(i % 20 >= 17)"
        group = "(i % 50 = 0)"
        channel = f"CASE WHEN {group} THEN 'group' ELSE (ARRAY['agency','bank','phone','internet','agency'])[1 + i % 5] END"
        application = f"({t} - (i % 300) - 2)"
        receipt = f"CASE WHEN i % 100 = 1 THEN NULL ELSE {application} + 2 END"
        cooling = "CASE WHEN i % 20 = 16 THEN 20 WHEN i % 20 >= 17 THEN 0 ELSE 15 END"
        age = f"date_part('year', age({application}, DATE '1940-01-01' + (i % 18000)))::int"
        long_term = f"NOT {short}"
        status = "CASE WHEN i % 200 = 3 THEN 'cancelled_cooling_off' WHEN i % 200 = 5 THEN 'lapsed' ELSE 'in_force' END"
        pol_cols = {
            "policy_no": "'BP' || lpad(i::text, 9, '0')",
            "product_id": product,
            "channel": channel,
            "is_group": group,
            "applicant_id": f"{cust_first} - 1 + i",
            "insured_id": f"{cust_first} - 1 + i",
            "salesperson_id": f"CASE WHEN i % 10 = 0 THEN {sp_first} + (i / 10) % 100 ELSE NULL END",
            "org_unit_id": city,
            "premium": "10000",
            "payment_mode": "CASE WHEN i % 3 = 0 THEN 'single' ELSE 'regular' END",
            "payment_years": "CASE WHEN i % 3 = 0 THEN 1 ELSE 10 END",
            "payment_frequency": "CASE WHEN i % 3 = 0 THEN 'single' ELSE 'annual' END",
            "term_years": f"CASE WHEN {short} THEN 1 ELSE 20 END",
            "application_date": application,
            "issue_date": f"{application} + 1",
            "receipt_date": receipt,
            "termination_date": f"CASE WHEN i % 100 = 9 THEN {t} + 1 + (i % 30) ELSE NULL END",
            "status": status,
            "sale_recorded": "(i % 5 = 1)",
            "applicant_age": age,
            "is_long_term": long_term,
            "recording_required": f"((i % 5 = 1 AND {long_term}) OR i % 20 = 16 OR i % 5 = 2)",
            "cooling_off_days": cooling,
            "cooling_off_end": f"({receipt}) + ({cooling})",
            "source_hash": "'bench'",
        }
        _named_series_insert(cursor, Policy, policies, pol_cols, {})
        pol_first = cursor.execute("SELECT min(id) FROM records_policy").fetchone()[0]
        n_claims = min(20_000, policies // 50)
        claim_cols = {
            "claim_no": "'BCL' || lpad(i::text, 8, '0')",
            "policy_id": f"{pol_first} + (i - 1) * 50 + 6",
            "claimant_id": "NULL",
            "org_unit_id": city,
            "reported_on": f"{t} - 60",
            "closed_on": f"{t} - (i % 40)",
            "decision": "'approved'",
            "status": "'closed'",
            "source_hash": "'bench'",
        }
        _named_series_insert(cursor, Claim, n_claims, claim_cols, {})
        n_service = min(10_000, policies // 100)
        service_cols = {
            "event_no": "'BSV' || lpad(i::text, 8, '0')",
            "policy_id": f"{pol_first} + (i - 1) * 97 + 11",
            "kind": "'service_completed'",
            "event_date": f"{t} - (i % 30)",
            "org_unit_id": city,
            "applied_at": "now()",
            "source_hash": "'bench'",
        }
        _named_series_insert(cursor, PolicyEvent, n_service, service_cols, {})
        lapse_cols = {
            "event_no": "'BLP' || lpad(i::text, 8, '0')",
            "policy_id": f"{pol_first} - 1 + i",
            "kind": "'lapse'",
            "event_date": f"{t} - (i % 25)",
            "org_unit_id": city,
            "applied_at": "now()",
            "source_hash": "'bench'",
        }
        _named_series_insert(
            cursor,
            PolicyEvent,
            policies,
            lapse_cols,
            {},
            where="i % 200 = 5",
        )
    counts = {
        "customers": Customer.objects.count(),
        "policies": Policy.objects.count(),
        "claims": Claim.objects.count(),
        "events": PolicyEvent.objects.count(),
    }
    return {"seconds": time.perf_counter() - started, "counts": counts}


def _named_series_insert(cursor, model, n: int, overrides: dict[str, str], named: dict, *, where: str = ""):
    """Like ``_series_insert`` with ``%(name)s`` parameters in the overrides and an optional WHERE."""
    from django.db import connection

    columns, select, params = [], [], dict(named)
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in overrides:
            sql = overrides[f.column].replace("%", "%%").replace("%%(", "%(")
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            sql = "now()"
        elif f.has_default() or (not f.null and f.get_default() is not None):
            key = f"default_{f.column}"
            params[key] = f.get_db_prep_save(f.get_default(), connection)
            sql = f"%({key})s"
        elif f.null:
            sql = "NULL"
        else:
            raise ValueError(f"{model.__name__}.{f.name}: no value for a NOT NULL column")
        select.append(f"CAST({sql} AS {f.db_type(connection)})")
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(select)} FROM generate_series(1, {int(n)}) AS g(i)"
        + (f" WHERE {where.replace('%', '%%')}" if where else "")
    )
    cursor.execute(sql, params)


def child_sweep(today: str) -> dict:
    """One daily sweep, timed step by step (the same calls ``callback_tasks_sweep`` makes)."""
    from huifang.callbacks import generation as g

    day = date.fromisoformat(today)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    t0 = time.perf_counter()
    closed = g.callback_tasks_close_cancelled()
    steps["close cancelled"] = time.perf_counter() - t0
    created = {}
    for kind in g.SWEEP_ORDER:
        t0 = time.perf_counter()
        created[str(kind)] = g.callback_tasks_generate(kind, today=day, trigger="sweep").created
        steps[str(kind)] = time.perf_counter() - t0
    t0 = time.perf_counter()
    recomputed = g.callback_tasks_refresh_stale(today=day)
    steps["stale due dates"] = time.perf_counter() - t0
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "created": created,
        "created_total": sum(created.values()),
        "closed_cancelled": closed,
        "recomputed": recomputed,
        "steps": steps,
    }


def _child_main(step: str, kwargs: str) -> None:
    _setup_django()
    args = json.loads(kwargs)
    result = {"fill": child_fill, "sweep": child_sweep}[step](**args)
    print(json.dumps(result, default=str))


# ---- entry point ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", type=int, default=DEFAULT_POLICIES, help="policies (default 1,000,000)")
    parser.add_argument("--db-name", default="huifang_bench_sweep", help="PostgreSQL database to (re)create")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument(
        "--reuse", action="store_true", help="development: reuse a kept database's records (implies --keep)"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        _child_main(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.callback_sweep", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    run(
        policies=args.policies,
        db_name=args.db_name,
        keep=args.keep,
        reuse=args.reuse,
        write=not args.no_write,
        command=" ".join([".venv/bin/python -m bench.callback_sweep", *argv]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
