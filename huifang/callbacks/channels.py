"""The channel plan (EC-05) and the contact guards (CL-01, CL-02, CL-03, KP-04, separation of duties).

Channel plan — RULES.md EC-05, fixed order
------------------------------------------
1. **Electronic** first when the customer has a mobile number and has not declined e-callbacks
   (new-policy callbacks only; the customer H5 page is its own feature). If the e-callback is not
   finished by the *fallback point* — ``EC-05.params.working_days_before_cooling_off_end`` (default
   5) working days before the cooling-off end, 09:00 Asia/Shanghai — the task moves to phone, due at once
   (``channel_fallback_sweep``; a customer who stops the e-callback, EC-02, moves at once too).
2. **Phone**: ``KP-04.params.max_attempts`` (default 3) unanswered attempts on different days and
   time slots — a second unanswered attempt in the same slot of the same day is refused. Slots:
   morning 09–12, afternoon 12–18, evening 18–21 (Asia/Shanghai).
3. **Letter or visit** (KP-04): requested by the agent (``letter_visit_request``) and approved by a
   supervisor (``letter_visit_approve``); a visit is never made by the policy's salesperson; the
   attempt must carry the policyholder's signed receipt (file with SHA-256). Letters and visits
   count toward the KP-03 ≤ 10% alert.
4. If that fails too: ``failed`` ("unreachable") with the reasons — every attempt — recorded.

Contact guards
--------------
* CL-01: no outbound call or recall 21:00–09:00 Asia/Shanghai unless the customer's preferred
  window (``Customer.contact_window_start/end``) covers that time.
* A preferred window is honoured: a recall outside it is refused with the next time inside it.
* CL-02/CL-03: a customer with ``do_not_call_until`` today or later is not called; a refusal sets
  it (6 months, ``CL-02.params.months``) and closes the task as refused.
* Separation of duties: the staff user who is the policy's salesperson (``Salesperson.staff_user``)
  never works, approves or visits that policy's callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huifang.callbacks import events
from huifang.callbacks.models import OPEN_STATUSES, Attempt, CallbackTask, Channel, TaskKind
from huifang.core.audit.registry import register
from huifang.core.audit.services import audit_record
from huifang.core.calendar.services import add_working_days
from huifang.core.permissions import Cap, has_cap

# Times of day and days are always cut in Shanghai time (DESIGN.md §4), whatever zone a request uses.
SHANGHAI = ZoneInfo("Asia/Shanghai")

RECALL_SCHEDULED = register("callback_task.recall_scheduled", _("Callback recall scheduled"), rule="CL-01")

# CL-01: no outbound calls 21:00–09:00 local time.
QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(9, 0)
# EC-05 phone attempts go to different days and time slots (Asia/Shanghai).
SLOTS = (
    ("morning", time(9, 0), time(12, 0)),
    ("afternoon", time(12, 0), time(18, 0)),
    ("evening", time(18, 0), time(21, 0)),
)
SLOT_LABELS = {"morning": "上午", "afternoon": "下午", "evening": "晚间", "quiet": "夜间"}

DEFAULT_FALLBACK_WORKING_DAYS = 5  # EC-05: phone due this many WD before the cooling-off end
DEFAULT_PHONE_ATTEMPTS = 3  # EC-05 / KP-04: phone attempts before a letter or visit
DEFAULT_REFUSAL_MONTHS = 6  # CL-02: a refusal is respected for at least 6 months

# Dispositions that mean "the policyholder was not reached" and use up a phone attempt.
UNREACHED = (
    Attempt.Disposition.NO_ANSWER,
    Attempt.Disposition.WRONG_NUMBER,
    Attempt.Disposition.NOT_POLICYHOLDER,
)
LETTER_VISIT = (Channel.LETTER, Channel.VISIT)


# ---- rule parameters ----------------------------------------------------------------------------


def rule_param(rule_id: str, key: str, default, *, on: date | None = None):
    """Parameter ``key`` of the rule ``rule_id`` in force on ``on`` (highest-precedence active pack,
    current version), or ``default`` when no loaded rule carries it."""
    from huifang.rules.models import Rule

    on = on or timezone.localdate(timezone=SHANGHAI)
    params = (
        Rule.objects.filter(rule_id=rule_id, superseded_at__isnull=True, pack__active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .order_by("-pack__precedence", "-version")
        .values_list("params", flat=True)
    )
    for found in params:
        if isinstance(found, dict) and found.get(key) is not None:
            return found[key]
    return default


def phone_attempts_max() -> int:
    """KP-04 ``max_attempts``: unanswered phone attempts before a letter or visit (default 3)."""
    return int(rule_param("KP-04", "max_attempts", DEFAULT_PHONE_ATTEMPTS))


def fallback_working_days() -> int:
    """EC-05 ``working_days_before_cooling_off_end``: when an e-callback gives way to the phone."""
    return int(rule_param("EC-05", "working_days_before_cooling_off_end", DEFAULT_FALLBACK_WORKING_DAYS))


# ---- who may do what ----------------------------------------------------------------------------


def policy_salesperson_user_id(task: CallbackTask) -> int | None:
    """The staff user who sold the task's policy (``Salesperson.staff_user``), if any."""
    if not task.policy_id:
        return None
    policy = task.policy
    if not policy.salesperson_id:
        return None
    return policy.salesperson.staff_user_id


def is_policy_salesperson(task: CallbackTask, user) -> bool:
    return user is not None and user.pk is not None and policy_salesperson_user_id(task) == user.pk


def user_in_work_scope(user, org_unit) -> bool:
    # The work scope is the user's own org subtree (reading everything is not working everything).
    return bool(user.org_unit_id and org_unit and org_unit.path.startswith(user.org_unit.path))


def callback_user_check(task: CallbackTask, user, cap: Cap, *, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` holds ``cap``, has the task's org unit in their
    subtree and is not the policy's salesperson (separation of duties)."""
    if not has_cap(user, cap) or not user_in_work_scope(user, task.org_unit):
        raise PermissionDenied(gettext("You may not %(action)s this callback.") % {"action": action})
    if is_policy_salesperson(task, user):
        raise PermissionDenied(
            gettext(
                "Separation of duties: the policy's salesperson may not %(action)s its callback "
                "(不得由保单销售人员处理本保单回访)."
            )
            % {"action": action}
        )


# ---- time of day --------------------------------------------------------------------------------


def _local(at: datetime) -> datetime:
    if timezone.is_naive(at):
        raise ValidationError(gettext("A contact time must carry its time zone."))
    return timezone.localtime(at, SHANGHAI)


def time_slot(at: datetime) -> str:
    """ "morning", "afternoon", "evening" or "quiet" (21:00–09:00), in Asia/Shanghai."""
    t = _local(at).time()
    for name, start, end in SLOTS:
        if start <= t < end:
            return name
    return "quiet"


def in_quiet_hours(at: datetime) -> bool:
    return time_slot(at) == "quiet"


def customer_window(customer) -> tuple[time, time] | None:
    start, end = customer.contact_window_start, customer.contact_window_end
    if start is None or end is None or start == end:
        return None
    return start, end


def customer_window_covers(customer, at: datetime) -> bool:
    """Does the customer's preferred window cover ``at``? (A window may run past midnight.)"""
    window = customer_window(customer)
    if window is None:
        return False
    start, end = window
    t = _local(at).time()
    return start <= t < end if start < end else (t >= start or t < end)


def customer_do_not_call(customer, on: date | None = None) -> bool:
    """CL-02/CL-03: the customer asked not to be called until a day that has not passed."""
    on = on or timezone.localdate(timezone=SHANGHAI)
    return bool(customer.do_not_call_until and customer.do_not_call_until >= on)


def _allowed_at(customer, at: datetime) -> bool:
    window = customer_window(customer)
    if window is not None:
        return customer_window_covers(customer, at)
    return not in_quiet_hours(at)


def contact_next_allowed(customer, after: datetime) -> datetime:
    """The first moment at or after ``after`` when the customer may be called: inside their
    preferred window if they have one, else outside the CL-01 quiet hours."""
    local = _local(after)
    if _allowed_at(customer, local):
        return local
    window = customer_window(customer)
    start = window[0] if window else QUIET_UNTIL
    candidate = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = timezone.make_aware(
            datetime.combine(local.date() + timedelta(days=1), start), local.tzinfo
        )
    return candidate


def _fmt(at: datetime) -> str:
    return timezone.localtime(at, SHANGHAI).strftime("%Y-%m-%d %H:%M")


def contact_time_check(customer, at: datetime, *, honour_window: bool = True) -> None:
    """Raise ``ValidationError`` if the customer may not be called at ``at``: do-not-call (CL-02,
    CL-03), the quiet hours (CL-01) not covered by their window, or — with ``honour_window`` —
    a time outside their preferred window."""
    if customer_do_not_call(customer, timezone.localdate(at, SHANGHAI) if at else None):
        raise ValidationError(
            gettext(
                "CL-02/CL-03: the customer asked not to be called until %(until)s (%(reason)s); "
                "客户要求在此之前不再联系。"
            )
            % {"until": customer.do_not_call_until.isoformat(), "reason": customer.do_not_call_reason or "-"},
            code="do_not_call",
        )
    covered = customer_window_covers(customer, at)
    if in_quiet_hours(at) and not covered:
        suggestion = contact_next_allowed(customer, at)
        raise ValidationError(
            gettext(
                "CL-01: no outbound calls between 21:00 and 09:00 (Asia/Shanghai) unless the customer "
                "asked for that time; 21:00至次日09:00不得外呼，除非客户要求。%(at)s is in the quiet "
                "hours; the next allowed time is %(next)s."
            )
            % {"at": _fmt(at), "next": _fmt(suggestion)},
            code="quiet_hours",
        )
    window = customer_window(customer)
    if honour_window and window is not None and not covered:
        suggestion = contact_next_allowed(customer, at)
        raise ValidationError(
            gettext(
                "CL-03: the customer asked to be called between %(start)s and %(end)s; "
                "客户要求的联系时段为%(start)s–%(end)s。The next time in that window is %(next)s."
            )
            % {
                "start": window[0].strftime("%H:%M"),
                "end": window[1].strftime("%H:%M"),
                "next": _fmt(suggestion),
            },
            code="outside_window",
        )


# ---- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelPlan:
    channel: str
    channel_due_at: datetime | None
    reason: str


def _local_moment(d: date, t: time) -> datetime:
    return timezone.make_aware(datetime.combine(d, t), SHANGHAI)


def channel_fallback_point(task: CallbackTask) -> datetime | None:
    """When an unfinished e-callback falls back to phone (EC-05): N working days before the
    cooling-off end (or the task's due date), at 09:00 Asia/Shanghai."""
    end = task.policy.cooling_off_end if task.policy_id and task.policy.cooling_off_end else task.due_date
    if end is None:
        return None
    return _local_moment(add_working_days(end, -fallback_working_days()), QUIET_UNTIL)


def e_callback_possible(task: CallbackTask) -> bool:
    customer = task.customer
    return task.kind == TaskKind.NEW_POLICY and bool(customer.mobile) and not customer.e_callback_declined


def channel_plan_initial(task: CallbackTask, *, now: datetime | None = None) -> ChannelPlan:
    """Where a new task starts (EC-05): electronic while the fallback point is ahead, else phone."""
    now = now or timezone.now()
    if e_callback_possible(task):
        fallback = channel_fallback_point(task)
        if fallback is not None and fallback > now:
            return ChannelPlan(Channel.ELECTRONIC, fallback, "EC-05: electronic first")
        return ChannelPlan(Channel.PHONE, now, "EC-05: fallback point passed, phone due at once")
    customer = task.customer
    if task.kind != TaskKind.NEW_POLICY:
        reason = "phone: e-callback is for new-policy callbacks"
    elif not customer.mobile:
        reason = "EC-05: no mobile number, phone"
    else:
        reason = "EC-05: customer declined e-callback, phone"
    return ChannelPlan(Channel.PHONE, now, reason)


def _switch(task: CallbackTask, channel: str, due_at, *, actor=None, reason: str) -> CallbackTask:
    before = task.channel
    task.channel = channel
    task.channel_due_at = due_at
    task.save(update_fields=["channel", "channel_due_at", "updated_at"])
    if before != channel:
        audit_record(
            events.TASK_CHANNEL_CHANGED,
            actor=actor,
            subject=task,
            data={"from": before, "to": channel, "reason": reason},
        )
    return task


@transaction.atomic
def channel_plan_apply(task: CallbackTask, *, now: datetime | None = None, actor=None) -> CallbackTask:
    """Put a task that has no attempts yet on the start of its channel plan (audited when the
    channel changes). A task with attempts keeps its channel."""
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in OPEN_STATUSES or task.attempts.exists():
        return task
    plan = channel_plan_initial(task, now=now)
    return _switch(task, plan.channel, plan.channel_due_at, actor=actor, reason=plan.reason)


def channel_fallback_sweep(now: datetime | None = None) -> int:
    """Move every open electronic task whose fallback point has passed to phone, due at once
    (EC-05). Safe to run twice; returns how many moved."""
    now = now or timezone.now()
    moved = 0
    ids = list(
        CallbackTask.objects.filter(
            status__in=OPEN_STATUSES, channel=Channel.ELECTRONIC, channel_due_at__lte=now
        ).values_list("id", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            task = CallbackTask.objects.select_for_update().filter(pk=pk).first()
            if task and task.channel == Channel.ELECTRONIC and task.status in OPEN_STATUSES:
                _switch(
                    task, Channel.PHONE, now, reason="EC-05: e-callback not finished by the fallback point"
                )
                moved += 1
    return moved


def channel_to_phone(
    task: CallbackTask, *, actor=None, reason: str, now: datetime | None = None
) -> CallbackTask:
    """Move an electronic task to phone at once (the customer stopped the e-callback, EC-02, or an
    agent called)."""
    if task.channel != Channel.ELECTRONIC:
        return task
    return _switch(task, Channel.PHONE, now or timezone.now(), actor=actor, reason=reason)


# ---- phone attempts -----------------------------------------------------------------------------


def next_slot_start(customer, after: datetime) -> datetime:
    """The start of the next time slot after ``after``'s slot, adjusted to when the customer may be
    called (for the next attempt after an unanswered one)."""
    local = _local(after)
    slot = time_slot(local)
    starts = [start for _name, start, _end in SLOTS]
    following = [s for s in starts if s > local.time()] if slot != "quiet" else []
    if slot == "quiet" and local.time() < QUIET_UNTIL:
        following = [QUIET_UNTIL]
    if following:
        candidate = local.replace(hour=following[0].hour, minute=0, second=0, microsecond=0)
    else:
        candidate = _local_moment(local.date() + timedelta(days=1), QUIET_UNTIL)
    return contact_next_allowed(customer, candidate)


def phone_attempt_check(task: CallbackTask, started_at: datetime, *, correction: bool = False) -> None:
    """Raise ``ValidationError`` if a phone call to the task's customer at ``started_at`` breaks a
    guard: do-not-call (CL-02/CL-03), quiet hours (CL-01), phone attempts used up (EC-05), or an
    earlier unanswered attempt in the same slot of the same day (EC-05). A correction re-records
    an earlier call and is checked only for its own consistency."""
    if correction:
        return
    contact_time_check(task.customer, started_at, honour_window=False)
    limit = phone_attempts_max()
    if task.phone_attempts >= limit:
        raise ValidationError(
            gettext(
                "EC-05: %(n)s phone attempts have been made; request a letter or visit "
                "(电话回访已达%(n)s次，请申请信函或上门回访)."
            )
            % {"n": task.phone_attempts},
            code="phone_attempts_used",
        )
    day, slot = timezone.localdate(started_at, SHANGHAI), time_slot(started_at)
    earlier = Attempt.objects.filter(
        task=task, channel=Channel.PHONE, disposition__in=UNREACHED, submitted_at__isnull=False
    ).values_list("started_at", flat=True)
    for moment in earlier:
        if timezone.localdate(moment, SHANGHAI) == day and time_slot(moment) == slot:
            raise ValidationError(
                gettext(
                    "EC-05: an unanswered call was already made on %(day)s in the %(slot)s slot; try "
                    "another day or time slot (同一时段不得重复拨打)."
                )
                % {"day": day.isoformat(), "slot": SLOT_LABELS[slot]},
                code="same_slot",
            )


# ---- recalls ------------------------------------------------------------------------------------


@transaction.atomic
def recall_schedule(task: CallbackTask, at: datetime, user) -> CallbackTask:
    """Schedule a call back at ``at`` (aware) for ``task``; ``user`` keeps the task.

    Refused (``ValidationError``) for a closed task, a time in the past, a do-not-call customer
    (CL-02/CL-03), the quiet hours 21:00–09:00 unless the customer's preferred window covers
    them (CL-01), or a time outside that window (with the next time inside it). Audited.
    """
    callback_user_check(task, user, Cap.WORK_CALLBACKS, action="schedule a recall for")
    task = CallbackTask.objects.select_for_update().select_related("customer").get(pk=task.pk)
    if task.status not in OPEN_STATUSES:
        raise ValidationError(gettext("The callback is closed; no recall can be scheduled."), code="closed")
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise ValidationError(gettext("A recall time must be a date and time with its time zone."))
    if at <= timezone.now():
        raise ValidationError(gettext("A recall time must be in the future."), code="past")
    contact_time_check(task.customer, at)
    task.recall_at = at
    fields = ["recall_at", "updated_at"]
    if task.assignee_id is None:
        task.assignee = user
        task.assigned_at = timezone.now()
        fields += ["assignee", "assigned_at"]
    task.save(update_fields=fields)
    audit_record(
        RECALL_SCHEDULED,
        actor=user,
        subject=task,
        data={
            "recall_at": at.isoformat(),
            "slot": time_slot(at),
            "window": customer_window(task.customer) is not None,
        },
    )
    return task


# ---- letter and visit ---------------------------------------------------------------------------


@transaction.atomic
def letter_visit_request(task: CallbackTask, kind: str, user) -> CallbackTask:
    """Ask for a letter or visit callback after the phone attempts failed (EC-05, KP-04). Needs a
    supervisor's approval (``letter_visit_approve``). A visit is never made by the salesperson."""
    if kind not in LETTER_VISIT:
        raise ValidationError(gettext("Choose a letter or a visit."), code="kind")
    callback_user_check(task, user, Cap.WORK_CALLBACKS, action="request a letter or visit for")
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in OPEN_STATUSES:
        raise ValidationError(gettext("The callback is closed."), code="closed")
    if task.channel in LETTER_VISIT and task.letter_visit_approved_by_id:
        raise ValidationError(gettext("A letter or visit has already been approved."), code="approved")
    if task.phone_attempts < phone_attempts_max():
        raise ValidationError(
            gettext(
                "EC-05: a letter or visit comes after %(n)s phone attempts; %(made)s made so far "
                "(须先完成电话回访)."
            )
            % {"n": phone_attempts_max(), "made": task.phone_attempts},
            code="phone_first",
        )
    task.letter_visit_requested = kind
    task.letter_visit_approved_by = None
    task.save(update_fields=["letter_visit_requested", "letter_visit_approved_by", "updated_at"])
    audit_record(
        events.LETTER_VISIT_REQUESTED,
        actor=user,
        subject=task,
        data={"kind": kind, "phone_attempts": task.phone_attempts},
    )
    return task


@transaction.atomic
def letter_visit_approve(task: CallbackTask, supervisor) -> CallbackTask:
    """A supervisor approves the requested letter or visit; the task moves to that channel, due at
    once. The supervisor must not be the policy's salesperson."""
    callback_user_check(task, supervisor, Cap.SUPERVISE_CALLBACKS, action="approve a letter or visit for")
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    if task.status not in OPEN_STATUSES:
        raise ValidationError(gettext("The callback is closed."), code="closed")
    kind = task.letter_visit_requested
    if kind not in LETTER_VISIT:
        raise ValidationError(gettext("No letter or visit has been requested."), code="not_requested")
    task.letter_visit_approved_by = supervisor
    task.save(update_fields=["letter_visit_approved_by", "updated_at"])
    audit_record(events.LETTER_VISIT_APPROVED, actor=supervisor, subject=task, data={"kind": kind})
    return _switch(task, kind, timezone.now(), actor=supervisor, reason=f"KP-04: {kind} approved")


def letter_visit_attempt_check(task: CallbackTask, channel: str, agent, *, has_receipt: bool) -> None:
    """A letter or visit attempt needs the approval, the signed receipt, and — for a visit —
    someone other than the salesperson (KP-04)."""
    if channel == Channel.VISIT and is_policy_salesperson(task, agent):
        raise PermissionDenied(
            gettext("KP-04: a visit is never made by the policy's salesperson (销售人员不得上门回访).")
        )
    if task.channel != channel or not task.letter_visit_approved_by_id:
        raise ValidationError(
            gettext("KP-04: a %(kind)s callback needs a supervisor's approval first.") % {"kind": channel},
            code="not_approved",
        )
    if not has_receipt:
        raise ValidationError(
            {
                "recording": gettext(
                    "EC-05: a letter or visit needs the policyholder's signed receipt (file)."
                )
            },
            code="receipt_required",
        )


def unreachable_reasons(task: CallbackTask) -> list[str]:
    """One line per submitted attempt: channel, local time, slot and disposition."""
    lines = []
    for attempt in task.attempts.filter(submitted_at__isnull=False).order_by("started_at", "id"):
        lines.append(
            f"{attempt.channel} {_fmt(attempt.started_at)} {SLOT_LABELS[time_slot(attempt.started_at)]} "
            f"{attempt.disposition}"
        )
    return lines
