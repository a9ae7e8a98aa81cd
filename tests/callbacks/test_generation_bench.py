"""The callback sweep benchmark's report renders (so the benchmark cannot rot). Timings are never asserted."""

from bench import callback_sweep
from bench.import_policies import replace_block


def fake_results() -> dict:
    sweep = {
        "seconds": 12.5,
        "created": {"new_policy": 800, "claim_closed": 10, "retention": 0},
        "created_total": 810,
        "steps": {"new_policy": 11.0, "claim_closed": 0.5},
    }
    return {
        "command": ".venv/bin/python -m bench sweep",
        "code": "working tree at abc1234",
        "machine": {
            "date": "2026-11-22 10:00 CST",
            "nproc": 2,
            "cpu": "Test CPU",
            "memory_gb": 8,
            "postgresql": "15",
            "python": "3.13",
        },
        "policies": 1000,
        "today": "2026-11-20",
        "load_average": {"start": "1.0 1.0 1.0", "before_first": "1", "before_second": "1", "end": "1"},
        "fill": {"seconds": 3.0, "counts": {"customers": 1000, "claims": 20, "events": 15}},
        "first": sweep,
        "second": sweep | {"seconds": 0.5, "created_total": 0, "created": {}},
        "baseline_insert": {"seconds": 0.25, "rows": 800},
        "baseline_noop": {"seconds": 0.1, "missing": 0},
        "ratios": {"first": 50.0, "second": 5.0},
        "sizes": {"records_policy": "1 MB"},
    }


def test_report_renders_figures_ratios_and_targets():
    text = callback_sweep.report_markdown(fake_results())
    assert "| first sweep (creates every task) | 12.50 | 810 |" in text
    assert "50.0×" in text and "≤ 30 s ✅" in text and "≤ 10 s ✅" in text
    assert "Load average" in text and "new_policy 800" in text


def test_the_block_is_replaced_in_place():
    start, end = "<!-- bench:sweep:start -->", "<!-- bench:sweep:end -->"
    text = f"# Benchmarks\n\n{callback_sweep.SECTION}\n\nwhat\n\n{start}\nold\n{end}\n\n## Next\n"
    out = replace_block(text, "sweep", "new figures")
    assert "new figures" in out and "old" not in out and out.endswith("## Next\n")


def test_baseline_statements_name_the_same_filters():
    insert = callback_sweep.baseline_insert_sql(callback_sweep.TODAY)
    noop = callback_sweep.baseline_noop_sql(callback_sweep.TODAY)
    for sql in (insert, noop):
        assert "pr.line IN ('life', 'health')" in sql and "p.status = 'in_force'" in sql
    assert "NOT EXISTS" in noop and "NOT EXISTS" not in insert
