"""A real `huifang import` killed with SIGKILL part-way, then run again: every policy lands exactly
once, the job finishes, the counts add up and no quarantined row is recorded twice.

Runs the command as a subprocess against its own SQLite database file (HUIFANG_VAR_DIR in tmp_path),
whatever database the rest of the suite uses.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.records.fixtures.importfiles import (
    PRODUCT_COLUMNS,
    PRODUCT_ROWS,
    bad_checksum_id,
    policy_row,
    write_csv,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS = 2000

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def env_for(var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "HUIFANG_TASKS_IMMEDIATE", "HUIFANG_TEST_SQLITE", "HUIFANG_MEDIA_ROOT"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        HUIFANG_ENV="local",
        HUIFANG_VAR_DIR=str(var_dir),
        HUIFANG_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def huifang(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "huifang.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def query(db: Path, sql: str, params=()) -> list[tuple]:
    """Read the database file read-only, as an onlooker would while the import writes."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def policies_job(db: Path) -> dict | None:
    try:
        rows = query(
            db,
            "SELECT id, status, rows_committed, total_rows, created_count, updated_count, "
            "unchanged_count, quarantined_count FROM records_importjob WHERE kind = 'policies'",
        )
    except sqlite3.OperationalError:  # busy, or the table is not there yet
        return None
    if not rows:
        return None
    keys = ("id", "status", "rows_committed", "total_rows", "created", "updated", "unchanged", "quarantined")
    return [dict(zip(keys, row, strict=True)) for row in rows][-1] | {"jobs": len(rows)}


def build_policies(path: Path) -> tuple[set[str], int]:
    """ROWS policies; every 97th has a bad ID checksum; every 400th row is followed by a duplicate
    of a good row 300 rows back (a later batch). Returns (good policy numbers, quarantined rows)."""
    rows, good, quarantined = [], set(), 0
    for n in range(1, ROWS + 1):
        if n % 97 == 0:
            rows.append(policy_row(n, applicant_id_number=bad_checksum_id(n)))
            quarantined += 1
        else:
            rows.append(policy_row(n))
            good.add(f"P{n:06d}")
        if n % 400 == 0:
            earlier = n - 300 if (n - 300) % 97 else n - 301
            rows.append(policy_row(earlier, premium="1.00"))
            quarantined += 1
    write_csv(path, rows, encoding="gb18030")
    return good, quarantined


def test_killed_import_resumes_and_lands_every_row_exactly_once(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = env_for(var_dir)
    db = var_dir / "huifang.sqlite3"

    migrated = huifang("migrate", "--noinput", "-v", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    setup = huifang(
        "shell",
        "-c",
        "from huifang.org.services import org_unit_upsert as u; "
        "ho = u(code='HO', name='总公司', kind='head_office'); "
        "gd = u(code='GD', name='广东分公司', kind='province', parent=ho); "
        "u(code='GZ', name='广州中心支公司', kind='city', parent=gd)",
        env=env,
    )
    assert setup.returncode == 0, setup.stderr
    products = write_csv(tmp_path / "products.csv", PRODUCT_ROWS, kind="products", columns=PRODUCT_COLUMNS)
    imported = huifang("import", "products", str(products), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "created 2" in imported.stdout

    policies = tmp_path / "保单.csv"
    good, quarantined = build_policies(policies)
    total_rows = ROWS + ROWS // 400
    command = [sys.executable, "-m", "huifang.cli", "import", "policies", str(policies), "--batch-size", "50"]

    # First run: killed (SIGKILL, no clean-up of any kind) as soon as a batch has been committed.
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = None
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            seen = policies_job(db)
            if seen and seen["rows_committed"] > 0:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None and not (seen and seen["rows_committed"] > 0):
            process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the import ended before it could be killed"

    killed = policies_job(db)
    assert killed["status"] == "running"
    assert 0 < killed["rows_committed"] < total_rows
    landed = query(db, "SELECT COUNT(*) FROM records_policy")[0][0]
    assert 0 < landed < len(good)

    # Second run: the same command resumes the unfinished job.
    resumed = huifang(*command[3:], env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming import job {killed['id']} after row {killed['rows_committed'] + 1}" in resumed.stdout

    final = policies_job(db)
    assert final["jobs"] == 1 and final["id"] == killed["id"]
    assert final["status"] == "done"
    assert final["rows_committed"] == final["total_rows"] == total_rows
    assert final["created"] == len(good)
    assert (final["updated"], final["unchanged"]) == (0, 0)
    assert final["quarantined"] == quarantined

    policy_nos = [row[0] for row in query(db, "SELECT policy_no FROM records_policy")]
    assert len(policy_nos) == len(set(policy_nos)) == len(good)
    assert set(policy_nos) == good
    customers = query(db, "SELECT COUNT(*), COUNT(DISTINCT customer_no) FROM records_customer")[0]
    assert customers == (len(good), len(good))
    # The duplicates kept the first occurrence's values.
    assert query(db, "SELECT COUNT(*) FROM records_policy WHERE premium = 1")[0][0] == 0

    errors = query(
        db, 'SELECT row_number, "column", reason FROM records_importrowerror WHERE job_id = ?', (final["id"],)
    )
    assert len(errors) == quarantined
    assert len({(r, c) for r, c, _reason in errors}) == len(errors)  # none recorded twice
    assert {c for _r, c, _reason in errors} == {"applicant_id_number", "policy_no"}
    assert sum(1 for _r, _c, reason in errors if reason.startswith("duplicate of row")) == ROWS // 400

    # Once more: a finished file changes nothing.
    again = huifang(*command[3:], env=env)
    assert again.returncode == 0, again.stderr
    latest = policies_job(db)
    assert latest["jobs"] == 2 and latest["status"] == "done"
    assert (latest["created"], latest["updated"], latest["unchanged"]) == (0, 0, len(good))
    assert latest["quarantined"] == quarantined
    assert query(db, "SELECT COUNT(*) FROM records_policy")[0][0] == len(good)
