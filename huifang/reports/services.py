"""Writes of the reports app: folding the task counts the triggers append (huifang.reports.models)."""

from django.db import connection, transaction

from huifang.reports.models import TaskCount

KEY = (
    "due_date",
    "org_unit_id",
    "kind",
    "channel",
    "status",
    "succeeded_in_cooling_off",
    "last_attempt_channel",
)
_LOCK = (0x48465243, 1)  # "HFRC": one compaction at a time (PostgreSQL advisory lock)


def task_counts_compact() -> int:
    """Fold the rows the triggers appended into one row per key (dropping keys that add up to
    nothing); returns how many appended rows were folded. Readers see the same sums before,
    during and after: PostgreSQL deletes the rows of the touched keys and inserts their sums in
    one statement (rows appended meanwhile are not in its snapshot and stay as they are); SQLite
    rewrites the table inside its one write transaction. Safe to run at any time and twice."""
    table = TaskCount._meta.db_table
    key = ", ".join(KEY)
    columns = f"{key}, n, attempts, compacted"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _LOCK)
            if not cursor.fetchone()[0]:
                return 0
            match = " AND ".join(f"c.{k} IS NOT DISTINCT FROM k.{k}" for k in KEY)
            cursor.execute(
                f"WITH keys AS (SELECT DISTINCT {key} FROM {table} WHERE NOT compacted), "
                f"moved AS (DELETE FROM {table} c USING keys k WHERE {match} RETURNING c.*), "
                f"folded AS (INSERT INTO {table} ({columns}) "
                f"SELECT {key}, sum(n), sum(attempts), true FROM moved GROUP BY {key} "
                f"HAVING sum(n) <> 0 OR sum(attempts) <> 0) "
                f"SELECT count(*) FILTER (WHERE NOT compacted) FROM moved"
            )
            return cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {table} WHERE NOT compacted")
        appended = cursor.fetchone()[0]
        if not appended:
            return 0
        cursor.execute(
            f"CREATE TEMP TABLE reports_taskcount_folded AS SELECT {key}, sum(n) AS n, "
            f"sum(attempts) AS attempts FROM {table} GROUP BY {key} "
            f"HAVING sum(n) <> 0 OR sum(attempts) <> 0"
        )
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {key}, n, attempts, 1 FROM reports_taskcount_folded"
        )
        cursor.execute("DROP TABLE reports_taskcount_folded")
        return appended
