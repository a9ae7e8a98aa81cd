"""Callback scripts (回访话术): versioned questionnaires, loaded from YAML and rendered for a policy.

A script is published as a version; a published version never changes (the database refuses any
update of a published script or of its items). Publishing a definition whose content differs from
the latest version creates the next version; publishing the same content again changes nothing, so
``huifang scripts load`` and the data migration are idempotent.

Shipped definitions live in ``huifang/callbacks/script_packs/*.yaml``::

    code: new_policy
    name: 新契约回访话术
    task_kind: new_policy
    items:
      - code: payment_terms
        rule_id: BS-13(7)
        text: 您选择的缴费方式为{payment_frequency_label}，每期保费{premium}元……
        mandatory: true
        expected: "yes"          # yes | no | any (quote it: YAML reads a bare yes as true)
        problem_category: payment_terms
        conditions: {payment_mode: regular}

Conditions decide whether an item is shown for a policy. A condition is a mapping of fact → test,
every entry must hold:

* ``{payment_mode: regular}`` — equal; ``{product_kind: [universal, investment_linked]}`` — one of;
* ``{applicant_age: {">=": 65}}`` — compare with ``>= > <= < == !=``;
* ``{any: [cond, cond]}``, ``{all: [cond, …]}``, ``{not: cond}`` — combine.

A fact the policy does not have (no policy, no applicant age) makes its test false: the item is
hidden. Hidden items are still returned by ``script_render`` (``visible=False``) so that a screen
can show why, but they are never asked and never block completion (OCA/survey #98).

Text placeholders are the names in ``TEMPLATE_VARIABLES``; anything else is refused at load time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.callbacks.models import ProblemCase, Script, ScriptItem, TaskKind
from huifang.core.audit.registry import register
from huifang.core.audit.services import audit_record
from huifang.core.crypto.masking import mask_name

SCRIPT_PUBLISHED = register("callback_script.published", _("Callback script version published"))

SCRIPT_PACKS_DIR = Path(__file__).resolve().parent / "script_packs"

# The script a task uses when neither the task nor the product names one.
DEFAULT_SCRIPT_FOR_KIND = {
    TaskKind.NEW_POLICY: "new_policy",
    TaskKind.DEPARTED_SALESPERSON: "service",
    TaskKind.CLAIM_CLOSED: "claims",
    TaskKind.SERVICE_COMPLETED: "service",
    TaskKind.LAPSE_NOTICE: "lapse",
    TaskKind.SATISFACTION: "satisfaction",
    TaskKind.RETENTION: "satisfaction",
    TaskKind.RENEWAL_REMINDER: "satisfaction",
}

ANSWERS = ("yes", "no", "unsure")

FREQUENCY_LABELS = {
    "single": "趸交",
    "annual": "年交",
    "semiannual": "半年交",
    "quarterly": "季交",
    "monthly": "月交",
}
PRODUCT_KIND_LABELS = {
    "traditional": "传统型",
    "participating": "分红型",
    "universal": "万能型",
    "investment_linked": "投资连结型",
    "health": "健康险",
}

TEMPLATE_VARIABLES = {
    "policy_no": "policy number",
    "product_name": "product name",
    "product_kind_label": "product kind in Chinese (万能型, 投资连结型 …)",
    "premium": "premium per payment, e.g. 10,000.00",
    "payment_years": "payment period in years",
    "payment_frequency_label": "payment frequency in Chinese (年交, 月交 … 趸交)",
    "cooling_off_days": "cooling-off length in days (CO-01/02/03)",
    "cooling_off_start": "first day of the cooling-off period: the day after the receipt (CO-03)",
    "cooling_off_end": "last day of the cooling-off period",
    "policyholder_name_masked": "the policyholder's name, masked (张*)",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Facts conditions may test, with where they come from.
CONDITION_FACTS = {
    "payment_mode": "policy.payment_mode (single | regular)",
    "payment_frequency": "policy.payment_frequency",
    "channel": "policy.channel (agency, bank, phone, internet, group)",
    "sale_recorded": "policy.sale_recorded (双录 done)",
    "recording_required": "policy.recording_required (RC-04)",
    "applicant_age": "policy.applicant_age (at application)",
    "is_long_term": "policy.is_long_term",
    "term_years": "policy.term_years",
    "product_kind": "product.kind (traditional, participating, universal, investment_linked, health)",
    "product_line": "product.line",
    "product_high_risk": "product.high_risk (CB-06)",
}
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class RenderedItem:
    """One question as read to this customer. ``text_sha256`` fixes which words were read."""

    code: str
    position: int
    text: str
    mandatory: bool
    expected: str
    visible: bool
    rule_id: str
    text_sha256: str
    problem_category: str = ""
    is_identity_check: bool = False


# ---- conditions ---------------------------------------------------------------------------------


def policy_facts(policy) -> dict:
    """The facts script conditions may test, for ``policy`` (empty without one)."""
    if policy is None:
        return {}
    product = policy.product
    return {
        "payment_mode": policy.payment_mode,
        "payment_frequency": policy.payment_frequency,
        "channel": policy.channel,
        "sale_recorded": bool(policy.sale_recorded),
        "recording_required": bool(policy.recording_required),
        "applicant_age": policy.applicant_age,
        "is_long_term": bool(policy.is_long_term),
        "term_years": policy.term_years,
        "product_kind": product.kind,
        "product_line": product.line,
        "product_high_risk": bool(product.high_risk),
    }


def condition_check(condition, path: str = "conditions") -> list[str]:
    """Problems with a condition's shape (unknown facts or operators); empty if it is valid."""
    problems: list[str] = []
    if condition in (None, {}):
        return problems
    if not isinstance(condition, dict):
        return [f"{path}: expected a mapping, got {type(condition).__name__}"]
    for key, test in condition.items():
        where = f"{path}.{key}"
        if key in ("any", "all"):
            if not isinstance(test, list) or not test:
                problems.append(f"{where}: expected a non-empty list of conditions")
                continue
            for i, sub in enumerate(test):
                problems += condition_check(sub, f"{where}[{i}]")
        elif key == "not":
            problems += condition_check(test, where)
        elif key not in CONDITION_FACTS:
            problems.append(f"{where}: unknown fact (known: {', '.join(sorted(CONDITION_FACTS))})")
        elif isinstance(test, dict):
            bad = [op for op in test if op not in _OPS]
            if bad or not test:
                problems.append(f"{where}: unknown operator {bad or '(none)'} (known: {' '.join(_OPS)})")
    return problems


def condition_holds(condition, facts: dict) -> bool:
    """True if ``condition`` holds for ``facts`` (an empty condition always holds)."""
    if not condition:
        return True
    for key, test in condition.items():
        if key == "any":
            ok = any(condition_holds(sub, facts) for sub in test)
        elif key == "all":
            ok = all(condition_holds(sub, facts) for sub in test)
        elif key == "not":
            ok = not condition_holds(test, facts)
        else:
            value = facts.get(key)
            if value is None:
                ok = False
            elif isinstance(test, dict):
                try:
                    ok = all(_OPS[op](value, operand) for op, operand in test.items())
                except TypeError:
                    ok = False
            elif isinstance(test, list):
                ok = value in test
            else:
                ok = value == test
        if not ok:
            return False
    return True


# ---- text ---------------------------------------------------------------------------------------


def _date_zh(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def _money(value) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def template_values(policy, customer=None) -> dict[str, str]:
    """The values of ``TEMPLATE_VARIABLES`` for ``policy`` (empty strings for what is unknown)."""
    values = dict.fromkeys(TEMPLATE_VARIABLES, "")
    holder = customer
    if policy is not None:
        product = policy.product
        days = policy.cooling_off_days if policy.cooling_off_days is not None else product.cooling_off_days
        # CO-03: the cooling-off period starts the day after the policyholder signs the receipt.
        start = policy.receipt_date + timedelta(days=1) if policy.receipt_date else None
        values.update(
            policy_no=policy.policy_no,
            product_name=product.name,
            product_kind_label=PRODUCT_KIND_LABELS.get(product.kind, product.get_kind_display()),
            premium=_money(policy.premium),
            payment_years=str(policy.payment_years),
            payment_frequency_label=FREQUENCY_LABELS.get(
                policy.payment_frequency, policy.get_payment_frequency_display()
            ),
            cooling_off_days=str(days) if days is not None else "",
            cooling_off_start=_date_zh(start),
            cooling_off_end=_date_zh(policy.cooling_off_end),
        )
        holder = policy.applicant
    if holder is not None:
        values["policyholder_name_masked"] = mask_name(holder.name)
    return values


def template_render(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders. Not ``str.format``: a template must not reach attributes."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def script_render(script: Script, policy, *, customer=None) -> list[RenderedItem]:
    """Every item of ``script`` rendered for ``policy``, in order, with ``visible`` from its
    conditions. Without a policy, conditional items are hidden and ``customer`` (if given) supplies
    the name."""
    facts = policy_facts(policy)
    values = template_values(policy, customer)
    rendered = []
    for item in script.items.order_by("position", "id"):
        text = template_render(item.text, values)
        rendered.append(
            RenderedItem(
                code=item.code,
                position=item.position,
                text=text,
                mandatory=item.mandatory,
                expected=item.expected,
                visible=condition_holds(item.conditions, facts),
                rule_id=item.rule_id,
                text_sha256=text_sha256(text),
                problem_category=item.problem_category,
                is_identity_check=item.is_identity_check,
            )
        )
    return rendered


# ---- finding the script for a task --------------------------------------------------------------


def script_latest(code: str) -> Script | None:
    """The latest published version of script ``code``."""
    return Script.objects.filter(code=code, published_at__isnull=False).order_by("-version").first()


def script_for_task(task) -> Script | None:
    """The script for ``task``: the version the task names, else the latest published version of
    the product's script, else of the default script for the task's kind."""
    if task.script_id:
        return task.script
    codes = []
    if task.policy_id and task.policy.product.script_code:
        codes.append(task.policy.product.script_code)
    if task.kind in DEFAULT_SCRIPT_FOR_KIND:
        codes.append(DEFAULT_SCRIPT_FOR_KIND[task.kind])
    for code in codes:
        script = script_latest(code)
        if script is not None:
            return script
    return None


# ---- definitions and publishing -----------------------------------------------------------------


def _expected(value) -> str:
    # YAML 1.1 reads a bare yes/no as a boolean.
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value if value is not None else "yes").strip().lower()


def script_definition_clean(raw: dict, *, source: str = "") -> dict:
    """Validate a script definition (from YAML) and return it in canonical form.

    Raises ``ValidationError`` listing every problem.
    """
    where = f"{source}: " if source else ""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}a script definition must be a mapping")
    code = str(raw.get("code") or "").strip()
    name = str(raw.get("name") or "").strip()
    task_kind = str(raw.get("task_kind") or "").strip()
    if not code or len(code) > 40:
        problems.append("code: required, at most 40 characters")
    if not name or len(name) > 200:
        problems.append("name: required, at most 200 characters")
    if task_kind not in TaskKind.values:
        problems.append(f"task_kind: {task_kind!r} is not one of {', '.join(TaskKind.values)}")
    raw_items = raw.get("items") or []
    if not isinstance(raw_items, list) or not raw_items:
        problems.append("items: at least one item is required")
        raw_items = []
    items, seen = [], set()
    categories = set(ProblemCase.Category.values)
    for i, raw_item in enumerate(raw_items, start=1):
        at = f"items[{i}]"
        if not isinstance(raw_item, dict):
            problems.append(f"{at}: expected a mapping")
            continue
        item_code = str(raw_item.get("code") or "").strip()
        if not item_code or len(item_code) > 40:
            problems.append(f"{at}.code: required, at most 40 characters")
        elif item_code in seen:
            problems.append(f"{at}.code: {item_code!r} is used twice")
        seen.add(item_code)
        text = str(raw_item.get("text") or "").strip()
        if not text:
            problems.append(f"{at}.text: required")
        unknown = sorted({m for m in _PLACEHOLDER.findall(text) if m not in TEMPLATE_VARIABLES})
        if unknown:
            problems.append(
                f"{at}.text: unknown placeholders {unknown} (known: {', '.join(TEMPLATE_VARIABLES)})"
            )
        expected = _expected(raw_item.get("expected", "yes"))
        if expected not in ScriptItem.Expected.values:
            problems.append(f"{at}.expected: {expected!r} is not yes, no or any")
        category = str(raw_item.get("problem_category") or "").strip()
        if category and category not in categories:
            problems.append(
                f"{at}.problem_category: {category!r} is not one of {', '.join(sorted(categories))}"
            )
        if expected != "any" and not category:
            category = ProblemCase.Category.OTHER.value
        conditions = raw_item.get("conditions") or {}
        problems += condition_check(conditions, f"{at}.conditions")
        rule_id = str(raw_item.get("rule_id") or "").strip()
        if len(rule_id) > 20:
            problems.append(f"{at}.rule_id: at most 20 characters")
        items.append(
            {
                "position": int(raw_item.get("position") or i),
                "code": item_code,
                "text": text,
                "rule_id": rule_id,
                "mandatory": bool(raw_item.get("mandatory", True)),
                "expected": expected,
                "conditions": conditions,
                "problem_category": category,
                "is_identity_check": bool(raw_item.get("is_identity_check", False)),
            }
        )
    if problems:
        raise ValidationError([f"{where}{p}" for p in problems])
    items.sort(key=lambda it: (it["position"], it["code"]))
    return {"code": code, "name": name, "task_kind": task_kind, "items": items}


def script_content_sha256(definition: dict) -> str:
    """SHA-256 of the canonical content (name, kind, items): what makes a version different."""
    content = {k: definition[k] for k in ("name", "task_kind", "items")}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PublishResult:
    script: Script
    created: bool  # False: the latest version already had this content


def script_publish(
    definition: dict,
    *,
    actor=None,
    source: str = "",
    script_model=Script,
    item_model=ScriptItem,
    audit: bool = True,
) -> PublishResult:
    """Publish ``definition`` as the next version of its script, unless the latest published
    version already has the same content (then return that one).

    ``script_model``/``item_model`` let a data migration pass its historical models.
    """
    definition = script_definition_clean(definition, source=source)
    digest = script_content_sha256(definition)
    with transaction.atomic():
        latest = (
            script_model.objects.select_for_update()
            .filter(code=definition["code"])
            .order_by("-version")
            .first()
        )
        published = (
            script_model.objects.filter(code=definition["code"], published_at__isnull=False)
            .order_by("-version")
            .first()
        )
        if published is not None and published.content_sha256 == digest:
            return PublishResult(published, False)
        # Items are written before the version is marked published: once it is, nothing changes.
        script = script_model.objects.create(
            code=definition["code"],
            version=(latest.version + 1) if latest else 1,
            name=definition["name"],
            task_kind=definition["task_kind"],
            content_sha256=digest,
        )
        item_model.objects.bulk_create([item_model(script=script, **item) for item in definition["items"]])
        script.published_at = timezone.now()
        script.save(update_fields=["published_at"])
        if audit:
            audit_record(
                SCRIPT_PUBLISHED,
                actor=actor,
                subject=script,
                data={
                    "code": script.code,
                    "version": script.version,
                    "items": len(definition["items"]),
                    "content_sha256": digest,
                    "source": source,
                },
            )
    return PublishResult(script, True)


def script_file_read(path: Path | str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def script_pack_files(directory: Path | str = SCRIPT_PACKS_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


def script_packs_load(
    paths=None, *, actor=None, script_model=Script, item_model=ScriptItem, audit: bool = True
) -> list[PublishResult]:
    """Publish every definition in ``paths`` (default: the shipped script packs). Idempotent."""
    results = []
    for path in paths if paths is not None else script_pack_files():
        path = Path(path)
        results.append(
            script_publish(
                script_file_read(path),
                actor=actor,
                source=path.name,
                script_model=script_model,
                item_model=item_model,
                audit=audit,
            )
        )
    return results


# ---- editing from the administrator screens (/setup/) -------------------------------------------


def script_definition_of(script: Script) -> dict:
    """A published version as a definition (the YAML shape ``script_definition_clean`` reads), for
    an administrator to edit into the next version."""
    return {
        "code": script.code,
        "name": script.name,
        "task_kind": script.task_kind,
        "items": [
            {
                "code": item.code,
                "rule_id": item.rule_id,
                "text": item.text,
                "mandatory": item.mandatory,
                "expected": item.expected,
                **({"problem_category": item.problem_category} if item.problem_category else {}),
                **({"conditions": item.conditions} if item.conditions else {}),
                **({"is_identity_check": True} if item.is_identity_check else {}),
            }
            for item in script.items.order_by("position", "id")
        ],
    }


def script_definition_yaml(definition: dict) -> str:
    """``definition`` as YAML text (Chinese kept readable, keys in the documented order)."""
    return yaml.safe_dump(definition, allow_unicode=True, sort_keys=False, width=100)


def script_definition_render(definition: dict, policy, *, customer=None) -> list[RenderedItem]:
    """``script_render`` for a definition that is not published yet (a draft being previewed):
    ``definition`` as returned by ``script_definition_clean``."""
    facts = policy_facts(policy)
    values = template_values(policy, customer)
    rendered = []
    for item in definition["items"]:
        text = template_render(item["text"], values)
        rendered.append(
            RenderedItem(
                code=item["code"],
                position=item["position"],
                text=text,
                mandatory=item["mandatory"],
                expected=item["expected"],
                visible=condition_holds(item["conditions"], facts),
                rule_id=item["rule_id"],
                text_sha256=text_sha256(text),
                problem_category=item["problem_category"],
                is_identity_check=item["is_identity_check"],
            )
        )
    return rendered
