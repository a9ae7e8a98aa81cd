"""``huifang rules load|show|explain``."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from huifang.callbacks.generation import callback_tasks_generate
from huifang.callbacks.models import TaskKind
from huifang.records.services import RecordsFeed
from tests.records.conftest import policy_values, products  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("rules", *args, stdout=out)
    return out.getvalue()


def test_load_reports_a_no_op_for_unchanged_packs():
    out = run("load")
    assert "national: 0 new, 0 changed, 0 removed, 27 unchanged" in out
    assert "insurer_default: 0 new, 0 changed, 0 removed, 8 unchanged" in out


def test_load_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: {code: x, name: x, kind: galactic}\nrules: []\n", encoding="utf-8")
    with pytest.raises(CommandError, match="'galactic' is not one of"):
        run("load", str(bad))
    with pytest.raises(CommandError, match="no such file"):
        run("load", str(tmp_path / "missing.yaml"))


def test_show_all_and_one_with_history():
    out = run("show")
    assert "BS-17" in out and '"working_days":15' in out and "CL-01" in out
    one = run("show", "EC-05", "--history")
    assert "insurer_default" in one and "shadows national v1" in one and "history:" in one
    with pytest.raises(CommandError, match="no version in force"):
        run("show", "CB-06", "--on", "2026-01-01")


def test_explain_a_policy(products, time_machine):  # noqa: F811
    time_machine.move_to("2026-02-06 10:00+08:00", tick=False)
    RecordsFeed("policies").upsert(
        [(1, policy_values(1)), (2, policy_values(2, is_group=True, channel="group"))]
    )
    callback_tasks_generate(TaskKind.NEW_POLICY, today=date(2026, 2, 6))
    out = run("explain", "P000001")
    assert "BS-12 v1 (national): APPLIES" in out
    assert "due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12" in out
    assert "应于 2026-02-20 前完成 = 回执签收 2026-02-05 + 15 天 · CO-03 · BS-12" in out
    group = run("explain", "P000002")
    assert "BS-12 v1 (national): does not apply" in group and "NO is_group" in group
    assert "callback tasks: 0" in group
    with pytest.raises(CommandError, match="no policy"):
        run("explain", "NOPE")
