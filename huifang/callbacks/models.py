"""Callback tasks (回访任务), attempts, scripts (questionnaires) and problem cases (问题件).

A task exists because a rule says so (``rule_id`` + ``rule_version``), once per subject, rule and
cycle (unique constraint), and is due on a date the calendar service computed — ``due_explanation``
keeps how ("due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12"). Attempts are
immutable once submitted; corrections are new attempts.
"""

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _


class TaskKind(models.TextChoices):
    NEW_POLICY = "new_policy", _("New-policy callback (新契约回访)")
    DEPARTED_SALESPERSON = "departed_salesperson", _("Departed salesperson's policy (离司业务员保单)")
    CLAIM_CLOSED = "claim_closed", _("Claims callback (理赔回访)")
    SERVICE_COMPLETED = "service_completed", _("Policy service callback (保全回访)")
    LAPSE_NOTICE = "lapse_notice", _("Lapse notice (失效通知)")
    SATISFACTION = "satisfaction", _("Service satisfaction (满意度回访)")
    RETENTION = "retention", _("Customer not contacted for 6 months (客户关怀)")
    RENEWAL_REMINDER = "renewal_reminder", _("Renewal or expiry reminder (续期/满期提醒)")


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("In progress")
    SUCCESS = "success", _("Succeeded")
    FAILED = "failed", _("Failed (unreachable)")
    REFUSED = "refused", _("Refused by the customer")
    CANCELLED_BEFORE_CALLBACK = "cancelled_before", _("Cancelled or surrendered before the callback")
    PROBLEM_FOUND = "problem_found", _("Problem found (问题件)")


OPEN_STATUSES = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)


class Channel(models.TextChoices):
    ELECTRONIC = "electronic", _("Electronic (电子化回访)")
    PHONE = "phone", _("Phone (电话回访)")
    LETTER = "letter", _("Letter (信函回访)")
    VISIT = "visit", _("Visit (上门回访)")


class Script(models.Model):
    """A versioned questionnaire. Items are in ``ScriptItem``; a published version never changes."""

    code = models.CharField(_("code"), max_length=40)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(_("name"), max_length=200)
    task_kind = models.CharField(max_length=30, choices=TaskKind.choices)
    published_at = models.DateTimeField(null=True, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="script_version_once")]
        verbose_name = _("callback script")
        verbose_name_plural = _("callback scripts")

    def __str__(self):
        return f"{self.name} v{self.version}"


class ScriptItem(models.Model):
    """One question. ``text`` is a template over policy facts ({product_name}, {premium} …);
    ``conditions`` decide whether it is shown (期缴 only, 双录 only, 万能/投连, age ≥ 65 high-risk).
    A hidden item never blocks completion."""

    class Expected(models.TextChoices):
        YES = "yes", _("Yes")
        NO = "no", _("No")
        ANY = "any", _("Any answer")

    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=40)
    text = models.TextField(_("text"))
    rule_id = models.CharField(max_length=20, blank=True)  # e.g. "BS-13(5)", "CB-05"
    mandatory = models.BooleanField(default=True)
    expected = models.CharField(max_length=5, choices=Expected.choices, default=Expected.YES)
    conditions = models.JSONField(default=dict, blank=True)
    # Category of the problem case a wrong answer opens (ProblemCase.Category).
    problem_category = models.CharField(max_length=30, blank=True)
    is_identity_check = models.BooleanField(default=False)

    class Meta:
        ordering = ["script", "position"]
        constraints = [models.UniqueConstraint(fields=["script", "code"], name="script_item_code_once")]


class CallbackTask(models.Model):
    """One callback a rule requires."""

    kind = models.CharField(_("kind"), max_length=30, choices=TaskKind.choices)
    rule_id = models.CharField(_("rule"), max_length=20)
    # Indexes: only what reads use (see Meta). Rule versions, scripts and org units are never
    # deleted, so their foreign keys need no index of their own; the org unit is the first column
    # of cbtask_org_status_due_idx, the policy of cbtask_policy_kind_idx.
    rule_version = models.ForeignKey(
        "rules.Rule", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Subject: what the callback is about. ``subject_key`` is "policy:123", "claim:45", "customer:9".
    subject_key = models.CharField(max_length=60)
    cycle = models.CharField(_("cycle"), max_length=20, blank=True, default="")
    policy = models.ForeignKey(
        "records.Policy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="callback_tasks",
        db_index=False,
    )
    claim = models.ForeignKey(
        "records.Claim",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="callback_tasks",
        db_index=False,
    )
    customer = models.ForeignKey("records.Customer", on_delete=models.PROTECT, related_name="callback_tasks")
    org_unit = models.ForeignKey(
        "org.OrgUnit", on_delete=models.PROTECT, related_name="callback_tasks", db_index=False
    )
    script = models.ForeignKey(
        Script, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TaskStatus.choices, default=TaskStatus.PENDING
    )
    due_date = models.DateField(_("due date"))
    due_explanation = models.JSONField(default=dict, blank=True)
    due_recomputed_at = models.DateTimeField(null=True, blank=True)
    calendar_revision = models.CharField(max_length=40, blank=True)
    # Channel plan (EC-05): electronic → phone → letter/visit → unreachable.
    channel = models.CharField(
        _("current channel"), max_length=12, choices=Channel.choices, default=Channel.PHONE
    )
    channel_due_at = models.DateTimeField(null=True, blank=True)
    phone_attempts = models.PositiveSmallIntegerField(default=0)
    priority = models.SmallIntegerField(default=0)
    pool = models.CharField(_("pool / skill"), max_length=40, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="callback_tasks",
        db_index=False,
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    recall_at = models.DateTimeField(_("call back at"), null=True, blank=True)
    letter_visit_requested = models.CharField(max_length=12, blank=True)  # letter | visit, awaiting approval
    letter_visit_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    outcome_note = models.CharField(max_length=500, blank=True)
    succeeded_in_cooling_off = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Attempt facts, recounted whenever one of the task's attempts is saved or deleted, in that
    # transaction (``attempt_facts_refresh``): how many attempts were submitted, and the deciding
    # one — the last submitted, by start then id (KP-03). The KPIs read them from the task row
    # instead of joining every attempt (huifang.reports.kpis).
    attempts_submitted = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_id = models.BigIntegerField(null=True, blank=True, editable=False)
    last_attempt_channel = models.CharField(
        max_length=12, choices=Channel.choices, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        verbose_name = _("callback task")
        verbose_name_plural = _("callback tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["subject_key", "rule_id", "cycle"], name="callback_task_once_per_cycle"
            )
        ]
        # A new task enters as few indexes as possible (the sweep inserts a million at once): the
        # columns a new task leaves empty (claim, assignee, letter/visit approver) are indexed
        # only where set.
        indexes = [
            models.Index(fields=["status", "due_date"], name="cbtask_status_due_idx"),
            # Carries the kind, the policy and the id, so that the board's cooling-off risks (open new-policy
            # tasks due soon, joined to their policies) read this index alone.
            models.Index(
                fields=["org_unit", "status", "due_date", "kind", "policy", "id"],
                name="cbtask_org_status_due_idx",
            ),
            models.Index(
                fields=["assignee", "status"],
                name="cbtask_assignee_status_idx",
                condition=models.Q(assignee__isnull=False),
            ),
            models.Index(fields=["policy", "kind"], name="cbtask_policy_kind_idx"),
            models.Index(fields=["claim"], name="cbtask_claim_idx", condition=models.Q(claim__isnull=False)),
            models.Index(
                fields=["letter_visit_approved_by"],
                name="cbtask_lv_approver_idx",
                condition=models.Q(letter_visit_approved_by__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.subject_key}"


class TaskStatusChange(models.Model):
    """Every status change of a task, with who, when and why (the audit chain has it too)."""

    task = models.ForeignKey(CallbackTask, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]


class Attempt(models.Model):
    """One contact attempt. Immutable once ``submitted_at`` is set; a correction is a new attempt."""

    class Disposition(models.TextChoices):
        REACHED = "reached", _("Reached the policyholder")
        NO_ANSWER = "no_answer", _("No answer")
        WRONG_NUMBER = "wrong_number", _("Wrong or empty number")
        NOT_POLICYHOLDER = "not_policyholder", _("Not the policyholder")
        REFUSED = "refused", _("Refused")
        CALL_LATER = "call_later", _("Asked to be called later")
        STOPPED = "stopped", _("Customer stopped the e-callback (EC-02)")

    task = models.ForeignKey(CallbackTask, on_delete=models.PROTECT, related_name="attempts")
    channel = models.CharField(max_length=12, choices=Channel.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    disposition = models.CharField(max_length=20, choices=Disposition.choices)
    identity_confirmed = models.BooleanField(default=False)
    script = models.ForeignKey(Script, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    answers = models.JSONField(
        default=dict, blank=True
    )  # item code → {"answer": yes|no|unsure, "text_sha256": …}
    notes = models.TextField(blank=True)
    recording = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    recording_sha256 = models.CharField(max_length=64, blank=True)
    recording_url = models.URLField(blank=True)
    external_ref = models.CharField(max_length=80, blank=True)  # external dialer's call id (idempotency)
    evidence = models.JSONField(default=dict, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "external_ref"],
                condition=~models.Q(external_ref=""),
                name="attempt_external_ref_once",
            )
        ]


def attempt_facts_refresh(task_id: int) -> None:
    """Recount a task's attempt facts (``CallbackTask.attempts_submitted``, ``last_attempt_*``) from
    its submitted attempts: two small queries on the attempts' task index. Called for every saved
    or deleted attempt (``attempt_submit``, the API, the admin, fixtures), in its transaction; the
    task row is already locked by ``attempt_submit``, so concurrent attempts cannot interleave."""
    submitted = Attempt.objects.filter(task_id=task_id, submitted_at__isnull=False)
    last = submitted.order_by("-started_at", "-id").values_list("id", "started_at", "channel").first()
    last_id, last_at, last_channel = last or (None, None, "")
    CallbackTask.objects.filter(pk=task_id).update(
        attempts_submitted=submitted.count(),
        last_attempt_id=last_id,
        last_attempt_at=last_at,
        last_attempt_channel=last_channel,
    )


@receiver(post_save, sender="callbacks.Attempt", dispatch_uid="callbacks_attempt_facts_saved")
@receiver(post_delete, sender="callbacks.Attempt", dispatch_uid="callbacks_attempt_facts_deleted")
def _attempt_facts_follow(sender, instance, raw=False, **kwargs):
    if not raw and instance.task_id:  # loaddata restores the facts with the tasks
        attempt_facts_refresh(instance.task_id)


class ProblemCase(models.Model):
    """A problem found in a callback (EC-06), resolved by someone other than the salesperson within
    15 working days of discovery (BS-17)."""

    class Category(models.TextChoices):
        SALES_MISLEADING = "sales_misleading", _("Sales misleading (销售误导)")
        NOT_SIGNED_BY_CUSTOMER = "not_signed", _("Not signed by the customer (非本人签名)")
        POLICY_NOT_RECEIVED = "not_received", _("Policy not received (未收到保单)")
        SURRENDER_LOSS_UNKNOWN = "surrender_loss", _("Does not know the surrender loss (不了解退保损失)")
        COVER_UNKNOWN = "cover_unknown", _("Does not know the cover or exclusions")
        COOLING_OFF_UNKNOWN = "cooling_off_unknown", _("Does not know the cooling-off rights")
        PAYMENT_TERMS_UNKNOWN = "payment_terms", _("Does not know the payment period or frequency")
        RECORDING_DISPUTED = "recording_disputed", _("Disputes the sales recording (双录)")
        NOT_POLICYHOLDER = "not_policyholder", _("Identity could not be confirmed")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Resolution(models.TextChoices):
        EXPLAINED = "explained", _("Explained and accepted")
        CORRECTED = "corrected", _("Corrected")
        CANCELLED_REFUND = "cancelled_refund", _("Cancelled with full refund")
        ESCALATED = "escalated", _("Escalated to a complaint")

    number = models.CharField(max_length=30, unique=True)
    task = models.ForeignKey(CallbackTask, on_delete=models.PROTECT, related_name="problem_cases")
    attempt = models.ForeignKey(
        Attempt, null=True, blank=True, on_delete=models.PROTECT, related_name="problem_cases"
    )
    item_code = models.CharField(max_length=40, blank=True)
    category = models.CharField(max_length=30, choices=Category.choices)
    description = models.TextField(blank=True)
    org_unit = models.ForeignKey("org.OrgUnit", on_delete=models.PROTECT, related_name="problem_cases")
    discovered_on = models.DateField()
    due_date = models.DateField()
    due_explanation = models.JSONField(default=dict, blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="problem_cases",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["status", "due_date"], name="problem_status_due_idx")]

    def __str__(self):
        return self.number
