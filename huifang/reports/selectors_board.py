"""Reads for the supervisor board (/board/): backlog, agents' load, risks, approvals, trends and the
task lists behind every figure.

Every read is scoped to the org units the viewer may see (``kpi_unit_ids``: their subtree, every
unit for ``view_all_orgs``; a chosen org unit outside it is Http404) and is a bounded number of
aggregate queries or a sliced list — never a loop over rows — so that the board's query count does
not grow with the data (pinned in tests/reports/test_views_board.py).

The task filters mean what they mean in huifang.reports.kpis (``KpiFilters``): the period is a range
of due dates, ``channel`` is the policy's sales channel, ``product`` the policy's product. The
drill-down lists (``board_task_list``) use the same definitions as ``kpi_callbacks`` so that a list
holds exactly the tasks its figure counts.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from huifang.callbacks.assignment import recall_release_after
from huifang.callbacks.models import (
    OPEN_STATUSES,
    Attempt,
    CallbackTask,
    ProblemCase,
    TaskKind,
    TaskStatus,
)
from huifang.core.calendar.services import CalendarYearUnconfirmed, add_working_days
from huifang.core.permissions import Cap, has_cap
from huifang.org.models import OrgUnit, User
from huifang.reports.kpis import (
    CALLED_BACK,
    LETTER_VISIT,
    KpiFilters,
    kpi_task_groups,
    kpi_trend,
    kpi_unit_ids,
    kpi_uses_task_counts,
)
from huifang.reports.models import TaskCount

BACKLOG_WORKING_DAYS = 3  # issue 5: backlog due today, in the next 3 working days, overdue
AT_RISK_WORKING_DAYS = 3  # cooling-off end within this many working days (BS-12)
PROBLEM_NEAR_WORKING_DAYS = 3  # problem cases due within this many working days (BS-17)
LIST_LIMIT = 20  # rows shown in a board card; the full list is the drill-down
AGENT_LIMIT = 50


# Tasks are counted by their due date, never null, rather than their id: the board's task indexes
# (cbtask_org_status_due_idx, cbtask_kpi_due_idx) hold the due date but not the id, so the counts
# are index-only scans instead of a read of every counted task's row.
_ROWS = "due_date"


def _horizon(today: date, working_days: int) -> date:
    """``today`` + N working days (calendar service); N calendar days if the year is not confirmed,
    so that the board still shows (the deadlines themselves refuse an unconfirmed year)."""
    try:
        return add_working_days(today, working_days)
    except CalendarYearUnconfirmed:
        return today + timedelta(days=working_days)


# ---- scope and filters ----------------------------------------------------------------------------


def board_units(viewer, org_unit: OrgUnit | None = None) -> list[int] | None:
    """Org unit ids the board counts for ``viewer`` (None: all). Http404 for an org unit outside."""
    return kpi_unit_ids(viewer, org_unit)


def board_org_unit_choices(viewer) -> QuerySet[OrgUnit]:
    units = OrgUnit.objects.order_by("path")
    if has_cap(viewer, Cap.VIEW_ALL_ORGS) or viewer.is_superuser:
        return units
    if viewer.org_unit_id is None:
        return units.none()
    return units.filter(path__startswith=viewer.org_unit.path)


def _filtered(qs: QuerySet, units, f: KpiFilters | None, prefix: str = "") -> QuerySet:
    """Tasks (or rows reached through ``prefix``, e.g. ``"task__"``) in ``units`` and the sales
    channel / product / agent / kind filters of ``f`` (not its period)."""
    lookups: dict = {}
    if units is not None:
        lookups["org_unit_id__in"] = units
    if f is not None:
        if f.channel:
            lookups["policy__channel"] = f.channel
        if f.product is not None:
            lookups["policy__product_id"] = f.product.pk
        if f.agent is not None:
            lookups["assignee_id"] = f.agent.pk
        if f.kind:
            lookups["kind"] = f.kind
        if f.callback_channel:
            lookups["channel"] = f.callback_channel
    return qs.filter(**{prefix + key: value for key, value in lookups.items()})


def _period(qs: QuerySet, f: KpiFilters, prefix: str = "") -> QuerySet:
    return qs.filter(**{prefix + "due_date__gte": f.start, prefix + "due_date__lte": f.end})


# ---- the board's cards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    overdue: int
    today: int
    next_days: int
    later: int
    horizon: date

    @property
    def total(self) -> int:
        return self.overdue + self.today + self.next_days + self.later


def board_backlog(units, f: KpiFilters | None, today: date) -> Backlog:
    """Open tasks by due date: overdue, due today, due in the next 3 working days, later (one
    aggregate query: of the task counts the database keeps, or — with agent, sales-channel or
    product filters — of the open tasks themselves)."""
    horizon = _horizon(today, BACKLOG_WORKING_DAYS)
    buckets = {
        "overdue": Q(due_date__lt=today),
        "today": Q(due_date=today),
        "next_days": Q(due_date__gt=today, due_date__lte=horizon),
        "later": Q(due_date__gt=horizon),
    }
    if f is None or kpi_uses_task_counts(f):
        qs = TaskCount.objects.filter(status__in=OPEN_STATUSES)
        if units is not None:
            qs = qs.filter(org_unit_id__in=units)
        if f is not None and f.kind:
            qs = qs.filter(kind=f.kind)
        if f is not None and f.callback_channel:
            qs = qs.filter(channel=f.callback_channel)
        counts = qs.aggregate(**{name: Sum("n", filter=q) for name, q in buckets.items()})
        counts = {name: value or 0 for name, value in counts.items()}
    else:
        open_tasks = _filtered(CallbackTask.objects.filter(status__in=OPEN_STATUSES), units, f)
        counts = open_tasks.aggregate(**{name: Count(_ROWS, filter=q) for name, q in buckets.items()})
    return Backlog(horizon=horizon, **counts)


@dataclass
class AgentRow:
    user: User
    open: int = 0
    in_progress: int = 0
    overdue: int = 0
    attempts_today: int = 0
    reached_today: int = 0
    closed_today: int = 0
    success_today: int = 0


def _local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return start, start + timedelta(days=1)


def board_agents(units, f: KpiFilters | None, today: date) -> list[AgentRow]:
    """Per agent: open tasks they hold (in progress, overdue) and what they did today (submitted
    attempts, reached, tasks closed and succeeded today). Three grouped queries; agents with the
    most open tasks first, at most ``AGENT_LIMIT``."""
    day_start, day_end = _local_day_bounds(today)
    held = (
        _filtered(CallbackTask.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False), units, f)
        .values("assignee_id")
        .annotate(
            open=Count(_ROWS),
            in_progress=Count(_ROWS, filter=Q(status=TaskStatus.IN_PROGRESS)),
            overdue=Count(_ROWS, filter=Q(due_date__lt=today)),
        )
        .order_by()
    )
    done = (
        _filtered(
            Attempt.objects.filter(
                submitted_at__gte=day_start, submitted_at__lt=day_end, agent__isnull=False
            ),
            units,
            f,
            "task__",
        )
        .values("agent_id")
        .annotate(
            attempts=Count("id"),
            reached=Count("id", filter=Q(disposition=Attempt.Disposition.REACHED)),
        )
        .order_by()
    )
    closed = (
        _filtered(
            CallbackTask.objects.filter(
                closed_at__gte=day_start, closed_at__lt=day_end, assignee__isnull=False
            ),
            units,
            f,
        )
        .values("assignee_id")
        .annotate(closed=Count(_ROWS), success=Count(_ROWS, filter=Q(status=TaskStatus.SUCCESS)))
        .order_by()
    )
    rows: dict[int, dict] = {}
    for row in held:
        rows.setdefault(row["assignee_id"], {}).update(
            open=row["open"], in_progress=row["in_progress"], overdue=row["overdue"]
        )
    for row in done:
        rows.setdefault(row["agent_id"], {}).update(
            attempts_today=row["attempts"], reached_today=row["reached"]
        )
    for row in closed:
        rows.setdefault(row["assignee_id"], {}).update(
            closed_today=row["closed"], success_today=row["success"]
        )
    order = sorted(rows, key=lambda pk: (-rows[pk].get("open", 0), -rows[pk].get("attempts_today", 0), pk))
    order = order[:AGENT_LIMIT]
    users = User.objects.select_related("org_unit").in_bulk(order)
    return [AgentRow(user=users[pk], **rows[pk]) for pk in order if pk in users]


def _task_rows(qs: QuerySet) -> QuerySet[CallbackTask]:
    return qs.select_related("policy", "policy__product", "customer", "org_unit", "assignee")


def board_at_risk(units, f: KpiFilters | None, today: date) -> tuple[int, list[CallbackTask], date]:
    """Open new-policy tasks whose policy's cooling-off end is today or within the next
    ``AT_RISK_WORKING_DAYS`` working days (BS-12: the callback is completed inside the cooling-off
    period). Count and the most urgent rows."""
    horizon = _horizon(today, AT_RISK_WORKING_DAYS)
    qs = at_risk_queryset(units, f, today, horizon)
    # The most urgent ids first (from the indexes alone), then the rows shown: the related rows of
    # the card are joined for those only, not for every task at risk.
    order = ("policy__cooling_off_end", "id")
    first = qs.order_by(*order).values("pk")[:LIST_LIMIT]
    rows = _task_rows(CallbackTask.objects.filter(pk__in=first)).order_by(*order)
    return qs.count(), list(rows), horizon


def at_risk_queryset(units, f, today: date, horizon: date) -> QuerySet[CallbackTask]:
    """A new-policy task is due on its policy's cooling-off end (BS-12; generation sets it, and the
    records hook moves it with a corrected receipt date), so the task's own due date narrows the
    open tasks through cbtask_org_status_due_idx before any policy is read; the policy's date
    still decides."""
    return _filtered(
        CallbackTask.objects.filter(
            status__in=OPEN_STATUSES,
            kind=TaskKind.NEW_POLICY,
            due_date__gte=today,
            due_date__lte=horizon,
            policy__cooling_off_end__gte=today,
            policy__cooling_off_end__lte=horizon,
        ),
        units,
        f,
    )


def awaiting_approval_queryset(units, f) -> QuerySet[CallbackTask]:
    """Open tasks with a letter or visit requested and not yet approved (KP-04, EC-05)."""
    return _filtered(
        CallbackTask.objects.filter(status__in=OPEN_STATUSES, letter_visit_approved_by__isnull=True).exclude(
            letter_visit_requested=""
        ),
        units,
        f,
    )


def board_awaiting_approval(units, f) -> tuple[int, list[CallbackTask]]:
    qs = awaiting_approval_queryset(units, f)
    return qs.count(), list(_task_rows(qs).order_by("due_date", "id")[:LIST_LIMIT])


def stale_recalls_queryset(units, f, now: datetime | None = None) -> QuerySet[CallbackTask]:
    """Open tasks still held by an agent whose recall is overdue by the release delay
    (``HUIFANG_RECALL_RELEASE_MINUTES``): the ones the periodic release would hand back."""
    now = now or timezone.now()
    cutoff = now - recall_release_after()
    return _filtered(
        CallbackTask.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False, recall_at__lte=cutoff),
        units,
        f,
    )


def board_stale_recalls(units, f, now=None) -> tuple[int, list[CallbackTask]]:
    qs = stale_recalls_queryset(units, f, now)
    return qs.count(), list(_task_rows(qs).order_by("recall_at", "id")[:LIST_LIMIT])


def problems_near_queryset(units, f, today: date, horizon: date) -> QuerySet[ProblemCase]:
    qs = ProblemCase.objects.filter(status=ProblemCase.Status.OPEN, due_date__lte=horizon)
    if units is not None:
        qs = qs.filter(org_unit_id__in=units)
    if f is not None:
        if f.channel:
            qs = qs.filter(task__policy__channel=f.channel)
        if f.product is not None:
            qs = qs.filter(task__policy__product_id=f.product.pk)
    return qs


def board_problems_near(units, f, today: date) -> tuple[int, list[ProblemCase], date]:
    """Open problem cases due within ``PROBLEM_NEAR_WORKING_DAYS`` working days or overdue (BS-17:
    15 working days from discovery)."""
    horizon = _horizon(today, PROBLEM_NEAR_WORKING_DAYS)
    qs = problems_near_queryset(units, f, today, horizon)
    rows = qs.select_related("task", "task__policy", "org_unit", "handler").order_by("due_date", "id")
    return qs.count(), list(rows[:LIST_LIMIT]), horizon


# ---- trends ---------------------------------------------------------------------------------------


def board_trend(units, f: KpiFilters, granularity: str = "week") -> list[dict]:
    """The KPI trend of the period over ``units`` (``kpis.kpi_trend``: one grouped scan of the
    period's tasks). The board takes it from ``kpi_callbacks(…, trend=…)``, which shares the scan
    with the KPI tiles."""
    return kpi_trend(kpi_task_groups(f, units, by_day=True), granularity)


# ---- drill-down: the tasks behind a figure --------------------------------------------------------

# figure → (label, needs the period)
TASK_FIGURES = (
    "due",
    "denominator",
    "success",
    "success_cooling_off",
    "refused",
    "cancelled_before_callback",
    "failed",
    "problem_found",
    "open",
    "called_back",
    "letter_visit",
    "overdue",
    "today",
    "next_days",
    "at_risk",
    "awaiting_approval",
    "stale_recalls",
    "held",
)
PERIOD_FIGURES = {
    "due",
    "denominator",
    "success",
    "success_cooling_off",
    "refused",
    "cancelled_before_callback",
    "failed",
    "problem_found",
    "open",
    "called_back",
    "letter_visit",
}


def board_task_list(
    units, f: KpiFilters, figure: str, today: date, now: datetime | None = None
) -> QuerySet[CallbackTask]:
    """The tasks behind one board figure, in due-date order. Period figures are the tasks due in
    ``f``'s period (as ``kpi_callbacks`` counts them); backlog and risk figures are open tasks now,
    whatever the period."""
    s = TaskStatus
    base = _filtered(CallbackTask.objects.all(), units, f)
    if figure in PERIOD_FIGURES:
        qs = _period(base, f)
        by_status = {
            "success": Q(status=s.SUCCESS),
            "success_cooling_off": Q(status=s.SUCCESS, succeeded_in_cooling_off=True),
            "refused": Q(status=s.REFUSED),
            "cancelled_before_callback": Q(status=s.CANCELLED_BEFORE_CALLBACK),
            "failed": Q(status=s.FAILED),
            "problem_found": Q(status=s.PROBLEM_FOUND),
            "open": Q(status__in=OPEN_STATUSES),
            "called_back": Q(status__in=CALLED_BACK),
        }
        if figure in by_status:
            qs = qs.filter(by_status[figure])
        elif figure == "denominator":  # RULES.md KP-01: due − refused − cancelled before the callback
            qs = qs.exclude(status__in=(s.REFUSED, s.CANCELLED_BEFORE_CALLBACK))
        elif figure == "letter_visit":  # RULES.md KP-03: the deciding (last) attempt was a letter/visit
            qs = qs.filter(status__in=CALLED_BACK, last_attempt_channel__in=LETTER_VISIT)
    elif figure in ("overdue", "today", "next_days"):
        horizon = _horizon(today, BACKLOG_WORKING_DAYS)
        qs = base.filter(status__in=OPEN_STATUSES)
        qs = qs.filter(
            {
                "overdue": Q(due_date__lt=today),
                "today": Q(due_date=today),
                "next_days": Q(due_date__gt=today, due_date__lte=horizon),
            }[figure]
        )
    elif figure == "at_risk":
        qs = at_risk_queryset(units, f, today, _horizon(today, AT_RISK_WORKING_DAYS))
    elif figure == "awaiting_approval":
        qs = awaiting_approval_queryset(units, f)
    elif figure == "stale_recalls":
        qs = stale_recalls_queryset(units, f, now)
    elif figure == "held":  # open tasks an agent holds (with the agent filter: that agent's)
        qs = base.filter(status__in=OPEN_STATUSES, assignee__isnull=False)
    else:
        raise ValueError(figure)
    return _task_rows(qs).order_by("due_date", "id")


def problem_case_figure_list(units, f: KpiFilters) -> QuerySet[ProblemCase]:
    """The problem cases behind the BS-17 tile: those due in the period (as ``kpi_callbacks``
    counts them), in due-date order."""
    qs = ProblemCase.objects.filter(due_date__gte=f.start, due_date__lte=f.end)
    if units is not None:
        qs = qs.filter(org_unit_id__in=units)
    if f.channel:
        qs = qs.filter(task__policy__channel=f.channel)
    if f.product is not None:
        qs = qs.filter(task__policy__product_id=f.product.pk)
    if f.agent is not None:
        qs = qs.filter(handler_id=f.agent.pk)
    return qs.select_related("task", "task__policy", "org_unit", "handler").order_by("due_date", "id")


def reassign_candidates(viewer) -> QuerySet[User]:
    """Active users in ``viewer``'s own subtree who work callbacks (the work scope is one's own
    subtree, even for someone who reads every org unit)."""
    if viewer.org_unit_id is None:
        return User.objects.none()
    return (
        User.objects.filter(
            is_active=True,
            org_unit__path__startswith=viewer.org_unit.path,
        )
        .filter(
            Q(groups__permissions__codename=Cap.WORK_CALLBACKS)
            | Q(user_permissions__codename=Cap.WORK_CALLBACKS)
        )
        .select_related("org_unit")
        .distinct()
        .order_by("org_unit__path", "username")
    )
