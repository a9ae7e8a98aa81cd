"""The claim_next and KPI benchmarks write only their own blocks of BENCHMARKS.md."""

from bench import claim_next, kpi_query

OTHERS = "# Benchmarks\n\nIntro.\n\n## Policy import\n\n<!-- bench:import:start -->\nimport figures\n<!-- bench:import:end -->\n"


def test_a_new_section_is_appended_and_others_are_kept():
    text = claim_next.replace_block(OTHERS, "first figures")
    assert text.startswith(OTHERS.rstrip())
    assert (
        "## claim_next (issue: callback engine)\n\n<!-- bench:claim_next:start -->\nfirst figures\n" in text
    )
    text = kpi_query.replace_block(text, "kpi figures")
    assert text.index("## claim_next") < text.index("## KPI query")
    again = claim_next.replace_block(text, "second figures")
    assert "first figures" not in again and "second figures" in again
    assert "import figures" in again and "kpi figures" in again
    assert again.count("## claim_next") == 1


def test_text_written_around_a_block_survives_a_rerun():
    text = claim_next.replace_block(OTHERS, "old")
    text = text.replace(
        "<!-- bench:claim_next:start -->", "Notes kept by hand.\n\n<!-- bench:claim_next:start -->"
    )
    text = text + "\n## Later section\n\nmore\n"
    rerun = claim_next.replace_block(text, "new")
    assert "Notes kept by hand." in rerun and "## Later section\n\nmore" in rerun and "new" in rerun


def test_the_claim_report_table():
    run = {
        "op": "claim_next",
        "claimers": 50,
        "think_ms": 0,
        "claims": 2000,
        "per_s": 400.0,
        "p50_ms": 5.0,
        "p95_ms": 12.5,
        "p99_ms": 20.0,
        "max_ms": 31.0,
        "duplicates": 0,
        "wrong_holder": 0,
    }
    bare = run | {"op": "bare", "p95_ms": 5.0}
    table = claim_next.report_table([bare, run])
    assert (
        "| `callback_task_claim_next(agent)` | 50 | none | 2,000 | 400 | 5.0 | 12.5 | 20.0 | 31.0 | 0 | 2.5× |"
        in table
    )
