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


@transaction.atomic
def callback_task_set_status(
    task: CallbackTask, to_status: str, *, actor=None, reason: str = "", rule: str = ""
) -> CallbackTask:
    """Move ``task`` to ``to_status`` if the transition is allowed; record the change and audit it.

    Locks the task row, so two concurrent changes are serialised and the second sees the first.
    """
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    from_status = task.status
    if from_status == to_status:
        return task
    if to_status not in TRANSITIONS.get(from_status, set()):
        raise TransitionNotAllowed(f"a task cannot go from {from_status} to {to_status}")
    task.status = to_status
    fields = ["status", "updated_at"]
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
    audit_record(
        events.TASK_STATUS_CHANGED,
        actor=actor,
        subject=task,
        rule=rule,
        data={"from": from_status, "to": to_status, "reason": reason[:300]},
    )
    return task
