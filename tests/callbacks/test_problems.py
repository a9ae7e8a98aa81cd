"""Problem cases (EC-06, BS-17): numbers, the 15-working-day deadline across the Spring Festival,
the handler (nearest first, never the salesperson), resolution and on-time."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from huifang.callbacks.models import Attempt, ProblemCase
from huifang.callbacks.problems import (
    problem_case_due,
    problem_case_is_on_time,
    problem_case_open,
    problem_case_resolve,
    problem_handler_choose,
)
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.services import CalendarYearUnconfirmed
from huifang.core.permissions import Role
from huifang.rules.models import Rule, RulePack
from tests.callbacks.factories import local, policy_make, salesperson_make, task_make


@pytest.fixture(autouse=True)
def english():
    """The engine's messages are matched as written (their msgids); the zh_Hans catalogue translates them."""
    with translation.override("en"):
        yield


R = ProblemCase.Resolution


@pytest.fixture
def task(products, users):
    return task_make(policy_make(1))


def open_case(task, on=date(2026, 2, 10), category="surrender_loss", item="surrender_loss"):
    return problem_case_open(task, None, item, category, "BS-13(5): answered no", discovered_on=on)


def test_spring_festival_deadline_discovered_2026_02_13_is_due_2026_03_12(task):
    case = open_case(task, on=date(2026, 2, 13))
    assert case.discovered_on == date(2026, 2, 13)
    assert case.due_date == date(2026, 3, 12)  # RULES.md working-day vector
    assert case.due_explanation["text"] == "due 2026-03-12 = discovered 2026-02-13 + 15 WD · BS-17"


def test_discovery_day_is_the_shanghai_date_of_the_call(task, time_machine):
    # 2026-02-13 00:30 in Shanghai is still 2026-02-12 in UTC.
    time_machine.move_to(local(2026, 2, 13, 0, 40), tick=False)
    attempt = Attempt.objects.create(
        task=task,
        channel="phone",
        started_at=local(2026, 2, 13, 0, 30),
        ended_at=local(2026, 2, 13, 0, 35),
        disposition="reached",
    )
    case = problem_case_open(task, attempt, "cooling_off", "cooling_off_unknown", "BS-13(6)")
    assert case.discovered_on == date(2026, 2, 13) and case.due_date == date(2026, 3, 12)


def test_the_deadline_comes_from_the_rule_pack_when_it_sets_one(task):
    pack = RulePack.objects.create(
        code="test_strict", name="Stricter insurer rules", kind="insurer", precedence=999
    )
    Rule.objects.create(
        pack=pack, rule_id="BS-17", title="problem cases", citation="insurer", params={"working_days": 10}
    )
    due, explanation = problem_case_due(date(2026, 2, 13))
    assert explanation["working_days"] == 10 and due == date(2026, 3, 5)


def test_numbers_are_per_year_and_sequential(task):
    first = open_case(task)
    second = open_case(task)
    assert first.number == "PC2026000001" and second.number == "PC2026000002"
    assert open_case(task, on=date(2025, 12, 30)).number == "PC2025000001"  # the year of discovery
    ProblemCase.objects.filter(pk=second.pk).update(number="PC2026000123")
    assert open_case(task).number == "PC2026000124"


def test_a_deadline_in_an_unconfirmed_year_is_an_error_not_a_guess(task):
    with pytest.raises(CalendarYearUnconfirmed):
        open_case(task, on=date(2026, 12, 28))  # + 15 WD runs into 2027, not confirmed here
    assert not ProblemCase.objects.exists()


def test_opening_is_audited_without_pii(task):
    case = open_case(task)
    event = AuditEvent.objects.get(event_type="problem_case.opened", subject_id=str(case.pk))
    assert event.rule == "EC-06"
    assert event.data["number"] == case.number and event.data["due"] == "2026-03-09"
    assert "张三" not in str(event.data)


def test_the_nearest_handler_is_chosen(task, users, make_user):
    assert problem_handler_choose(task) == users["problem_handler"]  # GD, the city's province
    local_handler = make_user("gz_handler", Role.PROBLEM_HANDLER, "GZ")
    assert problem_handler_choose(task) == local_handler
    # Someone in another province, or below, never gets it.
    make_user("js_handler", Role.PROBLEM_HANDLER, "JS")
    assert open_case(task).handler == local_handler


def test_the_salesperson_is_never_the_handler(products, users, make_user):
    seller = make_user("seller_handler", Role.PROBLEM_HANDLER, "GZ")
    salesperson_make("S200", user=seller)
    task = task_make(policy_make(7, salesperson_code="S200"))
    case = open_case(task)
    assert case.handler == users["problem_handler"]


def test_no_handler_leaves_the_case_unassigned(products, org_tree):
    task = task_make(policy_make(1))
    assert open_case(task).handler is None


def test_resolve_records_the_resolution_and_audits(task, users, time_machine):
    case = open_case(task)
    time_machine.move_to(local(2026, 3, 2, 11, 0), tick=False)
    case = problem_case_resolve(
        case, user=users["problem_handler"], resolution=R.EXPLAINED, note="已解释退保损失"
    )
    assert case.status == ProblemCase.Status.RESOLVED and case.resolved_by == users["problem_handler"]
    assert problem_case_is_on_time(case) is True
    event = AuditEvent.objects.get(event_type="problem_case.resolved", subject_id=str(case.pk))
    assert event.data["on_time"] is True and event.data["resolution"] == "explained"
    with pytest.raises(ValidationError, match="already resolved"):
        problem_case_resolve(case, user=users["problem_handler"], resolution=R.CORRECTED, note="")


def test_late_resolution_is_not_on_time(task, users, time_machine):
    case = open_case(task, on=date(2026, 2, 13))
    time_machine.move_to(local(2026, 3, 12, 23, 0), tick=False)
    assert problem_case_is_on_time(case) is True  # still the due day in Shanghai
    time_machine.move_to(local(2026, 3, 13, 9, 0), tick=False)
    assert problem_case_is_on_time(case) is False
    case = problem_case_resolve(case, user=users["problem_handler"], resolution=R.CANCELLED_REFUND, note="")
    assert problem_case_is_on_time(case) is False


@pytest.mark.parametrize("who", ["agent", "supervisor", "auditor", "norole"])
def test_only_problem_handlers_resolve(task, users, who):
    case = open_case(task)
    with pytest.raises(PermissionDenied):
        problem_case_resolve(case, user=users[who], resolution=R.EXPLAINED, note="")
    case.refresh_from_db()
    assert case.status == ProblemCase.Status.OPEN


def test_a_handler_outside_the_org_unit_may_not_resolve(task, make_user):
    case = open_case(task)
    outsider = make_user("js_handler", Role.PROBLEM_HANDLER, "JS")
    with pytest.raises(PermissionDenied):
        problem_case_resolve(case, user=outsider, resolution=R.EXPLAINED, note="")


def test_the_salesperson_may_not_resolve(products, users, make_user):
    seller = make_user("seller_handler", Role.PROBLEM_HANDLER, "GZ")
    salesperson_make("S300", user=seller)
    task = task_make(policy_make(8, salesperson_code="S300"))
    case = open_case(task)
    with pytest.raises(PermissionDenied, match="BS-17"):
        problem_case_resolve(case, user=seller, resolution=R.EXPLAINED, note="")
    case.refresh_from_db()
    assert case.status == ProblemCase.Status.OPEN


def test_bad_resolution_and_category_are_refused(task, users):
    case = open_case(task)
    with pytest.raises(ValidationError):
        problem_case_resolve(case, user=users["problem_handler"], resolution="ignored", note="")
    with pytest.raises(ValidationError):
        open_case(task, category="bad_mood")
