"""Small factories for assignment and KPI tests: products, customers, policies, callback tasks,
attempts and problem cases created directly (no rule evaluation, no generation), so that each test
states exactly the rows it counts."""

import itertools
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase, TaskKind, TaskStatus
from huifang.records.models import Customer, Policy, Product, Salesperson

SHANGHAI = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """An aware datetime on ``day`` at a Shanghai wall-clock time."""
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def product(code: str = "LIFE20", line: str = Product.Line.LIFE, **extra) -> Product:
    values = {"name": f"产品{code}", "line": line, "kind": Product.Kind.TRADITIONAL} | extra
    return Product.objects.get_or_create(code=code, defaults=values)[0]


def customer(unit, n: int | None = None) -> Customer:
    n = n or next(_seq)
    return Customer.objects.create(
        customer_no=f"KC{n:06d}", name="王五", mobile="13912345678", org_unit=unit, source_hash="t"
    )


def salesperson(unit, staff_user=None, code: str | None = None) -> Salesperson:
    code = code or f"S{next(_seq):05d}"
    return Salesperson.objects.create(
        code=code, name="业务员", org_unit=unit, channel="agency", staff_user=staff_user
    )


def policy(
    unit,
    *,
    prod: Product | None = None,
    channel: str = "bank",
    receipt: date | None = date(2026, 2, 5),
    is_group: bool = False,
    is_long_term: bool = True,
    seller: Salesperson | None = None,
    cooling_off_end: date | None = None,
) -> Policy:
    n = next(_seq)
    holder = customer(unit, n)
    return Policy.objects.create(
        policy_no=f"KP{n:06d}",
        product=prod or product(),
        channel=channel,
        is_group=is_group,
        applicant=holder,
        insured=holder,
        salesperson=seller,
        org_unit=unit,
        premium=10000,
        payment_mode="regular",
        payment_years=10,
        payment_frequency="annual",
        term_years=20,
        application_date=date(2026, 1, 20),
        receipt_date=receipt,
        is_long_term=is_long_term,
        cooling_off_end=cooling_off_end,
        source_hash="t",
    )


def task(
    unit,
    *,
    pol: Policy | None = None,
    kind: str = TaskKind.NEW_POLICY,
    status: str = TaskStatus.PENDING,
    due: date = date(2026, 3, 2),
    channel: str = "phone",
    pool: str = "",
    priority: int = 0,
    assignee=None,
    recall_at: datetime | None = None,
    succeeded_in_cooling_off: bool | None = None,
    rule_id: str = "BS-12",
    **extra,
) -> CallbackTask:
    n = next(_seq)
    if pol is None:
        pol = policy(unit)
    return CallbackTask.objects.create(
        kind=kind,
        rule_id=rule_id,
        subject_key=f"policy:{pol.pk}:{n}",
        policy=pol,
        customer=pol.applicant,
        org_unit=unit,
        status=status,
        due_date=due,
        channel=channel,
        pool=pool,
        priority=priority,
        assignee=assignee,
        recall_at=recall_at,
        succeeded_in_cooling_off=succeeded_in_cooling_off,
        **extra,
    )


def attempt(
    t: CallbackTask,
    *,
    channel: str = "phone",
    started_at: datetime | None = None,
    disposition: str = Attempt.Disposition.NO_ANSWER,
    submitted: bool = True,
    agent=None,
    answers: dict | None = None,
    notes: str = "",
) -> Attempt:
    started_at = started_at or at(t.due_date, 10, next(_seq) % 60)
    return Attempt.objects.create(
        task=t,
        channel=channel,
        agent=agent,
        started_at=started_at,
        ended_at=started_at,
        disposition=disposition,
        answers=answers or {},
        notes=notes,
        submitted_at=started_at if submitted else None,
    )


def problem_case(
    t: CallbackTask,
    *,
    due: date,
    status: str = ProblemCase.Status.OPEN,
    resolved_at: datetime | None = None,
    handler=None,
    category: str = ProblemCase.Category.SALES_MISLEADING,
) -> ProblemCase:
    return ProblemCase.objects.create(
        number=f"PC{next(_seq):06d}",
        task=t,
        category=category,
        org_unit=t.org_unit,
        discovered_on=due,
        due_date=due,
        status=status,
        resolved_at=resolved_at,
        resolution=ProblemCase.Resolution.EXPLAINED if resolved_at else "",
        handler=handler,
    )
