from django.utils.translation import gettext_lazy as _

from huifang.core.audit.registry import register

TASK_CREATED = register("callback_task.created", _("Callback task created"))
TASK_STATUS_CHANGED = register("callback_task.status_changed", _("Callback task status changed"))
TASK_DUE_RECOMPUTED = register("callback_task.due_recomputed", _("Callback task due date recomputed"))
TASK_ASSIGNED = register("callback_task.assigned", _("Callback task assigned"))
TASK_CHANNEL_CHANGED = register("callback_task.channel_changed", _("Callback channel changed"), rule="EC-05")
ATTEMPT_SUBMITTED = register("attempt.submitted", _("Callback attempt submitted"))
LETTER_VISIT_REQUESTED = register(
    "callback_task.letter_visit_requested", _("Letter or visit requested"), rule="KP-04"
)
LETTER_VISIT_APPROVED = register(
    "callback_task.letter_visit_approved", _("Letter or visit approved"), rule="KP-04"
)
PROBLEM_CASE_OPENED = register("problem_case.opened", _("Problem case opened"), rule="EC-06")
PROBLEM_CASE_RESOLVED = register("problem_case.resolved", _("Problem case resolved"), rule="BS-17")
RULE_CHANGED = register("rule.changed", _("Rule changed"))
