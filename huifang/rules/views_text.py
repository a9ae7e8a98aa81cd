"""Rules in words for the administrator screens: parameters, conditions and due-date explanations
(translated), and the generated sample policies the previews can use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import get_language, gettext, pgettext
from django.utils.translation import gettext_lazy as _

from huifang.callbacks.explain import BASES, due_explanation_text
from huifang.rules.conditions import ConditionsInvalid, conditions_parse

# What a parameter means (names are the packs' contract; huifang/rules/packs/*.yaml).
PARAM_LABELS = {
    "working_days": _("working days"),
    "days": _("calendar days"),
    "min_days": _("at least, days"),
    "default_days": _("default length, days"),
    "coverage_percent": _("coverage, %"),
    "min_percent": _("at least, %"),
    "max_percent": _("at most, %"),
    "target_percent": _("target, %"),
    "local_cooling_off_target_percent": _("local target in the cooling-off period, %"),
    "lookback_days": _("records still new for, days"),
    "task_kind": _("callback kind"),
    "due": _("due on"),
    "from": _("counted from"),
    "starts": _("starts"),
    "max_attempts": _("phone attempts"),
    "attempts_on_different_days": _("attempts on different days"),
    "letter_visit_needs_approval": _("letters and visits need approval"),
    "working_days_before_cooling_off_end": _("e-callback gives way, working days before the cooling-off end"),
    "quiet_start": _("quiet hours start"),
    "quiet_end": _("quiet hours end"),
    "months": _("months"),
    "min_age": _("minimum age"),
    "priority": _("priority"),
    "pool": _("pool"),
    "retention_years": _("kept for, years"),
    "items": _("items"),
    "extra_items": _("extra items"),
    "instalment_only_items": _("items only for instalment premiums"),
    "order": _("order"),
    "identity_checks": _("identity checks"),
    "notice_rule": _("notice rule"),
    "problem_rule": _("problem rule"),
    "numerator": _("counted as success"),
    "excluded_from_denominator": _("left out of the denominator"),
    "requires": _("requires"),
    "simplify_if_recorded": _("simpler when the sale was recorded"),
    "long_term_channels": _("channels, term over one year"),
    "any_term_product_kinds": _("product kinds, any term"),
    "whole_call_channels": _("channels recorded whole"),
    "full_percent_product_kinds": _("product kinds checked in full"),
    "full_percent_min_age": _("ages checked in full, from"),
    "satisfaction": _("satisfaction list"),
    "retention": _("retention list"),
    "renewal": _("renewal list"),
    "days_ahead": _("days ahead"),
}

FACT_LABELS = {
    "is_group": _("group policy"),
    "is_long_term": _("term over one year"),
    "line": _("line"),
    "product_kind": _("product kind"),
    "channel": _("channel"),
    "status": _("policy status"),
    "applicant_age": _("applicant age"),
    "high_risk": _("high-risk product"),
    "payment_mode": _("payment mode"),
    "sale_recorded": _("sale recorded (双录)"),
    "recording_required": _("双录 required"),
    "term_years": _("term in years"),
    "has_receipt_date": _("receipt signed"),
    "cooling_off_days": _("cooling-off days"),
}

CERTAINTY_LABELS = {
    "law": _("law"),
    "2nd": _("secondary sources"),
    "policy": _("insurer policy"),
}

# Base dates of a due-date explanation that ``huifang.callbacks.explain`` does not name.
EXTRA_BASES = {
    "discovery": _("problem found"),
}


def _value_labels() -> dict[str, dict]:
    from huifang.records.models import Channel, Policy, PolicyStatus, Product

    return {
        "line": dict(Product.Line.choices),
        "product_kind": dict(Product.Kind.choices),
        "channel": dict(Channel.choices),
        "status": dict(PolicyStatus.choices),
        "payment_mode": dict(Policy.PaymentMode.choices),
    }


# Code values that parameters hold, in words (task kinds and channels come from their models).
VALUE_WORDS = {
    "discovery": _("problem found"),
    "departure": _("salesperson departed"),
    "claim_closed": _("claim closed"),
    "service_completed": _("policy service completed"),
    "lapse": _("lapse"),
    "cooling_off_end": _("cooling-off end"),
    "day_after_receipt": _("the day after the receipt"),
    "letter_or_visit": _("letter or visit"),
}


def _code_words() -> dict:
    from huifang.callbacks.models import Channel, TaskKind

    return {**dict(Channel.choices), **dict(TaskKind.choices), **VALUE_WORDS}


def value_text(value) -> str:
    if isinstance(value, str):
        return str(_code_words().get(value, value))
    if value is True:
        return gettext("yes")
    if value is False:
        return gettext("no")
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return "、".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{param_label(k)} {value_text(v)}" for k, v in value.items())
    return str(value)


def param_label(key: str) -> str:
    label = PARAM_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


def params_words(params: dict | None) -> list[dict]:
    """Each parameter as ``{"key", "label", "text"}``: "working days 15"."""
    return [{"key": k, "label": param_label(k), "text": value_text(v)} for k, v in (params or {}).items()]


def _fact_value(fact: str, value, labels: dict) -> str:
    if isinstance(value, list | tuple):
        return "、".join(_fact_value(fact, v, labels) for v in value)
    if isinstance(value, str) and value in labels.get(fact, {}):
        return str(labels[fact][value])
    return value_text(value)


def conditions_words(conditions: dict | None) -> list[str]:
    """Each condition as a sentence: "line is one of 寿险、健康险", "applicant age ≥ 65"."""
    try:
        parsed = conditions_parse(conditions)
    except ConditionsInvalid:
        return [str(conditions)]
    labels = _value_labels()
    out = []
    for c in parsed:
        fact = str(FACT_LABELS.get(c.fact, c.fact))
        value = _fact_value(c.fact, c.value, labels)
        if c.op == "eq" and isinstance(c.value, bool):
            out.append(fact if c.value else gettext("not: %(fact)s") % {"fact": fact})
        elif c.op == "eq":
            out.append(gettext("%(fact)s is %(value)s") % {"fact": fact, "value": value})
        elif c.op == "in":
            out.append(gettext("%(fact)s is one of %(value)s") % {"fact": fact, "value": value})
        elif c.op == "not_in":
            out.append(gettext("%(fact)s is none of %(value)s") % {"fact": fact, "value": value})
        elif c.op == "min":
            out.append(f"{fact} ≥ {value}")
        else:
            out.append(f"{fact} ≤ {value}")
    return out


SCRIPT_FACT_ALIASES = {"product_line": "line", "product_high_risk": "high_risk"}


def script_condition_words(condition) -> str:
    """A script item's condition (huifang.callbacks.scripts) in words: "payment mode is 期缴 and
    applicant age ≥ 65"; empty for no condition."""
    if not condition or not isinstance(condition, dict):
        return ""
    labels = _value_labels()
    labels["payment_frequency"] = _frequency_labels()
    parts = []
    for key, test in condition.items():
        if key in ("any", "all") and isinstance(test, list):
            joined = (gettext(" or ") if key == "any" else gettext(" and ")).join(
                script_condition_words(sub) for sub in test
            )
            parts.append(f"({joined})")
        elif key == "not":
            parts.append(gettext("not: %(fact)s") % {"fact": script_condition_words(test)})
        else:
            fact_key = SCRIPT_FACT_ALIASES.get(key, key)
            fact = str(
                FACT_LABELS.get(fact_key, PAYMENT_FREQUENCY_LABEL if key == "payment_frequency" else key)
            )
            if isinstance(test, dict):
                parts.append(" ".join(f"{fact} {op} {value_text(v)}" for op, v in test.items()))
            elif isinstance(test, list):
                value = _fact_value(fact_key, test, labels)
                parts.append(gettext("%(fact)s is one of %(value)s") % {"fact": fact, "value": value})
            elif isinstance(test, bool):
                parts.append(fact if test else gettext("not: %(fact)s") % {"fact": fact})
            else:
                value = _fact_value(fact_key, test, labels)
                parts.append(gettext("%(fact)s is %(value)s") % {"fact": fact, "value": value})
    return gettext(" and ").join(parts)


PAYMENT_FREQUENCY_LABEL = _("payment frequency")


def _frequency_labels() -> dict:
    from huifang.records.models import Policy

    return dict(Policy.Frequency.choices)


def check_words(check: dict) -> dict:
    """One condition check (``conditions_check``) with the policy's value in words."""
    labels = _value_labels()
    return check | {
        "label": str(FACT_LABELS.get(check["fact"], check["fact"])),
        "expected_text": _fact_value(check["fact"], check["expected"], labels),
        "actual_text": _fact_value(check["fact"], check["actual"], labels),
    }


def explanation_text(explanation: dict) -> str:
    """A due-date explanation in the page's language: "应于 2026-02-20 前完成 = 回执签收 2026-02-05 + 15 天
    · CO-03 · BS-12"."""
    zh = (get_language() or "").lower().startswith("zh")
    if explanation.get("base") in BASES or explanation.get("base") not in EXTRA_BASES:
        return due_explanation_text(explanation, "zh" if zh else "en")
    base = EXTRA_BASES[explanation["base"]]
    unit = (
        pgettext("unit", "working days")
        if explanation.get("unit") == "working_days"
        else pgettext("unit", "days")
    )
    return gettext("due %(due)s = %(base)s %(base_date)s + %(amount)s %(unit)s · %(cites)s") % {
        "due": explanation.get("due"),
        "base": base,
        "base_date": explanation.get("base_date"),
        "amount": explanation.get("amount"),
        "unit": unit,
        "cites": explanation.get("cites"),
    }


# The placeholders of a script's text (huifang.callbacks.scripts.TEMPLATE_VARIABLES), in words.
TEMPLATE_VARIABLE_LABELS = {
    "policy_no": _("policy number"),
    "product_name": _("product name"),
    "product_kind_label": _("product kind in Chinese (万能型, 投资连结型 …)"),
    "premium": _("premium per payment, e.g. 10,000.00"),
    "payment_years": _("payment period in years"),
    "payment_frequency_label": _("payment frequency in Chinese (年交, 月交 … 趸交)"),
    "cooling_off_days": _("cooling-off length in days (CO-01/02/03)"),
    "cooling_off_start": _("first day of the cooling-off period: the day after the receipt (CO-03)"),
    "cooling_off_end": _("last day of the cooling-off period"),
    "policyholder_name_masked": _("the policyholder's name, masked (张*)"),
}


def template_variables_words(variables: dict) -> list[tuple[str, str]]:
    return [(name, str(TEMPLATE_VARIABLE_LABELS.get(name, meaning))) for name, meaning in variables.items()]


# ---- generated sample policies ------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    key: str
    label: str
    product: dict
    policy: dict
    birth_years_ago: int


SAMPLES = (
    Sample(
        "life_bank",
        _("Long-term life, bank channel, instalments, applicant 45"),
        {"code": "SAMPLE-LIFE", "name": "示例终身寿险", "line": "life", "kind": "traditional"},
        {"channel": "bank", "payment_mode": "regular", "payment_years": 10, "payment_frequency": "annual"},
        45,
    ),
    Sample(
        "universal_elderly",
        _("Universal life, agency channel, single premium, applicant 68 (high risk)"),
        {"code": "SAMPLE-UL", "name": "示例万能险", "line": "life", "kind": "universal", "high_risk": True},
        {"channel": "agency", "payment_mode": "single", "payment_years": 1, "payment_frequency": "single"},
        68,
    ),
    Sample(
        "health_internet",
        _("Long-term health, internet channel, instalments, applicant 30"),
        {"code": "SAMPLE-HEALTH", "name": "示例长期医疗险", "line": "health", "kind": "health"},
        {
            "channel": "internet",
            "payment_mode": "regular",
            "payment_years": 20,
            "payment_frequency": "monthly",
        },
        30,
    ),
)
SAMPLE_CHOICES = [(s.key, s.label) for s in SAMPLES]


def sample_policy(key: str, *, today: date | None = None):
    """An unsaved policy (with product and applicant) for previews: receipt signed 5 days ago,
    derived facts as the records feed would derive them. Never saved."""
    from huifang.records.derive import policy_derive
    from huifang.records.models import Customer, Policy, Product

    sample = next((s for s in SAMPLES if s.key == key), SAMPLES[0])
    today = today or timezone.localdate()
    product = Product(term_type="long", cooling_off_days=15, **sample.product)
    applicant = Customer(customer_no="SAMPLE", name="张三")
    application = today - timedelta(days=8)
    receipt = today - timedelta(days=5)
    birth = date(application.year - sample.birth_years_ago, 1, 1)
    derived = policy_derive(
        channel=sample.policy["channel"],
        term_years=20,
        application_date=application,
        receipt_date=receipt,
        applicant_birth=birth,
        product_kind=product.kind,
        product_term_type=product.term_type,
        product_cooling_off_days=product.cooling_off_days,
    )
    return Policy(
        policy_no=f"SAMPLE-{sample.key.upper()}",
        product=product,
        applicant=applicant,
        insured=applicant,
        is_group=False,
        premium=Decimal("10000.00"),
        term_years=20,
        application_date=application,
        issue_date=application + timedelta(days=1),
        receipt_date=receipt,
        status="in_force",
        sale_recorded=derived["recording_required"],
        **sample.policy,
        **derived,
    )
