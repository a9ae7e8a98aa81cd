"""A tiny run of the import benchmark's code path, so it cannot rot. Timings are never asserted."""

import csv
import json

import pytest

from bench import gen, import_policies
from huifang.records.idnumbers import resident_id_parse
from huifang.records.models import Customer, ImportRowError, Policy
from huifang.records.schema import POLICY_COLUMNS


def test_generated_csv_has_chinese_headers_and_the_announced_bad_rows(tmp_path):
    path, meta = gen.policies_csv(50, data_dir=tmp_path, bad_every=10, log=lambda *_: None)
    assert meta["rows"] == 50 and meta["bad_rows"] == 5
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [c.zh for c in POLICY_COLUMNS]
    assert len(rows) == 51
    channel = rows[0].index("渠道")
    assert {r[channel] for r in rows[1:]} <= {"个险", "银保", "电销", "网销", "团险"}
    id_col = rows[0].index("投保人证件号码")
    resident_id_parse(rows[1][id_col])  # a good row's ID passes the checksum
    # Cached: asking again returns the same file without rewriting it.
    mtime = path.stat().st_mtime_ns
    assert gen.policies_csv(50, data_dir=tmp_path, bad_every=10, log=lambda *_: None)[0] == path
    assert path.stat().st_mtime_ns == mtime
    assert json.loads(path.with_name(path.name + ".meta.json").read_text())["bad_rows"] == 5


@pytest.mark.django_db(transaction=False)
def test_smoke_import_of_200_rows_through_the_real_pipeline(tmp_path, settings, capsys):
    settings.MEDIA_ROOT = tmp_path / "media"
    result = import_policies.run_inprocess(200, tmp_path)
    for key in ("rows_per_s", "baseline_rows_per_s", "ratio", "seconds", "baseline_seconds"):
        assert result[key] > 0, key
    assert result["rows"] == 200
    assert result["quarantined"] == result["bad_rows"] > 0
    assert result["created"] == 200 - result["bad_rows"]
    assert Policy.objects.count() == result["created"]
    assert ImportRowError.objects.count() >= result["bad_rows"]
    assert Customer.objects.exclude(id_number_bidx="").count() > 200
    # The report renders from the same result shape as the full run.
    table = import_policies.report_table({"runs": [result | {"peak_rss_mb": None}]})
    assert "200" in table and result["baseline"] in table


def test_benchmarks_md_block_is_replaced_in_place():
    text = "# Benchmarks\n\n## Other\n\nx\n"
    once = import_policies.replace_block(text, "import", "figures 1")
    assert import_policies.SECTION in once and "figures 1" in once
    twice = import_policies.replace_block(once + "\n## Later\n\ny\n", "import", "figures 2")
    assert "figures 1" not in twice and "figures 2" in twice
    assert twice.count("<!-- bench:import:start -->") == 1
    assert twice.index("## Other") < twice.index(import_policies.SECTION) < twice.index("## Later")


def test_command_line_run_on_a_temporary_sqlite_database(tmp_path, monkeypatch):
    """The orchestrated path: `huifang migrate`/`import` child processes, peak memory, baseline."""
    monkeypatch.setattr(import_policies, "OUT_DIR", tmp_path / "out")
    results = import_policies.run(
        rows=200, sqlite_rows=200, postgres=False, write=False, data_dir=tmp_path, log=lambda *_: None
    )
    (run,) = results["runs"]
    assert run["database"] == "sqlite" and run["rows"] == 200
    assert run["created"] + run["quarantined"] == 200
    for key in ("rows_per_s", "baseline_rows_per_s", "ratio", "peak_rss_mb"):
        assert run[key] > 0, key
    assert "SQLite" in import_policies.report_markdown(results)
    assert list((tmp_path / "out").glob("import-*.json"))
