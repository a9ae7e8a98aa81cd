"""Problem cases (问题件): a negative or doubtful callback answer, recorded and handled (EC-06).

RULES.md BS-17: the problem is resolved by someone other than the salesperson within 15 working
days of its discovery (``BS-17.params.working_days``). The day of discovery is the Asia/Shanghai
date of the call; counting starts the next day (民法典 Art. 201), so a problem found on 2026-02-13
(before the Spring Festival) is due 2026-03-12.

Numbers read ``PC`` + year of discovery + a six-digit sequence per year: ``PC2026000123``.
"""

from __future__ import annotations

import re
from datetime import date

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext

from huifang.callbacks import events
from huifang.callbacks.channels import (
    SHANGHAI,
    is_policy_salesperson,
    policy_salesperson_user_id,
    rule_param,
    user_in_work_scope,
)
from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase
from huifang.core.audit.services import audit_record
from huifang.core.calendar.services import add_working_days
from huifang.core.permissions import Cap, Role, has_cap
from huifang.org.models import OrgUnit, User

DEFAULT_WORKING_DAYS = 15  # BS-17
_NUMBER = re.compile(r"^PC(\d{4})(\d{6,})$")


def problem_case_working_days(on: date | None = None) -> int:
    return int(rule_param("BS-17", "working_days", DEFAULT_WORKING_DAYS, on=on))


def problem_case_due(discovered_on: date) -> tuple[date, dict]:
    """The BS-17 deadline for a problem discovered on ``discovered_on``, and how it was computed."""
    days = problem_case_working_days(discovered_on)
    due = add_working_days(discovered_on, days)
    return due, {
        "rule": "BS-17",
        "from": discovered_on.isoformat(),
        "working_days": days,
        "due": due.isoformat(),
        "text": f"due {due.isoformat()} = discovered {discovered_on.isoformat()} + {days} WD · BS-17",
    }


def problem_handler_choose(task: CallbackTask) -> User | None:
    """A problem-case handler for ``task``: an active user with the problem-handler role whose org
    unit is the task's or one of its ancestors (they must see the task), nearest first, then the
    one with the fewest open cases. Never the policy's salesperson (BS-17)."""
    parts = [p for p in task.org_unit.path.split("/") if p]
    prefixes = ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]
    units = dict(OrgUnit.objects.filter(path__in=prefixes).values_list("pk", "depth"))
    group = Group.objects.filter(name=Role.PROBLEM_HANDLER.value).first()
    if group is None or not units:
        return None
    candidates = (
        User.objects.filter(groups=group, is_active=True, org_unit_id__in=list(units))
        .annotate(open_cases=Count("problem_cases", filter=Q(problem_cases__status=ProblemCase.Status.OPEN)))
        .order_by("id")
    )
    excluded = policy_salesperson_user_id(task)
    ranked = sorted(
        (u for u in candidates if u.pk != excluded and has_cap(u, Cap.HANDLE_PROBLEM_CASES)),
        key=lambda u: (-units[u.org_unit_id], u.open_cases, u.pk),
    )
    return ranked[0] if ranked else None


def _next_number(year: int) -> str:
    prefix = f"PC{year}"
    numbers = ProblemCase.objects.filter(number__startswith=prefix).values_list("number", flat=True)
    highest = 0
    for number in numbers.order_by("-number")[:50]:
        m = _NUMBER.match(number)
        if m:
            highest = max(highest, int(m.group(2)))
    return f"{prefix}{highest + 1:06d}"


def _item_code(item) -> str:
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    return getattr(item, "code", "") or ""


def problem_case_open(
    task: CallbackTask,
    attempt: Attempt | None,
    item,
    category: str,
    description: str,
    *,
    actor=None,
    discovered_on: date | None = None,
) -> ProblemCase:
    """Open a problem case for ``task`` (EC-06): numbered, due in 15 working days from the day of
    discovery (BS-17; the local date of the attempt, or today), assigned to a problem-case handler
    who is not the policy's salesperson. ``item`` is a script item (or rendered item, or its code).
    ``description`` must hold no personal information: it is audited. Audited."""
    if category not in ProblemCase.Category.values:
        raise ValidationError({"category": gettext("Unknown problem-case category %(c)r.") % {"c": category}})
    if discovered_on is None:
        moment = (attempt.ended_at or attempt.started_at) if attempt is not None else timezone.now()
        discovered_on = timezone.localdate(moment, SHANGHAI)
    due, explanation = problem_case_due(discovered_on)
    handler = problem_handler_choose(task)
    for _try in range(5):
        try:
            with transaction.atomic():
                case = ProblemCase.objects.create(
                    number=_next_number(discovered_on.year),
                    task=task,
                    attempt=attempt,
                    item_code=_item_code(item),
                    category=category,
                    description=description,
                    org_unit=task.org_unit,
                    discovered_on=discovered_on,
                    due_date=due,
                    due_explanation=explanation,
                    handler=handler,
                )
                break
        except IntegrityError:  # another case took the number first
            continue
    else:
        raise RuntimeError("could not allocate a problem-case number")
    audit_record(
        events.PROBLEM_CASE_OPENED,
        actor=actor,
        subject=case,
        data={
            "number": case.number,
            "task_id": task.pk,
            "attempt_id": attempt.pk if attempt is not None else None,
            "item": case.item_code,
            "category": category,
            "due": due.isoformat(),
            "handler_id": handler.pk if handler else None,
        },
    )
    return case


@transaction.atomic
def problem_case_resolve(case: ProblemCase, *, user, resolution: str, note: str) -> ProblemCase:
    """Record the resolution of an open problem case (explained, corrected, cancelled with full
    refund, escalated to a complaint). ``user`` needs ``handle_problem_cases``, the case's org unit
    in their subtree, and must not be the policy's salesperson (BS-17). Audited."""
    if not has_cap(user, Cap.HANDLE_PROBLEM_CASES) or not user_in_work_scope(user, case.org_unit):
        raise PermissionDenied(gettext("You may not resolve this problem case."))
    if is_policy_salesperson(case.task, user):
        raise PermissionDenied(
            gettext("BS-17: a problem case is resolved by someone other than the policy's salesperson.")
        )
    case = ProblemCase.objects.select_for_update().get(pk=case.pk)
    if case.status != ProblemCase.Status.OPEN:
        raise ValidationError(gettext("This problem case is already resolved."), code="resolved")
    if resolution not in ProblemCase.Resolution.values:
        raise ValidationError(
            {
                "resolution": gettext("Choose one of: %(list)s.")
                % {"list": ", ".join(ProblemCase.Resolution.values)}
            }
        )
    case.status = ProblemCase.Status.RESOLVED
    case.resolution = resolution
    case.resolution_note = note or ""
    case.resolved_at = timezone.now()
    case.resolved_by = user
    case.save(update_fields=["status", "resolution", "resolution_note", "resolved_at", "resolved_by"])
    audit_record(
        events.PROBLEM_CASE_RESOLVED,
        actor=user,
        subject=case,
        data={
            "number": case.number,
            "resolution": resolution,
            "due": case.due_date.isoformat(),
            "resolved_on": timezone.localdate(case.resolved_at, SHANGHAI).isoformat(),
            "on_time": problem_case_is_on_time(case),
        },
    )
    return case


def problem_case_is_on_time(case: ProblemCase, *, today: date | None = None) -> bool:
    """Resolved on or before its due date (BS-17); an open case is on time until its due date has
    passed."""
    if case.resolved_at is not None:
        return timezone.localdate(case.resolved_at, SHANGHAI) <= case.due_date
    return (today or timezone.localdate(timezone=SHANGHAI)) <= case.due_date
