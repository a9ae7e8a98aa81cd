"""Channels and guards: the EC-05 plan (electronic → phone → letter/visit → unreachable), phone slots,
the CL-01 quiet hours and the customer's window, do-not-call, letter/visit approval (KP-04) and
separation of duties."""

from datetime import date, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from huifang.callbacks.channels import (
    channel_fallback_point,
    channel_fallback_sweep,
    channel_plan_apply,
    channel_plan_initial,
    contact_next_allowed,
    letter_visit_approve,
    letter_visit_request,
    recall_schedule,
    time_slot,
)
from huifang.callbacks.models import Attempt, CallbackTask, Channel, TaskKind, TaskStatus
from huifang.callbacks.outcomes import Result, attempt_submit
from huifang.core.audit.models import AuditEvent
from huifang.core.permissions import Role
from huifang.records.models import Customer
from huifang.rules.models import Rule, RulePack
from tests.callbacks.factories import local, policy_make, salesperson_make, task_make


@pytest.fixture(autouse=True)
def english():
    """The engine's messages are matched as written (their msgids); the zh_Hans catalogue translates them."""
    with translation.override("en"):
        yield


NO_ANSWER = Attempt.Disposition.NO_ANSWER


@pytest.fixture
def task(products, users, shipped_scripts, clock):
    return task_make(policy_make(1))


def fresh(task):
    return CallbackTask.objects.get(pk=task.pk)


def call(task, agent, at, disposition=NO_ANSWER, channel=Channel.PHONE, **extra):
    return attempt_submit(
        task,
        agent=agent,
        channel=channel,
        started_at=at,
        ended_at=None,
        disposition=disposition,
        answers=extra.pop("answers", {}),
        identity_confirmed=extra.pop("identity_confirmed", False),
        **extra,
    )


def three_unanswered_calls(task, agent):
    """Monday evening, Tuesday morning, Tuesday afternoon (the clock stands at Tuesday 15:00)."""
    call(task, agent, local(2026, 2, 9, 19, 0))
    call(task, agent, local(2026, 2, 10, 9, 30))
    return call(fresh(task), agent, local(2026, 2, 10, 14, 0))


def receipt(name="receipt.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4 signed receipt", content_type="application/pdf")


# ---- the plan -----------------------------------------------------------------------------------


def test_electronic_first_when_the_customer_has_a_mobile(products, users, time_machine):
    time_machine.move_to(local(2026, 2, 6, 10, 0), tick=False)
    task = task_make(policy_make(1))
    # Cooling-off ends 2026-02-20 (a Spring Festival holiday); 5 working days before it is 02-10.
    assert channel_fallback_point(task) == local(2026, 2, 10, 9, 0)
    plan = channel_plan_initial(task)
    assert plan.channel == Channel.ELECTRONIC and plan.channel_due_at == local(2026, 2, 10, 9, 0)
    task = channel_plan_apply(task)
    assert task.channel == Channel.ELECTRONIC
    assert AuditEvent.objects.filter(
        event_type="callback_task.channel_changed", subject_id=str(task.pk)
    ).exists()
    # Not finished by the fallback point: phone, due at once.
    assert channel_fallback_sweep(local(2026, 2, 9, 18, 0)) == 0
    assert channel_fallback_sweep(local(2026, 2, 10, 9, 5)) == 1
    task = fresh(task)
    assert task.channel == Channel.PHONE and task.channel_due_at == local(2026, 2, 10, 9, 5)
    assert channel_fallback_sweep(local(2026, 2, 10, 9, 6)) == 0  # safe to run twice


def test_phone_when_no_mobile_or_e_callback_declined(products, users, time_machine):
    time_machine.move_to(local(2026, 2, 6, 10, 0), tick=False)
    no_mobile = task_make(policy_make(1, applicant_mobile=""))
    assert channel_plan_initial(no_mobile).channel == Channel.PHONE
    declined = task_make(policy_make(2))
    Customer.objects.filter(pk=declined.customer_id).update(e_callback_declined=True)
    assert channel_plan_initial(fresh(declined)).channel == Channel.PHONE
    claims = task_make(policy_make(3), kind=TaskKind.CLAIM_CLOSED, rule_id="KP-07", subject_key="claim:3")
    assert channel_plan_initial(claims).channel == Channel.PHONE


def test_past_the_fallback_point_a_new_task_starts_on_phone(task):
    # The clock stands at 2026-02-10 15:00, after the 09:00 fallback point.
    assert channel_plan_initial(task).channel == Channel.PHONE


def test_the_fallback_point_comes_from_the_rule_pack_when_set(products, users, time_machine):
    time_machine.move_to(local(2026, 2, 2, 10, 0), tick=False)
    pack = RulePack.objects.create(code="test_strict", name="Stricter", kind="insurer", precedence=999)
    Rule.objects.create(
        pack=pack,
        rule_id="EC-05",
        title="fallback",
        citation="insurer",
        params={"working_days_before_cooling_off_end": 8},
    )
    task = task_make(policy_make(1))
    assert channel_fallback_point(task) == local(2026, 2, 5, 9, 0)


# ---- phone attempts -----------------------------------------------------------------------------


def test_time_slots():
    assert time_slot(local(2026, 2, 10, 8, 59)) == "quiet"
    assert time_slot(local(2026, 2, 10, 9, 0)) == "morning"
    assert time_slot(local(2026, 2, 10, 12, 0)) == "afternoon"
    assert time_slot(local(2026, 2, 10, 18, 0)) == "evening"
    assert time_slot(local(2026, 2, 10, 21, 0)) == "quiet"


def test_a_second_unanswered_call_in_the_same_slot_of_the_same_day_is_refused(task, users):
    call(task, users["agent"], local(2026, 2, 10, 9, 30))
    with pytest.raises(ValidationError, match="EC-05"):
        call(fresh(task), users["agent"], local(2026, 2, 10, 11, 45))
    assert fresh(task).phone_attempts == 1
    # Another slot the same day is fine.
    _attempt, outcome = call(fresh(task), users["agent"], local(2026, 2, 10, 12, 15))
    assert outcome.result == Result.RETRY and fresh(task).phone_attempts == 2


def test_three_failed_calls_then_a_letter_or_visit_needing_approval(task, users):
    _attempt, outcome = three_unanswered_calls(task, users["agent"])
    assert outcome.result == Result.LETTER_VISIT_NEEDED
    task = fresh(task)
    assert task.phone_attempts == 3 and task.status == TaskStatus.PENDING
    # No 4th phone attempt.
    with pytest.raises(ValidationError, match="letter or visit"):
        call(task, users["agent"], local(2026, 2, 10, 14, 50))
    # A letter without approval is refused.
    with pytest.raises(ValidationError, match="approval"):
        call(task, users["agent"], local(2026, 2, 10, 14, 45), channel=Channel.LETTER, recording=receipt())
    task = letter_visit_request(task, Channel.LETTER, users["agent"])
    assert task.letter_visit_requested == "letter" and task.channel == Channel.PHONE
    with pytest.raises(PermissionDenied):
        letter_visit_approve(task, users["agent"])  # an agent is not a supervisor
    task = letter_visit_approve(task, users["supervisor"])
    assert task.channel == Channel.LETTER and task.letter_visit_approved_by == users["supervisor"]
    assert AuditEvent.objects.filter(event_type="callback_task.letter_visit_approved").count() == 1
    # The letter needs the policyholder's signed receipt.
    with pytest.raises(ValidationError, match="receipt"):
        call(task, users["agent"], local(2026, 2, 10, 14, 45), channel=Channel.LETTER)


def test_a_letter_or_visit_is_only_requested_after_the_phone_attempts(task, users):
    call(task, users["agent"], local(2026, 2, 10, 9, 30))
    with pytest.raises(ValidationError, match="EC-05"):
        letter_visit_request(fresh(task), Channel.VISIT, users["agent"])
    with pytest.raises(ValidationError, match="letter or a visit"):
        letter_visit_request(fresh(task), "carrier_pigeon", users["agent"])
    with pytest.raises(ValidationError, match="requested"):
        letter_visit_approve(fresh(task), users["supervisor"])


def test_a_returned_letter_ends_the_callback_as_unreachable_with_the_reasons(task, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    three_unanswered_calls(task, users["agent"])
    letter_visit_request(fresh(task), Channel.LETTER, users["agent"])
    letter_visit_approve(fresh(task), users["supervisor"])
    _attempt, outcome = call(
        fresh(task),
        users["agent"],
        local(2026, 2, 10, 14, 45),
        channel=Channel.LETTER,
        recording=receipt("退信.pdf"),
    )
    assert outcome.result == Result.UNREACHABLE
    task = fresh(task)
    assert task.status == TaskStatus.FAILED
    assert task.outcome_note.startswith("unreachable: ")
    assert task.outcome_note.count("phone ") == 3 and "letter 2026-02-10 14:45" in task.outcome_note
    assert task.status_changes.last().reason.startswith("unreachable")


def test_a_signed_letter_receipt_with_the_expected_answers_succeeds(task, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from tests.callbacks.test_outcomes import expected_answers

    three_unanswered_calls(task, users["agent"])
    letter_visit_request(fresh(task), Channel.LETTER, users["agent"])
    letter_visit_approve(fresh(task), users["supervisor"])
    attempt, outcome = call(
        fresh(task),
        users["agent"],
        local(2026, 2, 10, 14, 45),
        channel=Channel.LETTER,
        disposition=Attempt.Disposition.REACHED,
        answers=expected_answers(task),
        identity_confirmed=True,
        recording=receipt(),
    )
    assert outcome.result == Result.SUCCESS and len(attempt.recording_sha256) == 64


def test_a_visit_is_never_made_by_the_salesperson(
    products, users, make_user, shipped_scripts, clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    seller = make_user("seller", Role.SUPERVISOR, "GZ")  # a salesperson who also supervises
    salesperson_make("S400", user=seller)
    task = task_make(policy_make(9, salesperson_code="S400"))
    three_unanswered_calls(task, users["agent"])
    with pytest.raises(PermissionDenied):
        letter_visit_request(fresh(task), Channel.VISIT, seller)
    letter_visit_request(fresh(task), Channel.VISIT, users["agent"])
    with pytest.raises(PermissionDenied, match="salesperson"):
        letter_visit_approve(fresh(task), seller)  # nor approves one
    letter_visit_approve(fresh(task), users["supervisor"])
    with pytest.raises(PermissionDenied, match="KP-04"):
        call(fresh(task), seller, local(2026, 2, 10, 14, 45), channel=Channel.VISIT, recording=receipt())
    assert not Attempt.objects.filter(channel=Channel.VISIT).exists()
    _attempt, outcome = call(
        fresh(task), users["agent"], local(2026, 2, 10, 14, 45), channel=Channel.VISIT, recording=receipt()
    )
    assert outcome.result == Result.UNREACHABLE


def test_a_do_not_call_customer_is_not_called(task, users):
    Customer.objects.filter(pk=task.customer_id).update(
        do_not_call_until=date(2026, 3, 1), do_not_call_reason="投诉中"
    )
    with pytest.raises(ValidationError, match="CL-02"):
        call(fresh(task), users["agent"], local(2026, 2, 10, 10, 0))
    with pytest.raises(ValidationError, match="CL-02"):
        recall_schedule(fresh(task), local(2026, 2, 11, 10, 0), users["agent"])
    # After the date has passed the customer may be called again.
    recall_schedule(fresh(task), local(2026, 3, 2, 10, 0), users["agent"])


# ---- recalls and the quiet hours ------------------------------------------------------------------


def test_a_recall_at_21_30_is_refused_naming_cl01(task, users):
    with pytest.raises(ValidationError) as err:
        recall_schedule(task, local(2026, 2, 10, 21, 30), users["agent"])
    message = err.value.messages[0]
    assert "CL-01" in message and "21:00" in message and "09:00" in message
    assert "不得外呼" in message  # Chinese and English in one message
    assert "2026-02-11 09:00" in message  # the next allowed time
    assert fresh(task).recall_at is None


def test_the_cl01_message_is_translatable(task, users):
    with translation.override("en"), pytest.raises(ValidationError, match="CL-01"):
        recall_schedule(task, local(2026, 2, 11, 7, 0), users["agent"])


def test_a_recall_inside_the_customers_asked_for_window_is_allowed_even_at_night(task, users):
    Customer.objects.filter(pk=task.customer_id).update(
        contact_window_start=time(21, 0), contact_window_end=time(22, 0)
    )
    task = recall_schedule(fresh(task), local(2026, 2, 10, 21, 30), users["agent"])
    assert task.recall_at == local(2026, 2, 10, 21, 30) and task.assignee == users["agent"]
    event = AuditEvent.objects.get(event_type="callback_task.recall_scheduled")
    assert event.rule == "CL-01" and event.data["slot"] == "quiet"
    # Still not 22:30: outside the window and in the quiet hours.
    with pytest.raises(ValidationError, match="CL-01"):
        recall_schedule(fresh(task), local(2026, 2, 10, 22, 30), users["agent"])


def test_the_customers_window_is_honoured_with_the_next_slot_suggested(task, users):
    Customer.objects.filter(pk=task.customer_id).update(
        contact_window_start=time(19, 0), contact_window_end=time(20, 30)
    )
    with pytest.raises(ValidationError) as err:
        recall_schedule(fresh(task), local(2026, 2, 10, 16, 0), users["agent"])
    assert "19:00" in err.value.messages[0] and "2026-02-10 19:00" in err.value.messages[0]
    recall_schedule(fresh(task), local(2026, 2, 10, 19, 15), users["agent"])


def test_contact_next_allowed(task):
    customer = task.customer
    assert contact_next_allowed(customer, local(2026, 2, 10, 22, 0)) == local(2026, 2, 11, 9, 0)
    assert contact_next_allowed(customer, local(2026, 2, 10, 3, 0)) == local(2026, 2, 10, 9, 0)
    assert contact_next_allowed(customer, local(2026, 2, 10, 10, 0)) == local(2026, 2, 10, 10, 0)
    customer.contact_window_start, customer.contact_window_end = time(20, 0), time(8, 0)  # past midnight
    assert contact_next_allowed(customer, local(2026, 2, 10, 10, 0)) == local(2026, 2, 10, 20, 0)
    assert contact_next_allowed(customer, local(2026, 2, 11, 2, 0)) == local(2026, 2, 11, 2, 0)


@pytest.mark.parametrize("at", [local(2026, 2, 10, 14, 0), "tomorrow"])
def test_a_recall_must_be_a_future_aware_time(task, users, at):
    with pytest.raises(ValidationError):
        recall_schedule(task, at, users["agent"])


def test_recalls_follow_the_same_permissions(task, users, products, make_user):
    with pytest.raises(PermissionDenied):
        recall_schedule(task, local(2026, 2, 11, 10, 0), users["agent_js"])
    seller = make_user("seller_agent", Role.AGENT, "GZ")
    salesperson_make("S500", user=seller)
    sold = task_make(policy_make(11, salesperson_code="S500"))
    with pytest.raises(PermissionDenied, match="salesperson"):
        recall_schedule(sold, local(2026, 2, 11, 10, 0), seller)


def test_a_closed_task_gets_no_recall(task, users):
    CallbackTask.objects.filter(pk=task.pk).update(status=TaskStatus.SUCCESS)
    with pytest.raises(ValidationError, match="closed"):
        recall_schedule(fresh(task), local(2026, 2, 11, 10, 0), users["agent"])


def test_a_phone_call_moves_an_electronic_task_to_phone_for_good(task, users):
    CallbackTask.objects.filter(pk=task.pk).update(channel=Channel.ELECTRONIC)
    call(fresh(task), users["agent"], local(2026, 2, 10, 10, 0))
    task = fresh(task)
    assert task.channel == Channel.PHONE and task.phone_attempts == 1
    assert task.channel_due_at == local(2026, 2, 10, 12, 0)  # the next slot


def test_after_the_evening_slot_the_next_try_is_the_next_morning(task, users):
    _attempt, outcome = call(task, users["agent"], local(2026, 2, 9, 19, 0))
    assert outcome.next_attempt_at == local(2026, 2, 10, 9, 0)


def test_quiet_hours_are_shanghai_time_whatever_zone_is_active(task, users):
    from django.utils import timezone

    with timezone.override("UTC"), pytest.raises(ValidationError, match="CL-01"):
        recall_schedule(task, local(2026, 2, 10, 21, 30), users["agent"])
    with timezone.override("Europe/London"):
        recall_schedule(task, local(2026, 2, 11, 10, 0), users["agent"])  # 02:00 in London, fine
