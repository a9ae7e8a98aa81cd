"""Callback KPIs against the hand-built month in conftest.py; every expected number is worked out
by hand in the comment beside it."""

from dataclasses import replace
from datetime import date

import pytest
from django.http import Http404

from huifang.reports.kpis import KpiFilters, Ratio, kpi_callbacks
from tests.reports.conftest import MARCH, TODAY

pytestmark = pytest.mark.django_db


def kpis(viewer, **filters):
    return kpi_callbacks(viewer, KpiFilters(*MARCH, **filters), today=TODAY)


def test_a_supervisor_sees_guangdong(world, users):
    k = kpis(users["supervisor"])  # 广东: GZ + SZ
    # due in March: T1–T12 = 12 (T15 is due in April, T16 in February; T13/T14 are in 江苏)
    assert k.due == 12
    # success T1 T2 T3 T10 T11 = 5; refused T4 T12 = 2; cancelled T5 = 1; failed T6; problem T7; open T8 T9
    assert (k.success, k.refused, k.cancelled_before_callback) == (5, 2, 1)
    assert (k.failed, k.problem_found, k.open) == (1, 1, 2)
    # KP-01: 5 / (12 − 2 − 1) = 5/9
    assert k.success_rate == Ratio("KP-01", 5, 9)
    assert k.success_rate.value == pytest.approx(0.5556, abs=1e-4)
    assert k.success_below_target is True  # 55.6 % < 90 % (KP-02)
    # in cooling-off: T1 T3 T10 T11 = 4 → 4/9 (T2 succeeded after it)
    assert k.success_in_cooling_off == Ratio("BS-12", 4, 9)
    # coverage: required Pa Pb Pc Ph (GZ) + Pi (SZ) = 5; with a new-policy task Pa Pb Pi = 3 → 3/5
    assert k.coverage == Ratio("BS-12", 3, 5)
    # KP-03: called back = 5 success + 1 failed + 2 refused + 1 problem = 9 (T5 was never called);
    # last attempt letter/visit: T2 (letter), T6 (visit) = 2 (T10's letter came before its phone call)
    assert k.letter_visit_share == Ratio("KP-03", 2, 9)
    assert k.letter_visit_alert is True  # 22 % > 10 %
    # BS-17: due in March PC1–PC6 = 6; resolved PC1 PC2 PC3 PC6 = 4; on time PC2 PC3 = 2 → 2/4
    # (PC1 resolved 03-21 07:00 Shanghai is late, though it is still 03-20 in UTC)
    assert k.problem_cases_due == 6
    assert k.problem_cases_on_time == Ratio("BS-17", 2, 4)
    assert k.problem_cases_open_overdue == 1  # PC4 (due 03-25); PC5 is due today
    # attempts: T1 2 + T2 4 + T3 1 + T4 1 + T6 4 + T7 1 + T8 1 + T10 2 + T11 1 + T12 1 = 18 (draft not
    # counted) → 18 / 5 successes = 3.6
    assert k.attempts_per_success == Ratio("", 18, 5)
    assert k.attempts_per_success.value == pytest.approx(3.6)


def test_the_auditor_sees_every_org_unit(world, users):
    k = kpis(users["auditor"])
    # + NJ: T13 success (in cooling-off), T14 failed → due 14, success 6
    assert (k.due, k.success, k.refused, k.cancelled_before_callback) == (14, 6, 2, 1)
    assert k.success_rate == Ratio("KP-01", 6, 11)  # 6 / (14 − 2 − 1)
    assert k.success_in_cooling_off == Ratio("BS-12", 5, 11)  # 4 + T13
    assert k.coverage == Ratio("BS-12", 3, 6)  # + Pj required, no task
    assert k.letter_visit_share == Ratio("KP-03", 3, 11)  # + T14 (letter); called back 9 + 2
    assert k.problem_cases_on_time == Ratio("BS-17", 3, 5)  # + PC8 resolved on time
    assert (k.problem_cases_due, k.problem_cases_open_overdue) == (7, 1)
    assert k.attempts_per_success == Ratio("", 20, 6)  # 18 + T13 1 + T14 1


def test_an_org_unit_subtree(world, users, org_tree):
    k = kpis(users["supervisor"], org_unit=org_tree["SZ"])
    # SZ: T11 success, T12 refused → 1 / (2 − 1 − 0) = 1/1
    assert (k.due, k.success, k.refused) == (2, 1, 1)
    assert k.success_rate == Ratio("KP-01", 1, 1)
    assert k.success_below_target is False
    assert k.success_in_cooling_off == Ratio("BS-12", 1, 1)
    assert k.coverage == Ratio("BS-12", 1, 1)  # Pi
    assert k.letter_visit_share == Ratio("KP-03", 0, 2)
    assert k.letter_visit_alert is False
    assert k.problem_cases_on_time == Ratio("BS-17", 0, 1)  # PC6 late
    assert k.attempts_per_success == Ratio("", 2, 1)
    # The head office's figures equal the auditor's view.
    everything = kpis(users["auditor"])
    assert replace(kpis(users["auditor"], org_unit=org_tree["HO"]), filters=everything.filters) == everything


def test_an_org_unit_outside_the_viewer_is_not_found(world, users, org_tree):
    with pytest.raises(Http404):
        kpis(users["supervisor"], org_unit=org_tree["NJ"])
    with pytest.raises(Http404):
        kpis(users["supervisor"], org_unit=org_tree["HO"])  # above them


def test_an_agent(world, users):
    k = kpis(users["supervisor"], agent=users["agent"])
    # assigned to "agent": T1 success (in cooling-off), T2 success, T4 refused → 2 / (3 − 1) = 2/2
    assert (k.due, k.success, k.refused) == (3, 2, 1)
    assert k.success_rate == Ratio("KP-01", 2, 2)
    assert k.success_in_cooling_off == Ratio("BS-12", 1, 2)
    assert k.coverage is None  # coverage is about policies, not an agent's work
    assert k.letter_visit_share == Ratio("KP-03", 1, 3)  # T2
    assert k.attempts_per_success == Ratio("", 7, 2)  # 2 + 4 + 1
    assert k.problem_cases_on_time == Ratio("BS-17", 0, 0)  # the agent handles none
    assert k.problem_cases_on_time.value is None


def test_a_problem_handler_and_an_empty_denominator(world, users):
    k = kpis(users["supervisor"], agent=users["problem_handler"])
    assert k.due == 0 and k.success_rate.value is None and k.success_below_target is None
    assert k.attempts_per_success.value is None
    assert k.problem_cases_on_time == Ratio("BS-17", 1, 1)  # PC2: resolved 23:30 on its due day


def test_the_sales_channel(world, users):
    k = kpis(users["supervisor"], channel="agency")
    # T12 only, refused: denominator 1 − 1 − 0 = 0 → no rate, not 0 %
    assert (k.due, k.refused) == (1, 1)
    assert k.success_rate == Ratio("KP-01", 0, 0) and k.success_rate.value is None
    assert k.coverage == Ratio("BS-12", 0, 0)  # every coverage policy was sold through the bank
    assert k.problem_cases_on_time == Ratio("BS-17", 0, 1)  # PC6 on T12
    bank = kpis(users["supervisor"], channel="bank")
    assert bank.due == 11 and bank.success_rate == Ratio("KP-01", 5, 9)  # 5 / (11 − 1 − 1)


def test_a_product_and_a_kind(world, users):
    k = kpis(users["supervisor"], product=world["products"]["ul"])
    assert (k.due, k.success) == (1, 1)  # T11
    assert k.coverage == Ratio("BS-12", 0, 0)
    health = kpis(users["supervisor"], product=world["products"]["health"])
    assert health.due == 0 and health.coverage == Ratio("BS-12", 2, 2)  # Pb, Pi
    claims = kpis(users["supervisor"], kind="claim_closed")
    assert claims.due == 0 and claims.coverage is None


def test_the_callback_channel(world, users):
    # The task's current channel: T6 is on visit (failed) → 0 / (1 − 0 − 0)
    k = kpis(users["supervisor"], callback_channel="visit")
    assert (k.due, k.failed) == (1, 1)
    assert k.success_rate == Ratio("KP-01", 0, 1)
    assert k.letter_visit_share == Ratio("KP-03", 1, 1)
    assert k.coverage is None


def test_a_period_is_by_due_date(world, users):
    k = kpi_callbacks(users["supervisor"], KpiFilters(date(2026, 2, 1), date(2026, 4, 1)), today=TODAY)
    assert k.due == 14  # + T15 (04-01) and T16 (02-28)
    assert k.success_rate == Ratio("KP-01", 6, 11)  # (5 + T15) / (14 − 2 − 1)
    assert k.attempts_per_success == Ratio("", 20, 6)  # 18 + 1 + 1


def test_the_figures_are_a_fixed_number_of_aggregate_queries(world, users, django_assert_max_num_queries):
    # The viewer's permissions (2) and org units (1, 2 with an agent's), then one grouped scan of
    # the tasks (statuses, KP-03 and attempts from the attempt facts on the task row), coverage
    # (2) and problem cases: no query per row, no join to the attempts.
    with django_assert_max_num_queries(7):
        kpis(users["supervisor"])
    with django_assert_max_num_queries(8):
        kpis(users["auditor"], channel="bank", product=world["products"]["life"], agent=users["agent"])


def test_attempt_facts_follow_attempts_added_after_the_fact(world, users):
    from huifang.callbacks.models import Attempt, CallbackTask
    from tests.callbacks.kpi_factories import at

    before = kpis(users["supervisor"])
    # A late letter on a succeeded task, started after its deciding attempt: it now decides (KP-03).
    t = CallbackTask.objects.filter(status="success", due_date__range=MARCH, org_unit__code="GZ")
    t = t.exclude(last_attempt_channel__in=["letter", "visit"]).order_by("pk").first()
    Attempt.objects.create(
        task=t,
        channel="letter",
        started_at=at(date(2026, 3, 30)),
        disposition="reached",
        submitted_at=at(date(2026, 3, 30)),
    )
    after = kpis(users["supervisor"])
    assert after.attempts_per_success.numerator == before.attempts_per_success.numerator + 1
    assert after.letter_visit_share.numerator == before.letter_visit_share.numerator + 1
