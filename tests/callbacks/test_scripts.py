"""Scripts: the shipped new-policy script (BS-13, CB-05, 万能/投连 risk, CB-06), conditions, templated
text, versions that never change, idempotent loading, the scripts command."""

import hashlib
from datetime import date
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from huifang.callbacks.models import Script, ScriptItem, TaskKind
from huifang.callbacks.scripts import (
    condition_check,
    condition_holds,
    script_for_task,
    script_packs_load,
    script_publish,
    script_render,
    template_render,
    template_values,
)
from huifang.core.audit.models import AuditEvent
from huifang.records.idnumbers import resident_id_make
from huifang.records.models import Product
from tests.callbacks.factories import policy_make, task_make

BS13 = [
    ("identity", "BS-13(1)"),
    ("purchase_signature", "BS-13(2)"),
    ("brochure_notice", "BS-13(3)"),
    ("cover_exclusions_term", "BS-13(4)"),
    ("surrender_loss", "BS-13(5)"),
    ("cooling_off", "BS-13(6)"),
    ("payment_terms", "BS-13(7)"),
]


def young(n, birth=date(1990, 5, 6)):
    """Applicant values for someone aged 35 (no 双录 by age, no CB-06)."""
    return {"applicant_birth_date": birth, "applicant_id_number": resident_id_make("440104", birth, n)}


def shown(rendered):
    return {item.code for item in rendered if item.visible}


@pytest.fixture
def new_policy(shipped_scripts):
    return shipped_scripts["new_policy"]


def test_shipped_scripts_are_published_by_the_migration(db):
    codes = set(Script.objects.filter(published_at__isnull=False).values_list("code", flat=True))
    assert {"new_policy", "claims", "service", "lapse", "satisfaction"} <= codes


def test_new_policy_script_has_the_seven_bs13_items_and_the_conditional_ones(new_policy):
    items = {item.code: item for item in new_policy.items.all()}
    for code, rule in BS13:
        assert items[code].rule_id == rule
        assert items[code].mandatory and items[code].expected == "yes"
    assert items["identity"].is_identity_check
    assert items["payment_terms"].conditions == {"payment_mode": "regular"}
    assert items["sales_recording"].rule_id == "CB-05"
    assert items["senior_care"].rule_id == "CB-06"
    assert items["investment_risk"].conditions == {"product_kind": ["universal", "investment_linked"]}
    assert items["surrender_loss"].problem_category == "surrender_loss"
    assert items["purchase_signature"].problem_category == "not_signed"
    assert [i.code for i in new_policy.items.order_by("position")][:7] == [c for c, _r in BS13]


def test_text_is_templated_from_the_policy_in_chinese(products, new_policy):
    policy = policy_make(1)  # 鑫福终身寿险, 10,000 a year for 10 years, receipt 2026-02-05
    rendered = {item.code: item for item in script_render(new_policy, policy)}
    assert "张*本人" in rendered["identity"].text and "张三" not in rendered["identity"].text
    assert "鑫福终身寿险" in rendered["purchase_signature"].text
    assert "年交" in rendered["payment_terms"].text
    assert "10,000.00元" in rendered["payment_terms"].text
    assert "缴费期限10年" in rendered["payment_terms"].text
    cooling = rendered["cooling_off"].text
    assert "15天" in cooling and "2026年2月6日" in cooling and "2026年2月20日" in cooling
    for item in rendered.values():
        assert "{" not in item.text
        assert item.text_sha256 == hashlib.sha256(item.text.encode()).hexdigest()


def test_regular_premium_shows_the_payment_item_single_premium_hides_it(products, new_policy):
    regular = policy_make(1)
    single = policy_make(2, payment_mode="single", payment_years=1, payment_frequency="single")
    assert "payment_terms" in shown(script_render(new_policy, regular))
    rendered = {item.code: item for item in script_render(new_policy, single)}
    assert rendered["payment_terms"].visible is False
    # Hidden items are returned (a screen can say why) but marked hidden.
    assert rendered["payment_terms"].mandatory is True
    assert {c for c, _r in BS13} - {"payment_terms"} <= shown(rendered.values())


def test_cb05_is_shown_for_recorded_sales_only(products, new_policy):
    plain = policy_make(1, channel="agency", **young(1))
    assert plain.recording_required is False
    assert "sales_recording" not in shown(script_render(new_policy, plain))
    recorded = policy_make(2, channel="agency", sale_recorded=True, **young(2))
    assert "sales_recording" in shown(script_render(new_policy, recorded))
    required = policy_make(3, channel="bank", **young(3))  # RC-04: bank channel over one year
    assert required.recording_required is True
    assert "sales_recording" in shown(script_render(new_policy, required))


def test_risk_sentence_for_universal_and_investment_linked(products, new_policy):
    traditional = policy_make(1, channel="agency", **young(1))
    universal = policy_make(2, product_code="UL10", channel="agency", **young(2))
    linked = policy_make(3, product_code="ILP", channel="agency", **young(3))
    assert "investment_risk" not in shown(script_render(new_policy, traditional))
    assert "investment_risk" in shown(script_render(new_policy, universal))
    rendered = {i.code: i for i in script_render(new_policy, linked)}
    assert rendered["investment_risk"].visible
    assert "投资连结型" in rendered["investment_risk"].text


def test_cb06_care_item_for_65_plus_buying_a_high_risk_product(products, new_policy):
    senior_high_risk = policy_make(1, product_code="UL10", applicant_birth_date=date(1960, 1, 2))
    assert senior_high_risk.applicant_age == 66
    assert "senior_care" in shown(script_render(new_policy, senior_high_risk))
    # 64 years old: no CB-06 item.
    younger = policy_make(2, product_code="UL10", **young(2, birth=date(1961, 6, 1)))
    assert younger.applicant_age == 64
    assert "senior_care" not in shown(script_render(new_policy, younger))
    # 66 but not a high-risk product: no CB-06 item.
    senior_plain = policy_make(3, product_code="LIFE20")
    assert "senior_care" not in shown(script_render(new_policy, senior_plain))
    # Exactly 65 counts.
    sixty_five = policy_make(4, product_code="UL10", **young(4, birth=date(1960, 12, 1)))
    assert sixty_five.applicant_age == 65
    assert "senior_care" in shown(script_render(new_policy, sixty_five))


def test_without_a_policy_conditional_items_are_hidden(new_policy):
    rendered = script_render(new_policy, None)
    assert "payment_terms" not in shown(rendered)
    assert {c for c, _r in BS13} - {"payment_terms"} <= shown(rendered)


@pytest.mark.parametrize(
    ("condition", "facts", "holds"),
    [
        ({}, {}, True),
        ({"payment_mode": "regular"}, {"payment_mode": "regular"}, True),
        ({"payment_mode": "regular"}, {"payment_mode": "single"}, False),
        ({"product_kind": ["universal", "investment_linked"]}, {"product_kind": "universal"}, True),
        ({"applicant_age": {">=": 65}}, {"applicant_age": 65}, True),
        ({"applicant_age": {">=": 65}}, {"applicant_age": None}, False),
        ({"any": [{"sale_recorded": True}, {"recording_required": True}]}, {"sale_recorded": True}, True),
        ({"all": [{"applicant_age": {">=": 65}}, {"product_high_risk": True}]}, {"applicant_age": 70}, False),
        ({"not": {"channel": "group"}}, {"channel": "bank"}, True),
    ],
)
def test_condition_holds(condition, facts, holds):
    assert condition_holds(condition, facts) is holds


def test_condition_check_names_unknown_facts_and_operators():
    problems = condition_check({"colour": "red", "applicant_age": {"~": 3}, "any": []})
    assert len(problems) == 3
    assert any("colour" in p for p in problems)


def definition(text="请问您是{policyholder_name_masked}本人吗？", **extra):
    return {
        "code": "custom",
        "name": "自定义话术",
        "task_kind": "satisfaction",
        "items": [
            {"code": "identity", "text": text, "expected": True, "is_identity_check": True},
            {"code": "happy", "text": "您满意吗？", "expected": "any", "mandatory": False},
        ],
        **extra,
    }


def test_publishing_a_changed_script_makes_a_new_version_and_the_old_one_stays(db):
    first = script_publish(definition())
    assert first.created and first.script.version == 1
    assert first.script.published_at is not None
    assert AuditEvent.objects.filter(
        event_type="callback_script.published", subject_id=str(first.script.pk)
    ).exists()
    again = script_publish(definition())
    assert not again.created and again.script.pk == first.script.pk
    changed = script_publish(definition(text="您好，请问是{policyholder_name_masked}吗？"))
    assert changed.created and changed.script.version == 2
    old_item = ScriptItem.objects.get(script=first.script, code="identity")
    assert old_item.text == "请问您是{policyholder_name_masked}本人吗？"
    assert old_item.expected == "yes"  # YAML's bare yes (True) is read as "yes"


def test_a_published_version_cannot_be_changed(db):
    script = script_publish(definition()).script
    with pytest.raises(IntegrityError), transaction.atomic():
        Script.objects.filter(pk=script.pk).update(name="changed")
    with pytest.raises(IntegrityError), transaction.atomic():
        item = script.items.get(code="identity")
        item.text = "changed"
        item.save()
    assert script.items.get(code="identity").text.startswith("请问您是")


def test_bad_definitions_are_refused_with_every_problem(db):
    bad = definition(text="您好{customer_phone}")
    bad["task_kind"] = "nonsense"
    bad["items"].append({"code": "identity", "text": "again", "problem_category": "nope"})
    with pytest.raises(ValidationError) as err:
        script_publish(bad)
    text = " ".join(err.value.messages)
    assert "customer_phone" in text and "task_kind" in text and "used twice" in text and "nope" in text
    assert not Script.objects.filter(code="custom").exists()


def test_placeholders_cannot_reach_attributes(products, db):
    script = script_publish(definition(text="{product_name}")).script
    policy = policy_make(1)
    # Only {name} is a placeholder; anything else is left as written, never evaluated.
    assert template_render("{product_name.__class__}", template_values(policy)) == "{product_name.__class__}"
    assert script_render(script, policy)[0].text == "鑫福终身寿险"


def test_loading_the_shipped_scripts_again_changes_nothing(shipped_scripts):
    before = Script.objects.count()
    results = script_packs_load(audit=False)
    assert Script.objects.count() == before
    assert not any(result.created for result in results)


def test_script_for_task_prefers_the_products_script_then_the_kind_default(products, shipped_scripts):
    policy = policy_make(1)
    task = task_make(policy)
    assert script_for_task(task).code == "new_policy"
    Product.objects.filter(code="LIFE20").update(script_code="custom")
    script_publish(definition())
    task = type(task).objects.get(pk=task.pk)
    assert script_for_task(task).code == "custom"
    claims = task_make(policy, kind=TaskKind.CLAIM_CLOSED, rule_id="KP-07", subject_key="claim:1")
    Product.objects.filter(code="LIFE20").update(script_code="")
    claims = type(claims).objects.get(pk=claims.pk)
    assert script_for_task(claims).code == "claims"


def test_scripts_command_load_and_show(products, shipped_scripts):
    out = StringIO()
    call_command("scripts", "load", stdout=out)
    assert "new_policy v1" in out.getvalue() and "unchanged" in out.getvalue()
    policy_make(1, payment_mode="single", payment_years=1, payment_frequency="single")
    out = StringIO()
    call_command("scripts", "show", "new_policy", "--policy", "P000001", stdout=out)
    text = out.getvalue()
    assert "[payment_terms]" in text and "HIDDEN for this policy" in text
    assert "鑫福终身寿险" in text and "张三" not in text
    out = StringIO()
    call_command("scripts", "show", "new_policy", stdout=out)
    assert '"payment_mode": "regular"' in out.getvalue()
