"""Due dates follow their rule and calendar: lazy recompute after a rule or calendar change, years
not confirmed yet, corrected records; scripts; departures through the feed."""

from datetime import date, datetime

import pytest
from django.test import override_settings

from huifang.callbacks.generation import (
    callback_task_refresh_due,
    callback_tasks_generate,
    callback_tasks_generate_for,
    callback_tasks_refresh_stale,
    callback_tasks_stale,
    callback_tasks_sweep,
)
from huifang.callbacks.models import CallbackTask, Channel, Script, TaskKind
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.services import DayOverride, calendar_package_days, calendar_year_confirm
from huifang.records.models import Product
from huifang.records.services import RecordsFeed
from huifang.rules.selectors import rule_active
from huifang.rules.services import rule_version_create
from tests.callbacks.test_generation import IMMEDIATE_TASKS, SHANGHAI, add_claim, add_policy, tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def on(time_machine):
    def go(year, month, day, hour=10):
        time_machine.move_to(datetime(year, month, day, hour, 0, tzinfo=SHANGHAI), tick=False)

    return go


def recomputed_events():
    return list(AuditEvent.objects.filter(event_type="callback_task.due_recomputed").order_by("seq"))


def test_a_rule_change_recomputes_open_tasks_lazily_and_says_why(products, on):
    on(2026, 2, 13)
    add_policy(1)
    add_claim("CL1", "P000001", date(2026, 2, 12))
    callback_tasks_generate(TaskKind.CLAIM_CLOSED)
    (task,) = tasks()
    assert task.due_date == date(2026, 2, 26)
    old = task.rule_version
    new = rule_version_create(
        rule_active("KP-07"), params={**old.params, "working_days": 3}, reason="claims callback sooner"
    )
    assert new.version == old.version + 1
    task.refresh_from_db()
    assert task.due_date == date(2026, 2, 26)  # lazily: nothing moved yet
    assert list(callback_tasks_stale()) == [task]
    task = callback_task_refresh_due(task)
    # 2026-02-12 + 3 WD: 02-13, 02-14 (make-up day), 02-24 (after the Spring Festival)
    assert task.due_date == date(2026, 2, 24)
    assert task.rule_version == new and task.due_recomputed_at is not None
    assert task.due_explanation["rule_version"] == new.version and task.due_explanation["amount"] == 3
    (event,) = recomputed_events()
    assert event.subject_id == str(task.pk) and event.rule == "KP-07"
    assert (
        event.data["before"]["due_date"] == "2026-02-26" and event.data["after"]["due_date"] == "2026-02-24"
    )
    assert "working_days 5 → 3" in event.data["why"][0]
    # Refreshing again, or the sweep, changes nothing more.
    callback_task_refresh_due(task)
    assert callback_tasks_refresh_stale() == 0
    assert len(recomputed_events()) == 1


def test_the_sweep_recomputes_every_stale_task(products, on):
    on(2026, 2, 13)
    for n in (1, 2):
        add_policy(n)
        add_claim(f"CL{n}", f"P{n:06d}", date(2026, 2, 12))
    callback_tasks_sweep()
    rule_version_create(rule_active("KP-07"), params={"working_days": 3, "lookback_days": 30}, reason="test")
    result = callback_tasks_sweep()
    assert result.recomputed == 2 and sum(result.created.values()) == 0
    assert {t.due_date for t in tasks(kind=TaskKind.CLAIM_CLOSED)} == {date(2026, 2, 24)}
    assert callback_tasks_sweep().recomputed == 0


def test_closed_tasks_keep_their_date(products, on):
    on(2026, 2, 13)
    add_policy(1)
    add_claim("CL1", "P000001", date(2026, 2, 12))
    callback_tasks_generate(TaskKind.CLAIM_CLOSED)
    from huifang.callbacks.models import TaskStatus
    from huifang.callbacks.status import callback_task_set_status

    callback_task_set_status(tasks()[0], TaskStatus.SUCCESS, reason="test")
    rule_version_create(rule_active("KP-07"), params={"working_days": 3}, reason="test")
    assert callback_tasks_refresh_stale() == 0
    assert tasks()[0].due_date == date(2026, 2, 26)


def test_rule_change_recomputes_in_the_background_after_commit(
    products, on, django_capture_on_commit_callbacks
):
    on(2026, 2, 13)
    add_policy(1)
    add_claim("CL1", "P000001", date(2026, 2, 12))
    callback_tasks_generate(TaskKind.CLAIM_CLOSED)
    with override_settings(TASKS=IMMEDIATE_TASKS), django_capture_on_commit_callbacks(execute=True):
        rule_version_create(rule_active("KP-07"), params={"working_days": 3}, reason="test")
    assert tasks()[0].due_date == date(2026, 2, 24)


def test_a_calendar_correction_recomputes_due_dates(products, on):
    on(2026, 4, 29)
    add_policy(1)
    add_claim("CL1", "P000001", date(2026, 4, 28))
    callback_tasks_generate(TaskKind.CLAIM_CLOSED)
    (task,) = tasks()
    assert task.due_date == date(2026, 5, 8)  # 04-29, 04-30, (05-01…05-05 off), 05-06, 05-07, 05-08
    before = task.calendar_revision
    # Suppose the notice had made 2026-05-06 a day off as well: confirm the corrected year.
    days = [*calendar_package_days(2026), DayOverride(date(2026, 5, 6), "holiday", "test")]
    calendar_year_confirm(2026, user=None, source="corrected notice (test)", days=days)
    assert list(callback_tasks_stale()) == [task]
    assert callback_tasks_refresh_stale() == 1
    task.refresh_from_db()
    assert task.due_date == date(2026, 5, 9)  # 05-07, 05-08, 05-09 (make-up Saturday)
    assert task.calendar_revision != before
    (event,) = recomputed_events()
    assert event.data["why"] == [f"working-day calendar {before} → {task.calendar_revision}"]


def test_an_unconfirmed_year_is_skipped_never_guessed_and_caught_once_confirmed(products, on):
    on(2026, 12, 30)
    add_policy(1)
    add_claim("CL1", "P000001", date(2026, 12, 29))
    result = callback_tasks_generate(TaskKind.CLAIM_CLOSED)
    assert result.created == 0 and result.skipped_unconfirmed_years == [2027]
    calendar_year_confirm(
        2027, user=None, source="test", days=[DayOverride(date(2027, 1, 1), "holiday", "元旦")]
    )
    assert callback_tasks_sweep().created["claim_closed"] == 1
    assert tasks(kind=TaskKind.CLAIM_CLOSED)[0].due_date == date(
        2027, 1, 6
    )  # 12-30, 12-31, (01-01 off), 01-04, 01-05, 01-06


def test_new_policy_ending_in_an_unconfirmed_year_is_created_and_completed_later(products, on):
    on(2026, 12, 21)
    add_policy(1, receipt_date=date(2026, 12, 20), application_date=date(2026, 12, 10))  # ends 2027-01-04
    callback_tasks_generate(TaskKind.NEW_POLICY)
    (task,) = tasks()
    assert task.due_date == date(2027, 1, 4)  # calendar days: no working-day calendar needed
    assert task.channel == Channel.PHONE and task.calendar_revision == "2027.u"  # fallback point unknown
    calendar_year_confirm(
        2027, user=None, source="test", days=[DayOverride(date(2027, 1, 1), "holiday", "元旦")]
    )
    assert callback_tasks_refresh_stale() == 1
    task.refresh_from_db()
    assert task.calendar_revision.startswith("2026.") and task.calendar_revision.endswith("+2027.1")
    assert task.due_date == date(2027, 1, 4)
    assert recomputed_events() == []  # nothing a person relies on moved


def test_a_corrected_receipt_date_moves_the_new_policy_callback(products, on):
    on(2026, 2, 6)
    add_policy(1)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    add_policy(1, receipt_date=date(2026, 2, 3))  # the core system corrects the receipt date
    out = callback_tasks_generate_for("policies", ["P000001"])
    assert out == {"created": 0, "closed_cancelled": 0, "recomputed": 1}
    (task,) = tasks()
    assert task.due_date == date(2026, 2, 18)
    assert task.due_explanation["base_date"] == "2026-02-03"
    (event,) = recomputed_events()
    assert "record it is computed from changed" in event.data["why"][0]


def test_scripts_the_products_own_else_the_kinds_default(products, on, shipped_scripts):
    on(2026, 2, 6)
    Product.objects.filter(code="UL10").update(script_code="lapse")  # any published script will do
    add_policy(1)
    add_policy(2, product_code="UL10")
    callback_tasks_generate(TaskKind.NEW_POLICY)
    first, second = tasks()
    assert first.script == Script.objects.filter(code="new_policy").order_by("-version").first()
    assert second.script.code == "lapse"


def test_departure_through_the_salespeople_feed_and_through_an_event(products, on):
    on(2026, 2, 11)
    feed = RecordsFeed("salespeople")
    feed.upsert(
        [
            (1, {"code": "S1", "name": "李四", "org_unit": "GZ", "channel": "agency", "status": "active"}),
            (2, {"code": "S2", "name": "王五", "org_unit": "GZ", "channel": "agency", "status": "active"}),
        ]
    )
    add_policy(1, salesperson_code="S1")
    add_policy(2, salesperson_code="S2")
    feed.upsert(
        [
            (
                1,
                {
                    "code": "S1",
                    "name": "李四",
                    "org_unit": "GZ",
                    "channel": "agency",
                    "status": "departed",
                    "departed_on": date(2026, 2, 9),
                },
            )
        ]
    )
    assert callback_tasks_generate_for("salespeople", ["S1"])["created"] == 1
    RecordsFeed("events").upsert(
        [
            (
                1,
                {
                    "event_no": "E-DEP2",
                    "policy_no": "P000002",
                    "kind": "salesperson_departed",
                    "event_date": date(2026, 2, 10),
                },
            )
        ]
    )
    assert callback_tasks_generate_for("events", ["E-DEP2"])["created"] == 1
    got = [(t.policy.policy_no, t.cycle, t.due_date) for t in tasks(kind=TaskKind.DEPARTED_SALESPERSON)]
    assert got == [("P000001", "2026-02-09", date(2026, 3, 11)), ("P000002", "2026-02-10", date(2026, 3, 12))]
    assert CallbackTask.objects.count() == 2
