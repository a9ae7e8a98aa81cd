"""Why a callback task is due when it is: the ``due_explanation`` dict and its text.

Every generated task stores, in ``CallbackTask.due_explanation``, the facts its due date was
computed from (DESIGN.md §4: a deadline on screen says why it is that date)::

    {"rule": "BS-12", "rule_version": 1, "base": "receipt", "base_date": "2026-02-05",
     "amount": 15, "unit": "days", "due": "2026-02-20", "cites": "CO-03 · BS-12"}

and this module turns it into words, in English and Chinese::

    due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12
    应于 2026-02-20 前完成 = 回执签收 2026-02-05 + 15 天 · CO-03 · BS-12

``unit`` is ``days`` (calendar days, counted from the day after the base date) or
``working_days`` (the working-day calendar, 调休 included; RULES.md "Working days"). Daily-list
tasks (KP-08) also carry ``list`` (satisfaction, retention, renewal) and what the list is about
(``serviced_on``, ``expires_on``). The dict is built in SQL by the set-based generator and in
Python by ``due_explanation`` (recomputation); both give the same keys.
"""

from __future__ import annotations

from datetime import date

# base → (English, Chinese)
BASES = {
    "receipt": ("receipt", "回执签收"),
    "departure": ("salesperson departed", "业务员离司"),
    "claim_closed": ("claim closed", "理赔结案"),
    "service_completed": ("policy service completed", "保全完成"),
    "lapse": ("lapse", "保单失效"),
    "list": ("daily list", "清单日"),
}
UNITS = {
    "days": ("days", "天"),
    "working_days": ("working days", "个工作日"),
}
LISTS = {
    "satisfaction": ("satisfaction, serviced on", "满意度回访，服务日"),
    "retention": ("retention, no contact since", "客户关怀，未联系自"),
    "renewal": ("renewal or expiry on", "续期/满期日"),
}


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def due_explanation(
    *,
    rule: str,
    rule_version: int | None,
    base: str,
    base_date: date,
    amount: int,
    unit: str,
    due: date,
    cites: str,
    **extra,
) -> dict:
    """The stored explanation of a due date (see the module docstring)."""
    out = {
        "rule": rule,
        "rule_version": rule_version,
        "base": base,
        "base_date": _iso(base_date),
        "amount": amount,
        "unit": unit,
        "due": _iso(due),
        "cites": cites,
    }
    out.update({k: _iso(v) if isinstance(v, date) else v for k, v in extra.items() if v is not None})
    return out


def due_explanation_text(explanation: dict | None, lang: str = "en") -> str:
    """One line: "due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12" (``lang="zh"``:
    "应于 2026-02-20 前完成 = 回执签收 2026-02-05 + 15 天 · CO-03 · BS-12"). Empty for no dict."""
    if not explanation:
        return ""
    zh = lang.lower().startswith("zh")
    i = 1 if zh else 0
    base = BASES.get(explanation.get("base"), (explanation.get("base", ""),) * 2)[i]
    unit = UNITS.get(explanation.get("unit"), (explanation.get("unit", ""),) * 2)[i]
    due, base_date, amount = explanation.get("due"), explanation.get("base_date"), explanation.get("amount")
    cites = explanation.get("cites") or explanation.get("rule", "")
    head = f"应于 {due} 前完成" if zh else f"due {due}"
    text = f"{head} = {base} {base_date} + {amount} {unit}"
    listed = explanation.get("list")
    about = (
        explanation.get("serviced_on") or explanation.get("expires_on") or explanation.get("no_contact_since")
    )
    if listed in LISTS and about:
        text += f" ({LISTS[listed][i]} {about})" if not zh else f"（{LISTS[listed][i]} {about}）"
    return f"{text} · {cites}"


def task_explain(task) -> dict:
    """A task's explanation for screens and the API: the stored dict, its text in both languages,
    and the rule version (citation, certainty) that set the date."""
    explanation = task.due_explanation or {}
    out = {
        "due_date": _iso(task.due_date),
        "explanation": explanation,
        "text": due_explanation_text(explanation, "en"),
        "text_zh": due_explanation_text(explanation, "zh"),
        "rule_id": task.rule_id,
        "recomputed_at": task.due_recomputed_at.isoformat() if task.due_recomputed_at else None,
        "calendar_revision": task.calendar_revision,
    }
    rule = task.rule_version
    if rule is not None:
        out["rule"] = {
            "rule_id": rule.rule_id,
            "version": rule.version,
            "pack": rule.pack.code,
            "title": rule.title,
            "citation": rule.citation,
            "certainty": rule.certainty,
            "params": rule.params,
            "superseded": rule.superseded_at is not None,
        }
    return out
