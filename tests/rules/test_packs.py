"""Rule packs: the shipped packs, loading (idempotent, versioned, audited), validation, laxness."""

from pathlib import Path

import pytest
import yaml
from django.apps import apps

from huifang.core.audit.models import AuditEvent
from huifang.rules.apps import load_shipped_packs_after_migrate
from huifang.rules.models import Rule, RulePack
from huifang.rules.selectors import rule_active, rule_param
from huifang.rules.services import (
    PACKS_DIR,
    RulePackInvalid,
    rule_pack_load,
    rule_pack_load_text,
    rule_packs_load_shipped,
    rule_version_create,
)

pytestmark = pytest.mark.django_db

NATIONAL_IDS = {
    "BS-12", "BS-13", "BS-17", "CB-01", "CB-02", "CB-05", "CB-06", "CB-07", "CO-01", "CO-02", "CO-03",
    "EC-01", "EC-02", "EC-03", "EC-04", "EC-05", "EC-06", "KP-05", "KP-06", "RC-04", "RC-07", "RC-08",
    "BS-23", "SB-01", "CL-01", "CL-02", "CL-03",
}  # fmt: skip
INSURER_IDS = {"KP-01", "KP-02", "KP-03", "KP-04", "KP-07", "KP-08", "SV-01", "EC-05"}


def rule_events():
    return list(AuditEvent.objects.filter(event_type="rule.changed").order_by("seq"))


def pack_text(name: str, edit=None) -> str:
    data = yaml.safe_load((PACKS_DIR / name).read_text(encoding="utf-8"))
    if edit:
        edit(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def by_id(data: dict, rule_id: str) -> dict:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def test_migrate_loaded_the_shipped_packs_with_citations_and_numbers():
    national = RulePack.objects.get(code="national")
    insurer = RulePack.objects.get(code="insurer_default")
    assert (national.kind, insurer.kind) == ("national", "insurer")
    assert insurer.precedence > national.precedence
    assert set(national.rules.values_list("rule_id", flat=True)) == NATIONAL_IDS
    assert set(insurer.rules.values_list("rule_id", flat=True)) == INSURER_IDS
    assert national.source_file == "huifang/rules/packs/national.yaml" and len(national.source_sha256) == 64
    bs17 = rule_active("BS-17")
    assert bs17.params["working_days"] == 15 and bs17.certainty == "law"
    assert bs17.citation == "人身保险业务基本服务规定 (保监会令2010年第4号) Art. 18"
    assert rule_param("BS-23", "working_days") == 10
    assert rule_active("CL-01").params == {"quiet_start": "21:00", "quiet_end": "09:00"}
    assert rule_param("KP-07", "working_days") == 5
    assert rule_param("KP-04", "max_attempts") == 3
    assert rule_param("EC-05", "working_days_before_cooling_off_end") == 5
    kp08 = rule_active("KP-08").params
    assert kp08["retention"]["months"] == 6 and kp08["renewal"]["days_ahead"] == 30
    assert rule_active("BS-12").conditions["line_in"] == ["life", "health"]
    assert rule_active("CB-06").conditions == {"min_applicant_age": 65, "high_risk": True}
    assert all(len(r.title) <= 300 and r.citation for r in Rule.objects.all())


def test_loading_the_same_files_again_changes_nothing():
    before = list(Rule.objects.order_by("pk").values_list("pk", "version", "superseded_at"))
    loaded = {p.code: p.loaded_at for p in RulePack.objects.all()}
    events = AuditEvent.objects.count()
    results = rule_packs_load_shipped()
    assert [r.any_change for r in results] == [False, False]
    assert len(results[0].unchanged) == len(NATIONAL_IDS)
    assert list(Rule.objects.order_by("pk").values_list("pk", "version", "superseded_at")) == before
    assert {p.code: p.loaded_at for p in RulePack.objects.all()} == loaded
    assert AuditEvent.objects.count() == events


def test_a_changed_rule_becomes_a_new_version_and_a_removed_one_is_superseded(tmp_path):
    def edit(data):
        by_id(data, "KP-07")["params"]["working_days"] = 3
        data["rules"] = [r for r in data["rules"] if r["id"] != "KP-03"]

    path = tmp_path / "insurer_default.yaml"
    path.write_text(pack_text("insurer_default.yaml", edit), encoding="utf-8")
    old = rule_active("KP-07")
    result = rule_pack_load(path, reason="circular 2026-7")
    assert (result.changed, result.removed, result.created) == (["KP-07"], ["KP-03"], [])
    new = rule_active("KP-07")
    assert (new.version, new.params["working_days"], new.change_reason) == (
        old.version + 1,
        3,
        "circular 2026-7",
    )
    old.refresh_from_db()
    assert old.superseded_at is not None  # kept, for the tasks it computed
    assert rule_active("KP-03") is None
    changed, removed = rule_events()
    assert changed.rule == "KP-07" and changed.data["change"] == "changed"
    assert (
        changed.data["before"]["params"]["working_days"] == 5
        and changed.data["after"]["params"]["working_days"] == 3
    )
    assert removed.data["change"] == "removed" and removed.rule == "KP-03"
    # The edited file again: nothing more.
    assert not rule_pack_load(path).any_change
    assert len(rule_events()) == 2
    # The shipped file again restores the shipped numbers, as new versions.
    assert rule_pack_load(PACKS_DIR / "insurer_default.yaml").created == ["KP-03"]
    assert rule_param("KP-07", "working_days") == 5 and rule_active("KP-07").version == old.version + 2


def test_an_invalid_pack_is_refused_whole_naming_every_problem():
    def edit(data):
        by_id(data, "KP-07")["conditions"] = {"colour_in": ["red"]}
        by_id(data, "KP-02")["certainty"] = "maybe"
        by_id(data, "KP-01")["id"] = "kp1"

    rules_before = Rule.objects.count()
    with pytest.raises(RulePackInvalid) as exc:
        rule_pack_load_text(pack_text("insurer_default.yaml", edit), source="bad.yaml")
    text = " | ".join(exc.value.problems)
    assert "unknown fact 'colour'" in text and "certainty 'maybe'" in text and "id must look like" in text
    assert Rule.objects.count() == rules_before and rule_events() == []


def test_an_insurer_pack_may_tighten_a_national_number_never_loosen_it():
    def laxer(data):
        data["rules"].append(
            {
                "id": "BS-17",
                "title": "problem cases",
                "citation": "insurer",
                "certainty": "policy",
                "effect": "deadline",
                "params": {"working_days": 20},
            }
        )

    with pytest.raises(RulePackInvalid, match="working_days 20 is laxer than the national 15"):
        rule_pack_load_text(pack_text("insurer_default.yaml", laxer), source="x")
    assert rule_active("BS-17").pack.code == "national"

    def stricter(data):
        laxer(data)
        data["rules"][-1]["params"]["working_days"] = 10

    assert rule_pack_load_text(pack_text("insurer_default.yaml", stricter), source="x").created == ["BS-17"]
    assert rule_param("BS-17", "working_days") == 10


def test_rule_version_create_audits_and_refuses_nonsense():
    rule = rule_active("KP-07")
    with pytest.raises(ValueError, match="reason"):
        rule_version_create(rule, params={"working_days": 4}, reason="")
    with pytest.raises(ValueError, match="cannot change"):
        rule_version_create(rule, rule_id="KP-99", reason="x")
    assert rule_version_create(rule, params=dict(rule.params), reason="same") == rule  # no change, no version
    new = rule_version_create(rule, params={**rule.params, "working_days": 4}, reason="faster")
    assert new.version == rule.version + 1 and rule_param("KP-07", "working_days") == 4
    (event,) = rule_events()
    assert event.data["reason"] == "faster"
    with pytest.raises(ValueError, match="superseded"):
        rule_version_create(rule, params={"working_days": 2}, reason="x")


def test_migrate_seeds_an_emptied_rule_table_without_audit_events():
    Rule.objects.all().delete()
    RulePack.objects.all().delete()
    load_shipped_packs_after_migrate(apps.get_app_config("rules"))
    assert Rule.objects.count() == len(NATIONAL_IDS) + len(INSURER_IDS)
    assert rule_events() == []
    # A later migrate with unchanged files is a no-op.
    load_shipped_packs_after_migrate(apps.get_app_config("rules"))
    assert Rule.objects.count() == len(NATIONAL_IDS) + len(INSURER_IDS) and rule_events() == []


def test_shipped_files_parse_and_are_in_the_package():
    assert sorted(p.name for p in Path(PACKS_DIR).glob("*.yaml")) == ["insurer_default.yaml", "national.yaml"]
