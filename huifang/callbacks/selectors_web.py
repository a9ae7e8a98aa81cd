"""Reads behind the agent workbench and the problem-case desk (huifang.callbacks.views).

Who may see what:

* **A callback task** (``task_access``): the user works callbacks (``work_callbacks``) or supervises
  them (``supervise_callbacks``); the task's org unit is in their scope; they did not sell the
  policy (separation of duties). An agent sees a task that is theirs or nobody's; another agent's
  task is a 404, the same answer as a missing one. A supervisor sees every task in scope,
  read-only unless it is assigned to them.
* **A problem case** (``problem_access``): ``handle_problem_cases``, the case's org unit in scope,
  and never a case of a policy the handler sold (RULES.md BS-17) — otherwise 404.

Every list here is bounded (a fixed number of queries, rows capped or paginated), so the pages stay
fast with millions of policies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import get_language

from huifang.callbacks.assignment import agent_may_work_task, callback_tasks_workable
from huifang.callbacks.channels import SHANGHAI, customer_window, phone_attempts_max, user_in_work_scope
from huifang.callbacks.explain import task_explain
from huifang.callbacks.models import OPEN_STATUSES, Attempt, CallbackTask, Channel, ProblemCase
from huifang.callbacks.scripts import RenderedItem, script_for_task, script_render
from huifang.core.permissions import Cap, has_cap, scope_queryset

MY_TASKS_LIMIT = 100
NEAR_DEADLINE_WORKING_DAYS = 3  # a problem case this close to its BS-17 deadline is highlighted


def _today() -> date:
    return timezone.localdate(timezone=SHANGHAI)


# ---- the agent's home -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentCounts:
    due_today: int
    overdue: int
    recalls: int
    recalls_due: int
    problem_cases_open: int


def agent_counts(user, *, now: datetime | None = None) -> AgentCounts:
    """The agent's queue at a glance: open tasks they may work (theirs or nobody's) due today and
    overdue, their recalls (all, and those whose time has come), and the open problem cases found
    in their own calls. Three aggregate queries, each on an index (due date within the org subtree;
    the assignee; the attempt's agent), whatever the size of the book."""
    now = now or timezone.now()
    today = timezone.localdate(now, SHANGHAI)
    queue = callback_tasks_workable(user).filter(
        Q(assignee__isnull=True) | Q(assignee=user), due_date__lte=today
    )
    due = queue.aggregate(
        due_today=Count("id", filter=Q(due_date=today)),
        overdue=Count("id", filter=Q(due_date__lt=today)),
    )
    recalls = CallbackTask.objects.filter(
        assignee=user, status__in=OPEN_STATUSES, recall_at__isnull=False
    ).aggregate(total=Count("id"), due=Count("id", filter=Q(recall_at__lte=now)))
    cases = ProblemCase.objects.filter(attempt__agent=user, status=ProblemCase.Status.OPEN).count()
    return AgentCounts(
        due_today=due["due_today"] or 0,
        overdue=due["overdue"] or 0,
        recalls=recalls["total"] or 0,
        recalls_due=recalls["due"] or 0,
        problem_cases_open=cases,
    )


def agent_open_tasks(user, *, limit: int = MY_TASKS_LIMIT) -> list[CallbackTask]:
    """The open tasks assigned to ``user``, recalls first by their time, then by due date."""
    return list(
        CallbackTask.objects.filter(assignee=user, status__in=OPEN_STATUSES)
        .select_related("policy", "policy__product", "customer")
        .order_by("due_date", "id")[:limit]
    )


# ---- one task ---------------------------------------------------------------------------------------


def _task_qs() -> QuerySet[CallbackTask]:
    return CallbackTask.objects.select_related(
        "policy",
        "policy__product",
        "policy__salesperson",
        "policy__applicant",
        "customer",
        "customer__org_unit",
        "org_unit",
        "assignee",
        "rule_version",
        "rule_version__pack",
    )


def _sold_by(task: CallbackTask, user) -> bool:
    salesperson = task.policy.salesperson if task.policy_id else None
    return bool(salesperson and salesperson.staff_user_id and salesperson.staff_user_id == user.pk)


@dataclass
class TaskAccess:
    task: CallbackTask
    can_work: bool  # may submit attempts, schedule a recall, request a letter or visit
    supervising: bool  # sees it as a supervisor (read-only unless it is theirs)
    why_read_only: str = ""


def task_access(user, pk: int) -> TaskAccess:
    """The task ``pk`` as ``user`` may see it, or Http404 (missing, out of scope, sold by the user,
    or another agent's task for someone who does not supervise). The caller checks capabilities
    first (403)."""
    works = has_cap(user, Cap.WORK_CALLBACKS)
    supervises = has_cap(user, Cap.SUPERVISE_CALLBACKS)
    if not (works or supervises):
        raise Http404
    task = scope_queryset(user, _task_qs()).filter(pk=pk).first()
    if task is None or _sold_by(task, user):
        raise Http404
    mine = task.assignee_id == user.pk
    if not supervises and not (mine or task.assignee_id is None):
        raise Http404  # another agent's task: the same answer as a missing one
    if works and not supervises and not mine and agent_may_work_task(user, task) is not None:
        raise Http404  # a queued task outside the agent's pools or work scope
    # Working needs what the engine checks (callback_user_check): the capability, the task in the
    # user's own org subtree, not their sale. Pools route the queue; a task given to the agent is
    # theirs to work.
    can_work = works and mine and task.status in OPEN_STATUSES and user_in_work_scope(user, task.org_unit)
    why = ""
    if not can_work:
        if task.status not in OPEN_STATUSES:
            why = "closed"
        elif not mine:
            why = "not_mine"
        else:
            why = "not_workable"
    return TaskAccess(task=task, can_work=can_work, supervising=supervises and not mine, why_read_only=why)


@dataclass
class AttemptRow:
    attempt: Attempt
    answers: list[dict] = field(default_factory=list)


def task_attempts(task: CallbackTask, texts: dict[str, RenderedItem] | None = None) -> list[AttemptRow]:
    """The submitted attempts of ``task`` in the order they were made, each with its answers in
    script order (the item text as rendered now, the answer, the expected answer)."""
    rows = []
    attempts = (
        Attempt.objects.filter(task=task, submitted_at__isnull=False)
        .select_related("agent")
        .order_by("started_at", "id")
    )
    for attempt in attempts:
        answers = []
        for code, value in (attempt.answers or {}).items():
            item = (texts or {}).get(code)
            answers.append(
                {
                    "code": code,
                    "text": item.text if item else code,
                    "position": item.position if item else 999,
                    "rule_id": value.get("rule_id") or (item.rule_id if item else ""),
                    "answer": value.get("answer", ""),
                    "expected": value.get("expected", "any"),
                    "wrong": value.get("expected") in ("yes", "no")
                    and value.get("answer") != value.get("expected"),
                }
            )
        answers.sort(key=lambda a: a["position"])
        rows.append(AttemptRow(attempt=attempt, answers=answers))
    return rows


def task_script(task: CallbackTask) -> tuple[object | None, list[RenderedItem]]:
    """The script for ``task`` and its items rendered for the task's policy (hidden ones included,
    ``visible=False``)."""
    script = script_for_task(task)
    if script is None:
        return None, []
    return script, script_render(script, task.policy, customer=task.customer)


def task_explanation(task: CallbackTask) -> dict:
    """``task_explain`` with the line in the page's language under ``line``."""
    explained = task_explain(task)
    zh = (get_language() or "zh-hans").lower().startswith("zh")
    explained["line"] = explained["text_zh"] if zh else explained["text"]
    return explained


def task_problem_cases(task: CallbackTask) -> list[ProblemCase]:
    return list(ProblemCase.objects.filter(task=task).order_by("id"))


@dataclass(frozen=True)
class ContactInfo:
    window: tuple | None  # the customer's preferred window (start, end) or None
    do_not_call_until: date | None
    phone_attempts: int
    phone_attempts_max: int


def task_contact_info(task: CallbackTask) -> ContactInfo:
    customer = task.customer
    until = (
        customer.do_not_call_until
        if customer.do_not_call_until and customer.do_not_call_until >= _today()
        else None
    )
    return ContactInfo(
        window=customer_window(customer),
        do_not_call_until=until,
        phone_attempts=task.phone_attempts,
        phone_attempts_max=phone_attempts_max(),
    )


KP03_CACHE_SECONDS = 300


def letter_visit_share(user):
    """KP-03 for the user's org unit this month (tasks due this month): the share of callbacks
    decided by a letter or a visit, against the 10 % limit. The figure is a monthly ratio shown
    beside a request, so it is kept for a few minutes per org unit rather than recounted on every
    task page (six aggregate queries over the unit's month)."""
    from huifang.reports.kpis import KpiFilters, kpi_callbacks

    today = _today()
    key = f"work:kp03:{user.org_unit_id}:{today:%Y-%m}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    start = today.replace(day=1)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    end = date.fromordinal(following.toordinal() - 1)
    kpis = kpi_callbacks(user, KpiFilters(start=start, end=end, org_unit=user.org_unit), today=today)
    result = (kpis.letter_visit_share, kpis.letter_visit_alert)
    cache.set(key, result, KP03_CACHE_SECONDS)
    return result


def attempt_channel(task: CallbackTask) -> str:
    """The channel an agent's attempt uses: the task's, except that an agent calling an electronic
    task calls by phone (EC-05)."""
    return Channel.PHONE if task.channel == Channel.ELECTRONIC else task.channel


def attempt_for_recording(user, pk: int) -> Attempt:
    """A submitted attempt with a stored recording, for someone who may see its task (the task
    rules above) or handle its problem cases (scope, not the salesperson); else Http404."""
    attempt = (
        Attempt.objects.select_related("task", "task__policy", "task__policy__salesperson", "task__org_unit")
        .filter(pk=pk, submitted_at__isnull=False)
        .exclude(recording="")
        .first()
    )
    if attempt is None:
        raise Http404
    task = attempt.task
    handles = has_cap(user, Cap.HANDLE_PROBLEM_CASES) and not _sold_by(task, user)
    if handles and scope_queryset(user, CallbackTask.objects.filter(pk=task.pk)).exists():
        return attempt
    task_access(user, task.pk)  # Http404 unless the task itself may be seen
    return attempt


# ---- the problem-case desk --------------------------------------------------------------------------


def _cases_qs(user) -> QuerySet[ProblemCase]:
    qs = scope_queryset(
        user,
        ProblemCase.objects.select_related(
            "task", "task__policy", "task__policy__product", "task__customer", "org_unit", "handler"
        ),
    )
    # BS-17: never a case of a policy the handler sold.
    return qs.exclude(task__policy__salesperson__staff_user=user)


def problem_desk(user) -> QuerySet[ProblemCase]:
    """Open problem cases in the handler's org subtree (never of a policy they sold), by due date."""
    return _cases_qs(user).filter(status=ProblemCase.Status.OPEN).order_by("due_date", "id")


def problem_access(user, number: str) -> ProblemCase:
    """One problem case the handler may see, or Http404 (missing, out of scope, or their own sale)."""
    if not number or "\x00" in number or len(number) > 30:
        raise Http404
    case = _cases_qs(user).filter(number=number).first()
    if case is None:
        raise Http404
    return case


def working_days_left(due: date, today: date | None = None) -> int | None:
    """Working days from today to ``due`` (negative once overdue), or None when the calendar year
    is not confirmed (never a guess)."""
    from huifang.core.calendar.services import working_days_between

    try:
        return working_days_between(today or _today(), due)
    except ValueError:
        return None
