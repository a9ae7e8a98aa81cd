"""Submitting a callback attempt and deciding what it means (RULES.md KP-06, EC-05, EC-06, CL-02/03).

``attempt_submit`` validates, writes the attempt once (``submitted_at`` set; the database refuses any
later update — a correction is a new attempt with ``corrects``), and applies its outcome:

==========================================  ==========================================================
attempt                                     outcome
==========================================  ==========================================================
reached, identity confirmed, every visible  ``success`` (KP-06)
mandatory item answered as expected
reached, identity confirmed, an item        a problem case per wrong item (EC-06, due in 15 WD,
answered "no"/"unsure" against "yes"        BS-17) and ``problem_found``
(or "yes"/"unsure" against "no")
not the policyholder; reached without       retry: the task stays open, back in the pool, next try
identity confirmed (= not reached);         in another slot (EC-05); a phone attempt is used up
no answer; wrong number
3rd phone attempt unanswered                the agent requests a letter or visit (supervisor approves)
letter or visit unanswered                  ``failed`` — unreachable, with every attempt as reason
refused                                     ``refused``; the customer is not called for 6 months
                                            (do-not-call "拒绝回访", CL-02/CL-03)
asked to be called later                    a recall at ``recall_at`` (CL-01 quiet hours checked)
stopped the e-callback (EC-02)              phone, due at once
==========================================  ==========================================================

Hidden script items (conditions false for this policy) may not be answered and never block
completion. Answers are stored with the SHA-256 of the text read, so what was asked is provable.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from huifang.callbacks import events
from huifang.callbacks.channels import (
    DEFAULT_REFUSAL_MONTHS,
    LETTER_VISIT,
    SHANGHAI,
    callback_user_check,
    channel_to_phone,
    contact_time_check,
    is_policy_salesperson,
    letter_visit_attempt_check,
    next_slot_start,
    phone_attempt_check,
    phone_attempts_max,
    recall_schedule,
    rule_param,
    unreachable_reasons,
)
from huifang.callbacks.models import OPEN_STATUSES, Attempt, CallbackTask, Channel, ProblemCase, TaskStatus
from huifang.callbacks.problems import problem_case_open
from huifang.callbacks.scripts import ANSWERS, RenderedItem, script_for_task, script_render
from huifang.callbacks.status import TRANSITIONS, callback_task_set_status
from huifang.core.audit.services import audit_record
from huifang.core.permissions import Cap
from huifang.records.models import Customer

D = Attempt.Disposition
REFUSAL_REASON = "拒绝回访"
# How far in the future a call may be said to have started (clock skew of an external dialer).
CLOCK_SKEW = timedelta(minutes=5)


class Result(StrEnum):
    SUCCESS = "success"
    PROBLEM_FOUND = "problem_found"
    RETRY = "retry"
    LETTER_VISIT_NEEDED = "letter_visit_needed"  # phone attempts used up: request a letter or visit
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    RECALL = "recall"
    FALLBACK_TO_PHONE = "fallback_to_phone"  # EC-02: the customer stopped the e-callback


@dataclass
class AttemptOutcome:
    """What an attempt meant. ``duplicate`` is True when an external dialer re-sent an attempt
    (same ``external_ref``): the first attempt is returned and nothing changed."""

    result: str
    task_status: str
    reason: str
    wrong_items: list[str] = field(default_factory=list)
    problem_cases: list[ProblemCase] = field(default_factory=list)
    recall_at: datetime | None = None
    next_attempt_at: datetime | None = None
    duplicate: bool = False


# ---- recordings ---------------------------------------------------------------------------------


class _HashingFile(File):
    """Hands the storage the upload chunk by chunk and hashes each chunk on the way (SHA-256).
    No ``temporary_file_path``: the storage must stream through ``chunks()``, never move the file."""

    def __init__(self, source):
        super().__init__(source, name=getattr(source, "name", None))
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def chunks(self, chunk_size=None):
        for chunk in super().chunks(chunk_size):
            data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
            self.sha256.update(data)
            self.bytes_read += len(data)
            yield chunk


def _recording_store(attempt: Attempt, upload) -> str:
    """Store ``upload`` as the attempt's recording (or signed receipt); return its SHA-256."""
    ext = os.path.splitext(getattr(upload, "name", "") or "")[1].lower()[:10]
    # A generated name: an uploaded file name may carry the customer's name.
    name = f"attempt-{attempt.task_id}-{uuid.uuid4().hex}{ext}"
    hashing = _HashingFile(upload)
    attempt.recording.save(name, hashing, save=False)
    return hashing.sha256.hexdigest()


# ---- helpers ------------------------------------------------------------------------------------


def add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _aware(value, name: str) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationError({name: gettext("A date and time with its time zone is required.")})
    return value


def _may_move(task: CallbackTask, to_status: str) -> bool:
    return task.status == to_status or to_status in TRANSITIONS.get(task.status, set())


def _wrong(item: RenderedItem | dict, answer: str) -> bool:
    expected = item.expected if isinstance(item, RenderedItem) else item.get("expected", "any")
    return expected in ("yes", "no") and answer != expected


def _identity_effective(identity_confirmed: bool, answers: dict, identity_codes: set[str]) -> bool:
    # A "no" or "unsure" to the identity question outweighs a ticked box: not the policyholder.
    return bool(identity_confirmed) and all(answers.get(code, "yes") == "yes" for code in identity_codes)


def _category(item: RenderedItem) -> str:
    return item.problem_category or ProblemCase.Category.OTHER


# ---- reading an outcome back ----------------------------------------------------------------------


def attempt_outcome(attempt: Attempt) -> AttemptOutcome:
    """What a submitted attempt meant, read back from the attempt and its task (used for a
    re-sent external attempt)."""
    task = attempt.task
    answers = {code: value.get("answer") for code, value in (attempt.answers or {}).items()}
    identity_codes = {c for c, v in (attempt.answers or {}).items() if v.get("identity")}
    cases = list(attempt.problem_cases.order_by("id"))
    wrong = [c for c, v in (attempt.answers or {}).items() if _wrong(v, v.get("answer"))]
    reached = attempt.disposition == D.REACHED and _identity_effective(
        attempt.identity_confirmed, answers, identity_codes
    )
    if reached:
        if wrong:
            return AttemptOutcome(Result.PROBLEM_FOUND, task.status, "EC-06", wrong, cases, duplicate=True)
        return AttemptOutcome(Result.SUCCESS, task.status, "KP-06", duplicate=True)
    result = {
        D.REFUSED: Result.REFUSED,
        D.CALL_LATER: Result.RECALL,
        D.STOPPED: Result.FALLBACK_TO_PHONE,
    }.get(attempt.disposition, Result.RETRY)
    if result == Result.RETRY and attempt.channel in LETTER_VISIT:
        result = Result.UNREACHABLE
    return AttemptOutcome(result, task.status, attempt.disposition, recall_at=task.recall_at, duplicate=True)


# ---- submitting ---------------------------------------------------------------------------------


def attempt_submit(
    task: CallbackTask,
    *,
    agent,
    channel: str,
    started_at: datetime,
    ended_at: datetime | None,
    disposition: str,
    answers: dict[str, str] | None,
    identity_confirmed: bool,
    notes: str = "",
    recording=None,
    recording_url: str = "",
    external_ref: str = "",
    corrects: Attempt | None = None,
    recall_at: datetime | None = None,
    evidence: dict | None = None,
) -> tuple[Attempt, AttemptOutcome]:
    """Record one callback attempt and apply its outcome (see the module docstring).

    ``agent`` needs ``work_callbacks``, the task's org unit in their subtree, and must not be the
    policy's salesperson (``PermissionDenied``); ``agent=None`` is only for an electronic attempt
    made by the customer. ``answers`` maps visible script item codes to "yes" | "no" | "unsure"; a
    reached attempt with identity confirmed must answer every visible mandatory item.
    ``recording`` is an uploaded file (stored, SHA-256 computed while streaming) — for a letter or
    visit, the signed receipt, which is required. ``recall_at`` is required for "call later".
    An external dialer's attempt re-sent with the same ``external_ref`` returns the first one.
    Bad input raises ``ValidationError`` and changes nothing.
    """
    answers = dict(answers or {})
    errors: dict[str, list[str]] = {}
    if channel not in Channel.values:
        errors.setdefault("channel", []).append(gettext("Unknown channel %(v)r.") % {"v": channel})
    if disposition not in D.values:
        errors.setdefault("disposition", []).append(
            gettext("Unknown disposition %(v)r.") % {"v": disposition}
        )
    if len(external_ref or "") > 80:
        errors.setdefault("external_ref", []).append(gettext("At most 80 characters."))
    for code, answer in answers.items():
        if answer not in ANSWERS:
            errors.setdefault("answers", []).append(
                gettext("%(code)s: answer %(answer)r is not yes, no or unsure.")
                % {"code": code, "answer": answer}
            )
    if errors:
        raise ValidationError(errors)
    started_at = _aware(started_at, "started_at")
    if ended_at is not None and _aware(ended_at, "ended_at") < started_at:
        raise ValidationError({"ended_at": gettext("The call cannot end before it started.")})
    if started_at > timezone.now() + CLOCK_SKEW:
        raise ValidationError({"started_at": gettext("The call cannot start in the future.")})

    if agent is None:
        if channel != Channel.ELECTRONIC:
            raise PermissionDenied(gettext("Only an electronic callback is made without an agent."))
    else:
        if channel == Channel.VISIT and is_policy_salesperson(task, agent):
            raise PermissionDenied(
                gettext("KP-04: a visit is never made by the policy's salesperson (销售人员不得上门回访).")
            )
        callback_user_check(task, agent, Cap.WORK_CALLBACKS, action="work")

    with transaction.atomic():
        task = CallbackTask.objects.select_for_update().get(pk=task.pk)
        if external_ref:
            first = Attempt.objects.filter(task=task, external_ref=external_ref).first()
            if first is not None:
                return first, attempt_outcome(first)
        return _submit_locked(
            task,
            agent=agent,
            channel=channel,
            started_at=started_at,
            ended_at=ended_at,
            disposition=disposition,
            answers=answers,
            identity_confirmed=identity_confirmed,
            notes=notes,
            recording=recording,
            recording_url=recording_url,
            external_ref=external_ref,
            corrects=corrects,
            recall_at=recall_at,
            evidence=evidence,
        )


def _submit_locked(
    task: CallbackTask,
    *,
    agent,
    channel,
    started_at,
    ended_at,
    disposition,
    answers,
    identity_confirmed,
    notes,
    recording,
    recording_url,
    external_ref,
    corrects,
    recall_at,
    evidence,
) -> tuple[Attempt, AttemptOutcome]:
    if task.status not in OPEN_STATUSES and task.status != TaskStatus.PROBLEM_FOUND:
        raise ValidationError(
            gettext("The callback is closed (%(status)s); no attempt can be added.")
            % {"status": task.status},
            code="closed",
        )
    if corrects is not None and (corrects.task_id != task.pk or corrects.submitted_at is None):
        raise ValidationError(
            {"corrects": gettext("A correction must refer to a submitted attempt of this task.")}
        )

    # The script as read to this customer: only visible items may be answered.
    script = script_for_task(task)
    rendered = script_render(script, task.policy, customer=task.customer) if script else []
    by_code = {item.code: item for item in rendered}
    visible = {code: item for code, item in by_code.items() if item.visible}
    problems = []
    for code in answers:
        if code not in by_code:
            problems.append(gettext("%(code)s is not an item of this script.") % {"code": code})
        elif code not in visible:
            problems.append(
                gettext("%(code)s is not shown for this policy and cannot be answered.") % {"code": code}
            )
    if answers and disposition in (D.NO_ANSWER, D.WRONG_NUMBER):
        problems.append(gettext("Nobody answered, so there can be no answers."))
    identity_codes = {code for code, item in visible.items() if item.is_identity_check}
    identity = _identity_effective(identity_confirmed, answers, identity_codes)
    reached = disposition == D.REACHED and identity
    if reached:
        missing = [code for code, item in visible.items() if item.mandatory and code not in answers]
        if missing:
            problems.append(
                gettext("Every shown mandatory item must be answered; missing: %(codes)s.")
                % {"codes": ", ".join(missing)}
            )
    if problems:
        raise ValidationError({"answers": problems})
    if disposition == D.CALL_LATER:
        if agent is None:
            raise ValidationError({"disposition": gettext("A recall needs an agent.")})
        if recall_at is None:
            raise ValidationError(
                {"recall_at": gettext("Give the time the customer asked to be called back.")}
            )
        if _aware(recall_at, "recall_at") <= timezone.now():
            raise ValidationError({"recall_at": gettext("A recall time must be in the future.")})
        contact_time_check(task.customer, recall_at)

    # Channel guards (EC-05, CL-01, KP-04).
    if channel == Channel.PHONE:
        phone_attempt_check(task, started_at, correction=corrects is not None)
    elif channel in LETTER_VISIT:
        letter_visit_attempt_check(task, channel, agent, has_receipt=bool(recording or recording_url))

    now = timezone.now()
    attempt = Attempt(
        task=task,
        channel=channel,
        agent=agent,
        started_at=started_at,
        ended_at=ended_at,
        disposition=disposition,
        identity_confirmed=bool(identity_confirmed),
        script=script,
        answers={
            code: {
                "answer": answer,
                "expected": visible[code].expected,
                "text_sha256": visible[code].text_sha256,
                "rule_id": visible[code].rule_id,
                **({"identity": True} if code in identity_codes else {}),
            }
            for code, answer in answers.items()
        },
        notes=notes or "",
        recording_url=recording_url or "",
        external_ref=external_ref or "",
        evidence=evidence or {},
        corrects=corrects,
        submitted_at=now,
    )
    if recording is not None:
        attempt.recording_sha256 = _recording_store(attempt, recording)
    try:
        attempt.save()
        if channel == Channel.PHONE and task.channel == Channel.ELECTRONIC:
            # The plan only moves forward: once someone calls, the task is on the phone (EC-05).
            task = channel_to_phone(task, actor=agent, reason="EC-05: phone call made", now=now)
        outcome = _apply(task, attempt, agent=agent, visible=visible, reached=reached, recall_at=recall_at)
    except BaseException:
        # Refused after the file was stored (e.g. the problem case would fall due in an
        # unconfirmed calendar year): the transaction rolls back, so must the stored file.
        if attempt.recording:
            attempt.recording.storage.delete(attempt.recording.name)
        raise
    audit_record(
        events.ATTEMPT_SUBMITTED,
        actor=agent,
        subject=attempt,
        org_unit_id=task.org_unit_id,
        rule="KP-06",
        data={
            "task_id": task.pk,
            "channel": channel,
            "disposition": disposition,
            "identity_confirmed": bool(identity_confirmed),
            "script": f"{script.code} v{script.version}" if script else "",
            "answers": {a: sum(1 for v in answers.values() if v == a) for a in ANSWERS},
            "wrong_items": outcome.wrong_items,
            "result": str(outcome.result),
            "problem_cases": [case.number for case in outcome.problem_cases],
            "recording_sha256": attempt.recording_sha256,
            "external_ref": attempt.external_ref,
            "corrects_id": corrects.pk if corrects is not None else None,
        },
    )
    return attempt, outcome


def _release(task: CallbackTask, *, actor, reason: str) -> CallbackTask:
    """Back to the pool for the next try (another agent, another slot)."""
    if task.status == TaskStatus.IN_PROGRESS:
        task = callback_task_set_status(task, TaskStatus.PENDING, actor=actor, reason=reason)
    if task.assignee_id is not None:
        previous = task.assignee_id
        task.assignee = None
        task.assigned_at = None
        task.save(update_fields=["assignee", "assigned_at", "updated_at"])
        audit_record(
            events.TASK_ASSIGNED,
            actor=actor,
            subject=task,
            data={"how": "attempt_retry", "from_user_id": previous, "to_user_id": None, "reason": reason},
        )
    return task


def _apply(task, attempt, *, agent, visible, reached, recall_at) -> AttemptOutcome:
    disposition, channel = attempt.disposition, attempt.channel
    answers = {code: value["answer"] for code, value in attempt.answers.items()}

    if reached:
        wrong = [code for code, item in visible.items() if code in answers and _wrong(item, answers[code])]
        if wrong:
            cases = [
                problem_case_open(
                    task,
                    attempt,
                    visible[code],
                    _category(visible[code]),
                    f"{visible[code].rule_id or code}: answered “{answers[code]}”, expected “{visible[code].expected}”",
                    actor=agent,
                )
                for code in wrong
            ]
            if _may_move(task, TaskStatus.PROBLEM_FOUND):
                task = callback_task_set_status(
                    task,
                    TaskStatus.PROBLEM_FOUND,
                    actor=agent,
                    reason=f"EC-06: {', '.join(wrong)}",
                    rule="EC-06",
                )
            return AttemptOutcome(Result.PROBLEM_FOUND, task.status, "EC-06", wrong, cases)
        reason = "KP-06: policyholder reached, identity confirmed, every mandatory item as expected"
        task = callback_task_set_status(task, TaskStatus.SUCCESS, actor=agent, reason=reason, rule="KP-06")
        if task.recall_at:
            task.recall_at = None
            task.save(update_fields=["recall_at", "updated_at"])
        return AttemptOutcome(Result.SUCCESS, task.status, reason)

    if disposition == D.REFUSED:
        return _refused(task, attempt, agent=agent)

    if disposition == D.CALL_LATER:
        task = recall_schedule(task, recall_at, agent)
        return AttemptOutcome(
            Result.RECALL, task.status, "customer asked to be called later", recall_at=recall_at
        )

    if disposition == D.STOPPED:
        task = channel_to_phone(task, actor=agent, reason="EC-02: the customer stopped the e-callback")
        return AttemptOutcome(
            Result.FALLBACK_TO_PHONE, task.status, "EC-02", next_attempt_at=task.channel_due_at
        )

    # Not reached: no answer, wrong number, not the policyholder, or identity not confirmed.
    why = disposition if disposition != D.REACHED else "identity not confirmed"
    if task.status not in OPEN_STATUSES:
        return AttemptOutcome(Result.RETRY, task.status, why)
    if channel in LETTER_VISIT:
        reasons = unreachable_reasons(task)
        note = "unreachable: " + "; ".join(reasons)
        task.outcome_note = note[:500]
        task.save(update_fields=["outcome_note", "updated_at"])
        task = callback_task_set_status(task, TaskStatus.FAILED, actor=agent, reason=note[:300], rule="EC-05")
        return AttemptOutcome(Result.UNREACHABLE, task.status, note)
    if channel == Channel.PHONE:
        if attempt.corrects_id is None:
            task.phone_attempts += 1
        limit = phone_attempts_max()
        if task.phone_attempts >= limit:
            task.channel_due_at = None
            task.save(update_fields=["phone_attempts", "channel_due_at", "updated_at"])
            task = _release(task, actor=agent, reason=f"EC-05: {limit} phone attempts failed")
            return AttemptOutcome(
                Result.LETTER_VISIT_NEEDED, task.status, f"EC-05: {task.phone_attempts} phone attempts failed"
            )
        task.channel_due_at = next_slot_start(task.customer, attempt.started_at)
        task.save(update_fields=["phone_attempts", "channel_due_at", "updated_at"])
        task = _release(task, actor=agent, reason=f"retry: {why}")
        return AttemptOutcome(Result.RETRY, task.status, why, next_attempt_at=task.channel_due_at)
    return AttemptOutcome(Result.RETRY, task.status, why)


def _refused(task: CallbackTask, attempt: Attempt, *, agent) -> AttemptOutcome:
    """CL-02/CL-03: record the refusal on the customer (not called for 6 months) and close the task
    as refused — still counted as refused under KP-01."""
    months = int(rule_param("CL-02", "months", DEFAULT_REFUSAL_MONTHS))
    until = add_months(timezone.localdate(attempt.started_at, SHANGHAI), months)
    customer = Customer.objects.select_for_update().get(pk=task.customer_id)
    if customer.do_not_call_until is None or customer.do_not_call_until < until:
        Customer.objects.filter(pk=customer.pk).update(
            do_not_call_reason=REFUSAL_REASON, do_not_call_until=until, updated_at=timezone.now()
        )
    reason = f"CL-02/CL-03: refused; not called until {until.isoformat()}"
    if _may_move(task, TaskStatus.REFUSED):
        task = callback_task_set_status(task, TaskStatus.REFUSED, actor=agent, reason=reason, rule="CL-03")
    fields = []
    if task.recall_at is not None:
        task.recall_at = None
        fields.append("recall_at")
    task.outcome_note = reason
    fields += ["outcome_note", "updated_at"]
    task.save(update_fields=fields)
    return AttemptOutcome(Result.REFUSED, task.status, reason)
