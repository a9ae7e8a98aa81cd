"""The problem-case desk (问题件): the list with days left (BS-17), one case with its callback answers
and recording, and the resolution form, per role; never a case of a policy the handler sold."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huifang.callbacks.assignment import callback_task_claim_next
from huifang.callbacks.models import Attempt, ProblemCase
from huifang.callbacks.outcomes import attempt_submit
from huifang.core.audit.models import AuditEvent
from huifang.core.calendar.services import add_working_days
from huifang.core.permissions import Role
from tests.callbacks.factories import local, policy_make, salesperson_make, task_make
from tests.callbacks.test_views_workbench import AUDIO, ROLES, expected_answers

pytestmark = pytest.mark.usefixtures("clock", "shipped_scripts")

DISCOVERED = local(2026, 2, 10, 0, 0).date()


def open_case(users, n=1, **policy_over) -> ProblemCase:
    """A GZ callback answered "no" to item 5 (surrender loss, BS-13(5)) with a recording: one case."""
    task = task_make(policy_make(n, **policy_over))
    callback_task_claim_next(users["agent"])
    attempt_submit(
        task,
        agent=users["agent"],
        channel="phone",
        started_at=local(2026, 2, 10, 14, 0),
        ended_at=local(2026, 2, 10, 14, 6),
        disposition="reached",
        answers=expected_answers(task, surrender_loss="no"),
        identity_confirmed=True,
        recording=SimpleUploadedFile("call.wav", AUDIO, content_type="audio/wav"),
    )
    return ProblemCase.objects.get(task=task)


@pytest.fixture
def case(products, users):
    return open_case(users)


def login(client, user):
    client.force_login(user)
    return client


DESK_STATUS = {
    "agent": 403,
    "supervisor": 403,
    "problem_handler": 200,
    "complaint_handler": 403,
    "qa_inspector": 403,
    "auditor": 403,
    "admin": 200,
    "agent_js": 403,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_desk_per_role(client, users, case, role):
    response = login(client, users[role]).get(reverse("work:problems"))
    assert response.status_code == DESK_STATUS[role]
    if response.status_code == 200:
        assert case.number in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_case_page_per_role(client, users, case, role):
    response = login(client, users[role]).get(reverse("work:problem", args=[case.number]))
    assert response.status_code == DESK_STATUS[role]


def test_desk_shows_the_15_wd_due_date_and_days_left_nearest_first(client, users, products):
    first = open_case(users, 1)
    later = open_case(users, 2)
    ProblemCase.objects.filter(pk=later.pk).update(due_date=add_working_days(DISCOVERED, 20))
    response = login(client, users["problem_handler"]).get(reverse("work:problems"))
    html = response.content.decode()
    assert first.due_date == add_working_days(DISCOVERED, 15)
    assert first.due_date.isoformat() in html
    assert [row["case"].number for row in response.context["rows"]] == [first.number, later.number]
    assert response.context["rows"][0]["days_left"] == 15


def test_near_deadline_and_overdue_are_highlighted(client, users, products):
    near = open_case(users, 1)
    late = open_case(users, 2)
    ProblemCase.objects.filter(pk=near.pk).update(due_date=add_working_days(DISCOVERED, 2))
    ProblemCase.objects.filter(pk=late.pk).update(due_date=add_working_days(DISCOVERED, -1))
    response = login(client, users["problem_handler"]).get(reverse("work:problems"))
    rows = {row["case"].number: row for row in response.context["rows"]}
    assert rows[near.number]["near"] and not rows[near.number]["overdue"]
    assert rows[late.number]["overdue"]
    html = response.content.decode()
    assert "table-warning" in html and "table-danger" in html


def test_a_handler_in_another_province_gets_404_and_changes_nothing(client, users, case, make_user):
    handler_js = make_user("handler_js", Role.PROBLEM_HANDLER, "JS")
    login(client, handler_js)
    assert client.get(reverse("work:problem", args=[case.number])).status_code == 404
    response = client.post(
        reverse("work:problem", args=[case.number]), {"resolution": "explained", "note": "已解释"}
    )
    assert response.status_code == 404
    assert ProblemCase.objects.get(pk=case.pk).status == ProblemCase.Status.OPEN
    assert case.number not in client.get(reverse("work:problems")).content.decode()


def test_a_handler_never_sees_a_case_of_a_policy_they_sold(client, users, products):
    salesperson_make("S777", user=users["problem_handler"])
    sold = open_case(users, 1, salesperson_code="S777")
    other = open_case(users, 2)
    login(client, users["problem_handler"])
    html = client.get(reverse("work:problems")).content.decode()
    assert sold.number not in html and other.number in html
    assert client.get(reverse("work:problem", args=[sold.number])).status_code == 404
    response = client.post(
        reverse("work:problem", args=[sold.number]), {"resolution": "explained", "note": "已解释"}
    )
    assert response.status_code == 404
    assert ProblemCase.objects.get(pk=sold.pk).status == ProblemCase.Status.OPEN


def test_a_missing_case_is_404(client, users, case):
    assert (
        login(client, users["problem_handler"])
        .get(reverse("work:problem", args=["PC2026999999"]))
        .status_code
        == 404
    )


def test_the_case_page_shows_the_answers_and_the_recording(client, users, case):
    html = (
        login(client, users["problem_handler"])
        .get(reverse("work:problem", args=[case.number]))
        .content.decode()
    )
    attempt = Attempt.objects.get(task=case.task)
    assert "BS-13(5)" in html and reverse("work:recording", args=[attempt.pk]) in html
    assert attempt.recording_sha256 in html and case.due_date.isoformat() in html
    assert "张*" in html and "张三" not in html


def test_the_handler_resolves_the_case(client, users, case):
    url = reverse("work:problem", args=[case.number])
    response = login(client, users["problem_handler"]).post(
        url, {"resolution": "explained", "note": "已向客户解释退保损失"}
    )
    assert response.status_code == 302 and response["Location"] == url
    case.refresh_from_db()
    assert case.status == ProblemCase.Status.RESOLVED and case.resolution == "explained"
    assert case.resolved_by_id == users["problem_handler"].pk
    assert AuditEvent.objects.filter(event_type="problem_case.resolved", subject_id=str(case.pk)).exists()
    page = client.get(url).content.decode()
    assert 'data-status="resolved"' in page and "已向客户解释退保损失" in page
    assert case.number not in client.get(reverse("work:problems")).content.decode()
    # Resolving again is refused with a message and changes nothing.
    again = client.post(url, {"resolution": "corrected", "note": "再次处理"})
    assert again.status_code == 400
    case.refresh_from_db()
    assert case.resolution == "explained"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"resolution": "explained", "note": ""}, "Write what was done: the note is required."),
        ({"resolution": "", "note": "已处理完毕"}, "Choose how the problem was resolved."),
        ({"resolution": "made_up", "note": "已处理完毕"}, "Select a valid choice."),
        ({"resolution": "explained", "note": "ok"}, "at least 4 characters"),
    ],
)
def test_bad_resolutions_are_clear_and_change_nothing(client, users, case, data, message):
    url = reverse("work:problem", args=[case.number])
    response = login(client, users["problem_handler"]).post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in response.content.decode()
    case.refresh_from_db()
    assert case.status == ProblemCase.Status.OPEN
    assert not AuditEvent.objects.filter(event_type="problem_case.resolved").exists()


@pytest.mark.parametrize("role", ROLES)
def test_resolve_per_role_and_refusals_change_nothing(client, users, case, role):
    url = reverse("work:problem", args=[case.number])
    response = login(client, users[role]).post(url, {"resolution": "explained", "note": "已向客户解释"})
    assert response.status_code == {"problem_handler": 302, "admin": 302}.get(role, 403)
    case.refresh_from_db()
    resolved = case.status == ProblemCase.Status.RESOLVED
    assert resolved is (role in ("problem_handler", "admin"))


def test_resolve_needs_csrf(users, case):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["problem_handler"])
    response = client.post(
        reverse("work:problem", args=[case.number]), {"resolution": "explained", "note": "已解释"}
    )
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == ProblemCase.Status.OPEN


def test_desk_query_count_is_bounded(client, users, products, django_assert_max_num_queries):
    for n in range(1, 5):
        open_case(users, n)
    login(client, users["problem_handler"])
    with django_assert_max_num_queries(12):
        response = client.get(reverse("work:problems"))
    assert response.status_code == 200 and len(response.context["rows"]) == 4


def test_case_page_query_count_is_bounded(client, users, case, django_assert_max_num_queries):
    login(client, users["problem_handler"])
    with django_assert_max_num_queries(20):
        assert client.get(reverse("work:problem", args=[case.number])).status_code == 200
