"""The agent workbench: home, next task, the task page (script runner, attempt, recall, letter or
visit, reveal, recording), per role; bad input gives a clear message and changes nothing."""

import hashlib
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huifang.callbacks.assignment import callback_task_claim_next
from huifang.callbacks.explain import due_explanation
from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase, TaskStatus
from huifang.callbacks.scripts import script_for_task, script_render
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.services import add_working_days
from huifang.core.permissions import Role
from tests.callbacks.factories import local, policy_make, salesperson_make, task_make

pytestmark = pytest.mark.usefixtures("clock", "shipped_scripts")

HTMX = {"HTTP_HX_REQUEST": "true"}
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
ROLES = [
    "agent",
    "supervisor",
    "problem_handler",
    "complaint_handler",
    "qa_inspector",
    "auditor",
    "admin",
    "agent_js",
    "norole",
]


@pytest.fixture
def task(products, users):
    """A GZ new-policy task claimed by the GZ agent (in progress, theirs)."""
    made = task_make(policy_make(1))
    claimed = callback_task_claim_next(users["agent"])
    assert claimed.pk == made.pk
    return claimed


def login(client, user):
    client.force_login(user)
    return client


def fresh(task):
    return CallbackTask.objects.get(pk=task.pk)


def expected_answers(task, **override):
    rendered = script_render(script_for_task(task), task.policy)
    answers = {item.code: item.expected for item in rendered if item.visible and item.expected != "any"}
    answers.update(override)
    return answers


def attempt_data(task, *, answers=None, **over):
    data = {
        "disposition": "reached",
        "identity_confirmed": "on",
        "notes": "客户确认已了解",
        "started_at": local(2026, 2, 10, 14, 55).isoformat(),
    }
    for code, value in (expected_answers(task) if answers is None else answers).items():
        data[f"answer_{code}"] = value
    data.update(over)
    return data


def snapshot(task):
    t = fresh(task)
    return (
        t.status,
        t.assignee_id,
        t.recall_at,
        t.letter_visit_requested,
        Attempt.objects.count(),
        ProblemCase.objects.count(),
    )


# ---- home and next ----------------------------------------------------------------------------------

HOME_STATUS = {
    "agent": 200,
    "supervisor": 200,
    "problem_handler": 403,
    "complaint_handler": 403,
    "qa_inspector": 403,
    "auditor": 403,
    "admin": 403,
    "agent_js": 200,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_home_per_role(client, users, task, role):
    response = login(client, users[role]).get(reverse("work:home"))
    assert response.status_code == HOME_STATUS[role]


def test_home_needs_login(client):
    response = client.get(reverse("work:home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_home_counts_and_my_tasks(client, users, products):
    mine = task_make(policy_make(1))  # due 2026-02-20
    task_make(policy_make(2, receipt_date=local(2026, 1, 20, 0, 0).date()))  # overdue (due 02-04)
    callback_task_claim_next(users["agent"])  # takes the overdue one first
    response = login(client, users["agent"]).get(reverse("work:home"))
    assert response.status_code == 200
    counts = response.context["counts"]
    assert counts.overdue == 1 and counts.due_today == 0 and counts.recalls == 0
    assert [t.pk for t in response.context["tasks"]] != [] and mine.pk not in [
        t.pk for t in response.context["tasks"]
    ]
    assert 'data-testid="next-task"' in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_next_task_per_role(client, users, products, role):
    made = task_make(policy_make(1))
    response = login(client, users[role]).post(reverse("work:next"))
    if role in ("agent", "supervisor"):
        assert response.status_code == 302
        assert response["Location"] == reverse("work:task", args=[made.pk])
        assert fresh(made).assignee_id == users[role].pk and fresh(made).status == TaskStatus.IN_PROGRESS
    elif role == "agent_js":
        # Nothing in Nanjing: back home with a message, and the GZ task untouched.
        assert response.status_code == 302 and response["Location"] == reverse("work:home")
        assert fresh(made).assignee_id is None
    else:
        assert response.status_code == 403
        assert fresh(made).assignee_id is None and fresh(made).status == TaskStatus.PENDING


def test_next_task_with_an_empty_queue_says_so(client, users, products):
    response = login(client, users["agent"]).post(
        reverse("work:next"), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "No callback is waiting for you right now" in response.content.decode()


def test_next_task_needs_post_and_csrf(users, products):
    task_make(policy_make(1))
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["agent"])
    assert client.get(reverse("work:next")).status_code == 405
    assert client.post(reverse("work:next")).status_code == 403
    assert not CallbackTask.objects.filter(assignee__isnull=False).exists()


# ---- the task page ----------------------------------------------------------------------------------

TASK_STATUS = {
    "agent": 200,
    "supervisor": 200,  # read-only, in scope
    "problem_handler": 403,
    "complaint_handler": 403,
    "qa_inspector": 403,
    "auditor": 403,
    "admin": 200,  # supervises every org unit, read-only
    "agent_js": 404,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_task_page_per_role(client, users, task, role):
    response = login(client, users[role]).get(reverse("work:task", args=[task.pk]))
    assert response.status_code == TASK_STATUS[role]
    if response.status_code == 200:
        can_work = response.context["access"].can_work
        assert can_work is (role == "agent")
        assert ('data-testid="script-runner"' in response.content.decode()) is (role == "agent")


def test_another_agents_task_and_a_missing_task_are_the_same_404(client, users, task, make_user):
    other = make_user("agent_gz2", Role.AGENT, "GZ")
    assert login(client, other).get(reverse("work:task", args=[task.pk])).status_code == 404
    assert client.get(reverse("work:task", args=[task.pk + 999])).status_code == 404


def test_a_task_of_a_policy_the_agent_sold_is_404(client, users, products):
    salesperson_make("S900", user=users["agent"])
    sold = task_make(policy_make(1, salesperson_code="S900"))
    assert login(client, users["agent"]).get(reverse("work:task", args=[sold.pk])).status_code == 404


def test_an_unassigned_task_in_scope_is_read_only_for_the_agent(client, users, products):
    free = task_make(policy_make(1))
    response = login(client, users["agent"]).get(reverse("work:task", args=[free.pk]))
    assert response.status_code == 200 and response.context["access"].can_work is False
    assert (
        login(client, users["agent"])
        .post(reverse("work:attempt", args=[free.pk]), attempt_data(free))
        .status_code
        == 403
    )
    assert not Attempt.objects.exists()


def test_task_page_shows_masked_customer_explanation_and_the_script(client, users, task):
    explanation = due_explanation(
        rule="BS-12",
        rule_version=1,
        base="receipt",
        base_date=date(2026, 2, 5),
        amount=15,
        unit="days",
        due=date(2026, 2, 20),
        cites="CO-03 · BS-12",
    )
    CallbackTask.objects.filter(pk=task.pk).update(due_explanation=explanation)
    response = login(client, users["agent"]).get(
        reverse("work:task", args=[task.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    html = response.content.decode()
    assert "张*" in html and "张三" not in html
    assert "138****1234" in html and "13812341234" not in html
    assert "BS-12" in html and "应于 2026-02-20 前完成" in html
    # 期缴: all seven BS-13 items are read, one at a time, with the expected answer and keys 1/2/3.
    assert all(f"BS-13({n})" in html for n in range(1, 8))
    # + CB-05 (a bank sale over one year is recorded, RC-04) and the optional closing question.
    assert html.count('data-testid="script-item"') == 7 + 2 and "CB-05" in html
    assert 'data-expected="yes"' in html and 'data-expected="any"' in html
    assert "回访任务" in html  # translated


# ---- submitting an attempt ----------------------------------------------------------------------------

ATTEMPT_STATUS = {
    "agent": 302,
    "supervisor": 403,
    "problem_handler": 403,
    "complaint_handler": 403,
    "qa_inspector": 403,
    "auditor": 403,
    "admin": 403,
    "agent_js": 404,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_attempt_per_role_and_refusals_change_nothing(client, users, task, role):
    before = snapshot(task)
    response = login(client, users[role]).post(reverse("work:attempt", args=[task.pk]), attempt_data(task))
    assert response.status_code == ATTEMPT_STATUS[role]
    if role == "agent":
        assert fresh(task).status == TaskStatus.SUCCESS
    else:
        assert snapshot(task) == before


def test_reached_with_every_item_as_expected_and_a_recording_is_a_success(client, users, task):
    upload = SimpleUploadedFile("call.wav", AUDIO, content_type="audio/wav")
    data = attempt_data(task, recording=upload)
    response = login(client, users["agent"]).post(reverse("work:attempt", args=[task.pk]), data)
    assert response.status_code == 302
    task = fresh(task)
    assert task.status == TaskStatus.SUCCESS
    attempt = Attempt.objects.get(task=task)
    assert attempt.recording_sha256 == hashlib.sha256(AUDIO).hexdigest()
    page = client.get(reverse("work:task", args=[task.pk]))
    html = page.content.decode()
    assert attempt.recording_sha256 in html and reverse("work:recording", args=[attempt.pk]) in html
    assert 'data-status="success"' in html
    played = client.get(reverse("work:recording", args=[attempt.pk]))
    assert played.status_code == 200 and b"".join(played.streaming_content) == AUDIO


def test_a_no_to_item_5_opens_a_problem_case_shown_with_its_bs17_due_date(client, users, task):
    data = attempt_data(task, answers=expected_answers(task, surrender_loss="no"))
    response = login(client, users["agent"]).post(reverse("work:attempt", args=[task.pk]), data, follow=True)
    assert response.status_code == 200
    case = ProblemCase.objects.get(task=task)
    assert case.item_code == "surrender_loss"
    due = add_working_days(local(2026, 2, 10, 0, 0).date(), 15)
    assert case.due_date == due
    html = response.content.decode()
    assert case.number in html and due.isoformat() in html and "BS-17" in html
    assert fresh(task).status == TaskStatus.PROBLEM_FOUND


def test_missing_mandatory_answers_give_a_clear_message_and_no_attempt(client, users, task):
    answers = expected_answers(task)
    answers.pop("cooling_off")
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]),
        attempt_data(task, answers=answers),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "A mandatory item (BS-13(6)) must be answered." in response.content.decode()
    assert not Attempt.objects.exists() and fresh(task).status == TaskStatus.IN_PROGRESS


def test_a_file_that_is_not_audio_is_refused(client, users, task):
    upload = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]),
        attempt_data(task, recording=upload),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "The recording must be an audio file" in response.content.decode()
    assert not Attempt.objects.exists()


def test_an_empty_audio_file_is_refused(client, users, task):
    upload = SimpleUploadedFile("call.mp3", b"", content_type="audio/mpeg")
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]),
        attempt_data(task, recording=upload),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400 and not Attempt.objects.exists()


def test_no_disposition_is_a_clear_message(client, users, task):
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]), attempt_data(task, disposition=""), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "Choose the outcome of the call." in response.content.decode()
    assert not Attempt.objects.exists()


def test_call_later_in_the_quiet_hours_is_refused_by_cl01(client, users, task):
    data = attempt_data(
        task, answers={}, disposition="call_later", identity_confirmed="", recall_at="2026-02-10T21:30"
    )
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]), data, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "CL-01" in response.content.decode()
    assert not Attempt.objects.exists() and fresh(task).recall_at is None


def test_no_answer_sends_the_task_back_to_the_queue(client, users, task):
    data = attempt_data(task, answers={}, disposition="no_answer", identity_confirmed="")
    response = login(client, users["agent"]).post(reverse("work:attempt", args=[task.pk]), data)
    assert response.status_code == 302
    task = fresh(task)
    assert task.assignee_id is None and task.phone_attempts == 1 and task.status == TaskStatus.PENDING


# ---- recall -----------------------------------------------------------------------------------------


def test_a_recall_at_2130_is_refused_and_nothing_is_scheduled(client, users, task):
    url = reverse("work:recall", args=[task.pk])
    response = login(client, users["agent"]).post(
        url, {"recall_at": "2026-02-10T21:30"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "CL-01: no outbound calls between 21:00 and 09:00" in html and "2026-02-11 09:00" in html
    assert fresh(task).recall_at is None
    assert not AuditEvent.objects.filter(event_type="callback_task.recall_scheduled").exists()
    # htmx: the card comes back (200, so htmx swaps it) with the same refusal.
    response = client.post(url, {"recall_at": "2026-02-10T21:30"}, HTTP_ACCEPT_LANGUAGE="en", **HTMX)
    assert response.status_code == 200 and 'data-testid="recall-error"' in response.content.decode()
    assert fresh(task).recall_at is None


def test_a_recall_in_calling_hours_is_scheduled(client, users, task):
    response = login(client, users["agent"]).post(
        reverse("work:recall", args=[task.pk]), {"recall_at": "2026-02-11T10:30"}
    )
    assert response.status_code == 302
    assert fresh(task).recall_at == local(2026, 2, 11, 10, 30)


@pytest.mark.parametrize("value", ["", "tomorrow", "2026-02-10T10:00"])
def test_a_bad_or_past_recall_time_is_a_clear_message(client, users, task, value):
    response = login(client, users["agent"]).post(
        reverse("work:recall", args=[task.pk]), {"recall_at": value}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert 'data-testid="recall-error"' in response.content.decode()
    assert fresh(task).recall_at is None


def test_the_customers_preferred_window_is_shown(client, users, task):
    from datetime import time

    from huifang.records.models import Customer

    Customer.objects.filter(pk=task.customer_id).update(
        contact_window_start=time(18, 0), contact_window_end=time(20, 0)
    )
    html = login(client, users["agent"]).get(reverse("work:task", args=[task.pk])).content.decode()
    assert "18:00–20:00" in html


@pytest.mark.parametrize("role", ROLES)
def test_recall_per_role(client, users, task, role):
    before = snapshot(task)
    response = login(client, users[role]).post(
        reverse("work:recall", args=[task.pk]), {"recall_at": "2026-02-11T10:30"}
    )
    assert response.status_code == {"agent": 302, "agent_js": 404}.get(role, 403)
    if role != "agent":
        assert snapshot(task) == before


# ---- letter or visit ----------------------------------------------------------------------------------


def test_a_letter_before_three_phone_attempts_is_refused_with_ec05(client, users, task):
    response = login(client, users["agent"]).post(
        reverse("work:letter_visit", args=[task.pk]), {"kind": "letter"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "EC-05" in response.content.decode()
    assert fresh(task).letter_visit_requested == ""


def test_a_letter_after_three_phone_attempts_goes_to_the_supervisor(client, users, task):
    CallbackTask.objects.filter(pk=task.pk).update(phone_attempts=3)
    response = login(client, users["agent"]).post(
        reverse("work:letter_visit", args=[task.pk]), {"kind": "visit"}
    )
    assert response.status_code == 302 and fresh(task).letter_visit_requested == "visit"


@pytest.mark.parametrize("role", ROLES)
def test_letter_visit_per_role(client, users, task, role):
    CallbackTask.objects.filter(pk=task.pk).update(phone_attempts=3)
    before = snapshot(task)
    response = login(client, users[role]).post(
        reverse("work:letter_visit", args=[task.pk]), {"kind": "letter"}
    )
    assert response.status_code == {"agent": 302, "agent_js": 404}.get(role, 403)
    if role != "agent":
        assert snapshot(task) == before


def test_task_page_shows_the_kp03_share(client, users, task):
    html = login(client, users["agent"]).get(reverse("work:task", args=[task.pk])).content.decode()
    assert 'data-testid="kp03-share"' in html and "KP-03" in html


# ---- reveal -----------------------------------------------------------------------------------------


def test_reveal_the_mobile_with_a_reason_is_audited(client, users, task):
    url = reverse("work:reveal", args=[task.pk, "mobile"])
    response = login(client, users["agent"]).post(url, {"reason": "客户要求核对号码"}, **HTMX)
    assert response.status_code == 200 and "13812341234" in response.content.decode()
    assert AuditEvent.objects.filter(event_type="pii.revealed").count() == 1


def test_reveal_without_a_reason_shows_the_error_and_reveals_nothing(client, users, task):
    url = reverse("work:reveal", args=[task.pk, "mobile"])
    response = login(client, users["agent"]).post(url, {"reason": ""}, **HTMX)
    assert response.status_code == 200 and "13812341234" not in response.content.decode()
    assert login(client, users["agent"]).post(url, {"reason": ""}).status_code == 400
    assert not AuditEvent.objects.filter(event_type="pii.revealed").exists()


@pytest.mark.parametrize("role", ROLES)
def test_reveal_per_role(client, users, task, role):
    url = reverse("work:reveal", args=[task.pk, "mobile"])
    response = login(client, users[role]).post(url, {"reason": "客户要求核对号码"}, **HTMX)
    expected = {"agent": 200, "supervisor": 200, "admin": 200, "agent_js": 404}.get(role, 403)
    assert response.status_code == expected
    assert AuditEvent.objects.filter(event_type="pii.revealed").count() == (1 if expected == 200 else 0)


def test_reveal_of_an_unknown_field_is_404(client, users, task):
    url = reverse("work:reveal", args=[task.pk, "password"])
    assert login(client, users["agent"]).post(url, {"reason": "原因原因"}).status_code == 404


# ---- recordings ---------------------------------------------------------------------------------------


@pytest.fixture
def recorded(client, users, task):
    upload = SimpleUploadedFile("call.wav", AUDIO, content_type="audio/wav")
    data = attempt_data(task, answers=expected_answers(task, surrender_loss="no"), recording=upload)
    assert (
        login(client, users["agent"]).post(reverse("work:attempt", args=[task.pk]), data).status_code == 302
    )
    client.logout()
    return Attempt.objects.get(task=task)


@pytest.mark.parametrize("role", ROLES)
def test_recording_per_role(client, users, recorded, role):
    response = login(client, users[role]).get(reverse("work:recording", args=[recorded.pk]))
    expected = {"agent": 200, "supervisor": 200, "admin": 200, "problem_handler": 200, "agent_js": 404}.get(
        role, 403
    )
    assert response.status_code == expected
    if expected == 200:
        assert b"".join(response.streaming_content) == AUDIO


# ---- query counts -------------------------------------------------------------------------------------

# Session, user, permissions (5), the task with its policy, customer and rule (1), separation of
# duties (1), script and items (2), attempts (1), problem cases (1), rule parameters (1), the KP-03
# share when not cached (5): 17; the pin leaves a little room and never grows with the attempts.
TASK_PAGE_MAX_QUERIES = 20


def test_task_page_query_count_does_not_grow_with_attempts(
    client, users, task, django_assert_max_num_queries
):
    login(client, users["agent"])
    with django_assert_max_num_queries(TASK_PAGE_MAX_QUERIES):
        assert client.get(reverse("work:task", args=[task.pk])).status_code == 200
    # Five unanswered calls later (a correction each, so no slot rule applies), the same bound.
    for minute in range(5):
        Attempt.objects.create(
            task=task,
            channel="phone",
            agent=users["agent"],
            started_at=local(2026, 2, 9, 10, minute),
            disposition="no_answer",
            submitted_at=local(2026, 2, 9, 10, minute + 1),
        )
    ProblemCase.objects.create(
        number="PC2026999999",
        task=task,
        category="other",
        org_unit=task.org_unit,
        discovered_on=local(2026, 2, 9, 0, 0).date(),
        due_date=local(2026, 3, 3, 0, 0).date(),
    )
    with django_assert_max_num_queries(TASK_PAGE_MAX_QUERIES):
        assert client.get(reverse("work:task", args=[task.pk])).status_code == 200


def test_home_query_count_is_bounded(client, users, products, django_assert_max_num_queries):
    for n in range(1, 6):
        task_make(policy_make(n))
    for _ in range(3):
        callback_task_claim_next(users["agent"])
    login(client, users["agent"])
    with django_assert_max_num_queries(15):
        assert client.get(reverse("work:home")).status_code == 200


def test_home_counts_the_agents_recalls(client, users, task):
    from huifang.callbacks.channels import recall_schedule

    recall_schedule(task, local(2026, 2, 11, 10, 0), users["agent"])
    response = login(client, users["agent"]).get(reverse("work:home"))
    counts = response.context["counts"]
    assert counts.recalls == 1 and counts.recalls_due == 0
    assert "2026-02-11 10:00" in response.content.decode()


def test_a_problem_due_in_an_unconfirmed_year_is_a_clear_message_and_saves_nothing(
    client, users, task, monkeypatch
):
    from huifang.callbacks import problems
    from huifang.core.calendar.services import CalendarYearUnconfirmed

    def unconfirmed(day, n):
        raise CalendarYearUnconfirmed(2027)

    monkeypatch.setattr(problems, "add_working_days", unconfirmed)
    data = attempt_data(task, answers=expected_answers(task, surrender_loss="no"))
    response = login(client, users["agent"]).post(
        reverse("work:attempt", args=[task.pk]), data, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "The working-day calendar for 2027 is not confirmed" in response.content.decode()
    assert not Attempt.objects.exists() and not ProblemCase.objects.exists()
    assert fresh(task).status == TaskStatus.IN_PROGRESS


@pytest.mark.parametrize(
    "name, args, method",
    [
        ("work:home", [], "get"),
        ("work:next", [], "post"),
        ("work:task", [1], "get"),
        ("work:attempt", [1], "post"),
        ("work:recall", [1], "post"),
        ("work:letter_visit", [1], "post"),
        ("work:reveal", [1, "mobile"], "post"),
        ("work:recording", [1], "get"),
        ("work:problems", [], "get"),
        ("work:problem", ["PC2026000001"], "get"),
        ("work:problem", ["PC2026000001"], "post"),
    ],
)
def test_every_page_sends_an_anonymous_visitor_to_the_login(client, task, name, args, method):
    before = snapshot(task)
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert snapshot(task) == before


@pytest.fixture
def visit_task(users, task):
    from huifang.callbacks.channels import letter_visit_approve, letter_visit_request

    CallbackTask.objects.filter(pk=task.pk).update(phone_attempts=3)
    letter_visit_request(fresh(task), "visit", users["agent"])
    return letter_visit_approve(fresh(task), users["supervisor"])


def test_an_approved_visit_is_saved_with_the_signed_receipt(client, users, visit_task):
    page = login(client, users["agent"]).get(
        reverse("work:task", args=[visit_task.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Signed receipt (PDF or image)" in page.content.decode()
    receipt = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 signed", content_type="application/pdf")
    response = client.post(
        reverse("work:attempt", args=[visit_task.pk]), attempt_data(visit_task, recording=receipt)
    )
    assert response.status_code == 302
    attempt = Attempt.objects.get(task=visit_task)
    assert (
        attempt.channel == "visit"
        and attempt.recording_sha256 == hashlib.sha256(b"%PDF-1.4 signed").hexdigest()
    )
    assert fresh(visit_task).status == TaskStatus.SUCCESS


def test_a_visit_without_a_receipt_or_with_audio_is_refused(client, users, visit_task):
    login(client, users["agent"])
    url = reverse("work:attempt", args=[visit_task.pk])
    response = client.post(url, attempt_data(visit_task), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "signed receipt" in response.content.decode()
    audio = SimpleUploadedFile("call.wav", AUDIO, content_type="audio/wav")
    response = client.post(url, attempt_data(visit_task, recording=audio), HTTP_ACCEPT_LANGUAGE="en")
    assert (
        response.status_code == 400
        and "The signed receipt must be a PDF or an image" in response.content.decode()
    )
    assert not Attempt.objects.exists()


def test_pools_route_the_queue_but_a_task_given_to_the_agent_is_theirs(client, users, products):
    queued = task_make(policy_make(1), pool="bank")
    given = task_make(policy_make(2), pool="bank", assignee=users["agent"], status=TaskStatus.PENDING)
    login(client, users["agent"])
    assert client.get(reverse("work:task", args=[queued.pk])).status_code == 404
    response = client.get(reverse("work:task", args=[given.pk]))
    assert response.status_code == 200 and response.context["access"].can_work is True


def test_a_recall_scheduled_through_htmx_refreshes_the_page(client, users, task):
    url = reverse("work:recall", args=[task.pk])
    response = login(client, users["agent"]).post(url, {"recall_at": "2026-02-11T10:30"}, **HTMX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert fresh(task).recall_at == local(2026, 2, 11, 10, 30)
