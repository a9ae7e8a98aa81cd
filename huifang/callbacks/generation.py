"""Callback task generation: every callback a rule requires exists, once, due on the right day.

Triggers (each a rule with ``effect: callback_task`` in a rule pack; ``huifang/rules/packs``):

=====================  ============  ==========================================================
kind                   rule          when / due
=====================  ============  ==========================================================
new_policy             BS-12, CB-01  individual long-term life/health policy in force with a
                                     receipt date (CB-01 for health, BS-12 otherwise); due on the
                                     cooling-off end (CO-03, already on the policy)
departed_salesperson   CB-07         in-force individual policies of a departed salesperson; due
                                     30 calendar days after the departure (SB-01); cycle = the
                                     departure date
claim_closed           KP-07         a claim closed; due 5 WD after closure
service_completed      SV-01         a 保全 completed (policy event); due 5 WD after it
lapse_notice           BS-23         a lapse (policy event) of a policy still lapsed; due 10 WD
                                     after the lapse; cycle = the lapse date
satisfaction           KP-08         daily list: customers whose claim closed or whose 保全
                                     completed yesterday; cycle = that date
renewal_reminder       KP-08         daily list: in-force policies terminating within
                                     ``days_ahead``; cycle = the termination date
retention              KP-08         daily list: customers with no new policy and no callback for
                                     ``months``; cycle = the month
=====================  ============  ==========================================================

Exactly one task per subject, rule and cycle (the unique constraint). Generation is set-based:
one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per trigger (per rule version in force over
the window), the same statement on SQLite and PostgreSQL, with ``NOT EXISTS`` anti-joins so a
second run inserts nothing and rebuilds nothing. Rule conditions are compiled to SQL
(``huifang.rules.conditions``). Due dates that need the working-day calendar are computed in
Python, once per distinct date, by the calendar service and joined in as a small ``VALUES``
table; a date whose calendar year is not confirmed is skipped (the next sweep picks it up once
the year is confirmed) — never guessed.

Each task gets its org unit, the customer to call (applicant; for claims the claimant when there
is one), the start of its channel plan (EC-05: electronic for a new-policy callback when the
applicant has a mobile number, has not declined it and the fallback point — 09:00 on the
cooling-off end minus ``EC-05.working_days_before_cooling_off_end`` WD — is still ahead; phone
otherwise, due at once), its pool ("elderly" for applicants aged 65+ (CB-06), "bank" for the bank
channel), its priority (CB-06: 65+ buying a high-risk product first), the script (the product's,
else the kind's default, when one is published) and its ``due_explanation``. One TASK_CREATED
audit event per insert that created tasks (counts, rule and version), not one per task.

Entry points: ``callback_tasks_generate_for(kind, keys)`` (records hook, after a feed batch
commits), ``callback_tasks_sweep()`` (daily at 01:30, catches anything missed, closes new-policy
tasks of cancelled or surrendered policies, refreshes stale due dates),
``callback_task_refresh_due(task)`` (one task, lazily).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from huifang.callbacks import events
from huifang.callbacks.explain import due_explanation
from huifang.callbacks.models import OPEN_STATUSES, CallbackTask, Channel, Script, TaskKind, TaskStatus
from huifang.callbacks.status import callback_task_set_status
from huifang.core.audit.services import audit_record
from huifang.core.calendar.models import WorkCalendarYear
from huifang.core.calendar.services import CalendarYearUnconfirmed, add_calendar_days, add_working_days
from huifang.records.models import Claim, Customer, Policy, PolicyEvent, PolicyStatus, Product, Salesperson
from huifang.rules.conditions import conditions_sql
from huifang.rules.models import Rule
from huifang.rules.selectors import rule_active, rule_timeline, rule_versions_in_force

logger = logging.getLogger(__name__)

# How far back a record still counts as new work when its rule does not say (``lookback_days``).
DEFAULT_LOOKBACK_DAYS = 30
# Hook keys are handled in chunks of this many business keys per statement.
KEY_CHUNK = 5000
# A sweep inserts about this many tasks per statement (and transaction).
CHUNK_ROWS = 50_000
# From this many missing tasks of one trigger on PostgreSQL (a backfill: the first sweep of a book,
# a trigger switched on), the tasks are inserted in one transaction with the task table's foreign
# keys checked set-based at its end (``_bulk_load``); below it, in committed chunks, row by row.
BULK_ROWS = 200_000
# The sweep re-checks new-policy due dates against policies changed in the last this many days.
RECORD_CHANGE_DAYS = 7
# Policy statuses that close an open new-policy callback as cancelled-before-callback (KP-01).
CANCELLING_STATUSES = (PolicyStatus.CANCELLED_COOLING_OFF, PolicyStatus.SURRENDERED)
# The e-callback gives way to the phone at this local time on the fallback day (EC-05; CL-01 quiet
# hours end at 09:00).
FALLBACK_AT = time(9, 0)
DEFAULT_FALLBACK_WORKING_DAYS = 5
# Scripts (the product's ``script_code`` wins over these; see huifang.callbacks.scripts).
DEFAULT_SCRIPT_FOR_KIND = {
    TaskKind.NEW_POLICY: "new_policy",
    TaskKind.DEPARTED_SALESPERSON: "service",
    TaskKind.CLAIM_CLOSED: "claims",
    TaskKind.SERVICE_COMPLETED: "service",
    TaskKind.LAPSE_NOTICE: "lapse",
    TaskKind.SATISFACTION: "satisfaction",
    TaskKind.RETENTION: "satisfaction",
    TaskKind.RENEWAL_REMINDER: "satisfaction",
}

# ---- facts: what rule conditions may test, in Python and in SQL --------------------------------


def policy_rule_facts(policy: Policy) -> dict:
    """The facts rule conditions test (``huifang.rules.conditions.KNOWN_FACTS``) for a policy."""
    product = policy.product
    return {
        "is_group": policy.is_group,
        "is_long_term": policy.is_long_term,
        "line": product.line,
        "product_kind": product.kind,
        "channel": policy.channel,
        "status": policy.status,
        "applicant_age": policy.applicant_age,
        "high_risk": product.high_risk,
        "payment_mode": policy.payment_mode,
        "sale_recorded": policy.sale_recorded,
        "recording_required": policy.recording_required,
        "term_years": policy.term_years,
        "has_receipt_date": policy.receipt_date is not None,
        "cooling_off_days": policy.cooling_off_days,
    }


def _policy_fact_sql(p: str = "p", pr: str = "pr") -> dict[str, str]:
    return {
        "is_group": f"{p}.is_group",
        "is_long_term": f"{p}.is_long_term",
        "line": f"{pr}.line",
        "product_kind": f"{pr}.kind",
        "channel": f"{p}.channel",
        "status": f"{p}.status",
        "applicant_age": f"{p}.applicant_age",
        "high_risk": f"{pr}.high_risk",
        "payment_mode": f"{p}.payment_mode",
        "sale_recorded": f"{p}.sale_recorded",
        "recording_required": f"{p}.recording_required",
        "term_years": f"{p}.term_years",
        "has_receipt_date": f"({p}.receipt_date IS NOT NULL)",
        "cooling_off_days": f"{p}.cooling_off_days",
    }


# ---- SQL dialect --------------------------------------------------------------------------------


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _date_lit(d: date) -> str:
    # Our own date objects, formatted by us: safe to inline.
    return f"DATE '{d.isoformat()}'" if _pg() else f"'{d.isoformat()}'"


def _ts_lit(moment: datetime | None) -> str:
    if moment is None:
        return "NULL"
    if _pg():
        return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"
    return f"'{connection.ops.adapt_datetimefield_value(moment)}'"


def _str_lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(expr: str) -> str:
    return f"CAST({expr} AS TEXT)"


def _bool_lit(value: bool) -> str:
    if _pg():
        return "true" if value else "false"
    return "1" if value else "0"


class _Sql:
    """A SQL fragment's parameters, in the order their placeholders appear."""

    def __init__(self):
        self.params: list = []

    def p(self, value, sql_type: str | None = None) -> str:
        """A parameter; on PostgreSQL cast to ``sql_type`` (a bare parameter in a SELECT list or
        a json builder has no type there)."""
        self.params.append(value)
        return f"CAST(%s AS {sql_type})" if sql_type and _pg() else "%s"

    def cond(self, conditions: dict, facts: dict[str, str]) -> str:
        sql, params = conditions_sql(conditions, facts)
        self.params.extend(params)
        return sql


def _json(pairs: list[tuple[str, str]]) -> str:
    fn = "jsonb_build_object" if _pg() else "json_object"
    return f"{fn}(" + ", ".join(f"{_str_lit(k)}, {v}" for k, v in pairs) + ")"


# ---- the calendar: due dates, fallback points, revisions -----------------------------------------


class _Calendar:
    """Working-day arithmetic for one generation run, with each year's revision recorded so that a
    task knows which calendar it was computed with (``CallbackTask.calendar_revision``)."""

    def __init__(self):
        self.years: dict[int, tuple[bool, int]] = {
            y: (c, r) for y, c, r in WorkCalendarYear.objects.values_list("year", "confirmed", "revision")
        }
        self.unconfirmed: set[int] = set()
        self.last_failed_year: int | None = None

    def signature(self, *days: date | None) -> str:
        """ "2026.3" (year.revision), "2026.3+2027.u" (u: not confirmed) for the years spanned."""
        present = [d for d in days if d is not None]
        if not present:
            return ""
        parts = []
        for year in range(min(present).year, max(present).year + 1):
            confirmed, revision = self.years.get(year, (False, 0))
            parts.append(f"{year}.{revision if confirmed else 'u'}")
        return "+".join(parts)

    def add_wd(self, d: date, n: int) -> date | None:
        """``add_working_days``, or None when a year it needs is not confirmed (remembered in
        ``unconfirmed`` and ``last_failed_year``)."""
        try:
            return add_working_days(d, n)
        except CalendarYearUnconfirmed as exc:
            self.unconfirmed.add(exc.year)
            self.last_failed_year = exc.year
            return None


def _signature_now(cal: _Calendar, signature: str) -> str:
    years = [int(part.split(".")[0]) for part in signature.split("+")]
    return cal.signature(date(min(years), 1, 1), date(max(years), 1, 1))


def current_calendar_signature(signature: str) -> str:
    """The signature the same years have now (to tell whether a task's due date is stale)."""
    return _signature_now(_Calendar(), signature) if signature else ""


def _fallback_at(cal: _Calendar, end: date, working_days: int) -> datetime | None:
    """EC-05: the moment an unfinished e-callback gives way to the phone."""
    day = cal.add_wd(end, -working_days)
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, FALLBACK_AT), timezone.get_current_timezone())


# ---- triggers -----------------------------------------------------------------------------------


@dataclass
class _Due:
    key: date
    due: date
    fallback_at: datetime | None
    calendar: str


@dataclass
class _Source:
    """What one trigger selects. SQL fragments use the aliases of ``from_sql``."""

    kind: str
    rule_ids: tuple[str, ...]
    from_sql: str
    where: list[str]
    subject_key: str
    cycle: str
    policy_id: str
    claim_id: str
    customer_id: str
    org_unit_id: str
    base: str  # SQL: the base date, filtered by the rule's effective segments
    base_label: str
    key: str  # SQL: the date joined to the due map
    exists: str  # SQL over alias t: the task this row would create already exists
    window: tuple[date, date]  # the base dates considered
    key_range: tuple[date, date]  # the dates the due map must cover
    id_column: str = "p.id"  # the id the sweep chunks on
    product_id: str = "NULL"
    facts: dict[str, str] = field(default_factory=dict)
    customer: str = "c"  # alias of the customer row (mobile, e-callback declined)
    amount_sql: str | None = None  # SQL for the amount (else the computed number)
    due_from_key: bool = False  # due = key itself (new policies: cooling-off end on the policy)
    extra_json: list[tuple[str, str]] = field(default_factory=list)
    params: list = field(default_factory=list)  # for where


@dataclass
class GenerationResult:
    """What one trigger run did."""

    kind: str
    created: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    skipped_unconfirmed_years: list[int] = field(default_factory=list)


def _lookback(rule_id: str, today: date) -> int:
    rule = rule_active(rule_id, today)
    value = (rule.params if rule else {}).get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    return int(value)


def _keys_filter(column: str, keys: list[str] | None, params: list) -> list[str]:
    if keys is None:
        return []
    params.extend(keys)
    return [f"{column} IN ({', '.join(['%s'] * len(keys))})"] if keys else ["1=0"]


def _tables():
    return {
        "policy": _t(Policy),
        "product": _t(Product),
        "customer": _t(Customer),
        "claim": _t(Claim),
        "event": _t(PolicyEvent),
        "salesperson": _t(Salesperson),
        "task": _t(CallbackTask),
    }


def _source_new_policy(today: date, keys: list[str] | None) -> _Source:
    tb = _tables()
    back = max(_lookback("BS-12", today), _lookback("CB-01", today))
    lo = today - timedelta(days=back)
    longest = max(Product.objects.values_list("cooling_off_days", flat=True), default=0) or 0
    params: list = []
    where = [
        f"p.receipt_date BETWEEN {_date_lit(lo)} AND {_date_lit(today)}",
        "p.cooling_off_end IS NOT NULL",
        *_keys_filter("p.policy_no", keys, params),
    ]
    return _Source(
        kind=TaskKind.NEW_POLICY,
        rule_ids=("CB-01", "BS-12"),  # health first (CB-01), then every other line (BS-12)
        from_sql=(
            f"FROM {tb['policy']} p JOIN {tb['product']} pr ON pr.id = p.product_id "
            f"JOIN {tb['customer']} c ON c.id = p.applicant_id"
        ),
        where=where,
        params=params,
        subject_key=f"'policy:' || {_text('p.id')}",
        cycle="''",
        policy_id="p.id",
        claim_id="NULL",
        customer_id="p.applicant_id",
        org_unit_id="p.org_unit_id",
        product_id="p.product_id",
        base="p.receipt_date",
        base_label="receipt",
        key="p.cooling_off_end",
        exists=f"t.policy_id = p.id AND t.kind = {_str_lit(TaskKind.NEW_POLICY)}",
        window=(lo, today),
        key_range=(lo, today + timedelta(days=int(longest) + 1)),
        facts=_policy_fact_sql(),
        amount_sql="p.cooling_off_days",
        due_from_key=True,
    )


def _source_departed(today: date, keys: list[str] | None, key_column: str = "p.policy_no") -> _Source:
    tb = _tables()
    lo = today - timedelta(days=_lookback("CB-07", today))
    params: list = []
    where = [
        f"s.status = {_str_lit(Salesperson.Status.DEPARTED)}",
        f"s.departed_on BETWEEN {_date_lit(lo)} AND {_date_lit(today)}",
        *_keys_filter(key_column, keys, params),
    ]
    return _Source(
        kind=TaskKind.DEPARTED_SALESPERSON,
        rule_ids=("CB-07",),
        from_sql=(
            f"FROM {tb['policy']} p JOIN {tb['salesperson']} s ON s.id = p.salesperson_id "
            f"JOIN {tb['product']} pr ON pr.id = p.product_id "
            f"JOIN {tb['customer']} c ON c.id = p.applicant_id"
        ),
        where=where,
        params=params,
        subject_key=f"'policy:' || {_text('p.id')}",
        cycle=_text("s.departed_on"),
        policy_id="p.id",
        claim_id="NULL",
        customer_id="p.applicant_id",
        org_unit_id="p.org_unit_id",
        product_id="p.product_id",
        base="s.departed_on",
        base_label="departure",
        key="s.departed_on",
        exists=(
            f"t.policy_id = p.id AND t.kind = {_str_lit(TaskKind.DEPARTED_SALESPERSON)} "
            f"AND t.cycle = {_text('s.departed_on')}"
        ),
        window=(lo, today),
        key_range=(lo, today),
        facts=_policy_fact_sql(),
    )


def _source_claims(today: date, keys: list[str] | None) -> _Source:
    tb = _tables()
    lo = today - timedelta(days=_lookback("KP-07", today))
    params: list = []
    where = [
        f"cl.closed_on BETWEEN {_date_lit(lo)} AND {_date_lit(today)}",
        *_keys_filter("cl.claim_no", keys, params),
    ]
    return _Source(
        kind=TaskKind.CLAIM_CLOSED,
        id_column="cl.id",
        rule_ids=("KP-07",),
        from_sql=(
            f"FROM {tb['claim']} cl JOIN {tb['policy']} p ON p.id = cl.policy_id "
            f"JOIN {tb['product']} pr ON pr.id = p.product_id "
            f"JOIN {tb['customer']} c ON c.id = COALESCE(cl.claimant_id, p.applicant_id)"
        ),
        where=where,
        params=params,
        subject_key=f"'claim:' || {_text('cl.id')}",
        cycle="''",
        policy_id="p.id",
        claim_id="cl.id",
        customer_id="c.id",
        org_unit_id="cl.org_unit_id",
        product_id="p.product_id",
        base="cl.closed_on",
        base_label="claim_closed",
        key="cl.closed_on",
        exists=f"t.claim_id = cl.id AND t.kind = {_str_lit(TaskKind.CLAIM_CLOSED)}",
        window=(lo, today),
        key_range=(lo, today),
        facts=_policy_fact_sql(),
    )


def _source_event(kind: str, today: date, keys: list[str] | None) -> _Source:
    tb = _tables()
    if kind == TaskKind.SERVICE_COMPLETED:
        rule_id, event_kind, label = "SV-01", PolicyEvent.Kind.SERVICE_COMPLETED, "service_completed"
        subject, cycle = f"'event:' || {_text('e.id')}", "''"
        exists = f"t.subject_key = 'event:' || {_text('e.id')} AND t.kind = {_str_lit(kind)}"
    else:
        rule_id, event_kind, label = "BS-23", PolicyEvent.Kind.LAPSE, "lapse"
        subject, cycle = f"'policy:' || {_text('p.id')}", _text("e.event_date")
        exists = f"t.policy_id = p.id AND t.kind = {_str_lit(kind)} AND t.cycle = {_text('e.event_date')}"
    lo = today - timedelta(days=_lookback(rule_id, today))
    params: list = []
    where = [
        f"e.kind = {_str_lit(event_kind)}",
        f"e.event_date BETWEEN {_date_lit(lo)} AND {_date_lit(today)}",
        *_keys_filter("e.event_no", keys, params),
    ]
    return _Source(
        kind=kind,
        id_column="e.id",
        rule_ids=(rule_id,),
        from_sql=(
            f"FROM {tb['event']} e JOIN {tb['policy']} p ON p.id = e.policy_id "
            f"JOIN {tb['product']} pr ON pr.id = p.product_id "
            f"JOIN {tb['customer']} c ON c.id = p.applicant_id"
        ),
        where=where,
        params=params,
        subject_key=subject,
        cycle=cycle,
        policy_id="p.id",
        claim_id="NULL",
        customer_id="p.applicant_id",
        org_unit_id="e.org_unit_id",
        product_id="p.product_id",
        base="e.event_date",
        base_label=label,
        key="e.event_date",
        exists=exists,
        window=(lo, today),
        key_range=(lo, today),
        facts=_policy_fact_sql(),
    )


def _source_satisfaction(today: date) -> _Source:
    tb = _tables()
    day = today - timedelta(days=1)
    serviced = (
        f"SELECT COALESCE(cl.claimant_id, p.applicant_id) FROM {tb['claim']} cl "
        f"JOIN {tb['policy']} p ON p.id = cl.policy_id WHERE cl.closed_on = {_date_lit(day)} "
        f"UNION SELECT p.applicant_id FROM {tb['event']} e JOIN {tb['policy']} p ON p.id = e.policy_id "
        f"WHERE e.kind = {_str_lit(PolicyEvent.Kind.SERVICE_COMPLETED)} AND e.event_date = {_date_lit(day)}"
    )
    return _Source(
        kind=TaskKind.SATISFACTION,
        id_column="c.id",
        rule_ids=("KP-08",),
        from_sql=f"FROM {tb['customer']} c",
        where=[f"c.id IN ({serviced})"],
        subject_key=f"'customer:' || {_text('c.id')}",
        cycle=_str_lit(day.isoformat()),
        policy_id="NULL",
        claim_id="NULL",
        customer_id="c.id",
        org_unit_id="c.org_unit_id",
        base=_date_lit(today),
        base_label="list",
        key=_date_lit(today),
        exists=(
            f"t.customer_id = c.id AND t.kind = {_str_lit(TaskKind.SATISFACTION)} "
            f"AND t.cycle = {_str_lit(day.isoformat())}"
        ),
        window=(today, today),
        key_range=(today, today),
        extra_json=[("list", "'satisfaction'"), ("serviced_on", _str_lit(day.isoformat()))],
    )


def _source_renewal(today: date, days_ahead: int) -> _Source:
    tb = _tables()
    end = today + timedelta(days=days_ahead)
    return _Source(
        kind=TaskKind.RENEWAL_REMINDER,
        rule_ids=("KP-08",),
        from_sql=(
            f"FROM {tb['policy']} p JOIN {tb['product']} pr ON pr.id = p.product_id "
            f"JOIN {tb['customer']} c ON c.id = p.applicant_id"
        ),
        where=[
            f"p.status = {_str_lit(PolicyStatus.IN_FORCE)}",
            f"p.is_group = {_bool_lit(False)}",
            f"p.termination_date > {_date_lit(today)} AND p.termination_date <= {_date_lit(end)}",
        ],
        subject_key=f"'policy:' || {_text('p.id')}",
        cycle=_text("p.termination_date"),
        policy_id="p.id",
        claim_id="NULL",
        customer_id="p.applicant_id",
        org_unit_id="p.org_unit_id",
        product_id="p.product_id",
        base=_date_lit(today),
        base_label="list",
        key=_date_lit(today),
        exists=(
            f"t.policy_id = p.id AND t.kind = {_str_lit(TaskKind.RENEWAL_REMINDER)} "
            f"AND t.cycle = {_text('p.termination_date')}"
        ),
        window=(today, today),
        key_range=(today, today),
        facts=_policy_fact_sql(),
        extra_json=[("list", "'renewal'"), ("expires_on", _text("p.termination_date"))],
    )


def _months_before(d: date, months: int) -> date:
    month = d.month - months
    year = d.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(d)


def _source_retention(today: date, months: int) -> _Source:
    tb = _tables()
    since = _months_before(today, months)
    since_at = timezone.make_aware(datetime.combine(since, time.min), timezone.get_current_timezone())
    cycle = today.strftime("%Y-%m")
    return _Source(
        kind=TaskKind.RETENTION,
        id_column="c.id",
        rule_ids=("KP-08",),
        from_sql=f"FROM {tb['customer']} c",
        where=[
            # a customer: holds an in-force individual policy …
            f"EXISTS (SELECT 1 FROM {tb['policy']} p WHERE p.applicant_id = c.id "
            f"AND p.status = {_str_lit(PolicyStatus.IN_FORCE)} AND p.is_group = {_bool_lit(False)})",
            # … bought nothing since, and had no callback since (created or closed)
            f"NOT EXISTS (SELECT 1 FROM {tb['policy']} p2 WHERE p2.applicant_id = c.id "
            f"AND p2.application_date >= {_date_lit(since)})",
            f"NOT EXISTS (SELECT 1 FROM {tb['task']} t2 WHERE t2.customer_id = c.id "
            f"AND (t2.created_at >= {_ts_lit(since_at)} OR t2.closed_at >= {_ts_lit(since_at)}))",
        ],
        subject_key=f"'customer:' || {_text('c.id')}",
        cycle=_str_lit(cycle),
        policy_id="NULL",
        claim_id="NULL",
        customer_id="c.id",
        org_unit_id="c.org_unit_id",
        base=_date_lit(today),
        base_label="list",
        key=_date_lit(today),
        exists=f"t.customer_id = c.id AND t.kind = {_str_lit(TaskKind.RETENTION)} AND t.cycle = {_str_lit(cycle)}",
        window=(today, today),
        key_range=(today, today),
        extra_json=[("list", "'retention'"), ("no_contact_since", _str_lit(since.isoformat()))],
    )


# ---- due dates ----------------------------------------------------------------------------------

BASE_LABELS = {
    TaskKind.NEW_POLICY: "receipt",
    TaskKind.DEPARTED_SALESPERSON: "departure",
    TaskKind.CLAIM_CLOSED: "claim_closed",
    TaskKind.SERVICE_COMPLETED: "service_completed",
    TaskKind.LAPSE_NOTICE: "lapse",
    TaskKind.SATISFACTION: "list",
    TaskKind.RETENTION: "list",
    TaskKind.RENEWAL_REMINDER: "list",
}
LIST_SECTIONS = {
    TaskKind.SATISFACTION: "satisfaction",
    TaskKind.RETENTION: "retention",
    TaskKind.RENEWAL_REMINDER: "renewal",
}


def _list_params(rule: Rule, kind: str) -> dict:
    value = rule.params.get(LIST_SECTIONS.get(kind, ""))
    return value if isinstance(value, dict) else {}


def _due_terms(kind: str, rule: Rule, today: date) -> tuple[int, str, str]:
    """(amount, unit, cites) of a trigger's due date under ``rule``."""
    if kind == TaskKind.NEW_POLICY:
        # The cooling-off end is on the policy (receipt + the product's cooling-off days, CO-03).
        return 0, "days", f"CO-03 · {rule.rule_id}"
    if kind == TaskKind.DEPARTED_SALESPERSON:
        # RULES.md SB-01: the policyholder is told within 30 days of the departure.
        notice_id = str(rule.params.get("notice_rule", "SB-01"))
        notice = rule_active(notice_id, today)
        days = (notice.params if notice else {}).get("days", 30)
        return int(days), "days", f"{notice_id} · {rule.rule_id}"
    if kind in LIST_SECTIONS:
        return int(_list_params(rule, kind).get("working_days", 1)), "working_days", rule.rule_id
    # KP-07 claims 5 WD, SV-01 保全 5 WD, BS-23 lapse notice 10 WD.
    return int(rule.params.get("working_days", 5)), "working_days", rule.rule_id


def _fallback_days(today: date) -> int:
    """EC-05 (insurer pack): the e-callback gives way to the phone this many WD before the end."""
    rule = rule_active("EC-05", today)
    value = (rule.params if rule else {}).get(
        "working_days_before_cooling_off_end", DEFAULT_FALLBACK_WORKING_DAYS
    )
    return int(value)


def _due_row(kind: str, key: date, amount: int, unit: str, fallback_wd: int, cal: _Calendar) -> _Due | None:
    """The due date (and e-callback fallback point) for one base date; None if the calendar year
    it needs is not confirmed."""
    if kind == TaskKind.NEW_POLICY:
        due = key
    elif unit == "days":
        due = add_calendar_days(key, amount)
    else:
        due = cal.add_wd(key, amount)
        if due is None:
            return None
    touched = [key, due] if unit == "working_days" else []
    fallback_at = None
    if kind == TaskKind.NEW_POLICY:
        cal.last_failed_year = None
        day = cal.add_wd(due, -fallback_wd)
        if day is not None:
            touched += [day, due]
            fallback_at = timezone.make_aware(
                datetime.combine(day, FALLBACK_AT), timezone.get_current_timezone()
            )
        else:
            touched += [date(cal.last_failed_year or due.year, 1, 1), due]
    return _Due(key, due, fallback_at, cal.signature(*touched))


def _due_map(src: _Source, amount: int, unit: str, cal: _Calendar, today: date) -> list[_Due]:
    fallback_wd = _fallback_days(today)
    rows = []
    day, last = src.key_range
    while day <= last:
        row = _due_row(src.kind, day, amount, unit, fallback_wd, cal)
        if row is not None:
            rows.append(row)
        day += timedelta(days=1)
    return rows


def _values_cte(rows: list[_Due]) -> str:
    def fallback(r: _Due) -> str:
        if r.fallback_at is None:
            return "CAST(NULL AS timestamptz)" if _pg() else "NULL"
        return _ts_lit(r.fallback_at)

    values = ", ".join(
        f"({_date_lit(r.key)}, {_date_lit(r.due)}, {fallback(r)}, {_str_lit(r.calendar)})" for r in rows
    )
    return f"dm(k, due, fb, cal) AS (VALUES {values})"


# ---- scripts ------------------------------------------------------------------------------------


def _scripts(kind: str) -> tuple[dict[int, int], int | None]:
    """(product id → latest published script of the product's ``script_code``, the latest
    published default script of ``kind``)."""
    latest: dict[str, int] = {}
    for code, pk in (
        Script.objects.filter(published_at__isnull=False)
        .order_by("code", "version")
        .values_list("code", "id")
    ):
        latest[code] = pk
    default = latest.get(DEFAULT_SCRIPT_FOR_KIND.get(kind, ""))
    by_product = {
        pid: latest[code]
        for pid, code in Product.objects.exclude(script_code="").values_list("id", "script_code")
        if code in latest
    }
    return by_product, default


# ---- the insert ---------------------------------------------------------------------------------


def _column_sql(src: _Source, rule: Rule, amount: int, unit: str, cites: str, today: date, now: datetime):
    """Column (attname) → (SQL expression, its parameters) for the generated rows."""
    cols: dict[str, tuple[str, list]] = {}

    def put(name: str, build) -> None:
        q = _Sql()
        cols[name] = (build(q), q.params)

    electronic = "1=0"
    if src.kind == TaskKind.NEW_POLICY:
        c = src.customer
        electronic = (
            f"({c}.mobile <> '' AND {c}.e_callback_declined = {_bool_lit(False)} "
            f"AND dm.fb IS NOT NULL AND dm.fb > {_ts_lit(now)})"
        )
    due_sql = src.key if src.due_from_key else "dm.due"
    put("kind", lambda q: q.p(str(src.kind), "text"))
    put("rule_id", lambda q: q.p(rule.rule_id, "text"))
    put("rule_version_id", lambda q: q.p(rule.pk, "bigint"))
    put("subject_key", lambda q: src.subject_key)
    put("cycle", lambda q: src.cycle)
    put("policy_id", lambda q: src.policy_id)
    put("claim_id", lambda q: src.claim_id)
    put("customer_id", lambda q: src.customer_id)
    put("org_unit_id", lambda q: src.org_unit_id)
    by_product, default_script = _scripts(src.kind)
    default_sql = str(int(default_script)) if default_script else "NULL"
    if by_product and src.product_id != "NULL":
        whens = " ".join(f"WHEN {int(pid)} THEN {int(sid)}" for pid, sid in sorted(by_product.items()))
        put("script_id", lambda q: f"CASE {src.product_id} {whens} ELSE {default_sql} END")
    else:
        put("script_id", lambda q: default_sql)
    put("status", lambda q: _str_lit(TaskStatus.PENDING))
    put("due_date", lambda q: due_sql)
    put(
        "due_explanation",
        lambda q: _json(
            [
                ("rule", q.p(rule.rule_id, "text")),
                ("rule_version", q.p(rule.version, "integer")),
                ("base", q.p(src.base_label, "text")),
                ("base_date", src.base),
                ("amount", src.amount_sql or q.p(amount, "integer")),
                ("unit", q.p(unit, "text")),
                ("due", due_sql),
                ("cites", q.p(cites, "text")),
                *src.extra_json,
            ]
        ),
    )
    put("calendar_revision", lambda q: "COALESCE(dm.cal, '')")
    put(
        "channel",
        lambda q: (
            f"CASE WHEN {electronic} THEN {_str_lit(Channel.ELECTRONIC)} ELSE {_str_lit(Channel.PHONE)} END"
        ),
    )
    # EC-05: electronic until the fallback point; phone is due at once (as channels.channel_plan_initial).
    put("channel_due_at", lambda q: f"CASE WHEN {electronic} THEN dm.fb ELSE {_ts_lit(now)} END")
    if src.facts:
        cb06 = rule_active("CB-06", today)
        bank = f"WHEN p.channel = {_str_lit('bank')} THEN 'bank'"
        if cb06 is not None:
            # RULES.md CB-06: 65+ buying a high-risk product are called first, by the elderly pool.
            priority = int(cb06.params.get("priority", 10))
            put(
                "priority",
                lambda q: f"CASE WHEN {q.cond(cb06.conditions, src.facts)} THEN {priority} ELSE 0 END",
            )
            min_age = int(cb06.params.get("min_age", 65))
            pool = _str_lit(str(cb06.params.get("pool", "elderly")))
            put("pool", lambda q: f"CASE WHEN p.applicant_age >= {min_age} THEN {pool} {bank} ELSE '' END")
        else:
            put("pool", lambda q: f"CASE {bank} ELSE '' END")
    put("created_at", lambda q: _ts_lit(now))
    put("updated_at", lambda q: _ts_lit(now))
    return cols


def _from_where(
    src: _Source, rule: Rule, segment: tuple[date, date], rows: list[_Due], id_range: tuple[int, int] | None
) -> tuple[str, str, list]:
    """(WITH clause, FROM … WHERE … text, its parameters) selecting the rows ``src`` would create
    under ``rule`` for base dates in ``segment`` (and ids in ``id_range``): the trigger's filter,
    the rule's conditions and the anti-join on the tasks that exist."""
    where = [*src.where, f"{src.base} BETWEEN {_date_lit(segment[0])} AND {_date_lit(segment[1])}"]
    params = list(src.params)
    if id_range is not None:
        where.append(f"{src.id_column} BETWEEN {int(id_range[0])} AND {int(id_range[1])}")
    if src.facts:
        q = _Sql()
        where.append(q.cond(rule.conditions, src.facts))
        params.extend(q.params)
    where.append(f"NOT EXISTS (SELECT 1 FROM {_t(CallbackTask)} t WHERE {src.exists})")
    join = "LEFT JOIN" if src.due_from_key else "JOIN"  # new policies: due = cooling-off end, always
    tail = f"{src.from_sql} {join} dm ON dm.k = {src.key} WHERE {' AND '.join(where)}"
    return f"WITH {_values_cte(rows)}", tail, params


def _anything_missing(src: _Source) -> bool:
    """Whether any row of the trigger's window lacks its task, before any rule condition: one
    anti-join that stops at the first missing row (a no-op sweep costs this one scan per trigger)."""
    where = [*src.where, f"{src.base} BETWEEN {_date_lit(src.window[0])} AND {_date_lit(src.window[1])}"]
    where.append(f"NOT EXISTS (SELECT 1 FROM {_t(CallbackTask)} t WHERE {src.exists})")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 {src.from_sql} WHERE {' AND '.join(where)} LIMIT 1", src.params)
        return cursor.fetchone() is not None


def _probe(src: _Source, rule: Rule, segment: tuple[date, date], rows: list[_Due]) -> tuple[int, int, int]:
    """(how many rows are missing, lowest id, highest id): one anti-join; 0 makes the insert a no-op
    that is never run (a second sweep costs one scan per trigger)."""
    with_sql, tail, params = _from_where(src, rule, segment, rows, None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_sql} SELECT count(*), min({src.id_column}), max({src.id_column}) {tail}", params
        )
        count, low, high = cursor.fetchone()
    return int(count or 0), low, high


def _id_ranges(count: int, low: int, high: int) -> list[tuple[int, int]]:
    """Split ids ``low``…``high`` into ranges of about ``CHUNK_ROWS`` missing rows each."""
    chunks = max(1, -(-count // CHUNK_ROWS))
    span = max(1, -(-(high - low + 1) // chunks))
    return [(start, min(start + span - 1, high)) for start in range(low, high + 1, span)]


def _insert(
    src: _Source,
    rule: Rule,
    segment: tuple[date, date],
    rows: list[_Due],
    terms: tuple[int, str, str],
    today: date,
    now: datetime,
    id_range: tuple[int, int] | None = None,
) -> int:
    """One ``INSERT … SELECT … ON CONFLICT DO NOTHING`` for ``src`` under ``rule`` for base dates in
    ``segment`` (and ids in ``id_range``); returns the number of tasks created."""
    amount, unit, cites = terms
    cols = _column_sql(src, rule, amount, unit, cites, today, now)
    columns, select, params = [], [], []
    for f in CallbackTask._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.attname in cols:
            sql, p = cols[f.attname]
        else:  # a column this module does not set: the model's default
            sql, p = "%s", [f.get_db_prep_save(f.get_default(), connection)]
        if _pg():
            sql = f"CAST({sql} AS {f.db_type(connection)})"
        select.append(sql)
        params.extend(p)
    with_sql, tail, where_params = _from_where(src, rule, segment, rows, id_range)
    sql = (
        f"INSERT INTO {_t(CallbackTask)} ({', '.join(columns)}) "
        f"{with_sql} SELECT {', '.join(select)} {tail} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        return max(cursor.rowcount, 0)


def _insert_chunk(
    src, rule, segment, rows, terms, today, now, id_range, audit: dict, hash_joins: bool = False
) -> int:
    """One chunk in its own transaction (or, inside a bulk load, savepoint), with its TASK_CREATED
    audit event. ``hash_joins``: see ``_stale_statistics``."""
    own_transaction = not connection.in_atomic_block  # SET LOCAL would outlive a savepoint
    with transaction.atomic():
        if _pg() and own_transaction:
            _sweep_session_settings(hash_joins)
        done = _insert(src, rule, segment, rows, terms, today, now, id_range)
        if _pg() and own_transaction and done:
            # The foreign keys are deferred: check them now, all at once (much faster than row by
            # row inside the INSERT), before the audit chain lock is taken and held until commit.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if done:
            audit_record(
                events.TASK_CREATED,
                subject_type=CallbackTask._meta.label_lower,
                rule=rule.rule_id,
                data={**audit, "created": done, "ids": list(id_range)},
            )
    return done


def _sweep_session_settings(hash_joins: bool) -> None:
    """PostgreSQL, for the sweep's own transaction only (SET LOCAL): memory for the anti-joins and
    hashes; no wait for the WAL flush at commit — a crash can lose the last commits, which the next
    sweep recreates (every insert is idempotent, and its audit event is in the same transaction, so
    nothing is half there); and, with ``hash_joins``, no nested loops (``_stale_statistics``)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        if hash_joins:
            cursor.execute("SET LOCAL enable_nestloop = off")


def _stale_statistics(count: int) -> bool:
    """PostgreSQL: whether an insert of ``count`` tasks is more than the task table's statistics
    know of (a backfill: the table is empty or small for what is coming). An insert is planned on
    the statistics taken before it; a table that looks empty makes a nested-loop anti-join over a
    sequential scan look free, and that loop re-reads every task the statement has inserted so far,
    for each new one — quadratic (this, not the indexes, was most of the first sweep's time). Such
    inserts are planned with hash joins, which read each table once; a large, analyzed table keeps
    the planner's choice (index probes of ``cbtask_policy_kind_idx``, not a scan of every task)."""
    return _pg() and count > _task_rows_estimate()


@contextmanager
def _bulk_load():
    """PostgreSQL, a backfill (``_bulk``): one transaction in which the task table's foreign keys,
    its unique constraint and its indexes are dropped before the inserts and built again after
    them. Building an index from all its rows at once (a sort) and adding a foreign key (one join
    over the rows) is PostgreSQL's advice for bulk loads ("Populating a Database"), instead of
    maintaining every index entry and checking every reference row by row, which is most of the
    cost of inserting a task. Same definitions, same names, same checks: a row without its policy,
    or a duplicate task, fails the whole load, and a failure rolls everything back, keys and
    indexes included. Nothing else can write tasks meanwhile (dropping a key locks the table), so
    the anti-joins alone keep each task once. A backfill runs at night; the hook and claims wait
    for it. The table is analyzed at the end."""
    table = _t(CallbackTask)
    qn = connection.ops.quote_name
    with transaction.atomic():
        _sweep_session_settings(hash_joins=True)  # one statement over the whole book
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the index builds sort in memory
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no trigger event may be pending
            cursor.execute(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype, conname",
                [CallbackTask._meta.db_table],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                "ORDER BY 1",
                [CallbackTask._meta.db_table],
            )
            indexes = cursor.fetchall()
            for name, _kind, _definition in constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {qn(name)}")
            for name, _definition in indexes:
                cursor.execute(f"DROP INDEX {name}")
        yield
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no trigger event may be pending
            for _name, definition in indexes:
                cursor.execute(definition)
            # Unique first ('u' sorts after 'f': reversed), then the keys.
            for name, _kind, definition in sorted(constraints, key=lambda c: c[1] != "u"):
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {qn(name)} {definition}")
            # The table has just grown by a backfill: the next triggers' anti-joins (and this
            # sweep's stale-date scan) are planned on statistics that know it (autovacuum would
            # analyze it only later).
            cursor.execute(f"ANALYZE {table}")


def _task_rows_estimate() -> float:
    """The task table's size as the planner's statistics know it (0 when never analyzed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [CallbackTask._meta.db_table]
        )
        (estimate,) = cursor.fetchone()
    return max(float(estimate or 0), 0.0)


def _bulk(count: int) -> bool:
    """A backfill: at least ``BULK_ROWS`` missing tasks, and at least as many as the table holds
    (building the indexes and checking the keys again covers the whole table, which pays only when
    the load is most of it)."""
    return _pg() and count >= BULK_ROWS and not connection.in_atomic_block and count >= _task_rows_estimate()


def sweep_workers() -> int:
    """How many chunks a sweep inserts at once on PostgreSQL, outside a transaction:
    ``HUIFANG_SWEEP_WORKERS`` (setting or environment; default 1). Worth raising on a database
    server with idle cores: each chunk's cost is the server's (foreign-key checks and index
    updates of the task table), and on the 2-CPU benchmark machine a second worker gained nothing.
    Always 1 on SQLite (one writer)."""
    if not _pg() or connection.in_atomic_block:
        return 1
    value = getattr(settings, "HUIFANG_SWEEP_WORKERS", None) or os.environ.get("HUIFANG_SWEEP_WORKERS") or 1
    return max(1, int(value))


def _run_chunks(chunk, ranges: list[tuple[int, int]]) -> list[int]:
    """Run ``chunk(id_range)`` for every range: in order, or on ``sweep_workers()`` connections
    at once (each chunk is its own transaction; the unique constraint keeps them apart)."""
    workers = min(sweep_workers(), len(ranges))
    if workers <= 1:
        return [chunk(r) for r in ranges]

    def run(id_range):
        try:
            return chunk(id_range)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="callback-sweep") as pool:
        return list(pool.map(run, ranges))


# ---- running the triggers -----------------------------------------------------------------------

GENERATED_KINDS = tuple(TaskKind.values)
# The order of a sweep: retention last, as it looks at the callbacks the others just created.
SWEEP_ORDER = (
    TaskKind.NEW_POLICY,
    TaskKind.DEPARTED_SALESPERSON,
    TaskKind.CLAIM_CLOSED,
    TaskKind.SERVICE_COMPLETED,
    TaskKind.LAPSE_NOTICE,
    TaskKind.SATISFACTION,
    TaskKind.RENEWAL_REMINDER,
    TaskKind.RETENTION,
)


def _source(kind: str, today: date, keys: list[str] | None, key_column: str | None) -> _Source | None:
    if kind == TaskKind.NEW_POLICY:
        return _source_new_policy(today, keys)
    if kind == TaskKind.DEPARTED_SALESPERSON:
        return _source_departed(today, keys, key_column or "p.policy_no")
    if kind == TaskKind.CLAIM_CLOSED:
        return _source_claims(today, keys)
    if kind in (TaskKind.SERVICE_COMPLETED, TaskKind.LAPSE_NOTICE):
        return _source_event(kind, today, keys)
    kp08 = rule_active("KP-08", today)
    if kp08 is None or keys is not None:  # daily lists: the sweep only
        return None
    section = _list_params(kp08, kind)
    if kind == TaskKind.SATISFACTION:
        return _source_satisfaction(today)
    if kind == TaskKind.RENEWAL_REMINDER:
        return _source_renewal(today, int(section.get("days_ahead", 30)))
    if kind == TaskKind.RETENTION:
        return _source_retention(today, int(section.get("months", 6)))
    raise ValueError(f"unknown task kind {kind!r}")


def callback_tasks_generate(
    kind: str,
    *,
    today: date | None = None,
    keys: list[str] | None = None,
    key_column: str | None = None,
    trigger: str = "sweep",
) -> GenerationResult:
    """Create the missing tasks of one kind (all of them, or those of the records ``keys``: policy
    numbers, claim numbers or event numbers as the kind implies). Set-based and safe to run twice.

    ``trigger`` ("sweep", "records") is recorded in the TASK_CREATED audit event.
    """
    today = today or timezone.localdate()
    result = GenerationResult(kind)
    src = _source(kind, today, keys, key_column)
    if src is None:
        return result
    cal = _Calendar()
    now = timezone.now()
    result.by_rule = dict.fromkeys(src.rule_ids, 0)
    if not _anything_missing(src):
        return result
    # Plan first: what each rule (and version) would create, so that a backfill of the kind is one
    # bulk load, whichever rules it falls under.
    plans = []
    for rule_id in src.rule_ids:
        for start, end, rule in rule_timeline(rule_id, *src.window):
            terms = _due_terms(kind, rule, today)
            rows = _due_map(src, terms[0], terms[1], cal, today)
            if not rows:
                continue
            count, low, high = _probe(src, rule, (start, end), rows)
            if count:
                plans.append((rule_id, rule, (start, end), terms, rows, count, low, high))
    bulk = _bulk(sum(plan[5] for plan in plans))
    with _bulk_load() if bulk else nullcontext():
        for rule_id, rule, segment, terms, rows, count, low, high in plans:
            # A bulk load is one statement per rule: nothing is locked row by row, so nothing to cut.
            ranges = [(low, high)] if bulk else _id_ranges(count, low, high)
            audit = {
                "kind": str(kind),
                "rule": rule.rule_id,
                "rule_version": rule.version,
                "trigger": trigger,
                "on": today,
                "base_dates": list(segment),
                "keys": len(keys) if keys is not None else None,
            }
            # Inside a bulk load the tasks of an earlier rule are already in the table, but not in
            # its statistics.
            hash_joins = bulk or _stale_statistics(count)

            def chunk(
                id_range,
                src=src,
                rule=rule,
                segment=segment,
                rows=rows,
                terms=terms,
                audit=audit,
                hash_joins=hash_joins,
            ):
                return _insert_chunk(src, rule, segment, rows, terms, today, now, id_range, audit, hash_joins)

            created = sum(_run_chunks(chunk, ranges))
            result.created += created
            result.by_rule[rule_id] = result.by_rule.get(rule_id, 0) + created
    result.skipped_unconfirmed_years = sorted(cal.unconfirmed)
    if result.created:
        logger.info("callback tasks: %s %s created (%s)", result.created, kind, trigger)
    return result


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def callback_tasks_generate_for(kind: str, keys: Iterable[str], *, today: date | None = None) -> dict:
    """What the records hook triggers after a feed batch of ``kind`` ("policies", "claims",
    "events", "salespeople") committed ``keys`` (business keys). Safe to run twice."""
    keys = sorted({str(k) for k in keys if k})
    today = today or timezone.localdate()
    out = {"created": 0, "closed_cancelled": 0, "recomputed": 0}

    def gen(task_kind, chunk, key_column=None):
        out["created"] += callback_tasks_generate(
            task_kind, today=today, keys=chunk, key_column=key_column, trigger="records"
        ).created

    for chunk in _chunks(keys, KEY_CHUNK):
        if kind == "policies":
            gen(TaskKind.NEW_POLICY, chunk)
            gen(TaskKind.DEPARTED_SALESPERSON, chunk)
            out["closed_cancelled"] += callback_tasks_close_cancelled(policy_nos=chunk)
            # A corrected receipt date moves the cooling-off end, and so the due date.
            stale = CallbackTask.objects.filter(
                kind=TaskKind.NEW_POLICY,
                status__in=OPEN_STATUSES,
                policy__policy_no__in=chunk,
                policy__cooling_off_end__isnull=False,
            ).exclude(due_date=F("policy__cooling_off_end"))
            out["recomputed"] += _refresh_many(stale.values_list("pk", flat=True), today)
        elif kind == "claims":
            gen(TaskKind.CLAIM_CLOSED, chunk)
        elif kind == "events":
            gen(TaskKind.SERVICE_COMPLETED, chunk)
            gen(TaskKind.LAPSE_NOTICE, chunk)
            departed = sorted(
                set(
                    PolicyEvent.objects.filter(
                        event_no__in=chunk,
                        kind=PolicyEvent.Kind.SALESPERSON_DEPARTED,
                        policy__salesperson__isnull=False,
                    ).values_list("policy__salesperson__code", flat=True)
                )
            )
            if departed:
                gen(TaskKind.DEPARTED_SALESPERSON, departed, "s.code")
            out["closed_cancelled"] += callback_tasks_close_cancelled(event_nos=chunk)
        elif kind == "salespeople":
            gen(TaskKind.DEPARTED_SALESPERSON, chunk, "s.code")
    return out


# ---- cancelled or surrendered before the callback (KP-01) ---------------------------------------


def callback_tasks_close_cancelled(
    *, policy_nos: list[str] | None = None, event_nos: list[str] | None = None
) -> int:
    """Close every open new-policy task whose policy was cancelled in the cooling-off period or
    surrendered, as cancelled-before-callback (KP-01 leaves these out of the success rate).
    Through ``callback_task_set_status`` (locked, recorded, audited). Returns how many closed."""
    from huifang.callbacks.status import TransitionNotAllowed

    qs = CallbackTask.objects.filter(
        kind=TaskKind.NEW_POLICY, status__in=OPEN_STATUSES, policy__status__in=CANCELLING_STATUSES
    )
    if policy_nos is not None:
        qs = qs.filter(policy__policy_no__in=policy_nos)
    if event_nos is not None:
        qs = qs.filter(
            policy__in=PolicyEvent.objects.filter(
                event_no__in=event_nos,
                kind__in=[PolicyEvent.Kind.COOLING_OFF_CANCEL, PolicyEvent.Kind.SURRENDER],
            ).values("policy_id")
        )
    closed = 0
    for task in qs.select_related("policy").order_by("pk"):
        policy = task.policy
        reason = (
            f"policy {policy.policy_no} {policy.status} on {policy.status_changed_on or '?'} "
            f"before the callback succeeded"
        )
        try:
            callback_task_set_status(task, TaskStatus.CANCELLED_BEFORE_CALLBACK, reason=reason, rule="KP-01")
        except TransitionNotAllowed:  # closed a moment ago by someone else: leave it
            continue
        closed += 1
    return closed


# ---- recomputing due dates when a rule or the calendar changed ----------------------------------


@dataclass
class _Expected:
    rule: Rule
    due: date
    explanation: dict
    calendar: str
    fallback_at: datetime | None


def _expected(task: CallbackTask, today: date, cal: _Calendar) -> _Expected | None:
    """The due date ``task`` would get now, or None if it cannot be computed (no rule in force,
    calendar year unconfirmed, base date gone)."""
    kind = task.kind
    explanation = task.due_explanation or {}
    try:
        if kind == TaskKind.NEW_POLICY:
            policy = task.policy
            base, key = policy.receipt_date, policy.cooling_off_end
        elif kind == TaskKind.CLAIM_CLOSED:
            base = key = task.claim.closed_on if task.claim_id else None
        elif kind in (TaskKind.DEPARTED_SALESPERSON, TaskKind.LAPSE_NOTICE):
            base = key = date.fromisoformat(task.cycle)
        else:
            base = key = date.fromisoformat(explanation["base_date"])
    except (KeyError, TypeError, ValueError):
        return None
    if base is None or key is None:
        return None
    rule = rule_active(task.rule_id, base)
    if rule is None:
        return None
    amount, unit, cites = _due_terms(kind, rule, today)
    row = _due_row(kind, key, amount, unit, _fallback_days(today), cal)
    if row is None:
        return None
    if kind == TaskKind.NEW_POLICY:
        amount = task.policy.cooling_off_days
    extra = {
        k: explanation[k]
        for k in ("list", "serviced_on", "expires_on", "no_contact_since")
        if k in explanation
    }
    text = due_explanation(
        rule=rule.rule_id,
        rule_version=rule.version,
        base=BASE_LABELS.get(kind, "list"),
        base_date=base,
        amount=amount,
        unit=unit,
        due=row.due,
        cites=cites,
        **extra,
    )
    return _Expected(rule, row.due, text, row.calendar, row.fallback_at)


def _param_changes(old: Rule | None, new: Rule) -> str:
    if old is None:
        return ""
    keys = sorted(set(old.params) | set(new.params))
    diffs = [
        f"{k} {old.params.get(k)} → {new.params.get(k)}"
        for k in keys
        if old.params.get(k) != new.params.get(k)
    ]
    return f" ({'; '.join(diffs)})" if diffs else ""


@transaction.atomic
def callback_task_refresh_due(task: CallbackTask, *, today: date | None = None) -> CallbackTask:
    """Recompute an open generated task's due date if the rule version or the working-day calendar
    it was computed with has changed (or, for a new-policy callback, the policy's cooling-off end).

    Writes the new date, explanation, rule version and calendar revision; a changed due date (or
    e-callback fallback point) is audited as TASK_DUE_RECOMPUTED with before, after and why.
    Anything else (a closed task, a task no rule generated, a date that cannot be computed now)
    is returned unchanged.
    """
    today = today or timezone.localdate()
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in OPEN_STATUSES or task.rule_version_id is None or task.kind not in GENERATED_KINDS:
        return task
    expected = _expected(task, today, _Calendar())
    if expected is None:
        return task
    fallback_changes = (
        task.channel == Channel.ELECTRONIC
        and expected.fallback_at is not None
        and expected.fallback_at != task.channel_due_at
    )
    if (
        expected.rule.pk == task.rule_version_id
        and expected.calendar == task.calendar_revision
        and expected.due == task.due_date
        and not fallback_changes
    ):
        return task
    old_rule = Rule.objects.filter(pk=task.rule_version_id).first()
    why = []
    if expected.rule.pk != task.rule_version_id:
        why.append(
            f"rule {task.rule_id} v{old_rule.version if old_rule else '?'} → "
            f"v{expected.rule.version} ({expected.rule.pack.code}){_param_changes(old_rule, expected.rule)}"
        )
    if expected.calendar != task.calendar_revision:
        why.append(f"working-day calendar {task.calendar_revision or '-'} → {expected.calendar or '-'}")
    if not why:
        why.append("the record it is computed from changed (e.g. the cooling-off end)")
    before = {
        "due_date": task.due_date,
        "channel_due_at": task.channel_due_at,
        "rule_version": old_rule.version if old_rule else None,
        "calendar_revision": task.calendar_revision,
        "explanation": task.due_explanation,
    }
    due_changed = expected.due != task.due_date
    task.due_date = expected.due
    task.due_explanation = expected.explanation
    task.rule_version = expected.rule
    task.calendar_revision = expected.calendar
    task.due_recomputed_at = timezone.now()
    fields = [
        "due_date",
        "due_explanation",
        "rule_version",
        "calendar_revision",
        "due_recomputed_at",
        "updated_at",
    ]
    if fallback_changes:
        task.channel_due_at = expected.fallback_at
        fields.append("channel_due_at")
    task.save(update_fields=fields)
    if due_changed or fallback_changes:
        audit_record(
            events.TASK_DUE_RECOMPUTED,
            subject=task,
            rule=task.rule_id,
            data={
                "before": before,
                "after": {
                    "due_date": task.due_date,
                    "channel_due_at": task.channel_due_at,
                    "rule_version": expected.rule.version,
                    "calendar_revision": task.calendar_revision,
                    "explanation": task.due_explanation,
                },
                "why": why,
            },
        )
    return task


def callback_tasks_stale():
    """Open generated tasks whose due date may be stale: computed with a rule version no longer in
    force, a calendar revision that changed, or (new policies) a cooling-off end that moved.

    One grouped scan of the open tasks finds the stale (rule version, calendar) combinations."""
    open_tasks = CallbackTask.objects.filter(
        status__in=OPEN_STATUSES, rule_version__isnull=False, kind__in=GENERATED_KINDS
    )
    groups = open_tasks.order_by().values_list("rule_id", "rule_version_id", "calendar_revision").distinct()
    cal = _Calendar()
    in_force: dict[str, set[int]] = {}
    stale = Q(pk__in=[])
    for rule_id, version_id, signature in groups:
        if rule_id not in in_force:
            in_force[rule_id] = rule_versions_in_force(rule_id)
        old_rule = bool(in_force[rule_id]) and version_id not in in_force[rule_id]
        old_calendar = bool(signature) and _signature_now(cal, signature) != signature
        if old_rule or old_calendar:
            stale |= Q(rule_id=rule_id, rule_version_id=version_id, calendar_revision=signature)
    # A corrected receipt date moves the cooling-off end: the records hook recomputes at once; the
    # sweep catches a missed hook among the policies changed lately (not the whole book).
    changed = Policy.objects.filter(updated_at__gte=timezone.now() - timedelta(days=RECORD_CHANGE_DAYS))
    stale |= Q(kind=TaskKind.NEW_POLICY, policy__in=changed, policy__cooling_off_end__isnull=False) & ~Q(
        due_date=F("policy__cooling_off_end")
    )
    return open_tasks.filter(stale)


def _refresh_many(ids: Iterable[int], today: date) -> int:
    changed = 0
    for pk in list(ids):
        task = CallbackTask(pk=pk)
        before = (
            CallbackTask.objects.filter(pk=pk)
            .values_list("due_date", "rule_version_id", "calendar_revision")
            .first()
        )
        after_task = callback_task_refresh_due(task, today=today)
        if before != (after_task.due_date, after_task.rule_version_id, after_task.calendar_revision):
            changed += 1
    return changed


def callback_tasks_refresh_stale(*, today: date | None = None) -> int:
    """Recompute every stale open task (``callback_tasks_stale``); returns how many changed."""
    today = today or timezone.localdate()
    return _refresh_many(callback_tasks_stale().order_by("pk").values_list("pk", flat=True), today)


# ---- the daily sweep ----------------------------------------------------------------------------


@dataclass
class SweepResult:
    today: date
    created: dict[str, int] = field(default_factory=dict)
    closed_cancelled: int = 0
    recomputed: int = 0
    unconfirmed_years: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "created": self.created,
            "created_total": sum(self.created.values()),
            "closed_cancelled": self.closed_cancelled,
            "recomputed": self.recomputed,
            "unconfirmed_years": self.unconfirmed_years,
            "seconds": round(self.seconds, 3),
        }


def callback_tasks_sweep(*, today: date | None = None) -> SweepResult:
    """The daily sweep: close new-policy tasks of cancelled or surrendered policies, create every
    missing task of every trigger, recompute stale due dates. Set-based; a second run is a no-op."""
    import time as _time

    started = _time.monotonic()
    today = today or timezone.localdate()
    result = SweepResult(today)
    result.closed_cancelled = callback_tasks_close_cancelled()
    unconfirmed: set[int] = set()
    for kind in SWEEP_ORDER:
        generated = callback_tasks_generate(kind, today=today, trigger="sweep")
        result.created[str(kind)] = generated.created
        unconfirmed.update(generated.skipped_unconfirmed_years)
    result.recomputed = callback_tasks_refresh_stale(today=today)
    result.unconfirmed_years = sorted(unconfirmed)
    result.seconds = _time.monotonic() - started
    logger.info("callback sweep %s", result.as_dict())
    return result


# Callback rules whose conditions test a policy's facts (for explanations).
POLICY_CALLBACK_RULES = ("BS-12", "CB-01", "CB-07", "BS-23", "SV-01", "CB-06")


def policy_rules_explain(policy: Policy, on: date | None = None) -> dict:
    """For ``huifang rules explain``: the policy's facts and, for each callback rule that tests a
    policy, the version in force (on the receipt date, else today) and whether each condition holds."""
    from huifang.rules.selectors import rule_explain

    facts = policy_rule_facts(policy)
    day = on or policy.receipt_date or timezone.localdate()
    return {
        "facts": facts,
        "on": day.isoformat(),
        "rules": [rule_explain(r, facts, day) for r in POLICY_CALLBACK_RULES],
    }
