"""Callback KPIs (selectors): success rate (KP-01), success inside the cooling-off period, coverage
(BS-12, KP-05), letter/visit share (KP-03), problem cases resolved on time (BS-17), attempts per
success.

The period is a range of **due dates** ``[start, end]`` (both included): a task counts in the period
its due date falls in, whatever day it was closed. Filters narrow the tasks: an org unit (its whole
subtree, always inside the viewer's own org units), the policy's sales channel (``channel``: agency,
bank, phone, internet, group), the policy's product, the agent (the task's assignee), the task kind
and the task's callback channel (``callback_channel``: electronic, phone, letter, visit).

Definitions, as computed:

* **due** — tasks due in the period. **success**, **refused**, **cancelled_before_callback**,
  **failed**, **problem_found**, **open** — of those, by status now.
* **success rate (KP-01)** = success / (due − refused − cancelled_before_callback); tasks still open
  count in the denominator (they are due and have not succeeded). None when the denominator is 0.
  Flagged below the KP-02 target (90 %).
* **success inside the cooling-off period** = successes with ``succeeded_in_cooling_off`` / the KP-01
  denominator.
* **coverage (BS-12, KP-05: 100 %)** = policies that required a new-policy callback and have a
  new-policy task / policies that required one. A policy requires one when it is individual, long
  term, life or health, and its receipt (回执) was signed in the period. Policies are filtered by
  org unit, channel and product; coverage is not an agent's or a callback channel's figure, so it is
  None when those filters are given.
* **letter/visit share (KP-03: ≤ 10 %)** = callbacks whose deciding attempt was a letter or a visit /
  callbacks made. Callbacks made = tasks closed as success, failed, refused or problem found (a task
  cancelled before its callback was never called back). The deciding attempt is the last submitted
  attempt: for a success that is the successful attempt, because success closes the task.
  ``letter_visit_alert`` is true above 10 %.
* **problem cases resolved on time (BS-17)** = problem cases resolved on or before their due date
  (the resolution's local date, Asia/Shanghai) / problem cases resolved; problem cases are taken by
  *their own* due date in the period and their own org unit; the agent filter means their handler.
  ``problem_cases_open_overdue`` counts those still open after their due date.
* **attempts per success** = submitted attempts on the tasks due in the period / successes.

The figures come from four aggregate queries, never a loop over rows:

1. one grouped scan of the tasks due in the period — by status, cooling-off flag and deciding
   channel, with the sum of their submitted attempts — gives every task figure, KP-03 and the
   attempts per success: the attempt count and the deciding attempt's channel are kept on the task
   row by database triggers when an attempt is submitted (huifang/callbacks/migrations/
   0004_task_attempt_facts.py), so no attempt is read. With no policy filter it is an index-only
   scan of ``cbtask_kpi_due_idx`` (huifang/reports/migrations/0002_kpi_index_with_attempt_facts.py);
2. coverage: the policies that required a callback, and those of them with a new-policy task
   (a hash semi-join over ``cbtask_policy_kind_idx``, index only) — a scan of the policies each, and
   now most of the time on a large book;
3. the problem cases.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from huifang.callbacks.models import CallbackTask, Channel, ProblemCase, TaskKind, TaskStatus
from huifang.core.permissions import Cap, can_see_org_unit, has_cap
from huifang.org.models import OrgUnit
from huifang.records.models import Policy, Product
from huifang.reports.models import TaskCount

SHANGHAI = ZoneInfo("Asia/Shanghai")
SUCCESS_TARGET = 0.90  # RULES.md KP-02: success rate ≥ 90 %
LETTER_VISIT_LIMIT = 0.10  # RULES.md KP-03: letters and visits ≤ 10 % of all callbacks
LETTER_VISIT = (Channel.LETTER, Channel.VISIT)
# Closed after a callback was made (a task cancelled before its callback was never called back).
CALLED_BACK = (TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.REFUSED, TaskStatus.PROBLEM_FOUND)
COVERAGE_LINES = (Product.Line.LIFE, Product.Line.HEALTH)


@dataclass(frozen=True)
class Ratio:
    """A KPI as numerator / denominator, with the rule that defines it."""

    rule: str
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class KpiFilters:
    start: date
    end: date
    org_unit: OrgUnit | None = None
    channel: str | None = None
    product: Product | None = None
    agent: object | None = None
    kind: str | None = None
    callback_channel: str | None = None


@dataclass(frozen=True)
class CallbackKpis:
    filters: KpiFilters
    due: int
    success: int
    refused: int
    cancelled_before_callback: int
    failed: int
    problem_found: int
    open: int
    success_rate: Ratio
    success_in_cooling_off: Ratio
    coverage: Ratio | None
    letter_visit_share: Ratio
    problem_cases_due: int
    problem_cases_on_time: Ratio
    problem_cases_open_overdue: int
    attempts_per_success: Ratio
    trend: list[dict] | None = None
    targets: dict = field(
        default_factory=lambda: {"success_rate": SUCCESS_TARGET, "letter_visit_share": LETTER_VISIT_LIMIT}
    )

    @property
    def success_below_target(self) -> bool | None:
        value = self.success_rate.value
        return None if value is None else value < SUCCESS_TARGET

    @property
    def letter_visit_alert(self) -> bool:
        value = self.letter_visit_share.value
        return value is not None and value > LETTER_VISIT_LIMIT


def kpi_unit_ids(viewer, org_unit: OrgUnit | None) -> list[int] | None:
    """Org unit ids the KPIs may count for ``viewer`` (None: all of them). An ``org_unit`` outside
    the viewer's org units is Http404, the same answer as for one that does not exist."""
    if org_unit is not None:
        if not can_see_org_unit(viewer, org_unit):
            raise Http404
        root = org_unit
    elif has_cap(viewer, Cap.VIEW_ALL_ORGS) or getattr(viewer, "is_superuser", False):
        return None
    elif viewer is not None and viewer.org_unit_id:
        root = viewer.org_unit
    else:
        return []
    return list(OrgUnit.objects.filter(path__startswith=root.path).order_by().values_list("id", flat=True))


def _task_q(f: KpiFilters, units: list[int] | None, prefix: str = "") -> Q:
    """The tasks of the period and filters, as a Q over ``prefix`` (``""`` or ``"task__"``)."""

    def q(**lookups) -> Q:
        return Q(**{prefix + key: value for key, value in lookups.items()})

    out = q(due_date__gte=f.start, due_date__lte=f.end)
    if units is not None:
        out &= q(org_unit_id__in=units)
    if f.channel:
        out &= q(policy__channel=f.channel)
    if f.product is not None:
        out &= q(policy__product_id=f.product.pk)
    if f.agent is not None:
        out &= q(assignee_id=f.agent.pk)
    if f.kind:
        out &= q(kind=f.kind)
    if f.callback_channel:
        out &= q(channel=f.callback_channel)
    return out


def kpi_uses_task_counts(f: KpiFilters) -> bool:
    """Whether the figures of ``f`` come from the task counts (huifang.reports.models.TaskCount),
    which know the org unit, kind and callback channel of a task but not its agent or its policy's
    sales channel and product: with those filters the tasks themselves are scanned."""
    return f.agent is None and not f.channel and f.product is None


def kpi_task_groups(f: KpiFilters, units, *, by_day: bool = False) -> list[tuple]:
    """Tasks of the period grouped by status, cooling-off flag and deciding channel (and, with
    ``by_day``, due date), with their count and submitted attempts. Rows are (due date or None,
    status, in cooling-off, deciding channel, n, attempts).

    Without agent, sales-channel or product filters the rows add up the task counts the database
    keeps (a few rows per day and org unit); otherwise one grouped scan of the period's tasks
    (an index-only scan of ``cbtask_kpi_due_idx`` without a policy filter). Either way no attempt
    is read: the attempt facts are kept on the task row."""
    columns = ["status", "succeeded_in_cooling_off", "last_attempt_channel"]
    day = ["due_date"] if by_day else []
    if kpi_uses_task_counts(f):
        qs = TaskCount.objects.filter(due_date__gte=f.start, due_date__lte=f.end)
        if units is not None:
            qs = qs.filter(org_unit_id__in=units)
        if f.kind:
            qs = qs.filter(kind=f.kind)
        if f.callback_channel:
            qs = qs.filter(channel=f.callback_channel)
        groups = qs.values_list(*day, *columns).annotate(n=Sum("n"), attempts=Sum("attempts")).order_by()
    else:
        groups = (
            CallbackTask.objects.filter(_task_q(f, units))
            .values_list(*day, *columns)
            .annotate(n=Count("*"), attempts=Sum("attempts_submitted"))
            .order_by()
        )
    rows = [tuple(row) if by_day else (None, *row) for row in groups]
    return [row for row in rows if row[-2] or row[-1]]  # keys whose counts add up to nothing


def _task_counts(groups: list[tuple]) -> dict:
    """The task figures of the period from ``kpi_task_groups`` rows."""
    by_status: dict[str, int] = {}
    cooling_off = letter_visit = attempts = 0
    for _day, status, in_cooling_off, deciding_channel, n, submitted in groups:
        by_status[status] = by_status.get(status, 0) + n
        attempts += submitted or 0
        if status == TaskStatus.SUCCESS and in_cooling_off:
            cooling_off += n
        # RULES.md KP-03: a callback made whose deciding (last) attempt was a letter or a visit.
        if status in CALLED_BACK and deciding_channel in LETTER_VISIT:
            letter_visit += n
    s = TaskStatus
    return {
        "due": sum(by_status.values()),
        "success": by_status.get(s.SUCCESS, 0),
        "success_cooling_off": cooling_off,
        "refused": by_status.get(s.REFUSED, 0),
        "cancelled": by_status.get(s.CANCELLED_BEFORE_CALLBACK, 0),
        "failed": by_status.get(s.FAILED, 0),
        "problem_found": by_status.get(s.PROBLEM_FOUND, 0),
        "open": by_status.get(s.PENDING, 0) + by_status.get(s.IN_PROGRESS, 0),
        "called_back": sum(by_status.get(status, 0) for status in CALLED_BACK),
        "letter_visit": letter_visit,
        "attempts": attempts,
    }


TREND_GRANULARITIES = ("week", "month")


def _bucket(day: date, granularity: str) -> date:
    """The first day of ``day``'s ISO week (Monday) or month."""
    if granularity == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def kpi_trend(groups: list[tuple], granularity: str = "week") -> list[dict]:
    """KP-01 success rate, success inside the cooling-off period and the KP-03 letter/visit share
    per week or month of due date, from ``kpi_task_groups(by_day=True)`` rows, with the definitions
    of ``kpi_callbacks`` (percentages rounded to one decimal; None without a denominator)."""
    buckets: dict[date, list[tuple]] = {}
    for row in groups:
        buckets.setdefault(_bucket(row[0], granularity), []).append(row)
    out = []
    for bucket in sorted(buckets):
        counts = _task_counts(buckets[bucket])
        denominator = counts["due"] - counts["refused"] - counts["cancelled"]  # RULES.md KP-01
        out.append(
            {
                "bucket": bucket.isoformat(),
                "due": counts["due"],
                "success_rate": _pct(counts["success"], denominator),
                "cooling_off": _pct(counts["success_cooling_off"], denominator),
                "letter_visit_share": _pct(counts["letter_visit"], counts["called_back"]),  # KP-03
            }
        )
    return out


def _pct(numerator: int, denominator: int) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


def _coverage(f: KpiFilters, units) -> Ratio | None:
    if f.agent is not None or f.callback_channel or (f.kind and f.kind != TaskKind.NEW_POLICY):
        return None
    # RULES.md BS-12: individual, term over one year, life or health; receipt signed in the period.
    required = Policy.objects.filter(
        is_group=False,
        is_long_term=True,
        product__line__in=COVERAGE_LINES,
        receipt_date__gte=f.start,
        receipt_date__lte=f.end,
    )
    if units is not None:
        required = required.filter(org_unit_id__in=units)
    if f.channel:
        required = required.filter(channel=f.channel)
    if f.product is not None:
        required = required.filter(product_id=f.product.pk)
    has_task = CallbackTask.objects.filter(policy_id=OuterRef("pk"), kind=TaskKind.NEW_POLICY)
    # Two counts, not one with a filter: ``EXISTS`` in a WHERE is a (parallel) hash semi-join over
    # the new-policy tasks' index; in a FILTER it is one index probe per policy, three times slower.
    return Ratio("BS-12", required.filter(Exists(has_task)).count(), required.count())


def _problem_counts(f: KpiFilters, units, today: date) -> dict:
    qs = ProblemCase.objects.filter(due_date__gte=f.start, due_date__lte=f.end)
    if units is not None:
        qs = qs.filter(org_unit_id__in=units)
    if f.channel:
        qs = qs.filter(task__policy__channel=f.channel)
    if f.product is not None:
        qs = qs.filter(task__policy__product_id=f.product.pk)
    if f.agent is not None:
        qs = qs.filter(handler_id=f.agent.pk)
    if f.kind:
        qs = qs.filter(task__kind=f.kind)
    if f.callback_channel:
        qs = qs.filter(task__channel=f.callback_channel)
    resolved = Q(status=ProblemCase.Status.RESOLVED, resolved_at__isnull=False)
    return qs.annotate(resolved_on=TruncDate("resolved_at", tzinfo=SHANGHAI)).aggregate(
        total=Count("id"),
        resolved=Count("id", filter=resolved),
        on_time=Count("id", filter=resolved & Q(resolved_on__lte=F("due_date"))),
        open_overdue=Count("id", filter=Q(status=ProblemCase.Status.OPEN, due_date__lt=today)),
    )


def kpi_callbacks(
    viewer, filters: KpiFilters, *, today: date | None = None, trend: str | None = None
) -> CallbackKpis:
    """The callback KPIs of ``filters`` over what ``viewer`` may see (their org units). With
    ``trend`` ("week" or "month") the result also carries ``kpi_trend`` of the period, from the
    same scan of the tasks."""
    today = today or timezone.localdate()
    units = kpi_unit_ids(viewer, filters.org_unit)
    if trend is not None and trend not in TREND_GRANULARITIES:
        raise ValueError(f"trend must be one of {TREND_GRANULARITIES}, not {trend!r}")
    groups = kpi_task_groups(filters, units, by_day=trend is not None)
    tasks = _task_counts(groups)
    denominator = tasks["due"] - tasks["refused"] - tasks["cancelled"]  # RULES.md KP-01
    problems = _problem_counts(filters, units, today)
    return CallbackKpis(
        filters=filters,
        due=tasks["due"],
        success=tasks["success"],
        refused=tasks["refused"],
        cancelled_before_callback=tasks["cancelled"],
        failed=tasks["failed"],
        problem_found=tasks["problem_found"],
        open=tasks["open"],
        success_rate=Ratio("KP-01", tasks["success"], denominator),
        success_in_cooling_off=Ratio("BS-12", tasks["success_cooling_off"], denominator),
        coverage=_coverage(filters, units),
        letter_visit_share=Ratio("KP-03", tasks["letter_visit"], tasks["called_back"]),
        problem_cases_due=problems["total"],
        problem_cases_on_time=Ratio("BS-17", problems["on_time"], problems["resolved"]),
        problem_cases_open_overdue=problems["open_overdue"],
        attempts_per_success=Ratio("", tasks["attempts"], tasks["success"]),
        trend=kpi_trend(groups, trend) if trend is not None else None,
    )
