"""Rule conditions: when a rule applies, as data.

A rule's ``conditions`` is a flat mapping; every entry must hold for the rule to apply::

    {"is_group": false,                 # equality (None matches a missing/unknown fact only as IS NULL)
     "line_in": ["life", "health"],     # the fact is one of the values
     "channel_not_in": ["group"],       # the fact is known and none of the values
     "min_applicant_age": 65,           # numeric lower bound, inclusive
     "max_term_years": 1}               # numeric upper bound, inclusive

An unknown fact (``None`` or missing) never satisfies ``_in``, ``_not_in``, ``min_`` or ``max_``:
a rule that needs a fact Huifang does not have does not silently apply. The same conditions are
evaluated in Python (``conditions_hold``, for one record) and compiled to SQL
(``conditions_sql``, for set-based task generation); both follow these semantics, and the tests
check them against each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The facts conditions may name (policy, product, customer, claim facts; see
# huifang.callbacks.generation.POLICY_FACTS for where each one comes from).
KNOWN_FACTS = frozenset(
    {
        "is_group",
        "is_long_term",
        "line",
        "product_kind",
        "channel",
        "status",
        "applicant_age",
        "high_risk",
        "payment_mode",
        "sale_recorded",
        "recording_required",
        "term_years",
        "has_receipt_date",
        "cooling_off_days",
    }
)

_KEY = re.compile(r"^(?:(?P<bound>min|max)_(?P<bfact>[a-z_]+)|(?P<fact>[a-z_]+?)(?P<op>_not_in|_in)?)$")


class ConditionsInvalid(ValueError):
    """A rule's conditions name an unknown fact or have a value of the wrong shape."""


@dataclass(frozen=True)
class Condition:
    fact: str
    op: str  # "eq", "in", "not_in", "min", "max"
    value: object
    key: str


def condition_parse(key: str, value) -> Condition:
    """Parse one ``key: value`` entry; raises ``ConditionsInvalid``."""
    match = _KEY.match(key)
    if not match:
        raise ConditionsInvalid(f"condition {key!r}: not a condition name")
    if match.group("bound"):
        fact, op = match.group("bfact"), match.group("bound")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConditionsInvalid(f"condition {key!r}: a bound must be a number, got {value!r}")
    else:
        fact = match.group("fact")
        op = {"_in": "in", "_not_in": "not_in", None: "eq"}[match.group("op")]
        if op in ("in", "not_in"):
            if not isinstance(value, list | tuple) or not value:
                raise ConditionsInvalid(f"condition {key!r}: expects a non-empty list, got {value!r}")
            value = tuple(value)
        elif isinstance(value, list | dict):
            raise ConditionsInvalid(f"condition {key!r}: expects a single value, got {value!r}")
    if fact not in KNOWN_FACTS:
        raise ConditionsInvalid(
            f"condition {key!r}: unknown fact {fact!r} (known: {', '.join(sorted(KNOWN_FACTS))})"
        )
    return Condition(fact, op, value, key)


def conditions_parse(conditions: Mapping | None) -> list[Condition]:
    """Parse (and so validate) a conditions mapping."""
    if conditions is None:
        return []
    if not isinstance(conditions, Mapping):
        raise ConditionsInvalid(f"conditions must be a mapping, got {type(conditions).__name__}")
    return [condition_parse(str(k), v) for k, v in conditions.items()]


def condition_holds(cond: Condition, facts: Mapping) -> bool:
    value = facts.get(cond.fact)
    if cond.op == "eq":
        if cond.value is None:
            return value is None
        return value is not None and value == cond.value
    if value is None:
        return False
    if cond.op == "in":
        return value in cond.value
    if cond.op == "not_in":
        return value not in cond.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= cond.value if cond.op == "min" else value <= cond.value


def conditions_hold(conditions: Mapping | None, facts: Mapping) -> bool:
    """True if every condition holds for ``facts`` (no conditions: always)."""
    return all(condition_holds(c, facts) for c in conditions_parse(conditions))


def conditions_check(conditions: Mapping | None, facts: Mapping) -> list[dict]:
    """Each condition with the fact's value and whether it holds (for explanations)."""
    return [
        {
            "condition": c.key,
            "fact": c.fact,
            "expected": list(c.value) if isinstance(c.value, tuple) else c.value,
            "actual": facts.get(c.fact),
            "holds": condition_holds(c, facts),
        }
        for c in conditions_parse(conditions)
    ]


def conditions_sql(conditions: Mapping | None, fact_sql: Mapping[str, str]) -> tuple[str, list]:
    """Compile conditions to a SQL boolean expression over ``fact_sql`` (fact → SQL expression).

    Returns ``(sql, params)``; no conditions give ``("1=1", [])``. A fact the caller cannot
    express in SQL makes the rule not apply (``1=0``), like an unknown fact in Python.
    """
    parts: list[str] = []
    params: list = []
    for c in conditions_parse(conditions):
        expr = fact_sql.get(c.fact)
        if expr is None:
            parts.append("1=0")
            continue
        if c.op == "eq":
            if c.value is None:
                parts.append(f"({expr}) IS NULL")
            else:
                parts.append(f"({expr}) = %s")
                params.append(c.value)
        elif c.op in ("in", "not_in"):
            marks = ", ".join(["%s"] * len(c.value))
            if c.op == "in":
                parts.append(f"({expr}) IN ({marks})")
            else:
                parts.append(f"(({expr}) IS NOT NULL AND ({expr}) NOT IN ({marks}))")
            params.extend(c.value)
        else:
            parts.append(f"({expr}) {'>=' if c.op == 'min' else '<='} %s")
            params.append(c.value)
    if not parts:
        return "1=1", []
    return "(" + " AND ".join(parts) + ")", params
