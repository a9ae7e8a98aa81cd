"""Conditions: the Python evaluation and the SQL compilation agree (hypothesis, against the database)."""

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.rules.conditions import (
    ConditionsInvalid,
    condition_parse,
    conditions_check,
    conditions_hold,
    conditions_sql,
)

FACT_SQL = {
    "is_group": "f.is_group",
    "line": "f.line",
    "applicant_age": "f.applicant_age",
    "status": "f.status",
}
LINES = ["life", "health", "accident"]
STATUSES = ["in_force", "lapsed"]


def test_parse_shapes():
    assert condition_parse("line_in", ["life"]).op == "in"
    assert condition_parse("channel_not_in", ["bank"]).op == "not_in"
    assert condition_parse("min_applicant_age", 65).op == "min"
    assert condition_parse("max_term_years", 1).fact == "term_years"
    assert condition_parse("is_group", False).op == "eq"
    for key, value in [
        ("colour", "red"),
        ("line_in", "life"),
        ("line_in", []),
        ("min_applicant_age", "65"),
        ("min_applicant_age", True),
        ("status", ["a"]),
        ("Bad-Key", 1),
    ]:
        with pytest.raises(ConditionsInvalid):
            condition_parse(key, value)


def test_python_semantics():
    facts = {"line": "life", "applicant_age": 70, "is_group": False, "status": None}
    assert conditions_hold({}, facts)
    assert conditions_hold({"line_in": ["life", "health"], "min_applicant_age": 65, "is_group": False}, facts)
    assert not conditions_hold({"max_applicant_age": 65}, facts)
    assert conditions_hold({"status": None}, facts)
    assert not conditions_hold({"status_in": ["in_force"]}, facts)  # unknown never matches a list
    assert not conditions_hold({"status_not_in": ["lapsed"]}, facts)  # … nor its negation
    assert conditions_check({"min_applicant_age": 65}, facts) == [
        {
            "condition": "min_applicant_age",
            "fact": "applicant_age",
            "expected": 65,
            "actual": 70,
            "holds": True,
        }
    ]


conditions = st.dictionaries(
    st.sampled_from(
        [
            "is_group",
            "line",
            "line_in",
            "line_not_in",
            "status",
            "status_in",
            "min_applicant_age",
            "max_applicant_age",
        ]
    ),
    st.none(),
    max_size=4,
).flatmap(
    lambda keys: st.fixed_dictionaries(
        {
            k: {
                "is_group": st.booleans(),
                "line": st.sampled_from(LINES),
                "line_in": st.lists(st.sampled_from(LINES), min_size=1, max_size=2),
                "line_not_in": st.lists(st.sampled_from(LINES), min_size=1, max_size=2),
                "status": st.sampled_from(STATUSES),
                "status_in": st.lists(st.sampled_from(STATUSES), min_size=1, max_size=2),
                "min_applicant_age": st.integers(0, 100),
                "max_applicant_age": st.integers(0, 100),
            }[k]
            for k in keys
        }
    )
)
facts = st.fixed_dictionaries(
    {
        "is_group": st.booleans(),
        "line": st.one_of(st.none(), st.sampled_from(LINES)),
        "applicant_age": st.one_of(st.none(), st.integers(0, 100)),
        "status": st.sampled_from(STATUSES),
    }
)


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conds=conditions, fact_values=facts)
def test_sql_agrees_with_python(conds, fact_values):
    pg = connection.vendor == "postgresql"
    cast = (lambda t: f"CAST(%s AS {t})") if pg else (lambda t: "%s")
    select = (
        f"SELECT {cast('boolean')} AS is_group, {cast('text')} AS line, "
        f"{cast('integer')} AS applicant_age, {cast('text')} AS status"
    )
    where, params = conditions_sql(conds, FACT_SQL)
    sql = f"SELECT CASE WHEN {where} THEN 1 ELSE 0 END FROM ({select}) f"
    row_params = [
        fact_values["is_group"],
        fact_values["line"],
        fact_values["applicant_age"],
        fact_values["status"],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params + row_params)  # the WHERE comes first in the text
        in_sql = cursor.fetchone()[0] == 1
    assert in_sql == conditions_hold(conds, fact_values), (conds, fact_values, where)
