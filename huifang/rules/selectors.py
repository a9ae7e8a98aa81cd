"""Reading rules: which version of a rule is in force on a day, its parameters, whether it applies
to a record's facts, and why.

``rule_active("KP-07", on=date(2026, 2, 12))`` returns the ``Rule`` version in force that day:
among the current (not superseded) versions in active packs whose effective dates include the day,
the one from the pack with the highest precedence (insurer > local > national), then the latest
``effective_from``. ``None`` if no pack has the rule for that day.

Parameters other apps read (names are part of the packs' contract)::

    rule_param("BS-17", "working_days")                    # 15: problem case deadline
    rule_param("RC-08", "working_days")                    # 15: QA defect deadline
    rule_param("KP-04", "max_attempts")                    # 3 phone attempts (insurer pack)
    rule_param("EC-05", "working_days_before_cooling_off_end")  # 5: e-callback gives way to phone
    rule_param("CL-01", "quiet_start"), rule_param("CL-01", "quiet_end")  # "21:00", "09:00"
    rule_param("KP-02", "target_percent"), rule_param("KP-03", "max_percent")

Cache: each process keeps the current rules in memory, keyed on a signature of the rule tables
(row count, highest id, latest supersession, pack flags) that is re-read — one small query — on
every lookup. A change in any process, and a rolled-back change, is therefore seen at once, and the
per-lookup cost is that query. ``rules_cache_clear()`` drops the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from huifang.rules.conditions import conditions_check, conditions_hold
from huifang.rules.models import Rule, RulePack

_lock = threading.Lock()
_cache: dict = {"signature": None, "by_id": {}}


@dataclass(frozen=True)
class _Candidate:
    precedence: int
    start: date | None
    end: date | None
    rule: Rule

    def covers(self, on: date) -> bool:
        return (self.start is None or self.start <= on) and (self.end is None or on <= self.end)

    @property
    def order(self):
        return (self.precedence, self.start or date.min, self.rule.version)


def rules_cache_clear() -> None:
    with _lock:
        _cache["signature"] = None
        _cache["by_id"] = {}


def _signature() -> tuple:
    rules = Rule.objects.aggregate(n=Count("id"), top=Max("id"), sup=Max("superseded_at"))
    packs = RulePack.objects.aggregate(
        n=Count("id"),
        active=Count("id", filter=Q(active=True)),
        prec=Sum("precedence"),
        loaded=Max("loaded_at"),
    )
    return (
        rules["n"],
        rules["top"],
        rules["sup"],
        packs["n"],
        packs["active"],
        packs["prec"],
        packs["loaded"],
    )


def _current() -> dict[str, list[_Candidate]]:
    signature = _signature()
    with _lock:
        if _cache["signature"] == signature:
            return _cache["by_id"]
    by_id: dict[str, list[_Candidate]] = {}
    for rule in Rule.objects.filter(superseded_at__isnull=True, pack__active=True).select_related("pack"):
        by_id.setdefault(rule.rule_id, []).append(
            _Candidate(rule.pack.precedence, rule.effective_from, rule.effective_to, rule)
        )
    for items in by_id.values():
        items.sort(key=lambda c: c.order, reverse=True)
    with _lock:
        _cache["signature"] = signature
        _cache["by_id"] = by_id
    return by_id


def _winner(candidates: list[_Candidate], on: date) -> Rule | None:
    for c in candidates:  # sorted: precedence, then latest effective_from, then version
        if c.covers(on):
            return c.rule
    return None


def rule_active(rule_id: str, on: date | None = None) -> Rule | None:
    """The version of ``rule_id`` in force on ``on`` (today in Asia/Shanghai by default)."""
    on = on or timezone.localdate()
    return _winner(_current().get(rule_id, []), on)


def rule_param(rule_id: str, key: str, default=None, on: date | None = None):
    """One parameter of the rule in force (``default`` if the rule or the parameter is missing)."""
    rule = rule_active(rule_id, on)
    if rule is None:
        return default
    return rule.params.get(key, default)


def rule_timeline(rule_id: str, start: date, end: date) -> list[tuple[date, date, Rule]]:
    """The versions of ``rule_id`` in force from ``start`` to ``end`` (inclusive), as
    ``(first day, last day, rule)`` segments in order; days with no version are left out."""
    candidates = _current().get(rule_id, [])
    if not candidates or end < start:
        return []
    bounds = {start}
    for c in candidates:
        if c.start and start < c.start <= end:
            bounds.add(c.start)
        if c.end and start <= c.end < end:
            bounds.add(c.end + timedelta(days=1))
    points = sorted(bounds)
    segments: list[tuple[date, date, Rule]] = []
    for i, first in enumerate(points):
        last = points[i + 1] - timedelta(days=1) if i + 1 < len(points) else end
        rule = _winner(candidates, first)
        if rule is None:
            continue
        if segments and segments[-1][2].pk == rule.pk and segments[-1][1] + timedelta(days=1) == first:
            segments[-1] = (segments[-1][0], last, rule)
        else:
            segments.append((first, last, rule))
    return segments


def rule_versions_in_force(rule_id: str) -> set[int]:
    """Ids of the versions of ``rule_id`` that are in force on at least one day (any date)."""
    candidates = _current().get(rule_id, [])
    points = {date.min}
    for c in candidates:
        if c.start:
            points.add(c.start)
        if c.end and c.end < date.max:
            points.add(c.end + timedelta(days=1))
    return {rule.pk for rule in (_winner(candidates, p) for p in points) if rule is not None}


def rule_ids_current() -> list[str]:
    return sorted(_current())


def rule_applies(rule: Rule | None, facts: dict) -> bool:
    """True if ``rule`` exists and its conditions hold for ``facts`` (see rules.conditions)."""
    return rule is not None and conditions_hold(rule.conditions, facts)


def rule_list(*, current_only: bool = True):
    qs = Rule.objects.select_related("pack").order_by("rule_id", "-pack__precedence", "-version")
    if current_only:
        qs = qs.filter(superseded_at__isnull=True)
    return qs


def rule_history(rule_id: str):
    """Every version of ``rule_id`` in every pack, newest first."""
    return (
        Rule.objects.filter(rule_id=rule_id)
        .select_related("pack", "created_by")
        .order_by("-pack__precedence", "-version")
    )


def rule_citation_text(rule: Rule) -> str:
    """ "BS-17 v1: <title> · 人身保险业务基本服务规定 … Art. 18 (law)"."""
    return f"{rule.rule_id} v{rule.version}: {rule.title} · {rule.citation} ({rule.certainty})"


def rule_explain(rule_or_id: Rule | str, facts: dict | None = None, on: date | None = None) -> dict:
    """Why a rule is what it is, and whether it applies to ``facts``.

    Gives the version in force (pack, precedence, citation, certainty, params, dates), the versions
    it shadows in lower-precedence packs, and, with ``facts``, each condition with the fact's value
    and whether it holds.
    """
    on = on or timezone.localdate()
    if isinstance(rule_or_id, Rule):
        rule, rule_id = rule_or_id, rule_or_id.rule_id
    else:
        rule_id, rule = rule_or_id, rule_active(rule_or_id, on)
    out: dict = {"rule_id": rule_id, "on": on.isoformat(), "in_force": rule is not None}
    if rule is None:
        out["text"] = f"{rule_id}: no version in force on {on.isoformat()}"
        return out
    out.update(
        {
            "version": rule.version,
            "rule_pk": rule.pk,
            "pack": rule.pack.code,
            "pack_kind": rule.pack.kind,
            "precedence": rule.pack.precedence,
            "title": rule.title,
            "citation": rule.citation,
            "certainty": rule.certainty,
            "effect": rule.effect,
            "params": rule.params,
            "conditions": rule.conditions,
            "effective_from": rule.effective_from.isoformat() if rule.effective_from else None,
            "effective_to": rule.effective_to.isoformat() if rule.effective_to else None,
            "shadows": [
                {"pack": c.rule.pack.code, "version": c.rule.version, "params": c.rule.params}
                for c in _current().get(rule_id, [])
                if c.rule.pk != rule.pk and c.covers(on)
            ],
            "text": rule_citation_text(rule),
        }
    )
    if facts is not None:
        checks = conditions_check(rule.conditions, facts)
        out["checks"] = checks
        out["applies"] = all(c["holds"] for c in checks)
    return out


# ---- for the administrator screens (/setup/) ----------------------------------------------------


def rule_pack_overview() -> list[dict]:
    """Each pack with its number of rules in force (current versions) and of versions kept."""
    packs = RulePack.objects.annotate(
        current=Count("rules", filter=Q(rules__superseded_at__isnull=True)),
        versions=Count("rules"),
    ).order_by("-precedence", "code")
    return [{"pack": p, "current": p.current, "versions": p.versions} for p in packs]


def rule_get(pk: int) -> Rule | None:
    """One rule version with its pack (None if there is none)."""
    return Rule.objects.select_related("pack", "created_by").filter(pk=pk).first()


def rule_current_of(rule: Rule) -> Rule | None:
    """The current version of ``rule`` in its pack with the same start (itself if it is current)."""
    if rule.superseded_at is None:
        return rule
    return (
        Rule.objects.select_related("pack")
        .filter(pack=rule.pack_id, rule_id=rule.rule_id, superseded_at__isnull=True)
        .order_by("-version")
        .first()
    )


def rule_preview(rule: Rule, policy, *, base_date: date | None = None, today: date | None = None) -> dict:
    """What ``rule`` — a stored version or a proposed, unsaved one — gives for ``policy`` (a stored
    policy or an unsaved sample): whether its conditions hold (each with the policy's value), and
    the date it sets, as a ``due_explanation`` dict (huifang.callbacks.explain), e.g.
    "due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12".

    ``base_date`` is the day the counted event happened (a claim closed, a problem found, a
    salesperson left; default today); a new-policy callback counts from the policy's receipt.
    ``errors`` says why a date could not be computed (no receipt date, calendar year unconfirmed).
    """
    from huifang.callbacks.explain import due_explanation
    from huifang.callbacks.generation import BASE_LABELS, _due_terms, policy_rule_facts
    from huifang.core.calendar.services import CalendarYearUnconfirmed, add_calendar_days, add_working_days

    today = today or timezone.localdate()
    base_date = base_date or today
    facts = policy_rule_facts(policy)
    checks = conditions_check(rule.conditions, facts)
    params = rule.params or {}
    dates: list[dict] = []
    errors: list[str] = []

    def counted(day: date, amount: int, unit: str) -> date:
        return add_working_days(day, amount) if unit == "working_days" else add_calendar_days(day, amount)

    def add(**values) -> None:
        try:
            due = counted(values["base_date"], values["amount"], values["unit"])
        except CalendarYearUnconfirmed as exc:
            errors.append(str(exc))
            return
        dates.append(due_explanation(rule=rule.rule_id, rule_version=rule.version, due=due, **values))

    kinds = params.get("task_kind")
    if rule.effect == "callback_task" and kinds:
        for kind in kinds if isinstance(kinds, list) else [kinds]:
            if kind == "new_policy":
                # CO-03: due on the cooling-off end, the receipt plus the product's days.
                if policy.receipt_date is None or policy.cooling_off_days is None:
                    errors.append("the policy has no receipt date, so it has no cooling-off end yet")
                    continue
                add(
                    base="receipt",
                    base_date=policy.receipt_date,
                    amount=policy.cooling_off_days,
                    unit="days",
                    cites=f"CO-03 · {rule.rule_id}",
                )
                continue
            try:
                amount, unit, cites = _due_terms(kind, rule, today)
            except (TypeError, ValueError):
                errors.append(f"{kind}: the parameters do not give a number of days")
                continue
            add(
                base=BASE_LABELS.get(kind, "list"), base_date=base_date, amount=amount, unit=unit, cites=cites
            )
    elif isinstance(params.get("working_days"), int) or isinstance(params.get("days"), int):
        unit = "working_days" if isinstance(params.get("working_days"), int) else "days"
        amount = params["working_days" if unit == "working_days" else "days"]
        add(
            base=str(params.get("from") or "discovery"),
            base_date=base_date,
            amount=amount,
            unit=unit,
            cites=rule.rule_id,
        )
    elif rule.effect == "definition" and any(
        isinstance(params.get(k), int) for k in ("default_days", "min_days")
    ):
        # CO-01/CO-03: the cooling-off period counts from the day after the receipt.
        key = "default_days" if isinstance(params.get("default_days"), int) else "min_days"
        if policy.receipt_date is None:
            errors.append("the policy has no receipt date, so it has no cooling-off end yet")
        else:
            add(
                base="receipt",
                base_date=policy.receipt_date,
                amount=params[key],
                unit="days",
                cites=rule.rule_id,
            )
    day = policy.receipt_date if kinds == "new_policy" and policy.receipt_date else base_date
    in_force = (rule.effective_from is None or rule.effective_from <= day) and (
        rule.effective_to is None or day <= rule.effective_to
    )
    return {
        "rule": rule,
        "facts": facts,
        "checks": checks,
        "applies": all(c["holds"] for c in checks),
        "dates": dates,
        "errors": errors,
        "on": day,
        "in_force": in_force,
    }
