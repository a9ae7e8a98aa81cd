"""The callback task state machine: allowed transitions and the one service that changes status."""

from django.db import transaction
from django.utils import timezone

from huifang.callbacks import events
from huifang.callbacks.models import CallbackTask, TaskStatus, TaskStatusChange
from huifang.core.audit.services import audit_record

S = TaskStatus
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING: {S.IN_PROGRESS, S.SUCCESS, S.FAILED, S.REFUSED, S.CANCELLED_BEFORE_CALLBACK, S.PROBLEM_FOUND},
    S.IN_PROGRESS: {S.PENDING, S.SUCCESS, S.FAILED, S.REFUSED, S.CANCELLED_BEFORE_CALLBACK, S.PROBLEM_FOUND},
    # Closed states are final; a problem found may still be followed by a successful re-callback.
    S.PROBLEM_FOUND: {S.SUCCESS},
    S.SUCCESS: set(),
    S.FAILED: set(),
    S.REFUSED: set(),
    S.CANCELLED_BEFORE_CALLBACK: set(),
}
CLOSED = {S.SUCCESS, S.FAILED, S.REFUSED, S.CANCELLED_BEFORE_CALLBACK, S.PROBLEM_FOUND}


class TransitionNotAllowed(ValueError):
    pass


def check_transition(from_status: str, to_status: str) -> None:
    """Raise TransitionNotAllowed unless a task may go from ``from_status`` to ``to_status``."""
    if to_status not in TRANSITIONS.get(from_status, set()):
        raise TransitionNotAllowed(f"a task cannot go from {from_status} to {to_status}")


def callback_task_apply_status(
    task: CallbackTask, to_status: str, *, actor=None, reason: str = "", also: tuple[str, ...] = ()
) -> str:
    """Move a task whose row the caller has locked to ``to_status``: check the transition, save the
    task (with the fields in ``also`` that the caller changed, in the same UPDATE) and write the
    status-change row. Returns the previous status.

    The building block of ``callback_task_set_status``, for services that lock the task themselves
    and write one audit event for the whole change, which must carry the previous and the new
    status (``callback_task_claim_next``). Must run inside the caller's transaction.
    """
    from_status = task.status
    check_transition(from_status, to_status)
    task.status = to_status
    fields = [*also, "status", "updated_at"]
    if to_status in CLOSED:
        task.closed_at = timezone.now()
        fields.append("closed_at")
        if task.policy_id and to_status == S.SUCCESS and task.policy.cooling_off_end:
            task.succeeded_in_cooling_off = timezone.localdate() <= task.policy.cooling_off_end
            fields.append("succeeded_in_cooling_off")
    task.save(update_fields=fields)
    TaskStatusChange.objects.create(
        task=task,
        from_status=from_status,
        to_status=to_status,
        changed_by=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason[:300],
    )
    return from_status


def callback_task_set_status(
    task: CallbackTask, to_status: str, *, actor=None, reason: str = "", rule: str = ""
) -> CallbackTask:
    """Move ``task`` to ``to_status`` if the transition is allowed; record the change and audit it.

    Locks the task row, so two concurrent changes are serialised and the second sees the first.
    A refused transition raises TransitionNotAllowed before anything is written, and leaves the
    caller's transaction usable; the writes themselves take no savepoint (they succeed or fail with
    the caller's transaction).
    """
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return callback_task_set_status(task, to_status, actor=actor, reason=reason, rule=rule)
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    from_status = task.status
    if from_status == to_status:
        return task
    check_transition(from_status, to_status)
    with transaction.atomic(savepoint=False):
        callback_task_apply_status(task, to_status, actor=actor, reason=reason)
        audit_record(
            events.TASK_STATUS_CHANGED,
            actor=actor,
            subject=task,
            rule=rule,
            data={"from": from_status, "to": to_status, "reason": reason[:300]},
        )
    return task
