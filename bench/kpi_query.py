"""KPI query benchmark (issue: callback engine): the callback KPIs over one half-year of attempts.

A fresh PostgreSQL database (``huifang_bench_kpi`` by default, never the one in DATABASE_URL) is
migrated and filled with set-based SQL (``generate_series``): the org tree of bench/claim_next.py
(5 provinces × 5 cities), products, customers and policies whose receipts (回执) fall from December
2025 to June 2026, one new-policy callback task per eligible policy (0.5 % left without one, so that
coverage is not 100 %), due 15 days after the receipt, closed the way a callback centre closes them
(80 % success — 90 % of those inside the cooling-off period — 6 % failed, 3 % refused, 4 % cancelled
before the callback, 2 % problem found, 5 % still open), their attempts (1–4 each: electronic, phone,
and a letter or visit last for 5 % of the successes and every failure) and a problem case for each
problem found. ``--attempts`` (default 5,000,000) is the number of attempts on tasks due in the
half-year 2026-01-01 … 2026-06-30; about 10 % more fall outside it.

Measured, each ``--repeat`` times after one warm-up run (median, min and max reported):

* **kpi_callbacks** — ``huifang.reports.kpis.kpi_callbacks`` for the half-year, seen by someone who
  sees every org unit, and for one province;
* **bare SQL** (the baseline) — the same aggregates written by hand as SQL and run through the same
  connection, without the ORM.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/huifang .venv/bin/python -m bench.kpi_query

Target (issue): ≤ 2 s for the half-year over 5,000,000 attempts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.claim_next import (  # noqa: E402
    CITIES_PER_PROVINCE,
    PROVINCES,
    db_create,
    django_setup,
    seed_reference,
    sql,
    vacuum_analyze,
)
from bench.import_policies import (  # noqa: E402
    BENCHMARKS_MD,
    OUT_DIR,
    BenchError,
    is_postgres_url,
    load_average,
    machine_info,
    use_code,
)

SECTION = "## KPI query (issue: callback engine)"
BLOCK = "kpi_query"
TARGET_S = 2.0
START, END = date(2026, 1, 1), date(2026, 6, 30)
# Receipts from 2025-12-07 over 200 days: tasks due 2025-12-22 … 2026-07-09, 181 of 200 days in H1.
RECEIPT_FROM, RECEIPT_DAYS = "2025-12-07", 200
IN_PERIOD = 181 / 200
ELIGIBLE = 0.9 * 0.99  # 10 % accident (short-term) products, 1 % group policies
ATTEMPTS_PER_TASK = 2.385  # the mix below: 0.80×2.5 + 0.06×4 + 0.03×1.5 + 0.04×0.5 + 0.02×1.5 + 0.05×1


# ---- data -----------------------------------------------------------------------------------------


def generate(attempts_in_period: int, ref: dict, log=print) -> dict:
    from huifang.records.models import Product

    policies = round(attempts_in_period / ATTEMPTS_PER_TASK / ELIGIBLE / IN_PERIOD)
    cities = [c.pk for c in ref["cities"]]
    products = {code: Product.objects.get(code=code).pk for code in ("BLIFE", "BHLT", "BUL", "BACC")}
    agents = [u.pk for u in ref["users"]]
    steps = {}

    def step(name, statement, params=None):
        started = time.perf_counter()
        rows = sql(statement, params)
        steps[name] = (rows, time.perf_counter() - started)
        log(f"  {name}: {rows:,} rows in {steps[name][1]:.0f} s")

    step(
        "customers",
        """
        INSERT INTO records_customer (customer_no, name, id_type, id_number, id_number_bidx, sex, mobile,
            mobile_bidx, other_phones, address, email, do_not_call_reason, e_callback_declined,
            source_hash, contact_hash, created_at, updated_at, org_unit_id)
        SELECT 'KC' || lpad(g::text, 9, '0'), '-', 'resident_id', '', '', 'U', '', '', '', '', '', '',
            false, 'bench', 'bench', now(), now(), (%(cities)s::bigint[])[1 + g %% %(ncities)s]
        FROM generate_series(1, %(n)s) AS g
        """,
        {"cities": cities, "ncities": len(cities), "n": policies},
    )
    # Draws: rnd(x, n) = a reproducible pseudo-random number 0…n-1 from PostgreSQL's integer hash;
    # each draw hashes a different offset of the id, so that draws are independent of each other.
    step(
        "policies",
        """
        INSERT INTO records_policy (policy_no, channel, is_group, beneficiaries, premium, payment_mode,
            payment_years, payment_frequency, term_years, application_date, receipt_date, status,
            sale_recorded, is_long_term, recording_required, cooling_off_days, cooling_off_end,
            source_hash, created_at, updated_at, applicant_id, insured_id, org_unit_id, product_id)
        SELECT 'KP' || substr(c.customer_no, 3), (ARRAY['bank','agency','phone','internet'])[1 + h %% 4],
            h %% 100 = 1, '', 10000, 'regular', 10, 'annual', CASE WHEN h %% 10 = 0 THEN 1 ELSE 20 END,
            r - 5, r, 'in_force', false, h %% 10 <> 0, false, 15, r + 15, 'bench', now(), now(),
            c.id, c.id, c.org_unit_id,
            CASE WHEN h %% 10 = 0 THEN %(acc)s ELSE (%(eligible)s::bigint[])[1 + h %% 3] END
        FROM records_customer c
        CROSS JOIN LATERAL (SELECT ((hashint8(c.id) + 2147483648) %% 1000)::int AS h) x
        CROSS JOIN LATERAL (
            SELECT %(receipt_from)s::date + ((hashint8(c.id + 1) + 2147483648) %% %(days)s)::int AS r) d
        WHERE c.customer_no LIKE 'KC%%'
        """,
        {
            "acc": products["BACC"],
            "eligible": [products["BLIFE"], products["BHLT"], products["BUL"]],
            "receipt_from": RECEIPT_FROM,
            "days": RECEIPT_DAYS,
        },
    )
    # Tasks: s = status draw 0…99; n = attempts; last = the deciding attempt's channel.
    step(
        "tasks",
        """
        INSERT INTO callbacks_callbacktask (kind, rule_id, subject_key, cycle, status, due_date,
            due_explanation, calendar_revision, channel, phone_attempts, priority, pool,
            letter_visit_requested, outcome_note, succeeded_in_cooling_off, created_at, updated_at,
            closed_at, customer_id, org_unit_id, policy_id, assignee_id, assigned_at)
        SELECT 'new_policy', 'BS-12', 'policy:' || p.id, '', st, p.cooling_off_end, '{}'::jsonb, '',
            'phone', 0, 0, '', '', '',
            CASE WHEN st = 'success' THEN (hashint8(p.id + 4) + 2147483648) %% 10 <> 0 END,
            now(), now(), CASE WHEN st NOT IN ('pending', 'in_progress') THEN now() END,
            p.applicant_id, p.org_unit_id, p.id,
            CASE WHEN st <> 'pending' THEN (%(agents)s::bigint[])[1 + p.id %% %(nagents)s] END,
            CASE WHEN st <> 'pending' THEN now() END
        FROM records_policy p
        CROSS JOIN LATERAL (SELECT ((hashint8(p.id + 3) + 2147483648) %% 100)::int AS s) x
        CROSS JOIN LATERAL (
            SELECT CASE WHEN s < 80 THEN 'success' WHEN s < 86 THEN 'failed' WHEN s < 89 THEN 'refused'
                        WHEN s < 93 THEN 'cancelled_before' WHEN s < 95 THEN 'problem_found'
                        ELSE 'pending' END AS st) y
        JOIN records_product pr ON pr.id = p.product_id
        WHERE p.policy_no LIKE 'KP%%' AND NOT p.is_group AND p.is_long_term AND pr.line IN ('life', 'health')
          AND (hashint8(p.id + 2) + 2147483648) %% 200 <> 7
        """,
        {"agents": agents, "nagents": len(agents)},
    )
    step(
        "attempts",
        """
        INSERT INTO callbacks_attempt (channel, started_at, ended_at, disposition, identity_confirmed,
            answers, notes, recording, recording_sha256, recording_url, external_ref, evidence,
            submitted_at, agent_id, task_id)
        SELECT CASE WHEN a.k < n THEN 'phone' ELSE last END,
            at, at + interval '4 minutes',
            CASE WHEN a.k < n THEN 'no_answer'
                 WHEN t.status IN ('success', 'problem_found') THEN 'reached'
                 WHEN t.status = 'refused' THEN 'refused' ELSE 'no_answer' END,
            a.k = n AND t.status IN ('success', 'problem_found'),
            '{}'::jsonb, '', '', '', '', '', '{}'::jsonb, at, t.assignee_id, t.id
        FROM callbacks_callbacktask t
        CROSS JOIN LATERAL (SELECT ((hashint8(t.id + 5) + 2147483648) %% 1000)::int AS h) x
        CROSS JOIN LATERAL (
            SELECT CASE t.status WHEN 'success' THEN 1 + h %% 4 WHEN 'failed' THEN 4
                                 WHEN 'refused' THEN 1 + h %% 2 WHEN 'cancelled_before' THEN h %% 2
                                 WHEN 'problem_found' THEN 1 + h %% 2 ELSE h %% 3 END AS n,
                   CASE WHEN t.status = 'failed' OR (t.status = 'success' AND h %% 20 = 3)
                        THEN (ARRAY['letter', 'visit'])[1 + h %% 2]
                        WHEN t.status = 'success' AND h %% 5 < 2 THEN 'electronic'
                        ELSE 'phone' END AS last) y
        CROSS JOIN LATERAL generate_series(1, n) AS a(k)
        CROSS JOIN LATERAL (SELECT (t.due_date - (n - a.k + 2))::timestamp + interval '10 hours'
                                   + (h %% 480) * interval '1 minute' AS at) z
        WHERE t.subject_key LIKE 'policy:%%'
        """,
    )
    # The attempt facts on the task rows, as migration 0004 fills them (loaded above with plain SQL,
    # the attempts did not pass through the model).
    step("attempt facts", _attempt_facts_backfill())
    step(
        "problem cases",
        """
        INSERT INTO callbacks_problemcase (number, item_code, category, description, discovered_on, due_date,
            due_explanation, status, resolution, resolution_note, resolved_at, created_at, org_unit_id, task_id,
            handler_id)
        SELECT 'KPC' || t.id, 'BS13_5', 'surrender_loss', '', t.due_date - 2, t.due_date + 19, '{}'::jsonb,
            CASE WHEN h %% 10 = 0 THEN 'open' ELSE 'resolved' END,
            CASE WHEN h %% 10 = 0 THEN '' ELSE 'explained' END, '',
            CASE WHEN h %% 10 = 0 THEN NULL
                 ELSE (t.due_date + 19 + (h %% 7) - 5)::timestamp + interval '10 hours' END,
            now(), t.org_unit_id, t.id, t.assignee_id
        FROM callbacks_callbacktask t
        CROSS JOIN LATERAL (SELECT ((hashint8(t.id + 6) + 2147483648) %% 1000)::int AS h) x
        WHERE t.status = 'problem_found'
        """,
    )
    # The task counts the triggers appended while the tasks were made and updated, folded as the
    # minute job (reports.task_counts_compact) does.
    from huifang.reports.services import task_counts_compact

    started = time.perf_counter()
    steps["task counts folded"] = (task_counts_compact(), time.perf_counter() - started)
    vacuum_analyze(
        "reports_taskcount",
        "records_customer",
        "records_policy",
        "callbacks_callbacktask",
        "callbacks_attempt",
        "callbacks_problemcase",
        "records_product",
        "records_salesperson",
        "org_orgunit",
        "org_user",
    )
    return {name: rows for name, (rows, _s) in steps.items()} | {
        "seconds": sum(s for _r, s in steps.values())
    }


def _attempt_facts_backfill() -> str:
    import importlib

    return importlib.import_module("huifang.callbacks.migrations.0004_task_attempt_facts").BACKFILL


def counts_in_period() -> dict:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT count(*), (SELECT count(*) FROM callbacks_attempt a JOIN callbacks_callbacktask t
                                 ON t.id = a.task_id WHERE t.due_date BETWEEN %s AND %s)
               FROM callbacks_callbacktask WHERE due_date BETWEEN %s AND %s""",
            [START, END, START, END],
        )
        tasks, attempts = cur.fetchone()
        cur.execute("SELECT count(*) FROM callbacks_attempt")
        (all_attempts,) = cur.fetchone()
    return {"tasks": tasks, "attempts": attempts, "attempts_total": all_attempts}


# ---- the baseline: the same aggregates as bare SQL ------------------------------------------------

# The aggregates as kpi_callbacks computes them: the attempt facts kept on the task row.
BARE = {
    "tasks": """
        SELECT status, succeeded_in_cooling_off, count(*),
               count(*) FILTER (WHERE last_attempt_channel IN ('letter', 'visit')
                                AND status IN ('success', 'failed', 'refused', 'problem_found')),
               sum(attempts_submitted)
        FROM callbacks_callbacktask t WHERE t.due_date BETWEEN %(start)s AND %(end)s {units}
        GROUP BY status, succeeded_in_cooling_off""",
    "problem cases": """
        SELECT count(*), count(*) FILTER (WHERE status = 'resolved' AND resolved_at IS NOT NULL),
               count(*) FILTER (WHERE status = 'resolved' AND resolved_at IS NOT NULL
                                AND (resolved_at AT TIME ZONE 'Asia/Shanghai')::date <= due_date),
               count(*) FILTER (WHERE status = 'open' AND due_date < %(today)s)
        FROM callbacks_problemcase t WHERE t.due_date BETWEEN %(start)s AND %(end)s {units}""",
    "coverage required": """
        SELECT count(*) FROM records_policy t JOIN records_product pr ON pr.id = t.product_id
        WHERE NOT t.is_group AND t.is_long_term AND pr.line IN ('life', 'health')
          AND t.receipt_date BETWEEN %(start)s AND %(end)s {units}""",
    "coverage with task": """
        SELECT count(*) FROM records_policy t JOIN records_product pr ON pr.id = t.product_id
        WHERE NOT t.is_group AND t.is_long_term AND pr.line IN ('life', 'health')
          AND t.receipt_date BETWEEN %(start)s AND %(end)s {units}
          AND EXISTS (SELECT 1 FROM callbacks_callbacktask k WHERE k.policy_id = t.id AND k.kind = 'new_policy')""",
}

# Attempts per success and KP-03 from the attempts themselves (before the facts were kept on the
# task row): joins of 5 million attempts to the tasks. Timed once per run for comparison; the
# figures must equal the ones above.
BARE_FROM_ATTEMPTS = {
    "attempts": """
        SELECT count(*) FROM callbacks_attempt a JOIN callbacks_callbacktask t ON t.id = a.task_id
        WHERE a.submitted_at IS NOT NULL AND t.due_date BETWEEN %(start)s AND %(end)s {units}""",
    "letter/visit": """
        SELECT count(*) FROM callbacks_attempt a JOIN callbacks_callbacktask t ON t.id = a.task_id
        WHERE a.channel IN ('letter', 'visit') AND a.submitted_at IS NOT NULL
          AND t.status IN ('success', 'failed', 'refused', 'problem_found')
          AND t.due_date BETWEEN %(start)s AND %(end)s {units}
          AND NOT EXISTS (SELECT 1 FROM callbacks_attempt b WHERE b.task_id = a.task_id
                          AND b.submitted_at IS NOT NULL
                          AND (b.started_at > a.started_at OR (b.started_at = a.started_at AND b.id > a.id)))""",
}


def bare_kpis(
    units: list[int] | None, today: date, timings: dict | None = None, statements: dict | None = None
) -> dict:
    from django.db import connection

    params = {"start": START, "end": END, "today": today, "units": units}
    out = {}
    with connection.cursor() as cur:
        for name, statement in (statements or BARE).items():
            started = time.perf_counter()
            cur.execute(statement.format(units="AND t.org_unit_id = ANY(%(units)s)" if units else ""), params)
            out[name] = cur.fetchall() if name == "tasks" else cur.fetchone()
            if timings is not None:
                timings[name] = time.perf_counter() - started
    return out


def orm_kpis(viewer, org_unit, today: date):
    from huifang.reports.kpis import KpiFilters, kpi_callbacks

    return kpi_callbacks(viewer, KpiFilters(START, END, org_unit=org_unit), today=today)


def timed_pair(orm, bare, repeat: int) -> tuple[dict, dict]:
    """Time both: one first run each, then ``repeat`` runs alternating orm, bare, orm, bare … so that
    a change of load on the machine during the run falls on both alike."""
    fns = {"orm": orm, "bare": bare}
    out = {name: {"times": []} for name in fns}
    for name, fn in fns.items():
        started = time.perf_counter()
        out[name]["result"] = fn()
        out[name]["first_s"] = time.perf_counter() - started
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            out[name]["times"].append(time.perf_counter() - started)
    for stats in out.values():
        times = stats.pop("times")
        stats.update(median_s=statistics.median(times), min_s=min(times), max_s=max(times))
    return out["orm"], out["bare"]


def agree(k, bare: dict, from_attempts: dict | None = None) -> bool:
    """The ORM figures equal the bare SQL ones (and, given ``from_attempts``, the figures computed
    from the attempts themselves equal the attempt facts kept on the task rows)."""
    by_status: dict[str, int] = {}
    for status, _in_cooling_off, n, _letter_visit, _attempts in bare["tasks"]:
        by_status[status] = by_status.get(status, 0) + n
    cooling_off = sum(row[2] for row in bare["tasks"] if row[0] == "success" and row[1])
    letter_visit = sum(row[3] for row in bare["tasks"])
    attempts = sum(row[4] or 0 for row in bare["tasks"])
    called_back = sum(by_status.get(s, 0) for s in ("success", "failed", "refused", "problem_found"))
    p = bare["problem cases"]
    same = (
        (k.due, k.success, k.success_in_cooling_off.numerator, k.refused, k.cancelled_before_callback)
        == (
            sum(by_status.values()),
            by_status.get("success", 0),
            cooling_off,
            by_status.get("refused", 0),
            by_status.get("cancelled_before", 0),
        )
        and (k.failed, k.problem_found, k.letter_visit_share.denominator)
        == (by_status.get("failed", 0), by_status.get("problem_found", 0), called_back)
        and (k.problem_cases_due, k.problem_cases_on_time.denominator, k.problem_cases_on_time.numerator)
        == tuple(p[:3])
        and k.problem_cases_open_overdue == p[3]
        and k.coverage.denominator == bare["coverage required"][0]
        and k.coverage.numerator == bare["coverage with task"][0]
        and k.attempts_per_success.numerator == attempts
        and k.letter_visit_share.numerator == letter_visit
    )
    if from_attempts is not None:
        same = same and (attempts, letter_visit) == (
            from_attempts["attempts"][0],
            from_attempts["letter/visit"][0],
        )
    return same


# ---- report ---------------------------------------------------------------------------------------


def report_table(rows: list[dict]) -> str:
    lines = [
        "| scope | query | first run s | median s | min s | max s | vs bare SQL (median) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for name, key in (("`kpi_callbacks` (ORM selectors)", "orm"), ("bare SQL, same aggregates", "bare")):
            t = row[key]
            ratio = f"{row['orm']['median_s'] / row['bare']['median_s']:.2f}×" if key == "orm" else "—"
            lines.append(
                f"| {row['scope']} | {name} | {t['first_s']:.2f} | {t['median_s']:.2f} | {t['min_s']:.2f} "
                f"| {t['max_s']:.2f} | {ratio} |"
            )
    return "\n".join(lines)


def report_markdown(res: dict) -> str:
    m = res["machine"]
    c = res["counts"]
    k = res["figures"]
    everything = res["rows"][0]["orm"]["median_s"]
    return "\n".join(
        [
            "What is measured: `huifang.reports.kpis.kpi_callbacks` — success rate (KP-01), success "
            "inside the cooling-off period, coverage, letter/visit share (KP-03), problem cases on "
            "time (BS-17), attempts per success — for the half-year 2026-01-01 … 2026-06-30 on "
            "PostgreSQL (`bench/kpi_query.py`), beside the bare SQL of the same aggregates run through "
            "the same connection. Data are generated with set-based SQL (`generate_series`); see the "
            "module docstring for the mix.",
            "",
            f"Measured {m['date']} on {m['cpu'] or 'unknown CPU'} ({m['nproc']} CPUs, {m['memory_gb']} GB), "
            f"{m['os']}, PostgreSQL {m['postgresql']}, Python {m['python']}, Django {m.get('django', '?')}; "
            f"{res['code']}. Load average (1/5/15 min) before: {res['load_average_before']}; after: "
            f"{res['load_average_after']}.",
            "",
            f"Command: `{res['command']}`",
            "",
            f"Data (generated in {res['generated']['seconds']:.0f} s): {res['generated']['policies']:,} policies, "
            f"{res['generated']['tasks']:,} tasks, {c['attempts_total']:,} attempts, "
            f"{res['generated']['problem cases']:,} problem cases; due in {START} … {END}: {c['tasks']:,} tasks "
            f"with {c['attempts']:,} attempts. Each is run once cold-ish (first run), then "
            f"{res['repeat']} times alternating with the other (median, min, max).",
            "",
            report_table(res["rows"]),
            "",
            "Where the time goes (bare SQL, every org unit, median per statement): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in res["breakdown"].items())
            + ". The same figures from the attempts themselves (joins of the attempts to the tasks, as "
            "before the attempt facts were kept on the task row; once): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in res["breakdown_from_attempts"].items())
            + f" — {sum(res['breakdown_from_attempts'].values()):.2f} s in all.",
            "",
            f"Target ≤ {TARGET_S:.0f} s for the half-year: {everything:.2f} s (median, every org unit). "
            f"The ORM, the bare SQL and the figures from the attempts agree on every figure: "
            f"{'yes' if res['agree'] else 'NO'}. Figures for the half-year: "
            f"success rate {k['success_rate']}, inside cooling-off {k['cooling_off']}, coverage {k['coverage']}, "
            f"letter/visit share {k['letter_visit']}, problem cases on time {k['on_time']}, attempts per "
            f"success {k['attempts_per_success']}.",
        ]
    )


def replace_block(text: str, body: str) -> str:
    start, end = f"<!-- bench:{BLOCK}:start -->", f"<!-- bench:{BLOCK}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    if SECTION not in text:
        return text.rstrip() + f"\n\n{SECTION}\n\n{block}\n"
    head, _sep, tail = text.partition(SECTION)
    nxt = re.search(r"^## ", tail, flags=re.M)
    cut = nxt.start() if nxt else len(tail)
    return head + SECTION + tail[:cut].rstrip() + "\n\n" + block + "\n" + ("\n" + tail[cut:] if nxt else "")


def _pct(ratio) -> str:
    return "—" if ratio.value is None else f"{ratio.value:.1%}"


# ---- entry point ----------------------------------------------------------------------------------


def run(
    *,
    attempts: int = 5_000_000,
    repeat: int = 5,
    db_name: str = "huifang_bench_kpi",
    reuse: bool = False,
    write: bool = True,
    command: str = "",
    log=print,
) -> dict:
    pg_url = os.environ.get("DATABASE_URL", "")
    if not is_postgres_url(pg_url):
        raise BenchError(
            "DATABASE_URL must point at a PostgreSQL server (the benchmark creates its own database)"
        )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    res = {
        "command": command,
        "code": use_code("worktree"),
        "machine": machine_info(pg_url),
        "load_average_before": load_average(),
        "repeat": repeat,
    }
    from bench.import_policies import with_database

    if reuse:
        db_url = with_database(pg_url, db_name)
        django_setup(db_url)
        from django.core.management import call_command

        started = time.perf_counter()
        # The apps the KPIs read (their new migrations fill what they add); not every app: the
        # generated customers hold placeholders, not ciphertext, in their PII columns.
        call_command("migrate", "reports", "--noinput", verbosity=0)
        res["migrated_s"] = time.perf_counter() - started
        log(f"migrated {db_name} in {res['migrated_s']:.0f} s")
        vacuum_analyze("callbacks_callbacktask", "callbacks_attempt", "records_policy")
        ref = seed_reference()
        res["generated"] = json.loads((OUT_DIR / f"{db_name}.json").read_text())
    else:
        db_url = db_create(pg_url, db_name, log_path=OUT_DIR / "kpi_query.log", log=log)
        django_setup(db_url)
        ref = seed_reference()
        log(f"generating about {attempts:,} attempts in the half-year …")
        res["generated"] = generate(attempts, ref, log=log)
        (OUT_DIR / f"{db_name}.json").write_text(json.dumps(res["generated"]))
    res["counts"] = counts_in_period()
    log(f"due in the half-year: {res['counts']['tasks']:,} tasks, {res['counts']['attempts']:,} attempts")

    from huifang.org.models import User

    viewer = User.objects.filter(username="bench_auditor").first()
    if viewer is None:
        viewer = User.objects.create_user(
            "bench_auditor", password=None, org_unit=ref["head"], is_superuser=True
        )
    today = date(2026, 11, 22)
    province = ref["provinces"][0]
    province_units = [u.pk for u in ref["cities"] if u.parent_id == province.pk] + [province.pk]
    res["rows"] = []
    for scope, unit, units in (
        ("every org unit", None, None),
        (
            f"one province ({CITIES_PER_PROVINCE} of {PROVINCES * CITIES_PER_PROVINCE} cities)",
            province,
            province_units,
        ),
    ):
        orm, bare = timed_pair(
            lambda unit=unit: orm_kpis(viewer, unit, today),
            lambda units=units: bare_kpis(units, today),
            repeat,
        )
        row = {"scope": scope, "orm": orm, "bare": bare, "agree": agree(orm["result"], bare["result"])}
        res["rows"].append(row)
        log(
            f"{scope}: kpi_callbacks median {orm['median_s']:.2f} s (first {orm['first_s']:.2f} s), "
            f"bare SQL median {bare['median_s']:.2f} s; agree: {row['agree']}"
        )
    breakdown: dict[str, list[float]] = {}
    for _ in range(repeat):
        timings: dict[str, float] = {}
        bare_kpis(None, today, timings)
        for name, seconds in timings.items():
            breakdown.setdefault(name, []).append(seconds)
    res["breakdown"] = {name: statistics.median(times) for name, times in breakdown.items()}
    # The same figures from the attempts (the joins the attempt facts replace), once.
    from_attempts_timings: dict[str, float] = {}
    from_attempts = bare_kpis(None, today, from_attempts_timings, BARE_FROM_ATTEMPTS)
    res["breakdown_from_attempts"] = from_attempts_timings
    res["rows"][0]["agree_from_attempts"] = agree(
        res["rows"][0]["orm"]["result"], res["rows"][0]["bare"]["result"], from_attempts
    )
    log(
        f"from the attempts: {sum(from_attempts_timings.values()):.2f} s; agree: {res['rows'][0]['agree_from_attempts']}"
    )
    k = res["rows"][0]["orm"]["result"]
    res["figures"] = {
        "success_rate": _pct(k.success_rate),
        "cooling_off": _pct(k.success_in_cooling_off),
        "coverage": _pct(k.coverage),
        "letter_visit": _pct(k.letter_visit_share),
        "on_time": _pct(k.problem_cases_on_time),
        "attempts_per_success": f"{k.attempts_per_success.value:.2f}",
    }
    res["agree"] = all(row["agree"] and row.get("agree_from_attempts", True) for row in res["rows"])
    res["load_average_after"] = load_average()
    for row in res["rows"]:
        for key in ("orm", "bare"):
            row[key].pop("result", None)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT_DIR / f"kpi_query-{stamp}.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False, default=str)
    )
    log("")
    log(report_table(res["rows"]))
    if write:
        text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# Benchmarks\n"
        BENCHMARKS_MD.write_text(replace_block(text, report_markdown(res)), encoding="utf-8")
        log(f"\nfigures written to {BENCHMARKS_MD.name}")
    return res


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.kpi_query", description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=5_000_000, help="attempts due in the half-year")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after the first (default 5)")
    parser.add_argument("--db-name", default="huifang_bench_kpi", help="PostgreSQL database to (re)create")
    parser.add_argument("--reuse", action="store_true", help="measure the data already in --db-name")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    run(
        attempts=args.attempts,
        repeat=args.repeat,
        db_name=args.db_name,
        reuse=args.reuse,
        write=not args.no_write,
        command=" ".join([".venv/bin/python -m bench.kpi_query", *argv]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
