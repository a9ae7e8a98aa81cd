"""The callbacks API: ``/api/v1/callback-tasks`` and ``/api/v1/problem-cases``.

Reads are scoped to the caller's org units (404 for a task outside them, the same answer as for a
missing one) and masked. Who may read:

* callback tasks and their attempts: ``work_callbacks``, ``supervise_callbacks``, ``view_reports``
  or ``inspect_quality`` (QA samples finished callbacks);
* problem cases: ``handle_problem_cases``, ``supervise_callbacks`` or ``view_reports``.

``POST /callback-tasks/{id}/attempts`` takes an attempt from an external dialer and applies its
outcome exactly as the workbench does (``huifang.callbacks.outcomes.attempt_submit``): the caller is
the agent (``work_callbacks``), or names the agent and holds ``supervise_callbacks`` over them.
"""

from datetime import date
from typing import Annotated

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from ninja import Query, Status

from huifang.callbacks import selectors
from huifang.callbacks.api_schemas import (
    AttemptIn,
    AttemptListOut,
    AttemptSubmittedOut,
    CallbackTaskDetailOut,
    CallbackTaskListOut,
    ProblemCaseListOut,
    ProblemCaseOut,
)
from huifang.callbacks.models import ProblemCase, TaskKind, TaskStatus
from huifang.core.api import ErrorOut, Router
from huifang.core.permissions import Cap, can_see_org_unit, has_cap
from huifang.org.models import User

router = Router(tags=["callbacks"])

TASK_READERS = (Cap.WORK_CALLBACKS, Cap.SUPERVISE_CALLBACKS, Cap.VIEW_REPORTS, Cap.INSPECT_QUALITY)
PROBLEM_READERS = (Cap.HANDLE_PROBLEM_CASES, Cap.SUPERVISE_CALLBACKS, Cap.VIEW_REPORTS)
READ_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def require_any_cap(request, caps) -> None:
    """403 unless the caller holds one of ``caps``."""
    if not any(has_cap(request.user, cap) for cap in caps):
        raise PermissionDenied


def _check_range(due_from: date | None, due_to: date | None) -> None:
    if due_from and due_to and due_from > due_to:
        raise ValidationError({"due_to": _("The end of the range is before its start.")})


@router.get(
    "/callback-tasks",
    response={200: CallbackTaskListOut, **READ_ERRORS},
    summary="List callback tasks",
)
def callback_task_list(
    request,
    policy_no: str | None = None,
    kind: TaskKind | None = None,
    status: TaskStatus | None = None,
    due_from: Annotated[date | None, Query(description="due on or after this date")] = None,
    due_to: Annotated[date | None, Query(description="due on or before this date")] = None,
    org_unit: Annotated[str | None, Query(description="org unit code; its whole subtree matches")] = None,
    assignee: Annotated[str | None, Query(description="username of the assigned agent")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
):
    """Callback tasks in the caller's org units (customer masked), by due date, ``limit`` from
    ``offset``."""
    require_any_cap(request, TASK_READERS)
    _check_range(due_from, due_to)
    qs = selectors.callback_task_list(
        request.user,
        policy_no=policy_no,
        kind=kind.value if kind else None,
        status=status.value if status else None,
        due_from=due_from,
        due_to=due_to,
        org_unit=org_unit,
        assignee=assignee,
    )
    return {"count": qs.count(), "limit": limit, "offset": offset, "items": list(qs[offset : offset + limit])}


@router.get(
    "/callback-tasks/{task_id}",
    response={200: CallbackTaskDetailOut, **READ_ERRORS},
    summary="A callback task and why it is due",
)
def callback_task_detail(request, task_id: int):
    """One task (customer masked) with its due-date explanation (rule, parameters, dates), its
    attempt count and its problem cases; 404 when missing or outside the caller's org units."""
    require_any_cap(request, TASK_READERS)
    return selectors.callback_task_get(request.user, task_id)


@router.get(
    "/callback-tasks/{task_id}/attempts",
    response={200: AttemptListOut, **READ_ERRORS},
    summary="A callback task's attempts",
)
def attempt_list(request, task_id: int):
    """Every attempt of one task in the order made (answers as item code → answer; notes are not
    returned); 404 when the task is missing or outside the caller's org units."""
    require_any_cap(request, TASK_READERS)
    items = list(selectors.attempt_list(request.user, task_id))
    return {"task_id": task_id, "count": len(items), "items": items}


def _agent_for(request, username: str | None):
    caller = request.user
    if username is None or username == caller.username:
        if not has_cap(caller, Cap.WORK_CALLBACKS):
            raise PermissionDenied
        return caller
    # Recording a call on someone else's behalf (a dialer's system account, a supervisor).
    if not has_cap(caller, Cap.SUPERVISE_CALLBACKS):
        raise PermissionDenied
    agent = User.objects.select_related("org_unit").filter(username=username, is_active=True).first()
    if agent is None or not can_see_org_unit(caller, agent.org_unit):
        raise ValidationError({"agent": _("No such agent in your org units.")})
    return agent


@router.post(
    "/callback-tasks/{task_id}/attempts",
    response={200: AttemptSubmittedOut, 201: AttemptSubmittedOut, **READ_ERRORS},
    summary="Record an attempt (external dialer)",
)
def attempt_create(request, task_id: int, payload: AttemptIn):
    """Record one attempt and apply its outcome (KP-06 success, EC-06 problem cases, EC-05 retry and
    fallback, CL-01/02/03 guards). 201 with the attempt and what it meant; 200 when the same
    ``external_ref`` was already recorded for the task (nothing changes); 403 when the agent may
    not work this callback (e.g. they sold the policy); 422 with field errors for bad input (quiet
    hours, a slot already tried, a missing answer …) — a refused attempt writes nothing."""
    agent = _agent_for(request, payload.agent)
    task = selectors.callback_task_get(request.user, task_id)
    from huifang.callbacks.outcomes import attempt_submit

    attempt, outcome = attempt_submit(
        task,
        agent=agent,
        channel=payload.channel.value,
        started_at=payload.started_at,
        ended_at=payload.ended_at,
        disposition=payload.disposition.value,
        answers=payload.answers,
        identity_confirmed=payload.identity_confirmed,
        notes=payload.notes,
        recording_url=payload.recording_url,
        external_ref=payload.external_ref,
        recall_at=payload.recall_at,
        evidence={"source": "api", "api_user": request.user.username},
    )
    body = {
        "attempt": attempt,
        "outcome": {
            "result": str(outcome.result),
            "task_status": outcome.task_status,
            "reason": outcome.reason,
            "wrong_items": outcome.wrong_items,
            "problem_cases": [
                {"number": case.number, "category": case.category, "status": case.status}
                for case in outcome.problem_cases
            ],
            "recall_at": outcome.recall_at,
            "next_attempt_at": outcome.next_attempt_at,
            "duplicate": outcome.duplicate,
        },
    }
    return Status(200 if outcome.duplicate else 201, body)


@router.get(
    "/problem-cases",
    response={200: ProblemCaseListOut, **READ_ERRORS},
    summary="List problem cases",
)
def problem_case_list(
    request,
    status: ProblemCase.Status | None = None,
    due_from: Annotated[date | None, Query(description="due on or after this date")] = None,
    due_to: Annotated[date | None, Query(description="due on or before this date")] = None,
    org_unit: Annotated[str | None, Query(description="org unit code; its whole subtree matches")] = None,
    policy_no: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
):
    """Problem cases (问题件) in the caller's org units, by due date (BS-17: 15 working days from
    discovery), with whether each was resolved on time."""
    require_any_cap(request, PROBLEM_READERS)
    _check_range(due_from, due_to)
    qs = selectors.problem_case_list(
        request.user,
        status=status.value if status else None,
        due_from=due_from,
        due_to=due_to,
        org_unit=org_unit,
        policy_no=policy_no,
    )
    return {"count": qs.count(), "limit": limit, "offset": offset, "items": list(qs[offset : offset + limit])}


@router.get(
    "/problem-cases/{number}", response={200: ProblemCaseOut, **READ_ERRORS}, summary="A problem case"
)
def problem_case_detail(request, number: str):
    """One problem case; 404 when missing or outside the caller's org units."""
    require_any_cap(request, PROBLEM_READERS)
    return selectors.problem_case_get(request.user, number)
