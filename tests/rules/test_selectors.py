"""rule_active: effective dates, pack precedence (insurer > local > national), timelines, the cache."""

from datetime import date

import pytest
import yaml
from django.db import transaction

from huifang.rules.models import RulePack
from huifang.rules.selectors import (
    rule_active,
    rule_applies,
    rule_explain,
    rule_param,
    rule_timeline,
    rule_versions_in_force,
)
from huifang.rules.services import rule_pack_load_text, rule_version_create

pytestmark = pytest.mark.django_db


def load_pack(code: str, kind: str, precedence: int, rules: list[dict]):
    for rule in rules:
        rule.setdefault("title", f"{rule['id']} ({code})")
        rule.setdefault("citation", f"{code} notice")
        rule.setdefault("certainty", "policy")
        rule.setdefault("effect", "deadline")
    text = yaml.safe_dump(
        {"pack": {"code": code, "name": code, "kind": kind, "precedence": precedence}, "rules": rules},
        allow_unicode=True,
    )
    return rule_pack_load_text(text, source=f"{code}.yaml")


def test_effective_dates():
    assert rule_active("CB-06", date(2026, 1, 31)) is None
    assert rule_active("CB-06", date(2026, 2, 1)).rule_id == "CB-06"
    assert rule_param("CB-06", "min_age", on=date(2026, 1, 31), default="none") == "none"


def test_precedence_insurer_over_local_over_national():
    assert rule_active("BS-17").pack.code == "national"
    load_pack("shanghai", "local", 50, [{"id": "BS-17", "params": {"working_days": 12}}])
    assert rule_param("BS-17", "working_days") == 12
    load_pack("insurer_x", "insurer", 100, [{"id": "BS-17", "params": {"working_days": 10}}])
    assert rule_param("BS-17", "working_days") == 10
    explained = rule_explain("BS-17")
    assert explained["pack"] == "insurer_x"
    assert [s["pack"] for s in explained["shadows"]] == ["shanghai", "national"]
    RulePack.objects.filter(code="insurer_x").update(active=False)
    assert rule_param("BS-17", "working_days") == 12  # the cache saw the pack switched off
    RulePack.objects.filter(code="shanghai").update(active=False)
    assert rule_param("BS-17", "working_days") == 15


def test_a_rule_that_changes_on_a_known_day_and_its_timeline():
    load_pack(
        "insurer_2026h2",
        "insurer",
        200,
        [
            {
                "id": "KP-07",
                "params": {"working_days": 3},
                "effective_from": "2026-07-01",
                "effective_to": "2026-07-15",
            },
            {"id": "KP-07", "params": {"working_days": 4}, "effective_from": "2026-07-16"},
        ],
    )
    assert rule_param("KP-07", "working_days", on=date(2026, 6, 30)) == 5
    assert rule_param("KP-07", "working_days", on=date(2026, 7, 1)) == 3
    assert rule_param("KP-07", "working_days", on=date(2026, 7, 16)) == 4
    segments = [
        (a, b, r.params["working_days"])
        for a, b, r in rule_timeline("KP-07", date(2026, 6, 1), date(2026, 7, 31))
    ]
    assert segments == [
        (date(2026, 6, 1), date(2026, 6, 30), 5),
        (date(2026, 7, 1), date(2026, 7, 15), 3),
        (date(2026, 7, 16), date(2026, 7, 31), 4),
    ]
    assert len(rule_versions_in_force("KP-07")) == 3
    assert rule_timeline("CB-06", date(2026, 1, 1), date(2026, 2, 28))[0][:2] == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )


def test_the_cache_sees_a_new_version_at_once_and_never_a_rolled_back_one():
    rule = rule_active("KP-07")
    assert rule_param("KP-07", "working_days") == 5
    with pytest.raises(RuntimeError), transaction.atomic():
        rule_version_create(rule, params={**rule.params, "working_days": 2}, reason="x")
        assert rule_param("KP-07", "working_days") == 2
        raise RuntimeError("roll back")
    assert rule_param("KP-07", "working_days") == 5
    rule_version_create(rule, params={**rule.params, "working_days": 4}, reason="x")
    assert rule_param("KP-07", "working_days") == 4


def test_rule_applies_and_explain_with_facts():
    bs12 = rule_active("BS-12")
    facts = {
        "is_group": False,
        "is_long_term": True,
        "line": "life",
        "status": "in_force",
        "has_receipt_date": True,
    }
    assert rule_applies(bs12, facts)
    assert not rule_applies(bs12, facts | {"line": "accident"})
    assert not rule_applies(bs12, {k: v for k, v in facts.items() if k != "is_group"})  # unknown fact
    assert not rule_applies(None, facts)
    explained = rule_explain("BS-12", facts | {"is_group": True})
    assert explained["applies"] is False
    failing = [c["condition"] for c in explained["checks"] if not c["holds"]]
    assert failing == ["is_group"]
    assert explained["citation"].startswith("人身保险业务基本服务规定")
    assert rule_explain("XX-01")["in_force"] is False
