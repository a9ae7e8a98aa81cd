"""The callbacks API: task lists and details (scoped, masked, explained), attempts, problem cases and
attempts from an external dialer; per-role permissions, and refused calls change nothing."""

import importlib.util
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from huifang.callbacks.models import (
    Attempt,
    CallbackTask,
    ProblemCase,
    TaskKind,
    TaskStatus,
    TaskStatusChange,
)
from huifang.core.audit.models import AuditEvent
from tests.callbacks import kpi_factories as f
from tests.records.test_api_support import ApiClient

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
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


def state() -> dict:
    """Everything a call might change."""
    return {
        "tasks": list(
            CallbackTask.objects.order_by("id").values_list(
                "id", "status", "assignee_id", "phone_attempts", "recall_at"
            )
        ),
        "attempts": Attempt.objects.count(),
        "problem_cases": ProblemCase.objects.count(),
        "status_changes": TaskStatusChange.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def tasks(org_tree, users):
    """A task in 广州 (with two attempts and a problem case) and one in 南京."""
    gz_policy = f.policy(org_tree["GZ"])
    gz = f.task(
        org_tree["GZ"],
        pol=gz_policy,
        due=date(2026, 2, 20),
        due_explanation={
            "rule": "BS-12",
            "base": "receipt",
            "base_date": "2026-02-05",
            "amount": 15,
            "unit": "days",
            "due": "2026-02-20",
            "cites": "CO-03 · BS-12",
        },
    )
    f.attempt(
        gz,
        started_at=datetime(2026, 2, 10, 10, tzinfo=SHANGHAI),
        agent=users["agent"],
        answers={"BS13_1": {"answer": "yes", "expected": "yes"}},
        notes="客户说下午再打",
    )
    f.attempt(gz, started_at=datetime(2026, 2, 11, 15, tzinfo=SHANGHAI), disposition="reached")
    f.attempt(gz, submitted=False)  # a draft is not an attempt yet
    case = f.problem_case(gz, due=date(2026, 3, 5))
    nj = f.task(org_tree["NJ"], due=date(2026, 2, 21))
    return {"gz": gz, "nj": nj, "case": case}


READ = {
    # role: (GZ task, NJ task); 403 = no capability to read callbacks, 404 = outside their org units
    "agent": (200, 404),
    "supervisor": (200, 404),
    "problem_handler": (403, 403),
    "complaint_handler": (403, 403),
    "qa_inspector": (200, 404),  # inspect_quality samples finished callbacks
    "auditor": (200, 200),  # every org unit
    "admin": (200, 200),
    "agent_js": (404, 200),
    "norole": (403, 403),
}


@pytest.mark.parametrize("role", ROLES)
def test_task_reads_per_role(tasks, users, role):
    api = ApiClient(users[role])
    before = state()
    for key, expected in zip(("gz", "nj"), READ[role], strict=True):
        pk = tasks[key].pk
        for path in (f"/callback-tasks/{pk}", f"/callback-tasks/{pk}/attempts"):
            response = api.get(path)
            assert response.status_code == expected, (path, response.json())
            if expected == 404:  # the same answer as for a task that does not exist
                assert response.json() == api.get(path.replace(str(pk), "999999")).json()
            if expected == 403:
                assert response.json()["code"] == "forbidden"
    listing = api.get("/callback-tasks")
    if READ[role][0] == 403:
        assert listing.status_code == 403
    else:
        seen = {item["id"] for item in listing.json()["items"]}
        assert seen == {tasks[k].pk for k, code in zip(("gz", "nj"), READ[role], strict=True) if code == 200}
    assert state() == before


def test_task_list_filters_paging_and_masking(tasks, org_tree, users):
    gz = org_tree["GZ"]
    done = f.task(gz, status=TaskStatus.SUCCESS, due=date(2026, 3, 1))
    claims = f.task(gz, kind=TaskKind.CLAIM_CLOSED, rule_id="KP-07", due=date(2026, 3, 2))
    sz = f.task(org_tree["SZ"], due=date(2026, 3, 3))
    api = ApiClient(users["supervisor"])
    every = api.get("/callback-tasks").json()
    assert every["count"] == 4
    assert [i["id"] for i in every["items"]] == [tasks["gz"].pk, done.pk, claims.pk, sz.pk]  # by due date

    def ids(**params):
        response = api.get("/callback-tasks", **params)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["items"]]

    assert ids(policy_no=tasks["gz"].policy.policy_no) == [tasks["gz"].pk]
    assert ids(policy_no="NOPE") == []
    assert ids(kind="claim_closed") == [claims.pk]
    assert ids(status="success") == [done.pk]
    assert ids(due_from="2026-03-01", due_to="2026-03-02") == [done.pk, claims.pk]
    assert ids(org_unit="SZ") == [sz.pk]
    assert ids(org_unit="NJ") == []  # outside 广东: nothing, not an error
    assert ids(limit=2, offset=1) == [done.pk, claims.pk]
    assert api.get("/callback-tasks", status="bogus").status_code == 422
    bad = api.get("/callback-tasks", due_from="2026-03-02", due_to="2026-03-01")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "due_to"
    item = every["items"][0]
    assert item["customer"] == {
        "customer_no": tasks["gz"].customer.customer_no,
        "name": "王*",
        "mobile": "139****5678",
    }
    assert item["policy_no"] == tasks["gz"].policy.policy_no and item["org_unit"] == "GZ"
    assert "13912345678" not in str(every) and "王五" not in str(every)


def test_task_detail_explains_its_due_date(tasks, users):
    body = ApiClient(users["agent"]).get(f"/callback-tasks/{tasks['gz'].pk}").json()
    assert body["due_date"] == "2026-02-20" and body["rule_id"] == "BS-12"
    assert body["due_explanation"]["explanation"]["base_date"] == "2026-02-05"
    assert body["attempts"] == 2  # the draft does not count
    assert body["problem_cases"] == [tasks["case"].number]
    if importlib.util.find_spec("huifang.callbacks.explain"):
        assert (
            body["due_explanation"]["text"] == "due 2026-02-20 = receipt 2026-02-05 + 15 days · CO-03 · BS-12"
        )


def test_attempts_in_order_without_notes(tasks, users):
    body = ApiClient(users["supervisor"]).get(f"/callback-tasks/{tasks['gz'].pk}/attempts").json()
    assert body["count"] == 2
    first, second = body["items"]
    assert (first["disposition"], first["agent"], first["answers"]) == (
        "no_answer",
        "agent",
        {"BS13_1": "yes"},
    )
    assert second["disposition"] == "reached" and second["agent"] is None
    assert "notes" not in first and "下午" not in str(body)


PROBLEM_READ = {
    "agent": 403,
    "supervisor": 200,
    "problem_handler": 200,
    "complaint_handler": 403,
    "qa_inspector": 403,
    "auditor": 200,
    "admin": 200,
    "agent_js": 403,
    "norole": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_problem_case_reads_per_role(tasks, users, role):
    api = ApiClient(users[role])
    before = state()
    listing = api.get("/problem-cases")
    detail = api.get(f"/problem-cases/{tasks['case'].number}")
    assert (listing.status_code, detail.status_code) == (PROBLEM_READ[role], PROBLEM_READ[role])
    if PROBLEM_READ[role] == 200:
        assert [c["number"] for c in listing.json()["items"]] == [tasks["case"].number]
    assert state() == before


def test_problem_case_filters_and_on_time(tasks, org_tree, users):
    gz_task, nj_task = tasks["gz"], tasks["nj"]
    late = f.problem_case(
        gz_task,
        due=date(2026, 3, 10),
        status="resolved",
        resolved_at=datetime(2026, 3, 11, 7, tzinfo=SHANGHAI),
    )
    on_time = f.problem_case(
        gz_task,
        due=date(2026, 3, 10),
        status="resolved",
        resolved_at=datetime(2026, 3, 10, 23, tzinfo=SHANGHAI),
    )
    f.problem_case(nj_task, due=date(2026, 3, 10))
    api = ApiClient(users["supervisor"])

    def numbers(**params):
        response = api.get("/problem-cases", **params)
        assert response.status_code == 200, response.json()
        return {c["number"]: c["on_time"] for c in response.json()["items"]}

    assert numbers() == {tasks["case"].number: None, late.number: False, on_time.number: True}
    assert numbers(status="open") == {tasks["case"].number: None}
    assert numbers(due_from="2026-03-06", due_to="2026-03-31") == {late.number: False, on_time.number: True}
    assert numbers(policy_no=gz_task.policy.policy_no).keys() == {
        tasks["case"].number,
        late.number,
        on_time.number,
    }
    assert api.get("/problem-cases", status="closed").status_code == 422
    assert ApiClient(users["auditor"]).get("/problem-cases").json()["count"] == 4


# ---- attempts from an external dialer --------------------------------------------------------------

needs_outcomes = pytest.mark.skipif(
    importlib.util.find_spec("huifang.callbacks.outcomes") is None, reason="attempt outcomes not installed"
)


def dialer_attempt(**over):
    body = {
        "channel": "phone",
        "started_at": "2026-03-02T10:15:00+08:00",
        "ended_at": "2026-03-02T10:16:00+08:00",
        "disposition": "no_answer",
        "external_ref": "CALL-0001",
    }
    return body | over


@pytest.fixture
def open_task(org_tree):
    return f.task(org_tree["GZ"], due=date(2026, 3, 6))


@needs_outcomes
def test_a_dialer_attempt_is_recorded_once(open_task, users):
    api = ApiClient(users["agent"])
    path = f"/callback-tasks/{open_task.pk}/attempts"
    response = api.post(path, dialer_attempt())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["attempt"]["agent"] == "agent" and body["attempt"]["external_ref"] == "CALL-0001"
    assert body["outcome"]["result"] == "retry" and body["outcome"]["duplicate"] is False
    attempt = Attempt.objects.get()
    assert attempt.submitted_at is not None and attempt.evidence["source"] == "api"
    open_task.refresh_from_db()
    assert open_task.phone_attempts == 1
    after = state()
    again = api.post(path, dialer_attempt(disposition="refused"))  # re-sent: the first one stands
    assert again.status_code == 200 and again.json()["outcome"]["duplicate"] is True
    assert again.json()["attempt"]["id"] == attempt.pk
    assert state() == after


@needs_outcomes
def test_a_supervisor_records_an_agents_call_and_the_refusal_counts(open_task, users):
    response = ApiClient(users["supervisor"]).post(
        f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(agent="agent", disposition="refused")
    )
    assert response.status_code == 201, response.json()
    assert response.json()["attempt"]["agent"] == "agent"
    assert response.json()["outcome"]["task_status"] == "refused"


DIALER_ALLOWED = {"agent": 201, "supervisor": 201}


@needs_outcomes
@pytest.mark.parametrize("role", ROLES)
def test_dialer_attempt_permissions_per_role(open_task, users, role):
    api = ApiClient(users[role])
    before = state()
    response = api.post(f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt())
    expected = DIALER_ALLOWED.get(role, 404 if role == "agent_js" else 403)
    assert response.status_code == expected, response.json()
    if expected != 201:
        assert state() == before


@needs_outcomes
def test_refused_dialer_attempts_change_nothing(open_task, org_tree, users, make_user):
    sold = f.task(
        org_tree["GZ"], pol=f.policy(org_tree["GZ"], seller=f.salesperson(org_tree["GZ"], users["agent"]))
    )
    api = ApiClient(users["agent"])
    before = state()
    cases = [
        (f"/callback-tasks/{sold.pk}/attempts", dialer_attempt(), 403),  # they sold the policy
        (
            f"/callback-tasks/{open_task.pk}/attempts",
            dialer_attempt(agent="supervisor"),
            403,
        ),  # not theirs to name
        (f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(channel="fax"), 422),
        (f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(disposition="maybe"), 422),
        (f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(started_at="2026-03-02T10:15:00"), 422),
        # CL-01: no call 21:00–09:00
        (
            f"/callback-tasks/{open_task.pk}/attempts",
            dialer_attempt(started_at="2026-03-02T22:15:00+08:00"),
            422,
        ),
        (
            f"/callback-tasks/{open_task.pk}/attempts",
            dialer_attempt(started_at="2099-01-01T10:00:00+08:00"),
            422,
        ),
        (f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(answers={"X": "perhaps"}), 422),
        ("/callback-tasks/999999/attempts", dialer_attempt(), 404),
        (f"/callback-tasks/{open_task.pk}/attempts", "{not json", 400),
    ]
    for path, body, expected in cases:
        response = api.post(path, body)
        assert response.status_code == expected, (body, response.json())
        assert state() == before, body
    far = ApiClient(make_user("far_supervisor", "supervisor", "NJ"))
    before = state()  # (creating the token was audited)
    response = far.post(f"/callback-tasks/{open_task.pk}/attempts", dialer_attempt(agent="agent"))
    assert response.status_code == 422  # the agent is outside their org units
    assert state() == before
