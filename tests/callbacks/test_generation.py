"""Callback task generation: every trigger and non-trigger, due dates and explanations, the channel
plan, idempotent re-generation, cancelled-before-callback, hook-driven generation and the sweep."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from huifang.callbacks.explain import due_explanation_text, task_explain
from huifang.callbacks.generation import (
    callback_tasks_close_cancelled,
    callback_tasks_generate,
    callback_tasks_generate_for,
    callback_tasks_sweep,
    policy_rule_facts,
)
from huifang.callbacks.models import CallbackTask, Channel, TaskKind, TaskStatus, TaskStatusChange
from huifang.core.audit.models import AuditEvent
from huifang.records.models import Claim, Customer, Policy, PolicyEvent
from huifang.records.services import RecordsFeed
from huifang.rules.selectors import rule_active
from tests.conftest import is_postgres
from tests.records.conftest import policy_values

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports", "sweeps"],
    }
}


@pytest.fixture
def on(time_machine):
    """``on(2026, 2, 6)``: it is that day, 10:00 in Shanghai."""

    def go(year, month, day, hour=10):
        time_machine.move_to(datetime(year, month, day, hour, 0, tzinfo=SHANGHAI), tick=False)
        return date(year, month, day)

    return go


@pytest.fixture
def health_product(products):
    RecordsFeed("products").upsert(
        [
            (
                1,
                {
                    "code": "HLT",
                    "name": "安康长期医疗险",
                    "line": "health",
                    "kind": "health",
                    "term_type": "long",
                    "cooling_off_days": 15,
                },
            )
        ]
    )


def add_policy(n=1, **over) -> Policy:
    outcome = RecordsFeed("policies").upsert([(n, policy_values(n, **over))])
    assert outcome.items[0].status in ("created", "updated", "unchanged"), outcome.items[0].errors
    return Policy.objects.get(policy_no=f"P{n:06d}")


def add_event(no, policy_no, kind, on_date):
    RecordsFeed("events").upsert(
        [(1, {"event_no": no, "policy_no": policy_no, "kind": kind, "event_date": on_date})]
    )


def add_claim(no, policy_no, closed_on, **over):
    values = {
        "claim_no": no,
        "policy_no": policy_no,
        "reported_on": date(2026, 1, 20),
        "closed_on": closed_on,
        "status": "closed" if closed_on else "accepted",
        "decision": "approved" if closed_on else "",
    }
    values.update(over)
    outcome = RecordsFeed("claims").upsert([(1, values)])
    assert outcome.items[0].status == "created", outcome.items[0].errors
    return Claim.objects.get(claim_no=no)


def tasks(**filters):
    """Tasks in a stable order (one INSERT … SELECT creates many, in no particular order)."""
    return list(
        CallbackTask.objects.filter(**filters).order_by("policy__policy_no", "customer__customer_no", "cycle")
    )


def created_events():
    return list(AuditEvent.objects.filter(event_type="callback_task.created").order_by("seq"))


# ---- new-policy callbacks (BS-12, CB-01) --------------------------------------------------------


def test_new_policy_gets_one_callback_due_on_the_cooling_off_end_with_its_explanation(products, on):
    on(2026, 2, 6)
    policy = add_policy(1)
    result = callback_tasks_generate(TaskKind.NEW_POLICY)
    assert result.created == 1 and result.by_rule == {"CB-01": 0, "BS-12": 1}
    (task,) = tasks()
    assert task.kind == TaskKind.NEW_POLICY and task.rule_id == "BS-12"
    assert task.rule_version == rule_active("BS-12")
    assert (task.subject_key, task.cycle) == (f"policy:{policy.pk}", "")
    assert task.policy == policy and task.claim is None
    assert task.customer == policy.applicant and task.org_unit == policy.org_unit
    assert task.status == TaskStatus.PENDING
    assert task.due_date == policy.cooling_off_end == date(2026, 2, 20)
    assert task.due_explanation == {
        "rule": "BS-12",
        "rule_version": task.rule_version.version,
        "base": "receipt",
        "base_date": "2026-02-05",
        "amount": 15,
        "unit": "days",
        "due": "2026-02-20",
        "cites": "CO-03 · BS-12",
    }
    assert due_explanation_text(task.due_explanation) == (
        "due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12"
    )
    assert due_explanation_text(task.due_explanation, "zh") == (
        "应于 2026-02-20 前完成 = 回执签收 2026-02-05 + 15 天 · CO-03 · BS-12"
    )
    explained = task_explain(task)
    assert explained["text_zh"].startswith("应于 2026-02-20 前完成")
    assert explained["rule"]["citation"].startswith("人身保险业务基本服务规定")
    (event,) = created_events()
    assert event.rule == "BS-12"
    assert event.data["created"] == 1 and event.data["kind"] == "new_policy"


def test_long_term_health_policy_is_called_back_under_cb01(health_product, on):
    on(2026, 2, 6)
    add_policy(1, product_code="HLT")
    add_policy(2)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    assert [(t.policy.policy_no, t.rule_id) for t in tasks()] == [("P000001", "CB-01"), ("P000002", "BS-12")]
    assert tasks()[0].due_explanation["cites"] == "CO-03 · CB-01"


@pytest.mark.parametrize(
    "over",
    [
        pytest.param({"is_group": True, "channel": "group"}, id="group policy"),
        pytest.param({"term_years": 1}, id="term of one year"),
        pytest.param({"product_code": "ACC1", "term_years": 1}, id="accident line, short term"),
        pytest.param({"receipt_date": None}, id="no receipt date"),
        pytest.param({"status": "cancelled_cooling_off"}, id="cancelled policy"),
        pytest.param({"status": "surrendered"}, id="surrendered policy"),
        pytest.param(
            {"receipt_date": date(2024, 12, 1), "application_date": date(2024, 11, 20)}, id="history"
        ),
    ],
)
def test_no_new_policy_callback(products, on, over):
    on(2026, 2, 6)
    policy = add_policy(1, **over)
    facts = policy_rule_facts(policy)
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 0
    assert tasks() == []
    assert CallbackTask.objects.count() == 0, facts
    assert created_events() == []


def test_regeneration_is_idempotent_and_the_second_sweep_creates_nothing(products, on):
    on(2026, 2, 6)
    for n in range(1, 6):
        add_policy(n)
    first = callback_tasks_sweep()
    assert first.created["new_policy"] == 5
    audit_count = AuditEvent.objects.count()
    second = callback_tasks_sweep()
    assert sum(second.created.values()) == 0 and second.recomputed == 0 and second.closed_cancelled == 0
    assert CallbackTask.objects.count() == 5
    assert AuditEvent.objects.count() == audit_count  # a no-op writes nothing, not even an audit event
    # The event path on the same keys is a no-op too.
    assert callback_tasks_generate_for("policies", [f"P{n:06d}" for n in range(1, 6)])["created"] == 0
    assert CallbackTask.objects.count() == 5


# ---- the channel plan, pools and priority --------------------------------------------------------


def test_electronic_first_when_a_mobile_is_known_and_the_fallback_point_is_ahead(products, on):
    on(2026, 1, 5)
    add_policy(1, receipt_date=date(2026, 1, 4), application_date=date(2026, 1, 1))  # end 2026-01-19
    add_policy(2, receipt_date=date(2026, 1, 4), application_date=date(2026, 1, 1), applicant_mobile="")
    add_policy(3, receipt_date=date(2026, 1, 4), application_date=date(2026, 1, 1))
    Customer.objects.filter(customer_no="C000003").update(e_callback_declined=True)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    first, no_mobile, declined = tasks()
    assert first.channel == Channel.ELECTRONIC
    # EC-05: 5 working days before the cooling-off end (2026-01-19 → 2026-01-12), 09:00 Shanghai.
    assert first.channel_due_at == datetime(2026, 1, 12, 9, 0, tzinfo=SHANGHAI)
    assert first.calendar_revision.startswith("2026.")
    assert no_mobile.channel == Channel.PHONE and declined.channel == Channel.PHONE
    assert no_mobile.channel_due_at is not None


def test_phone_at_once_when_the_fallback_point_has_passed(products, on):
    on(2026, 2, 10, 15)  # 2026-02-20 − 5 WD = 2026-02-10 (the Spring Festival in between)
    add_policy(1)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    (task,) = tasks()
    assert task.channel == Channel.PHONE


def test_pools_and_cb06_priority(products, on):
    on(2026, 2, 6)
    old = date(1950, 3, 1)
    add_policy(1, channel="bank", applicant_birth_date=date(1980, 1, 1))
    add_policy(2, channel="agency", applicant_birth_date=date(1980, 1, 1))
    add_policy(3, channel="bank", applicant_birth_date=old, product_code="UL10")  # 75, high-risk
    add_policy(4, channel="agency", applicant_birth_date=old)  # 75, not high-risk
    callback_tasks_generate(TaskKind.NEW_POLICY)
    got = [(t.policy.policy_no, t.pool, t.priority) for t in tasks()]
    assert got == [
        ("P000001", "bank", 0),
        ("P000002", "", 0),
        ("P000003", "elderly", 10),
        ("P000004", "elderly", 0),
    ]


def test_cb06_is_not_in_force_before_2026_02_01(products, on):
    on(2026, 1, 20)
    add_policy(3, product_code="UL10", applicant_birth_date=date(1950, 3, 1), receipt_date=date(2026, 1, 18))
    callback_tasks_generate(TaskKind.NEW_POLICY)
    (task,) = tasks()
    # Neither the priority nor the elderly pool: both come from CB-06, not yet in force.
    assert task.priority == 0 and task.pool == "bank"


# ---- claims, 保全, lapse, departed salesperson ----------------------------------------------------


def test_closed_claim_gets_a_callback_5_working_days_later(products, on):
    on(2026, 2, 13)
    add_policy(1)
    claim = add_claim("CL1", "P000001", date(2026, 2, 12))
    add_claim("CL2", "P000001", None)  # not closed: nothing
    assert callback_tasks_generate(TaskKind.CLAIM_CLOSED).created == 1
    (task,) = tasks()
    assert (task.kind, task.rule_id, task.subject_key, task.claim) == (
        "claim_closed",
        "KP-07",
        f"claim:{claim.pk}",
        claim,
    )
    # RULES.md vector: 2026-02-12 + 5 WD = 2026-02-26 (Spring Festival, make-up day 02-14).
    assert task.due_date == date(2026, 2, 26)
    assert due_explanation_text(task.due_explanation) == (
        "due 2026-02-26 = claim closed 2026-02-12 + 5 working days · KP-07"
    )
    assert task.channel == Channel.PHONE
    assert task.calendar_revision.startswith("2026.")


def test_service_completed_gets_an_sv01_callback(products, on):
    on(2026, 3, 2)
    add_policy(1)
    add_event("E-SV", "P000001", "service_completed", date(2026, 2, 13))
    add_event("E-RQ", "P000001", "service_requested", date(2026, 2, 10))
    assert callback_tasks_generate(TaskKind.SERVICE_COMPLETED).created == 1
    (task,) = tasks()
    event = PolicyEvent.objects.get(event_no="E-SV")
    assert (task.rule_id, task.subject_key, task.cycle) == ("SV-01", f"event:{event.pk}", "")
    assert task.due_date == date(2026, 2, 27)  # 2026-02-13 + 5 WD: 02-14, 02-24, 02-25, 02-26, 02-27


def test_lapse_notice_10_working_days_after_the_lapse(products, on):
    on(2026, 9, 21)
    policy = add_policy(1)
    add_event("E-LAPSE", "P000001", "lapse", date(2026, 9, 18))
    assert callback_tasks_generate(TaskKind.LAPSE_NOTICE).created == 1
    (task,) = tasks()
    assert (task.rule_id, task.subject_key, task.cycle) == ("BS-23", f"policy:{policy.pk}", "2026-09-18")
    assert task.due_date == date(2026, 10, 9)  # RULES.md vector: 2026-09-18 + 10 WD = 2026-10-09


def test_no_lapse_notice_once_reinstated(products, on):
    on(2026, 9, 25)
    add_policy(1)
    add_event("E-LAPSE", "P000001", "lapse", date(2026, 9, 18))
    add_event("E-REIN", "P000001", "reinstatement", date(2026, 9, 22))
    assert callback_tasks_generate(TaskKind.LAPSE_NOTICE).created == 0


def test_departed_salespersons_policies_are_called_back_within_30_days(products, on):
    on(2026, 2, 11)
    RecordsFeed("salespeople").upsert(
        [
            (1, {"code": "S1", "name": "李四", "org_unit": "GZ", "channel": "agency", "status": "active"}),
            (2, {"code": "S2", "name": "王五", "org_unit": "GZ", "channel": "agency", "status": "active"}),
        ]
    )
    add_policy(1, salesperson_code="S1")
    add_policy(2, salesperson_code="S1", is_group=True, channel="group")
    add_policy(3, salesperson_code="S2")
    add_event("E-DEP", "P000001", "salesperson_departed", date(2026, 2, 10))
    assert callback_tasks_generate(TaskKind.DEPARTED_SALESPERSON).created == 1
    (task,) = tasks()
    assert (task.rule_id, task.policy.policy_no, task.cycle) == ("CB-07", "P000001", "2026-02-10")
    assert task.due_date == date(2026, 3, 12)  # SB-01: 30 calendar days after the departure
    assert due_explanation_text(task.due_explanation) == (
        "due 2026-03-12 = salesperson departed 2026-02-10 + 30 days · SB-01 · CB-07"
    )


# ---- daily lists (KP-08) ------------------------------------------------------------------------


def test_satisfaction_list_for_customers_serviced_yesterday(products, on):
    on(2026, 3, 2)
    add_policy(1)
    add_policy(2)
    add_claim("CL1", "P000001", date(2026, 3, 1))
    add_event("E-SV", "P000002", "service_completed", date(2026, 3, 1))
    add_claim("CL3", "P000002", date(2026, 2, 27))  # not yesterday
    assert callback_tasks_generate(TaskKind.SATISFACTION).created == 2
    got = tasks()
    assert {t.customer.customer_no for t in got} == {"C000001", "C000002"}
    assert {t.cycle for t in got} == {"2026-03-01"}
    assert all(t.subject_key == f"customer:{t.customer_id}" and t.rule_id == "KP-08" for t in got)
    assert got[0].due_date == date(2026, 3, 4)  # list day 2026-03-02 + 2 WD
    assert "satisfaction, serviced on 2026-03-01" in due_explanation_text(got[0].due_explanation)


def test_renewal_reminders_30_days_ahead(products, on):
    on(2026, 6, 1)
    add_policy(1, termination_date=date(2026, 6, 20))
    add_policy(2, termination_date=date(2026, 8, 1))  # too far ahead
    add_policy(3, termination_date=date(2026, 6, 20), is_group=True, channel="group")
    assert callback_tasks_generate(TaskKind.RENEWAL_REMINDER).created == 1
    (task,) = tasks()
    assert (task.policy.policy_no, task.cycle, task.kind) == ("P000001", "2026-06-20", "renewal_reminder")
    assert task.due_explanation["expires_on"] == "2026-06-20"


def test_retention_for_customers_not_seen_for_6_months(products, on):
    on(2026, 11, 2)
    add_policy(1, receipt_date=date(2026, 2, 5))  # no contact since February
    add_policy(2, receipt_date=date(2026, 9, 5), application_date=date(2026, 9, 1))  # bought recently
    add_policy(3, receipt_date=date(2026, 2, 5), status="surrendered")  # no longer a customer
    assert callback_tasks_generate(TaskKind.RETENTION).created == 1
    (task,) = tasks()
    assert (task.customer.customer_no, task.cycle, task.subject_key) == (
        "C000001",
        "2026-11",
        f"customer:{task.customer_id}",
    )
    # Once called, the customer is not "unseen" any more; the same month never twice either.
    assert callback_tasks_generate(TaskKind.RETENTION).created == 0


# ---- cancelled or surrendered before the callback (KP-01) ---------------------------------------


def test_cooling_off_cancel_closes_the_open_task_from_the_records_hook(
    products, on, django_capture_on_commit_callbacks
):
    on(2026, 2, 6)
    add_policy(1)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    with override_settings(TASKS=IMMEDIATE_TASKS), django_capture_on_commit_callbacks(execute=True):
        add_event("E-CXL", "P000001", "cooling_off_cancel", date(2026, 2, 9))
    (task,) = tasks()
    assert task.status == TaskStatus.CANCELLED_BEFORE_CALLBACK and task.closed_at
    change = TaskStatusChange.objects.get(task=task)
    assert "cancelled_cooling_off" in change.reason and "2026-02-09" in change.reason
    assert AuditEvent.objects.filter(event_type="callback_task.status_changed", rule="KP-01").count() == 1


def test_the_sweep_closes_tasks_of_surrendered_policies_and_leaves_finished_ones(products, on):
    on(2026, 2, 6)
    add_policy(1)
    add_policy(2)
    callback_tasks_generate(TaskKind.NEW_POLICY)
    from huifang.callbacks.status import callback_task_set_status

    done = CallbackTask.objects.get(policy__policy_no="P000002")
    callback_task_set_status(done, TaskStatus.SUCCESS, reason="test")
    add_event("E-S1", "P000001", "surrender", date(2026, 2, 9))
    add_event("E-S2", "P000002", "surrender", date(2026, 2, 9))
    result = callback_tasks_sweep()
    assert result.closed_cancelled == 1
    statuses = {t.policy.policy_no: t.status for t in tasks()}
    assert statuses == {"P000001": TaskStatus.CANCELLED_BEFORE_CALLBACK, "P000002": TaskStatus.SUCCESS}
    assert callback_tasks_close_cancelled() == 0


# ---- event-driven generation and the sweep that catches what the hook missed ---------------------


def test_records_hook_generates_tasks_after_the_feed_batch_commits(
    products, on, django_capture_on_commit_callbacks
):
    on(2026, 2, 13)
    with override_settings(TASKS=IMMEDIATE_TASKS), django_capture_on_commit_callbacks(execute=True):
        add_policy(1)
        add_claim("CL1", "P000001", date(2026, 2, 12))
    got = {(t.kind, t.rule_id) for t in tasks()}
    assert got == {("new_policy", "BS-12"), ("claim_closed", "KP-07")}
    assert {e.data["trigger"] for e in created_events()} == {"records"}


def test_the_sweep_catches_a_policy_the_hook_never_saw(products, on, django_capture_on_commit_callbacks):
    on(2026, 2, 6)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        add_policy(1)
    assert callbacks  # the hook was due to run; it never did
    assert tasks() == []
    result = callback_tasks_sweep()
    assert result.created["new_policy"] == 1
    assert tasks()[0].policy.policy_no == "P000001"
    assert created_events()[0].data["trigger"] == "sweep"


def test_a_large_generation_commits_in_chunks_of_ids_one_audit_event_each(products, on, monkeypatch):
    from huifang.callbacks import generation

    on(2026, 2, 6)
    for n in range(1, 6):
        add_policy(n)
    monkeypatch.setattr(generation, "CHUNK_ROWS", 2)
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 5
    events = created_events()
    assert len(events) == 3 and sum(e.data["created"] for e in events) == 5
    ranges = [tuple(e.data["ids"]) for e in events]
    assert all(low <= high for low, high in ranges) and len(set(ranges)) == 3
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 0
    assert len(created_events()) == 3


@pytest.mark.postgres
@pytest.mark.skipif(
    not is_postgres(), reason="parallel chunks run on PostgreSQL only (SQLite has one writer)"
)
@pytest.mark.django_db(transaction=True)
def test_parallel_chunks_on_postgresql_create_each_task_once(products, monkeypatch, settings, time_machine):
    from django.db import connection

    from huifang.callbacks import generation

    time_machine.move_to(datetime(2026, 2, 6, 10, 0, tzinfo=SHANGHAI), tick=False)
    from huifang.rules.services import rule_packs_load_shipped

    rule_packs_load_shipped(audit=False)  # a transactional test starts from a flushed database
    for n in range(1, 9):
        add_policy(n)
    monkeypatch.setattr(generation, "CHUNK_ROWS", 2)
    settings.HUIFANG_SWEEP_WORKERS = 3
    assert not connection.in_atomic_block and generation.sweep_workers() == 3
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 8
    assert CallbackTask.objects.count() == 8 and len(created_events()) == 4
    assert callback_tasks_generate(TaskKind.NEW_POLICY).created == 0
