"""Who works which callback task: pools, claim-next, recall hand-back and reassignment.

Pools
-----
A task belongs to the org unit that owns it (``task.org_unit``) and to a pool (``task.pool``, a skill
such as ``bank_channel`` or ``elderly``; ``""`` is the general pool). An agent may work a task when:

* they hold ``work_callbacks`` and are active;
* the task's org unit is in their org subtree (the work scope is the user's own subtree, even for
  someone who may *read* every org unit);
* the pool is ``""`` or one of their ``skills``;
* they did not sell the policy (``Salesperson.staff_user``): separation of duties, an agent never
  gets a callback of a policy they sold.

A task is *ready* for an agent when its channel plan says so (EC-05, huifang.callbacks.channels):
``channel_due_at`` has come (an e-callback waits for the customer until its fallback point; after
an unanswered call the next try waits for another time slot) and no letter or visit awaits a
supervisor's approval.

Claim-next
----------
``callback_task_claim_next(agent)`` hands out the most urgent open task the agent may work and that
is not someone else's: a free, ready task (no assignee), a ready task a supervisor assigned to them
that they have not started, or their own recall whose time has come. A recall set for later is never handed out
early. The order is overdue first, then due date, then priority (high first), then id; since
"overdue" means "due before today", the due date ascending already puts every overdue task first,
and the query orders by ``(due_date, -priority, id)`` so that one index serves it.

Claiming is atomic: on PostgreSQL the candidate row is taken with ``SELECT … FOR UPDATE SKIP
LOCKED`` inside the transaction that assigns it, so concurrent claimers skip each other's rows and
two agents never get the same task; on SQLite the transaction is ``IMMEDIATE`` (settings), which
serialises writers. The claim moves the task to ``in_progress`` through the state machine
(``callback_task_apply_status``: the transition is checked and a status-change row written) and
writes one audit event, ``callback_task.assigned`` with how="claim", which also carries the previous
and the new status. The row is locked once (by the claim query itself), the transaction takes no
savepoint, and the audit event is its last write, so the audit chain's lock (one of
``HUIFANG_AUDIT_CHAINS`` parallel chains, huifang.core.audit) is held only for that insert and the
commit.

Recalls
-------
An agent who schedules a recall keeps the task; when the recall is overdue by
``HUIFANG_RECALL_RELEASE_MINUTES`` (default 120) the task goes back to the pool
(``callback_recalls_release``, run every 5 minutes by the periodic job
``callbacks.recalls_release``), so a customer who asked to be called at 10:00 is not left waiting
because their agent is off sick.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.callbacks import events
from huifang.callbacks.models import OPEN_STATUSES, CallbackTask, TaskStatus, TaskStatusChange
from huifang.callbacks.status import callback_task_set_status, check_transition
from huifang.core.audit.services import audit_record
from huifang.core.permissions import Cap, can_see_org_unit, has_cap
from huifang.org.models import OrgUnit
from huifang.records.models import Policy, Salesperson

DEFAULT_RECALL_RELEASE_MINUTES = 120
CLAIM_ORDER = ("due_date", "-priority", "id")


def recall_release_after() -> timedelta:
    """How long past its time a recall stays with its agent before it returns to the pool."""
    minutes = getattr(settings, "HUIFANG_RECALL_RELEASE_MINUTES", None)
    return timedelta(minutes=DEFAULT_RECALL_RELEASE_MINUTES if minutes in (None, "") else int(minutes))


# ---- who may work what ----------------------------------------------------------------------------


def _skills(user) -> list[str]:
    return [skill for skill in (user.skills or []) if isinstance(skill, str) and skill]


def _subtree_ids(unit: OrgUnit) -> list[int]:
    return list(OrgUnit.objects.filter(path__startswith=unit.path).values_list("id", flat=True))


def _sold_by(user) -> list[int]:
    """Ids of the salesperson records that are this staff user (usually none)."""
    return list(Salesperson.objects.filter(staff_user=user).values_list("id", flat=True))


def agent_may_work(user) -> bool:
    """Does ``user`` work callbacks at all (capability, active, placed in an org unit)?"""
    return has_cap(user, Cap.WORK_CALLBACKS) and user.org_unit_id is not None


def agent_may_work_task(user, task: CallbackTask) -> str | None:
    """Why ``user`` may not work ``task`` (a sentence), or None when they may."""
    if user is None or not agent_may_work(user):
        return _("This user does not work callbacks.")
    if not task.org_unit.path.startswith(user.org_unit.path):
        return _("The task belongs to an org unit outside this user's.")
    if task.pool and task.pool not in _skills(user):
        return _("The task is in the pool %(pool)s, which is not one of this user's skills.") % {
            "pool": task.pool
        }
    if task.policy_id and Policy.objects.filter(pk=task.policy_id, salesperson__staff_user=user).exists():
        # Separation of duties: nobody calls back a policy they sold.
        return _("This user sold the policy.")
    return None


def callback_tasks_workable(agent) -> QuerySet[CallbackTask]:
    """Open tasks in ``agent``'s pools (org subtree and skills), minus policies they sold.

    Who holds them and whether a recall is due are not filtered here; see ``callback_tasks_claimable``.
    """
    if not agent_may_work(agent):
        return CallbackTask.objects.none()
    qs = CallbackTask.objects.filter(
        status__in=OPEN_STATUSES,
        org_unit_id__in=_subtree_ids(agent.org_unit),
        pool__in=["", *_skills(agent)],
    )
    sold = _sold_by(agent)
    if sold:
        qs = qs.exclude(Exists(Policy.objects.filter(pk=OuterRef("policy_id"), salesperson_id__in=sold)))
    return qs


def _ready(now: datetime) -> Q:
    """Its channel is ready for an agent (EC-05): ``channel_due_at`` has come — an electronic task
    waits for the customer until its fallback point, a phone task for its next time slot after an
    unanswered call — and no letter or visit is waiting for a supervisor's approval."""
    awaiting_approval = ~Q(letter_visit_requested="") & Q(letter_visit_approved_by__isnull=True)
    return (Q(channel_due_at__isnull=True) | Q(channel_due_at__lte=now)) & ~awaiting_approval


def _free(qs: QuerySet, now: datetime) -> QuerySet:
    # Nobody's; a recall set for later is not handed out early.
    return qs.filter(Q(recall_at__isnull=True) | Q(recall_at__lte=now), _ready(now), assignee__isnull=True)


def _mine(qs: QuerySet, agent, now: datetime) -> QuerySet:
    # Assigned to the agent and not yet started (a supervisor gave it to them), or their own recall
    # whose time has come (an appointment with the customer). A task they are working on right now
    # is not handed out again.
    given = Q(status=TaskStatus.PENDING, recall_at__isnull=True) & _ready(now)
    return qs.filter(given | Q(recall_at__lte=now), assignee=agent)


def callback_tasks_claimable(agent, *, now: datetime | None = None) -> QuerySet[CallbackTask]:
    """What ``callback_task_claim_next`` chooses from, most urgent first (no locking)."""
    now = now or timezone.now()
    workable = callback_tasks_workable(agent)
    return (_free(workable, now) | _mine(workable, agent, now)).order_by(*CLAIM_ORDER)


def _more_urgent_than(task: CallbackTask) -> Q:
    return (
        Q(due_date__lt=task.due_date)
        | Q(due_date=task.due_date, priority__gt=task.priority)
        | Q(due_date=task.due_date, priority=task.priority, id__lt=task.id)
    )


# ---- services -------------------------------------------------------------------------------------


def _audit_assigned(task: CallbackTask, previous_id, *, actor, how: str, reason: str = "") -> None:
    audit_record(
        events.TASK_ASSIGNED,
        actor=actor,
        subject=task,
        data={
            "how": how,
            "from_user_id": previous_id,
            "to_user_id": task.assignee_id,
            "pool": task.pool,
            "reason": reason[:300],
        },
    )


def _assign(task: CallbackTask, user, *, actor, how: str, reason: str = "", now: datetime) -> CallbackTask:
    previous = task.assignee_id
    task.assignee = user
    task.assigned_at = now if user is not None else None
    task.save(update_fields=["assignee", "assigned_at", "updated_at"])
    _audit_assigned(task, previous, actor=actor, how=how, reason=reason)
    return task


# The claim's hot path is written in SQL (one compiled statement per candidate query instead of the
# ORM building the same filters on every claim, which cost more CPU than the database's work). It
# selects exactly what ``_free`` and ``_mine`` over ``callback_tasks_workable`` select, in
# ``CLAIM_ORDER`` (tests/callbacks/test_assignment.py compares the two on varied tasks). The
# status literals match the predicates of the partial claim indexes (cbtask_claim_free_idx,
# cbtask_claim_held_idx), so the planner can use them.
_OPEN_SQL = "t.status IN ('pending', 'in_progress')"
_READY_SQL = (
    "(t.channel_due_at IS NULL OR t.channel_due_at <= %(now)s)"
    " AND NOT (t.letter_visit_requested <> '' AND t.letter_visit_approved_by_id IS NULL)"
)
_ORDER_SQL = "ORDER BY t.due_date, t.priority DESC, t.id LIMIT 1"
_MORE_URGENT_SQL = (
    "(t.due_date < %(m_due)s OR (t.due_date = %(m_due)s AND t.priority > %(m_priority)s)"
    " OR (t.due_date = %(m_due)s AND t.priority = %(m_priority)s AND t.id < %(m_id)s))"
)
_TASK_COLUMNS = [f.column for f in CallbackTask._meta.concrete_fields]


def _in(column: str, name: str, values) -> tuple[str, dict]:
    """``column IN (…)`` with one named placeholder per value (both databases)."""
    names = {f"{name}{i}": value for i, value in enumerate(values)}
    return f"{column} IN ({', '.join(f'%({n})s' for n in names)})", names


def _claim_candidate(cursor, agent, now: datetime, scope: dict, *, mine, more_urgent=None):
    """The most urgent candidate row (id, status, assignee id, due date, priority) or None: the
    agent's own (``mine``) or a free one, more urgent than ``more_urgent`` when given; locked with
    SKIP LOCKED on PostgreSQL."""
    params = {"agent": agent.pk, "now": connection.ops.adapt_datetimefield_value(now)}
    where = [_OPEN_SQL]
    for column, name in (("t.org_unit_id", "unit"), ("t.pool", "pool")):
        sql, names = _in(column, name, scope[name])
        where.append(sql)
        params.update(names)
    if scope["sold"]:
        sql, names = _in("p.salesperson_id", "sold", scope["sold"])
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {Policy._meta.db_table} p WHERE p.id = t.policy_id AND {sql})"
        )
        params.update(names)
    if mine:
        where.append("t.assignee_id = %(agent)s")
        where.append(
            f"((t.status = 'pending' AND t.recall_at IS NULL AND {_READY_SQL}) OR t.recall_at <= %(now)s)"
        )
    else:
        where.append("t.assignee_id IS NULL")
        where.append(f"(t.recall_at IS NULL OR t.recall_at <= %(now)s) AND {_READY_SQL}")
        if more_urgent is not None:
            where.append(_MORE_URGENT_SQL)
            params.update(m_id=more_urgent[0], m_due=more_urgent[3], m_priority=more_urgent[4])
    lock = " FOR UPDATE OF t SKIP LOCKED" if connection.vendor == "postgresql" else ""
    cursor.execute(
        f"SELECT t.id, t.status, t.assignee_id, t.due_date, t.priority FROM {CallbackTask._meta.db_table} t "
        f"WHERE {' AND '.join(where)} {_ORDER_SQL}{lock}",
        params,
    )
    return cursor.fetchone()


def _task_from_row(values) -> CallbackTask:
    """A task read by raw SQL (all concrete columns in model order), converted as the ORM would."""
    fields = CallbackTask._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        col = field.get_col(CallbackTask._meta.db_table)
        for converter in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
            value = converter(value, col, connection)
        converted.append(value)
    return CallbackTask.from_db(connection.alias, [f.attname for f in fields], converted)


def callback_task_claim_next(agent, *, now: datetime | None = None) -> CallbackTask | None:
    """Hand ``agent`` the most urgent task they may work, assigned to them and in progress, or None.

    Two concurrent claimers never get the same task (row lock with SKIP LOCKED on PostgreSQL, an
    IMMEDIATE transaction on SQLite). Audited once: ``callback_task.assigned``, how="claim", with
    ``from_status`` and ``to_status`` (the status-change row records the transition as well).
    """
    now = now or timezone.now()
    if not agent_may_work(agent):
        raise PermissionDenied
    scope = {"unit": _subtree_ids(agent.org_unit), "pool": ["", *_skills(agent)], "sold": _sold_by(agent)}
    table = connection.ops.quote_name(CallbackTask._meta.db_table)
    # No savepoint: nothing in here is worth keeping if part of it fails.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Usually empty and cheap (held-task index): tasks given to this agent, or their due recalls.
        mine = _claim_candidate(cursor, agent, now, scope, mine=True)
        # The row lock taken here is the only one: the update below works on this row.
        row = _claim_candidate(cursor, agent, now, scope, mine=False, more_urgent=mine) or mine
        if row is None:
            return None
        task_id, from_status, previous = row[0], row[1], row[2]
        to_status = TaskStatus.IN_PROGRESS
        if from_status != to_status:  # their own recall may already be in progress
            check_transition(from_status, to_status)
        # The recall is made now: a claim clears it.
        cursor.execute(
            f"UPDATE {table} SET status = %s, assignee_id = %s, assigned_at = %s, recall_at = NULL,"
            f" updated_at = %s WHERE id = %s RETURNING {', '.join(_TASK_COLUMNS)}",
            [
                to_status,
                agent.pk,
                *map(connection.ops.adapt_datetimefield_value, (now, timezone.now())),
                task_id,
            ],
        )
        task = _task_from_row(cursor.fetchone())
        if from_status != to_status:
            TaskStatusChange.objects.bulk_create(
                [
                    TaskStatusChange(
                        task_id=task_id,
                        from_status=from_status,
                        to_status=to_status,
                        changed_by_id=agent.pk,
                        reason="claimed",
                    )
                ]
            )
        # Last write of the transaction: the audit chain's lock is held from here to the commit.
        audit_record(
            events.TASK_ASSIGNED,
            actor=agent,
            subject=task,
            data={
                "how": "claim",
                "from_user_id": previous,
                "to_user_id": agent.pk,
                "pool": task.pool,
                "reason": "",
                "from_status": from_status,
                "to_status": task.status,
            },
        )
        return task


def callback_task_reassign(task: CallbackTask, to_user, by, *, reason: str = "") -> CallbackTask:
    """A supervisor gives an open task to ``to_user`` (or back to the pool with ``to_user=None``).

    ``by`` needs ``supervise_callbacks`` (PermissionDenied otherwise) and must see the task's org unit
    (Http404 otherwise, as for a missing task); ``to_user`` must be someone ``by`` supervises (in
    their subtree) who may work the task (ValidationError on ``to_user`` otherwise). The task waits
    as ``pending`` until its new agent claims it. Audited (``callback_task.assigned``, how="reassign").
    """
    if not has_cap(by, Cap.SUPERVISE_CALLBACKS):
        raise PermissionDenied
    now = timezone.now()
    with transaction.atomic():
        locked = CallbackTask.objects.select_for_update(of=("self",)).select_related("org_unit")
        task = locked.filter(pk=task.pk).first()
        if task is None or not can_see_org_unit(by, task.org_unit):
            raise Http404
        if task.status not in OPEN_STATUSES:
            raise ValidationError(_("A closed task cannot be reassigned."))
        if to_user is not None:
            if not can_see_org_unit(by, to_user.org_unit):
                raise ValidationError({"to_user": _("This user is outside your org units.")})
            problem = agent_may_work_task(to_user, task)
            if problem:
                raise ValidationError({"to_user": problem})
        if task.assignee_id == (to_user.pk if to_user is not None else None):
            return task
        if task.status == TaskStatus.IN_PROGRESS:
            task = callback_task_set_status(task, TaskStatus.PENDING, actor=by, reason="reassigned")
        return _assign(task, to_user, actor=by, how="reassign", reason=reason, now=now)


@dataclass(frozen=True)
class ReleaseResult:
    released: int
    task_ids: list[int]


def callback_recalls_release(now: datetime | None = None, *, after: timedelta | None = None) -> ReleaseResult:
    """Return to the pool every open task whose recall is overdue by ``after`` (default
    ``recall_release_after()``) and that still belongs to an agent. Each release is audited
    (``callback_task.assigned``, how="recall_released"). Safe to run twice and beside claimers:
    rows being claimed right now are skipped and caught by the next run."""
    now = now or timezone.now()
    cutoff = now - (after if after is not None else recall_release_after())
    released: list[int] = []
    overdue = CallbackTask.objects.filter(
        status__in=OPEN_STATUSES, assignee__isnull=False, recall_at__lte=cutoff
    ).order_by("id")
    while True:
        with transaction.atomic():
            after_id = released[-1] if released else 0
            batch = list(overdue.filter(id__gt=after_id).select_for_update(skip_locked=True)[:200])
            for task in batch:
                if task.status == TaskStatus.IN_PROGRESS:
                    task = callback_task_set_status(task, TaskStatus.PENDING, reason="recall overdue")
                _assign(task, None, actor=None, how="recall_released", reason="recall overdue", now=now)
                released.append(task.pk)
        if len(batch) < 200:
            break
    return ReleaseResult(released=len(released), task_ids=released)
