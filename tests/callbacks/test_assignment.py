"""Assignment: pools by org unit and skill, claim-next order and guards, recalls returning to the
pool, supervisor reassignment."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone, translation

from huifang.callbacks import events
from huifang.callbacks.assignment import (
    agent_may_work_task,
    callback_recalls_release,
    callback_task_claim_next,
    callback_task_reassign,
    callback_tasks_claimable,
)
from huifang.callbacks.models import CallbackTask, TaskStatus, TaskStatusChange
from huifang.core.audit.models import AuditEvent
from huifang.core.permissions import Role
from tests.callbacks import kpi_factories as f

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)


@pytest.fixture
def now():
    return f.at(TODAY, 10)


def claim(agent, now):
    return callback_task_claim_next(agent, now=now)


def test_most_urgent_first_overdue_then_due_date_then_priority_then_id(org_tree, users, now):
    gz = org_tree["GZ"]
    later_high = f.task(gz, due=date(2026, 3, 20), priority=9)
    soon_low = f.task(gz, due=date(2026, 3, 12), priority=0)
    soon_high = f.task(gz, due=date(2026, 3, 12), priority=5)
    overdue_low = f.task(gz, due=date(2026, 3, 1), priority=-5)
    soon_high_2 = f.task(gz, due=date(2026, 3, 12), priority=5)
    order = [overdue_low, soon_high, soon_high_2, soon_low, later_high]
    assert list(callback_tasks_claimable(users["agent"], now=now)) == order
    got = [claim(users["agent"], now) for _ in range(6)]
    assert [t.pk if t else None for t in got] == [t.pk for t in order] + [None]


def test_a_claim_assigns_starts_and_audits(org_tree, users, now):
    t = f.task(org_tree["GZ"])
    before = AuditEvent.objects.count()
    got = claim(users["agent"], now)
    assert got.pk == t.pk
    t.refresh_from_db()
    assert (t.assignee, t.status, t.assigned_at) == (users["agent"], TaskStatus.IN_PROGRESS, got.assigned_at)
    assert t.assigned_at is not None
    change = TaskStatusChange.objects.get(task=t)
    assert (change.from_status, change.to_status, change.changed_by) == (
        "pending",
        "in_progress",
        users["agent"],
    )
    new = list(AuditEvent.objects.order_by("seq")[before:])
    # One event says it all: who got the task, how, and the status it moved from and to.
    assert [e.event_type for e in new] == [events.TASK_ASSIGNED.id]
    assigned = new[-1]
    assert assigned.subject_id == str(t.pk) and assigned.actor_id == users["agent"].pk
    assert assigned.data == {
        "how": "claim",
        "from_user_id": None,
        "to_user_id": users["agent"].pk,
        "pool": "",
        "reason": "",
        "from_status": "pending",
        "to_status": "in_progress",
    }


def test_a_claim_locks_once_takes_no_savepoint_and_stays_within_its_queries(
    org_tree, users, now, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    f.task(org_tree["GZ"])
    agent = users["agent"]
    claim(agent, now)  # warm the permission cache of this user object
    f.task(org_tree["GZ"])
    with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(10):
        assert claim(agent, now) is not None
    sql = [q["sql"].upper() for q in ctx.captured_queries]
    assert not any("SAVEPOINT" in q for q in sql)
    if connection.vendor == "postgresql":  # SQLite locks the database (IMMEDIATE), not rows
        assert sum("FOR UPDATE" in q for q in sql) == 2  # the agent's own candidates, then the pool
    assert sum(q.startswith("UPDATE") and "CALLBACKS_CALLBACKTASK" in q for q in sql) == 1


def test_claiming_an_own_due_recall_in_progress_writes_no_status_change(org_tree, users, now):
    t = f.task(
        org_tree["GZ"],
        assignee=users["agent"],
        status=TaskStatus.IN_PROGRESS,
        recall_at=now - timedelta(minutes=5),
    )
    got = claim(users["agent"], now)
    assert got.pk == t.pk and got.recall_at is None and got.status == TaskStatus.IN_PROGRESS
    assert not TaskStatusChange.objects.filter(task=t).exists()
    event = AuditEvent.objects.get(event_type=events.TASK_ASSIGNED.id, subject_id=str(t.pk))
    assert (event.data["from_status"], event.data["to_status"]) == ("in_progress", "in_progress")
    assert event.data["from_user_id"] == users["agent"].pk


def test_nothing_to_claim_is_none_and_someone_without_work_callbacks_is_refused(org_tree, users, now):
    assert claim(users["agent"], now) is None
    f.task(org_tree["GZ"])
    for role in ("auditor", "admin", "problem_handler", "norole"):
        with pytest.raises(PermissionDenied):
            claim(users[role], now)
    assert CallbackTask.objects.get().assignee is None


def test_pools_by_org_subtree(org_tree, users, now):
    gz = f.task(org_tree["GZ"], due=date(2026, 3, 11))
    sz = f.task(org_tree["SZ"], due=date(2026, 3, 12))
    nj = f.task(org_tree["NJ"], due=date(2026, 3, 13))
    assert list(callback_tasks_claimable(users["agent"], now=now)) == [gz]  # 广州 only
    assert list(callback_tasks_claimable(users["agent_js"], now=now)) == [nj]  # 江苏 subtree
    assert list(callback_tasks_claimable(users["supervisor"], now=now)) == [gz, sz]  # 广东 subtree


def test_pools_by_skill_and_the_general_pool(org_tree, make_user, now):
    gz = org_tree["GZ"]
    general = f.task(gz, due=date(2026, 3, 20))
    bank = f.task(gz, due=date(2026, 3, 11), pool="bank_channel")
    elderly = f.task(gz, due=date(2026, 3, 12), pool="elderly")
    plain = make_user("plain", Role.AGENT, "GZ")
    banker = make_user("banker", Role.AGENT, "GZ", skills=["bank_channel"])
    both = make_user("both", Role.AGENT, "GZ", skills=["elderly", "bank_channel"])
    assert list(callback_tasks_claimable(plain, now=now)) == [general]
    assert list(callback_tasks_claimable(banker, now=now)) == [bank, general]
    assert list(callback_tasks_claimable(both, now=now)) == [bank, elderly, general]
    assert claim(plain, now) == general
    assert claim(plain, now) is None


def test_an_agent_never_gets_a_policy_they_sold(org_tree, users, now):
    gz = org_tree["GZ"]
    own_sale = f.task(
        gz, pol=f.policy(gz, seller=f.salesperson(gz, staff_user=users["agent"])), due=date(2026, 3, 1)
    )
    colleague_sale = f.task(gz, pol=f.policy(gz, seller=f.salesperson(gz)), due=date(2026, 3, 2))
    assert claim(users["agent"], now) == colleague_sale
    assert claim(users["agent"], now) is None
    with translation.override("en"):  # the message is translated (zh-hans by default)
        assert agent_may_work_task(users["agent"], own_sale) == "This user sold the policy."
    assert claim(users["supervisor"], now) == own_sale  # anyone else may


def test_someone_elses_task_is_not_handed_out_but_one_given_to_me_is(org_tree, users, make_user, now):
    gz = org_tree["GZ"]
    other = make_user("other", Role.AGENT, "GZ")
    f.task(gz, due=date(2026, 3, 1), assignee=other, status=TaskStatus.IN_PROGRESS)
    f.task(gz, due=date(2026, 3, 2), assignee=other)  # given to the other agent, not started
    given_to_me = f.task(gz, due=date(2026, 3, 5), assignee=users["agent"])
    working_on = f.task(gz, due=date(2026, 3, 3), assignee=users["agent"], status=TaskStatus.IN_PROGRESS)
    free = f.task(gz, due=date(2026, 3, 6))
    assert list(callback_tasks_claimable(users["agent"], now=now)) == [given_to_me, free]
    assert claim(users["agent"], now) == given_to_me
    assert claim(users["agent"], now) == free
    assert claim(users["agent"], now) is None
    working_on.refresh_from_db()
    assert working_on.status == TaskStatus.IN_PROGRESS


def test_closed_tasks_are_never_handed_out(org_tree, users, now):
    for status in (
        TaskStatus.SUCCESS,
        TaskStatus.FAILED,
        TaskStatus.REFUSED,
        TaskStatus.CANCELLED_BEFORE_CALLBACK,
        TaskStatus.PROBLEM_FOUND,
    ):
        f.task(org_tree["GZ"], status=status)
    assert claim(users["agent"], now) is None


def test_recalls_wait_for_their_time_and_go_to_their_owner(org_tree, users, make_user, now):
    gz = org_tree["GZ"]
    other = make_user("other", Role.AGENT, "GZ")
    future_free = f.task(gz, due=date(2026, 3, 1), recall_at=now + timedelta(minutes=5))
    mine_later = f.task(
        gz,
        due=date(2026, 3, 1),
        assignee=users["agent"],
        status=TaskStatus.PENDING,
        recall_at=now + timedelta(hours=1),
    )
    others_due = f.task(gz, due=date(2026, 3, 1), assignee=other, recall_at=now - timedelta(minutes=30))
    mine_due = f.task(
        gz, due=date(2026, 3, 8), assignee=users["agent"], status=TaskStatus.IN_PROGRESS, recall_at=now
    )
    free = f.task(gz, due=date(2026, 3, 9))
    assert list(callback_tasks_claimable(users["agent"], now=now)) == [mine_due, free]
    got = claim(users["agent"], now)
    assert got == mine_due
    got.refresh_from_db()
    assert got.recall_at is None and got.status == TaskStatus.IN_PROGRESS  # the recall is being made
    assert claim(users["agent"], now) == free
    assert claim(users["agent"], now) is None
    # Later on, the recalls set for later come up: the free one for anyone, mine for me.
    later = now + timedelta(hours=1)
    assert claim(users["supervisor"], later) == future_free
    assert claim(users["supervisor"], later) is None  # mine_later and others_due are not theirs
    assert claim(users["agent"], later) == mine_later
    assert claim(other, later) == others_due


def test_a_free_task_more_urgent_than_my_due_recall_comes_first(org_tree, users, now):
    gz = org_tree["GZ"]
    mine = f.task(gz, due=date(2026, 3, 8), assignee=users["agent"], recall_at=now - timedelta(minutes=1))
    urgent = f.task(gz, due=date(2026, 3, 5))
    assert claim(users["agent"], now) == urgent
    assert claim(users["agent"], now) == mine


def test_only_tasks_whose_channel_is_ready_are_handed_out(org_tree, users, now):
    gz = org_tree["GZ"]
    sup = users["supervisor"]
    e_callback = f.task(
        gz, due=date(2026, 3, 1), channel="electronic", channel_due_at=now + timedelta(days=2)
    )
    next_slot = f.task(gz, due=date(2026, 3, 2), channel_due_at=now + timedelta(hours=2))
    awaiting = f.task(gz, due=date(2026, 3, 3), letter_visit_requested="letter")
    approved = f.task(
        gz,
        due=date(2026, 3, 4),
        channel="visit",
        letter_visit_requested="visit",
        letter_visit_approved_by=sup,
        channel_due_at=now,
    )
    fallen_back = f.task(
        gz, due=date(2026, 3, 5), channel="electronic", channel_due_at=now - timedelta(hours=1)
    )
    assert list(callback_tasks_claimable(users["agent"], now=now)) == [approved, fallen_back]
    later = now + timedelta(days=3)
    assert list(callback_tasks_claimable(users["agent"], now=later)) == [
        e_callback,
        next_slot,
        approved,
        fallen_back,
    ]
    # A due recall is an appointment with the customer: it is handed out at its time.
    awaiting.assignee, awaiting.recall_at = users["agent"], now
    awaiting.save()
    assert claim(users["agent"], now) == awaiting


# ---- recalls returning to the pool -----------------------------------------------------------------


def test_a_recall_overdue_by_two_hours_returns_to_the_pool(org_tree, users, make_user, now):
    gz = org_tree["GZ"]
    owner = make_user("owner", Role.AGENT, "GZ")
    stale = f.task(gz, assignee=owner, status=TaskStatus.IN_PROGRESS, recall_at=now - timedelta(hours=2))
    fresh = f.task(gz, assignee=owner, status=TaskStatus.IN_PROGRESS, recall_at=now - timedelta(minutes=119))
    closed = f.task(gz, assignee=owner, status=TaskStatus.SUCCESS, recall_at=now - timedelta(hours=5))
    before = AuditEvent.objects.count()
    result = callback_recalls_release(now)
    assert (result.released, result.task_ids) == (1, [stale.pk])
    stale.refresh_from_db()
    fresh.refresh_from_db()
    closed.refresh_from_db()
    assert (stale.assignee, stale.status, stale.assigned_at) == (None, TaskStatus.PENDING, None)
    assert stale.recall_at == now - timedelta(hours=2)  # still due: anyone may make it now
    assert fresh.assignee == owner and closed.assignee == owner
    types = list(AuditEvent.objects.order_by("seq")[before:].values_list("event_type", "data"))
    assert [t for t, _d in types] == [events.TASK_STATUS_CHANGED.id, events.TASK_ASSIGNED.id]
    assert types[-1][1]["how"] == "recall_released" and types[-1][1]["from_user_id"] == owner.pk
    assert callback_recalls_release(now).released == 0  # a second run changes nothing
    assert claim(users["agent"], now) == stale


def test_the_release_delay_is_configurable(org_tree, users, settings, now):
    settings.HUIFANG_RECALL_RELEASE_MINUTES = 30
    t = f.task(org_tree["GZ"], assignee=users["agent"], recall_at=now - timedelta(minutes=31))
    assert callback_recalls_release(now).task_ids == [t.pk]
    t2 = f.task(org_tree["GZ"], assignee=users["agent"], recall_at=now - timedelta(minutes=10))
    assert callback_recalls_release(now, after=timedelta(minutes=5)).task_ids == [t2.pk]


def test_the_release_runs_as_a_periodic_job(org_tree, users):
    from huifang.core.jobs import discover_periodic_jobs
    from huifang.reports.tasks import callback_recalls_release_job

    job = {j.name: j for j in discover_periodic_jobs()}["callbacks.recalls_release"]
    assert job.every == timedelta(minutes=5)
    t = f.task(org_tree["GZ"], assignee=users["agent"], recall_at=timezone.now() - timedelta(hours=3))
    assert callback_recalls_release_job.call() == [t.pk]
    t.refresh_from_db()
    assert t.assignee is None


# ---- reassignment --------------------------------------------------------------------------------


def _snapshot(t):
    t.refresh_from_db()
    return (t.assignee_id, t.status, t.assigned_at, AuditEvent.objects.count())


def test_a_supervisor_reassigns_and_it_is_audited(org_tree, users, make_user, now):
    gz = org_tree["GZ"]
    other = make_user("other", Role.AGENT, "GZ")
    t = f.task(gz)
    claim(users["agent"], now)
    t = callback_task_reassign(t, other, users["supervisor"], reason="agent on leave")
    assert (t.assignee, t.status) == (other, TaskStatus.PENDING)  # waits for its new agent
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.event_type == events.TASK_ASSIGNED.id and event.actor_id == users["supervisor"].pk
    assert event.data | {} == {
        "how": "reassign",
        "from_user_id": users["agent"].pk,
        "to_user_id": other.pk,
        "pool": "",
        "reason": "agent on leave",
    }
    assert claim(users["agent"], now) is None
    assert claim(other, now) == t  # given to them: their next claim hands it out
    back = callback_task_reassign(t, None, users["supervisor"])
    assert (back.assignee, back.status) == (None, TaskStatus.PENDING)


@pytest.mark.parametrize("role", ["agent", "problem_handler", "auditor", "norole", "agent_js"])
def test_only_supervisors_reassign_and_a_refusal_changes_nothing(org_tree, users, role, now):
    t = f.task(org_tree["GZ"])
    before = _snapshot(t)
    with pytest.raises(PermissionDenied):
        callback_task_reassign(t, users["agent"], users[role])
    assert _snapshot(t) == before


def test_reassign_guards(org_tree, users, make_user, now):
    gz = org_tree["GZ"]
    sup = users["supervisor"]
    nj_task = f.task(org_tree["NJ"])
    with pytest.raises(Http404):  # outside the supervisor's org units: as if it did not exist
        callback_task_reassign(nj_task, users["agent"], sup)
    t = f.task(gz, pool="elderly")
    sold = f.task(gz, pol=f.policy(gz, seller=f.salesperson(gz, staff_user=users["agent"])))
    closed = f.task(gz, status=TaskStatus.SUCCESS)
    before = [_snapshot(x) for x in (t, sold, closed)]
    refusals = [
        (t, users["agent"], "not one of this user's skills"),
        (t, users["agent_js"], "outside your org units"),
        (t, users["problem_handler"], "does not work callbacks"),
        (t, make_user("far", Role.AGENT, "SZ", skills=["elderly"]), "outside this user's"),
        (sold, users["agent"], "sold the policy"),
        (closed, users["agent"], "closed task"),
    ]
    for task, target, message in refusals:
        with translation.override("en"), pytest.raises(ValidationError) as err:
            callback_task_reassign(task, target, sup)
        assert message in str(err.value), (task, target, err.value)
    assert [_snapshot(x) for x in (t, sold, closed)] == before
    skilled = make_user("skilled", Role.AGENT, "GZ", skills=["elderly"])
    assert callback_task_reassign(t, skilled, sup).assignee == skilled


def test_the_claim_hands_out_exactly_what_the_claimable_queryset_orders_first(org_tree, make_user, now):
    """The claim's SQL and the ORM definition (``callback_tasks_claimable``) agree, claim after
    claim, over tasks varied in every column the choice reads (seeded, so a failure repeats)."""
    import random

    from huifang.callbacks.models import Channel

    rng = random.Random(20261205)
    me = make_user("me", Role.AGENT, "GD", skills=["bank_channel"])
    other = make_user("other_agent", Role.AGENT, "GD")
    approver = make_user("approver", Role.SUPERVISOR, "GD")
    my_sales = f.salesperson(org_tree["GZ"], staff_user=me)
    units = [org_tree["GZ"], org_tree["SZ"], org_tree["GD"], org_tree["NJ"]]
    minutes = [-300, -150, -30, -1, 0, 1, 30, 600, None]
    for _ in range(120):
        unit = rng.choice(units)
        pol = f.policy(unit, seller=my_sales if rng.random() < 0.1 else None)
        recall = rng.choice(minutes)
        ready = rng.choice(minutes)
        letter_visit = rng.choice(["", "", "", "letter", "visit"])
        f.task(
            unit,
            pol=pol,
            due=TODAY + timedelta(days=rng.randint(-5, 5)),
            priority=rng.choice([-1, 0, 0, 5]),
            pool=rng.choice(["", "", "bank_channel", "elderly"]),
            status=rng.choice([TaskStatus.PENDING] * 4 + [TaskStatus.IN_PROGRESS, TaskStatus.SUCCESS]),
            assignee=rng.choice([None, None, None, me, other]),
            recall_at=None if recall is None else now + timedelta(minutes=recall),
            channel=rng.choice([Channel.PHONE, Channel.ELECTRONIC]),
            channel_due_at=None if ready is None else now + timedelta(minutes=ready),
            letter_visit_requested=letter_visit,
            letter_visit_approved_by=approver if letter_visit and rng.random() < 0.5 else None,
        )
    handed_out = 0
    while True:
        expected = callback_tasks_claimable(me, now=now).first()
        got = claim(me, now)
        assert (got.pk if got else None) == (expected.pk if expected else None)
        if got is None:
            break
        handed_out += 1
    assert handed_out > 10  # the mix leaves plenty to hand out, and some to hold back
    assert callback_tasks_claimable(me, now=now).count() == 0
    assert CallbackTask.objects.filter(status__in=["pending", "in_progress"]).exclude(assignee=me).exists()
