"""Reads of callback tasks, attempts and problem cases, scoped to what the user may see.

Every fetch goes through ``scope_queryset`` (the user's org subtree, everything with
``view_all_orgs``); a single fetch answers the same 404 for "missing" and "not yours". Capability
checks are the caller's (the API answers 403 first).
"""

from datetime import date

from django.db.models import QuerySet
from django.http import Http404

from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase
from huifang.core.permissions import access_object, scope_queryset
from huifang.org.models import OrgUnit


def _usable(value: str | None) -> bool:
    # PostgreSQL cannot compare a string holding NUL (it raises); no key contains one anyway.
    return value is not None and "\x00" not in value


def _in_org_subtree(qs: QuerySet, code: str | None, field: str = "org_unit") -> QuerySet:
    if code is None:
        return qs
    unit = OrgUnit.objects.filter(code=code).first() if _usable(code) else None
    return qs.filter(**{f"{field}__path__startswith": unit.path}) if unit else qs.none()


def _tasks() -> QuerySet[CallbackTask]:
    return CallbackTask.objects.select_related(
        "policy", "policy__product", "claim", "customer", "org_unit", "assignee"
    )


def callback_task_list(
    user,
    *,
    policy_no: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    org_unit: str | None = None,
    assignee: str | None = None,
) -> QuerySet[CallbackTask]:
    """Callback tasks ``user`` may see, by due date then id; optionally one policy number, kind,
    status, a due-date range (inclusive), the subtree of one org unit (by code; an unknown code
    matches nothing) or one assignee (username)."""
    qs = scope_queryset(user, _tasks())
    if policy_no is not None:
        qs = qs.filter(policy__policy_no=policy_no) if _usable(policy_no) else qs.none()
    if kind is not None:
        qs = qs.filter(kind=kind)
    if status is not None:
        qs = qs.filter(status=status)
    if due_from is not None:
        qs = qs.filter(due_date__gte=due_from)
    if due_to is not None:
        qs = qs.filter(due_date__lte=due_to)
    if assignee is not None:
        qs = qs.filter(assignee__username=assignee) if _usable(assignee) else qs.none()
    qs = _in_org_subtree(qs, org_unit)
    return qs.order_by("due_date", "id")


def callback_task_get(user, pk: int) -> CallbackTask:
    """One task, or Http404 if it is missing or outside the user's org units."""
    return access_object(user, _tasks(), pk=pk)


def callback_task_explanation(task: CallbackTask) -> dict:
    """Why ``task`` is due when it is (``huifang.callbacks.explain.task_explain``: the stored facts,
    one line in English and Chinese, the rule version); the stored facts alone if that renderer is
    not installed."""
    try:
        from huifang.callbacks.explain import task_explain
    except ImportError:
        return {
            "due_date": task.due_date,
            "explanation": task.due_explanation or {},
            "text": "",
            "text_zh": "",
            "rule_id": task.rule_id,
            "recomputed_at": task.due_recomputed_at,
            "calendar_revision": task.calendar_revision,
        }
    return task_explain(task)


def attempt_list(user, task_pk: int) -> QuerySet[Attempt]:
    """The submitted attempts of one task the user may see, in the order they were made (Http404
    for a task that is missing or outside the user's org units)."""
    task = callback_task_get(user, task_pk)
    return (
        Attempt.objects.filter(task=task, submitted_at__isnull=False)
        .select_related("agent", "script")
        .order_by("started_at", "id")
    )


def problem_case_list(
    user,
    *,
    status: str | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    org_unit: str | None = None,
    policy_no: str | None = None,
) -> QuerySet[ProblemCase]:
    """Problem cases ``user`` may see, by due date then id; optionally one status, a due-date range
    (inclusive), the subtree of one org unit (by code) or the policy of their task."""
    qs = scope_queryset(
        user, ProblemCase.objects.select_related("task", "task__policy", "org_unit", "handler")
    )
    if status is not None:
        qs = qs.filter(status=status)
    if due_from is not None:
        qs = qs.filter(due_date__gte=due_from)
    if due_to is not None:
        qs = qs.filter(due_date__lte=due_to)
    if policy_no is not None:
        qs = qs.filter(task__policy__policy_no=policy_no) if _usable(policy_no) else qs.none()
    qs = _in_org_subtree(qs, org_unit)
    return qs.order_by("due_date", "id")


def problem_case_get(user, number: str) -> ProblemCase:
    if not _usable(number):
        raise Http404
    return access_object(
        user, ProblemCase.objects.select_related("task", "org_unit", "handler"), number=number
    )
