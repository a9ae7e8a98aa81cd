"""Properties of the working-day arithmetic (hypothesis), on the seeded 2004–2026 calendar.

The calendar rows come from the data migration and are only read here, so one database per test
function serves every example.
"""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.core.calendar.services import (
    add_calendar_days,
    add_working_days,
    calendar_cache_clear,
    is_working_day,
    working_days_between,
)

pytestmark = pytest.mark.django_db

dates = st.dates(min_value=date(2005, 1, 1), max_value=date(2026, 6, 30))
counts = st.integers(min_value=0, max_value=60)
examples = settings(
    deadline=None,
    max_examples=150,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def fresh_cache():
    calendar_cache_clear()
    yield
    calendar_cache_clear()


@examples
@given(d=dates, a=counts, b=counts)
def test_adding_working_days_composes(d, a, b):
    assert add_working_days(add_working_days(d, a), b) == add_working_days(d, a + b)


@examples
@given(d=dates, n=st.integers(min_value=1, max_value=60))
def test_result_is_a_working_day_after_the_start(d, n):
    due = add_working_days(d, n)
    assert due > d
    assert is_working_day(due)


@examples
@given(d=dates, n=counts)
def test_between_is_the_reverse_of_add(d, n):
    assert working_days_between(d, add_working_days(d, n)) == n


@examples
@given(d=dates, n=st.integers(min_value=1, max_value=60))
def test_add_is_the_first_day_reaching_the_count(d, n):
    due = add_working_days(d, n)
    assert working_days_between(d, due - timedelta(days=1)) == n - 1


@examples
@given(d=dates, e=dates)
def test_between_is_antisymmetric_and_additive(d, e):
    assert working_days_between(d, e) == -working_days_between(e, d)
    middle = min(d, e) + (max(d, e) - min(d, e)) // 2
    lo, hi = min(d, e), max(d, e)
    assert working_days_between(lo, hi) == working_days_between(lo, middle) + working_days_between(middle, hi)


@examples
@given(d=dates, n=st.integers(min_value=-400, max_value=400))
def test_add_calendar_days_is_timedelta(d, n):
    assert add_calendar_days(d, n) == d + timedelta(days=n)


@examples
@given(d=dates, n=st.integers(min_value=1, max_value=60))
def test_negative_counts_walk_back(d, n):
    back = add_working_days(add_working_days(d, n), -n)
    # Back to d itself, or to the last working day before it when d is not one.
    assert back == (d if is_working_day(d) else add_working_days(d, -1))
