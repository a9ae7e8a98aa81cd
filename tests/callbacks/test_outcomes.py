"""Attempts and outcomes (KP-06): success, problem cases per wrong answer, hidden items, identity,
refusal (CL-02/CL-03), separation of duties, immutability, external dialer idempotency, recordings."""

import hashlib
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.db import IntegrityError, transaction
from django.utils import translation

from huifang.callbacks.models import Attempt, CallbackTask, Channel, ProblemCase, TaskStatus
from huifang.callbacks.outcomes import Result, add_months, attempt_submit
from huifang.callbacks.scripts import script_for_task, script_render
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.services import add_working_days
from huifang.records.models import Customer
from tests.callbacks.factories import local, policy_make, salesperson_make, task_make

pytestmark = pytest.mark.usefixtures("clock", "shipped_scripts")


@pytest.fixture(autouse=True)
def english():
    """The messages are matched as written (their msgids); the zh_Hans catalogue translates them."""
    with translation.override("en"):
        yield


@pytest.fixture
def task(products):
    return task_make(policy_make(1))


def expected_answers(task, **override):
    """The expected answer to every shown item that expects one, with ``override`` on top."""
    rendered = script_render(script_for_task(task), task.policy)
    answers = {item.code: item.expected for item in rendered if item.visible and item.expected != "any"}
    answers.update(override)
    return answers


def submit(task, agent, **over):
    values = {
        "agent": agent,
        "channel": Channel.PHONE,
        "started_at": local(2026, 2, 10, 10, 0),
        "ended_at": local(2026, 2, 10, 10, 6),
        "disposition": Attempt.Disposition.REACHED,
        "answers": expected_answers(task),
        "identity_confirmed": True,
    }
    values.update(over)
    return attempt_submit(task, **values)


def fresh(task):
    return CallbackTask.objects.get(pk=task.pk)


def test_success_when_reached_identity_confirmed_and_every_mandatory_item_as_expected(task, users):
    attempt, outcome = submit(task, users["agent"])
    assert outcome.result == Result.SUCCESS
    task = fresh(task)
    assert task.status == TaskStatus.SUCCESS and task.succeeded_in_cooling_off is True
    assert attempt.submitted_at is not None and attempt.script.code == "new_policy"
    stored = attempt.answers["surrender_loss"]
    assert stored["answer"] == "yes" and stored["expected"] == "yes" and len(stored["text_sha256"]) == 64
    assert not ProblemCase.objects.exists()
    event = AuditEvent.objects.get(event_type="attempt.submitted", subject_id=str(attempt.pk))
    assert event.data["result"] == "success"
    assert event.data["answers"]["yes"] == len(attempt.answers)
    # No PII in the audit chain: neither the name nor the mobile number.
    assert "张三" not in str(event.data) and "13812341234" not in str(event.data)


def test_optional_items_need_no_answer_and_any_answer_is_fine(task, users):
    answers = expected_answers(task, other_questions="no")
    _attempt, outcome = submit(task, users["agent"], answers=answers)
    assert outcome.result == Result.SUCCESS


BS13_WRONG = [
    ("purchase_signature", "not_signed"),
    ("brochure_notice", "sales_misleading"),
    ("cover_exclusions_term", "cover_unknown"),
    ("surrender_loss", "surrender_loss"),
    ("cooling_off", "cooling_off_unknown"),
    ("payment_terms", "payment_terms"),
    ("sales_recording", "recording_disputed"),
]


@pytest.mark.parametrize(("item", "category"), BS13_WRONG)
@pytest.mark.parametrize("answer", ["no", "unsure"])
def test_each_wrong_answer_opens_a_problem_case_due_in_15_working_days(task, users, item, category, answer):
    attempt, outcome = submit(task, users["agent"], answers=expected_answers(task, **{item: answer}))
    assert outcome.result == Result.PROBLEM_FOUND and outcome.wrong_items == [item]
    case = ProblemCase.objects.get()
    assert case.task_id == task.pk and case.attempt_id == attempt.pk and case.item_code == item
    assert case.category == category
    assert case.discovered_on == date(2026, 2, 10)
    assert case.due_date == add_working_days(date(2026, 2, 10), 15) == date(2026, 3, 9)
    assert case.due_explanation["rule"] == "BS-17"
    assert case.handler == users["problem_handler"]
    assert fresh(task).status == TaskStatus.PROBLEM_FOUND
    assert outcome.problem_cases == [case]


def test_several_wrong_answers_open_one_case_each(task, users):
    answers = expected_answers(task, surrender_loss="no", cooling_off="unsure", brochure_notice="no")
    _attempt, outcome = submit(task, users["agent"], answers=answers)
    assert sorted(outcome.wrong_items) == ["brochure_notice", "cooling_off", "surrender_loss"]
    assert ProblemCase.objects.count() == 3
    assert len(set(ProblemCase.objects.values_list("number", flat=True))) == 3


def test_a_hidden_item_never_blocks_completion(products, users):
    single = task_make(policy_make(2, payment_mode="single", payment_years=1, payment_frequency="single"))
    answers = expected_answers(single)
    assert "payment_terms" not in answers
    _attempt, outcome = submit(single, users["agent"], answers=answers)
    assert outcome.result == Result.SUCCESS


def test_a_hidden_item_cannot_be_answered(products, users):
    single = task_make(policy_make(2, payment_mode="single", payment_years=1, payment_frequency="single"))
    with pytest.raises(ValidationError, match="payment_terms is not shown"):
        submit(single, users["agent"], answers=expected_answers(single, payment_terms="yes"))
    assert not Attempt.objects.exists()


def test_reached_without_every_mandatory_answer_is_refused_and_changes_nothing(task, users):
    answers = expected_answers(task)
    del answers["surrender_loss"]
    with pytest.raises(ValidationError, match="surrender_loss"):
        submit(task, users["agent"], answers=answers)
    assert not Attempt.objects.exists()
    assert fresh(task).status == TaskStatus.PENDING


@pytest.mark.parametrize(
    ("answers", "message"),
    [({"nonsense": "yes"}, "not an item"), ({"identity": "maybe"}, "not yes, no or unsure")],
)
def test_bad_answers_are_refused(task, users, answers, message):
    with pytest.raises(ValidationError, match=message):
        submit(task, users["agent"], answers=answers, disposition=Attempt.Disposition.CALL_LATER)


def test_not_the_policyholder_is_a_retry_and_the_task_stays_open(task, users):
    _attempt, outcome = submit(
        task,
        users["agent"],
        disposition=Attempt.Disposition.NOT_POLICYHOLDER,
        answers={"identity": "no"},
        identity_confirmed=False,
    )
    assert outcome.result == Result.RETRY
    task = fresh(task)
    assert task.status == TaskStatus.PENDING and task.phone_attempts == 1
    assert not ProblemCase.objects.exists()
    # The next try is in another slot: the afternoon of the same day.
    assert outcome.next_attempt_at == local(2026, 2, 10, 12, 0)


def test_identity_not_confirmed_counts_as_not_reached(task, users):
    answers = expected_answers(task, surrender_loss="no")
    _attempt, outcome = submit(task, users["agent"], answers=answers, identity_confirmed=False)
    assert outcome.result == Result.RETRY
    assert fresh(task).status == TaskStatus.PENDING
    assert not ProblemCase.objects.exists()  # answers from someone unconfirmed prove nothing


def test_a_no_to_the_identity_question_outweighs_the_tick(task, users):
    _attempt, outcome = submit(task, users["agent"], answers=expected_answers(task, identity="no"))
    assert outcome.result == Result.RETRY
    assert not ProblemCase.objects.exists()


def test_a_claimed_task_goes_back_to_the_pool_after_an_unanswered_call(task, users):
    CallbackTask.objects.filter(pk=task.pk).update(status=TaskStatus.IN_PROGRESS, assignee=users["agent"])
    submit(fresh(task), users["agent"], disposition=Attempt.Disposition.NO_ANSWER, answers={})
    task = fresh(task)
    assert task.status == TaskStatus.PENDING and task.assignee is None


def test_refusal_is_recorded_on_the_customer_and_respected(task, users):
    _attempt, outcome = submit(task, users["agent"], disposition=Attempt.Disposition.REFUSED, answers={})
    assert outcome.result == Result.REFUSED
    task = fresh(task)
    assert task.status == TaskStatus.REFUSED  # counted as refused under KP-01
    customer = Customer.objects.get(pk=task.customer_id)
    assert customer.do_not_call_reason == "拒绝回访"
    assert customer.do_not_call_until == date(2026, 8, 10)  # CL-02: 6 months
    # Never scheduled or called again.
    from huifang.callbacks.channels import recall_schedule

    with pytest.raises(ValidationError):
        recall_schedule(task, local(2026, 2, 11, 10, 0), users["agent"])
    with pytest.raises(ValidationError, match="closed"):
        submit(task, users["agent"], started_at=local(2026, 2, 10, 14, 0), ended_at=None)
    # Another task of the same customer: not called either while the refusal runs.
    other = task_make(task.policy, rule_id="CB-07", subject_key=f"policy:{task.policy_id}:cb07")
    with pytest.raises(ValidationError, match="CL-02"):
        submit(other, users["agent"], started_at=local(2026, 2, 10, 14, 0), ended_at=None)


def test_refusal_never_shortens_a_longer_do_not_call(task, users):
    Customer.objects.filter(pk=task.customer_id).update(do_not_call_until=date(2025, 1, 1))
    submit(task, users["agent"], disposition=Attempt.Disposition.REFUSED, answers={})
    assert Customer.objects.get(pk=task.customer_id).do_not_call_until == date(2026, 8, 10)


def test_add_months_clamps_to_the_month_end():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 2, 10), 6) == date(2026, 8, 10)


def test_the_agent_who_sold_the_policy_is_refused(products, users, make_user):
    from huifang.core.permissions import Role

    seller = make_user("seller_agent", Role.AGENT, "GZ")
    salesperson_make("S100", user=seller)
    task = task_make(policy_make(5, salesperson_code="S100"))
    with pytest.raises(PermissionDenied, match="salesperson"):
        submit(task, seller)
    assert not Attempt.objects.exists()
    # Another agent may.
    _attempt, outcome = submit(task, users["agent"])
    assert outcome.result == Result.SUCCESS


@pytest.mark.parametrize("who", ["agent_js", "problem_handler", "auditor", "norole"])
def test_only_agents_in_scope_may_submit(task, users, who):
    with pytest.raises(PermissionDenied):
        submit(task, users[who])
    assert not Attempt.objects.exists()
    assert not AuditEvent.objects.filter(event_type="attempt.submitted").exists()


def test_a_submitted_attempt_cannot_be_changed(task, users):
    attempt, _outcome = submit(task, users["agent"])
    attempt.notes = "changed afterwards"
    with pytest.raises(IntegrityError), transaction.atomic():
        attempt.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Attempt.objects.filter(pk=attempt.pk).update(disposition=Attempt.Disposition.REFUSED)
    assert Attempt.objects.get(pk=attempt.pk).disposition == Attempt.Disposition.REACHED


def test_a_correction_is_a_new_attempt(task, users):
    first, outcome = submit(task, users["agent"], answers=expected_answers(task, surrender_loss="no"))
    assert outcome.result == Result.PROBLEM_FOUND
    second, outcome = submit(task, users["agent"], corrects=first, notes="answer mis-keyed")
    assert second.pk != first.pk and second.corrects == first
    assert outcome.result == Result.SUCCESS  # a problem found may still end in success
    assert Attempt.objects.get(pk=first.pk).answers["surrender_loss"]["answer"] == "no"


def test_a_correction_must_refer_to_this_task(task, products, users):
    other = task_make(policy_make(2))
    first, _outcome = submit(
        other,
        users["agent"],
        disposition=Attempt.Disposition.CALL_LATER,
        answers={},
        recall_at=local(2026, 2, 11, 10, 0),
    )
    with pytest.raises(ValidationError, match="correction"):
        submit(task, users["agent"], corrects=first)


def test_an_external_dialer_attempt_sent_twice_is_recorded_once(task, users):
    values = {"disposition": Attempt.Disposition.NO_ANSWER, "answers": {}, "external_ref": "DIALER-778899"}
    first, outcome = submit(task, users["agent"], **values)
    assert outcome.result == Result.RETRY and not outcome.duplicate
    again, outcome = submit(task, users["agent"], **values)
    assert again.pk == first.pk and outcome.duplicate and outcome.result == Result.RETRY
    assert Attempt.objects.count() == 1
    assert fresh(task).phone_attempts == 1
    assert AuditEvent.objects.filter(event_type="attempt.submitted").count() == 1


def test_the_recording_is_stored_with_its_sha256(task, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    content = b"RIFF" + bytes(range(256)) * 400
    upload = SimpleUploadedFile("张三-录音.wav", content, content_type="audio/wav")
    attempt, _outcome = submit(task, users["agent"], recording=upload)
    assert attempt.recording_sha256 == hashlib.sha256(content).hexdigest()
    assert "张三" not in attempt.recording.name and attempt.recording.name.endswith(".wav")
    with attempt.recording.open("rb") as fh:
        assert fh.read() == content


def test_a_refused_attempt_leaves_no_stored_recording(task, users, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    from huifang.callbacks import outcomes

    def refuse(*args, **kwargs):
        raise ValidationError("refused after the file was stored")

    monkeypatch.setattr(outcomes, "_apply", refuse)
    upload = SimpleUploadedFile("call.wav", b"RIFF" + bytes(512), content_type="audio/wav")
    with pytest.raises(ValidationError):
        submit(task, users["agent"], recording=upload)
    assert Attempt.objects.count() == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_large_upload_is_hashed_while_streamed_not_moved(task, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    content = bytes(range(256)) * 20000  # 5 MB: Django keeps such uploads in a temporary file
    upload = TemporaryUploadedFile("call.mp3", "audio/mpeg", len(content), None)
    upload.write(content)
    upload.seek(0)
    attempt, _outcome = submit(task, users["agent"], recording=upload)
    assert attempt.recording_sha256 == hashlib.sha256(content).hexdigest()
    assert attempt.recording.size == len(content)


def test_call_later_schedules_a_recall(task, users):
    at = local(2026, 2, 11, 19, 30)
    _attempt, outcome = submit(
        task, users["agent"], disposition=Attempt.Disposition.CALL_LATER, answers={}, recall_at=at
    )
    assert outcome.result == Result.RECALL and outcome.recall_at == at
    task = fresh(task)
    assert task.recall_at == at and task.assignee == users["agent"] and task.phone_attempts == 0


def test_call_later_inside_the_quiet_hours_is_refused(task, users):
    with pytest.raises(ValidationError, match="CL-01"):
        submit(
            task,
            users["agent"],
            disposition=Attempt.Disposition.CALL_LATER,
            answers={},
            recall_at=local(2026, 2, 10, 21, 30),
        )
    assert not Attempt.objects.exists()


def test_a_phone_call_in_the_quiet_hours_is_refused(task, users):
    with pytest.raises(ValidationError, match="CL-01"):
        submit(task, users["agent"], started_at=local(2026, 2, 9, 21, 15), ended_at=None)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("channel", {"channel": "fax"}),
        ("disposition", {"disposition": "maybe"}),
        ("started_at", {"started_at": local(2026, 2, 12, 10, 0), "ended_at": None}),
        ("ended_at", {"ended_at": local(2026, 2, 10, 9, 0)}),
    ],
)
def test_bad_input_is_refused_with_the_field(task, users, field, values):
    with pytest.raises(ValidationError) as err:
        submit(task, users["agent"], **values)
    assert field in err.value.message_dict
    assert not Attempt.objects.exists()


def test_electronic_attempt_by_the_customer_and_stopping_it_falls_back_to_phone(task, users):
    CallbackTask.objects.filter(pk=task.pk).update(channel=Channel.ELECTRONIC)
    _attempt, outcome = submit(
        fresh(task), None, channel=Channel.ELECTRONIC, disposition=Attempt.Disposition.STOPPED, answers={}
    )
    assert outcome.result == Result.FALLBACK_TO_PHONE
    assert fresh(task).channel == Channel.PHONE
    # Completed electronically: the same KP-06 decision.
    other = task_make(policy_make(3), channel=Channel.ELECTRONIC)
    _attempt, outcome = submit(other, None, channel=Channel.ELECTRONIC)
    assert outcome.result == Result.SUCCESS


def test_only_an_electronic_attempt_has_no_agent(task):
    with pytest.raises(PermissionDenied):
        submit(task, None)


def test_call_later_needs_a_future_time(task, users):
    for recall_at in (None, local(2026, 2, 10, 14, 0)):
        with pytest.raises(ValidationError, match="recall_at"):
            submit(
                task,
                users["agent"],
                disposition=Attempt.Disposition.CALL_LATER,
                answers={},
                recall_at=recall_at,
            )
    assert not Attempt.objects.exists()


# ---- attempt facts on the task row (KPIs: attempts per success, KP-03) ---------------------------


def facts(task):
    t = fresh(task)
    return t.attempts_submitted, t.last_attempt_channel, t.last_attempt_id


def test_each_submitted_attempt_is_counted_on_its_task_and_the_last_one_decides(task, users):
    assert facts(task) == (0, "", None)
    first, _ = submit(task, users["agent"], disposition=Attempt.Disposition.NO_ANSWER, answers={})
    assert facts(task) == (1, Channel.PHONE, first.pk)
    afternoon = {"started_at": local(2026, 2, 10, 14, 0), "ended_at": local(2026, 2, 10, 14, 5)}
    second, outcome = submit(task, users["agent"], **afternoon)
    assert outcome.result == Result.SUCCESS
    assert facts(task) == (2, Channel.PHONE, second.pk)
    # A re-sent external attempt, a refused submission: nothing counted twice, nothing counted at all.
    with pytest.raises(ValidationError):
        submit(task, users["agent"], answers={"no_such_item": "yes"})
    assert facts(task) == (2, Channel.PHONE, second.pk)


def test_an_attempt_that_started_earlier_does_not_become_the_deciding_one(task, users):
    later, _ = submit(
        task,
        users["agent"],
        disposition=Attempt.Disposition.NO_ANSWER,
        answers={},
    )
    # Entered afterwards, but the call was made before: counted, not deciding (KP-03).
    Attempt.objects.create(
        task=task,
        channel=Channel.LETTER,
        started_at=local(2026, 2, 9, 10, 0),
        disposition=Attempt.Disposition.NO_ANSWER,
        submitted_at=local(2026, 2, 10, 11, 0),
    )
    assert facts(task) == (2, Channel.PHONE, later.pk)


def test_drafts_count_once_submitted_and_a_deleted_attempt_is_recounted(task):
    draft = Attempt.objects.create(
        task=task, channel=Channel.LETTER, started_at=local(2026, 2, 9, 10, 0), disposition="no_answer"
    )
    assert facts(task) == (0, "", None)  # a draft is not an attempt made
    draft.submitted_at = local(2026, 2, 9, 11, 0)
    draft.save()
    assert facts(task) == (1, Channel.LETTER, draft.pk)
    visit = Attempt.objects.create(
        task=task,
        channel=Channel.VISIT,
        started_at=local(2026, 2, 10, 10, 0),
        disposition="no_answer",
        submitted_at=local(2026, 2, 10, 11, 0),
    )
    assert facts(task) == (2, Channel.VISIT, visit.pk)
    visit.delete()  # test databases only: the application never deletes an attempt
    assert facts(task) == (1, Channel.LETTER, draft.pk)


def test_the_backfill_rebuilds_the_facts_the_triggers_keep(task, products, users):
    import importlib

    from django.db import connection

    backfill = importlib.import_module("huifang.callbacks.migrations.0004_task_attempt_facts").BACKFILL
    other = task_make(policy_make(2))
    submit(task, users["agent"], disposition=Attempt.Disposition.NO_ANSWER, answers={})
    submit(task, users["agent"], started_at=local(2026, 2, 10, 14, 0), ended_at=local(2026, 2, 10, 14, 5))
    submit(other, users["agent"], disposition=Attempt.Disposition.NO_ANSWER, answers={})
    kept = {t.pk: facts(t) for t in (task, other)}
    CallbackTask.objects.update(attempts_submitted=0, last_attempt_channel="", last_attempt_id=None)
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    assert {t.pk: facts(t) for t in (task, other)} == kept
