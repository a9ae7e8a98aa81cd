"""The board's actions: approve a letter/visit (KP-04), reassign tasks, return stale recalls to the
pool. Per role: who may (302 and the change, audited by the services), who gets 403 or 404, and
that a refused POST changes nothing."""

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from huifang.callbacks import events
from huifang.callbacks.models import CallbackTask, Channel, TaskStatus
from huifang.core.audit.models import AuditEvent
from huifang.core.permissions import Role
from tests.callbacks import kpi_factories as f

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
    "supervisor_js",
]
TODAY = date(2026, 3, 10)
# SUPERVISE_CALLBACKS in the task's org subtree: the 广东 supervisor and the head-office admin.
ALLOWED = {"supervisor", "admin"}


def expected_status(role: str) -> int:
    if role in ALLOWED:
        return 302
    return 404 if role == "supervisor_js" else 403


@pytest.fixture
def actors(users, make_user):
    return {**users, "supervisor_js": make_user("supervisor_js", Role.SUPERVISOR, "JS")}


@pytest.fixture
def today(time_machine):
    time_machine.move_to(f.at(TODAY, 15, 0), tick=False)
    return TODAY


@pytest.fixture
def gz(org_tree):
    return org_tree["GZ"]


def snapshot(task: CallbackTask) -> tuple:
    task.refresh_from_db()
    return (
        task.status,
        task.channel,
        task.assignee_id,
        task.letter_visit_requested,
        task.letter_visit_approved_by_id,
        task.recall_at,
    )


def english(client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def messages_of(client, url="/board/") -> str:
    return client.get(url).content.decode()


# ---- approve --------------------------------------------------------------------------------------


@pytest.fixture
def visit_request(gz, users, today):
    return f.task(gz, due=TODAY + timedelta(days=5), letter_visit_requested="visit", phone_attempts=3)


@pytest.mark.parametrize("role", ROLES)
def test_approve_role_matrix(client, actors, visit_request, role):
    client.force_login(actors[role])
    before, audits = snapshot(visit_request), AuditEvent.objects.count()
    response = client.post(reverse("board:approve", args=[visit_request.pk]))
    assert response.status_code == expected_status(role)
    if role in ALLOWED:
        assert response["Location"] == reverse("board:home")
        visit_request.refresh_from_db()
        assert visit_request.channel == Channel.VISIT
        assert visit_request.letter_visit_approved_by == actors[role]
        kinds = list(AuditEvent.objects.order_by("-id").values_list("event_type", flat=True)[:2])
        assert events.LETTER_VISIT_APPROVED.id in kinds
    else:
        assert snapshot(visit_request) == before
        assert AuditEvent.objects.count() == audits


def test_approve_leaves_the_board_list(client, users, visit_request):
    client.force_login(users["supervisor"])
    html = client.get(reverse("board:home")).content.decode()
    assert f'data-testid="approve-{visit_request.pk}"' in html
    response = client.post(
        reverse("board:approve", args=[visit_request.pk]), {"next": "/board/?channel=bank"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/board/?channel=bank"
    html = response.content.decode()
    assert f'data-testid="approve-{visit_request.pk}"' not in html
    assert "已批准" in html


def test_approve_refuses_what_the_service_refuses(client, users, gz, today):
    nothing = f.task(gz, due=TODAY)
    closed = f.task(gz, due=TODAY, status=TaskStatus.SUCCESS, letter_visit_requested="letter")
    client.force_login(users["supervisor"])
    english(client)
    for task, message in (
        (nothing, "No letter or visit has been requested."),
        (closed, "The callback is closed."),
    ):
        before, audits = snapshot(task), AuditEvent.objects.count()
        response = client.post(reverse("board:approve", args=[task.pk]), follow=True)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert snapshot(task) == before and AuditEvent.objects.count() == audits


def test_approve_is_refused_to_the_policy_salesperson(client, users, gz, today):
    seller = f.salesperson(gz, staff_user=users["supervisor"])
    task = f.task(gz, pol=f.policy(gz, seller=seller), letter_visit_requested="visit", phone_attempts=3)
    client.force_login(users["supervisor"])
    before = snapshot(task)
    response = client.post(reverse("board:approve", args=[task.pk]), follow=True)
    assert "不得由保单销售人员处理本保单回访" in response.content.decode()
    assert snapshot(task) == before


def test_a_missing_task_is_404(client, users, today):
    client.force_login(users["supervisor"])
    assert client.post(reverse("board:approve", args=[999999])).status_code == 404


def test_posts_need_the_csrf_token(users, visit_request):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["supervisor"])
    before = snapshot(visit_request)
    assert client.post(reverse("board:approve", args=[visit_request.pk])).status_code == 403
    assert client.post(reverse("board:release")).status_code == 403
    assert (
        client.post(
            reverse("board:reassign"),
            {"tasks": [visit_request.pk], "to_user": users["agent"].pk, "reason": "休假调整"},
        ).status_code
        == 403
    )
    assert snapshot(visit_request) == before


def test_next_must_stay_on_the_site(client, users, visit_request):
    client.force_login(users["supervisor"])
    response = client.post(
        reverse("board:approve", args=[visit_request.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("board:home")


# ---- reassign -------------------------------------------------------------------------------------


@pytest.fixture
def open_tasks(gz, users, today):
    return [
        f.task(gz, due=TODAY, status=TaskStatus.IN_PROGRESS, assignee=users["agent"]),
        f.task(gz, due=TODAY + timedelta(days=1)),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_reassign_role_matrix(client, actors, open_tasks, make_user, role):
    other = make_user("agent_gz2", Role.AGENT, "GZ")
    client.force_login(actors[role])
    before = [snapshot(t) for t in open_tasks]
    audits = AuditEvent.objects.count()
    response = client.post(
        reverse("board:reassign"),
        {"tasks": [t.pk for t in open_tasks], "to_user": other.pk, "reason": "原专员休假，改派"},
    )
    assert response.status_code == expected_status(role)
    if role in ALLOWED:
        for task in open_tasks:
            task.refresh_from_db()
            assert task.assignee == other and task.status == TaskStatus.PENDING
        assigned = AuditEvent.objects.filter(id__gt=0).order_by("-id")[:5]
        assert any(e.data.get("how") == "reassign" for e in assigned)
    else:
        assert [snapshot(t) for t in open_tasks] == before
        assert AuditEvent.objects.count() == audits


def test_reassign_back_to_the_pool(client, users, open_tasks):
    client.force_login(users["supervisor"])
    response = client.post(
        reverse("board:reassign"),
        {"tasks": [open_tasks[0].pk], "to_user": "", "reason": "退回任务池"},
        follow=True,
    )
    assert "1 个任务已退回任务池" in response.content.decode()
    open_tasks[0].refresh_from_db()
    assert open_tasks[0].assignee is None and open_tasks[0].status == TaskStatus.PENDING


@pytest.mark.parametrize(
    "data, message",
    [
        ({"tasks": [], "reason": "休假调整"}, "Choose at least one task."),
        ({"tasks": ["x"], "reason": "休假调整"}, "Select a valid choice."),
        ({"reason": ""}, "Give a reason for the reassignment."),
        ({"reason": "休"}, "The reason must have at least 4 characters."),
        ({"to_user": "agent_js", "reason": "休假调整"}, "Choose an agent in your org units."),
        ({"to_user": "supervisor_js", "reason": "休假调整"}, "Choose an agent in your org units."),
        ({"to_user": "problem_handler", "reason": "休假调整"}, "Choose an agent in your org units."),
    ],
)
def test_reassign_bad_input_changes_nothing(client, actors, open_tasks, data, message):
    data = dict(data)
    data.setdefault("tasks", [t.pk for t in open_tasks])
    if "to_user" in data:
        data["to_user"] = actors[data["to_user"]].pk
    client.force_login(actors["supervisor"])
    english(client)
    before, audits = [snapshot(t) for t in open_tasks], AuditEvent.objects.count()
    response = client.post(reverse("board:reassign"), data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert [snapshot(t) for t in open_tasks] == before and AuditEvent.objects.count() == audits


def test_reassign_is_all_or_nothing(client, users, open_tasks, gz):
    closed = f.task(gz, due=TODAY, status=TaskStatus.SUCCESS)
    client.force_login(users["supervisor"])
    english(client)
    before, audits = [snapshot(t) for t in open_tasks], AuditEvent.objects.count()
    response = client.post(
        reverse("board:reassign"),
        {
            "tasks": [*[t.pk for t in open_tasks], closed.pk],
            "to_user": users["agent"].pk,
            "reason": "批量改派",
        },
        follow=True,
    )
    assert "Nothing was reassigned: A closed task cannot be reassigned." in response.content.decode()
    assert [snapshot(t) for t in open_tasks] == before and AuditEvent.objects.count() == audits


def test_reassign_a_task_outside_scope_is_404_and_changes_nothing(client, users, open_tasks, org_tree):
    nj = f.task(org_tree["NJ"], due=TODAY)
    client.force_login(users["supervisor"])
    before = [snapshot(t) for t in open_tasks]
    response = client.post(
        reverse("board:reassign"),
        {"tasks": [open_tasks[1].pk, nj.pk], "to_user": users["agent"].pk, "reason": "批量改派"},
    )
    assert response.status_code == 404
    assert [snapshot(t) for t in open_tasks] == before


def test_reassign_refuses_the_salesperson_of_the_policy(client, users, gz, today):
    seller = f.salesperson(gz, staff_user=users["agent"])
    task = f.task(gz, pol=f.policy(gz, seller=seller))
    client.force_login(users["supervisor"])
    english(client)
    response = client.post(
        reverse("board:reassign"),
        {"tasks": [task.pk], "to_user": users["agent"].pk, "reason": "改派测试"},
        follow=True,
    )
    assert "This user sold the policy." in response.content.decode()
    task.refresh_from_db()
    assert task.assignee is None


# ---- release stale recalls ------------------------------------------------------------------------


@pytest.fixture
def recalls(gz, org_tree, users, today):
    stale_at = f.at(TODAY - timedelta(days=1), 10)
    return {
        "stale": f.task(gz, status=TaskStatus.IN_PROGRESS, assignee=users["agent"], recall_at=stale_at),
        "fresh": f.task(gz, assignee=users["agent"], recall_at=f.at(TODAY, 14, 30)),  # 30 min ago
        "js": f.task(org_tree["NJ"], assignee=users["agent_js"], recall_at=stale_at),
    }


@pytest.mark.parametrize("role", ROLES)
def test_release_role_matrix(client, actors, recalls, role):
    client.force_login(actors[role])
    before = {k: snapshot(t) for k, t in recalls.items()}
    audits = AuditEvent.objects.count()
    response = client.post(reverse("board:release"), {"tasks": [recalls["stale"].pk]})
    assert response.status_code == expected_status(role)
    after = {k: snapshot(t) for k, t in recalls.items()}
    if role in ALLOWED:
        assert after["stale"][2] is None and after["stale"][0] == TaskStatus.PENDING
        assert after["fresh"] == before["fresh"] and after["js"] == before["js"]
    else:
        assert after == before and AuditEvent.objects.count() == audits


def test_release_all_returns_only_stale_recalls_in_scope(client, users, recalls):
    client.force_login(users["supervisor"])
    html = client.get(reverse("board:home")).content.decode()
    assert 'data-testid="release-all"' in html
    response = client.post(reverse("board:release"), follow=True)
    assert "1 个预约已退回任务池" in response.content.decode()
    recalls["stale"].refresh_from_db()
    recalls["fresh"].refresh_from_db()
    recalls["js"].refresh_from_db()
    assert recalls["stale"].assignee is None
    assert recalls["fresh"].assignee == users["agent"]
    assert recalls["js"].assignee == users["agent_js"]  # the 江苏 recall is not the 广东 supervisor's


def test_release_refuses_a_recall_that_is_not_stale(client, users, recalls):
    client.force_login(users["supervisor"])
    english(client)
    before = snapshot(recalls["fresh"])
    response = client.post(
        reverse("board:release"), {"tasks": [recalls["fresh"].pk, recalls["stale"].pk]}, follow=True
    )
    assert "only a stale recall can be returned to the pool" in response.content.decode()
    assert snapshot(recalls["fresh"]) == before
    recalls["stale"].refresh_from_db()
    assert recalls["stale"].assignee is not None


def test_release_of_a_task_outside_scope_is_404(client, users, recalls):
    client.force_login(users["supervisor"])
    before = snapshot(recalls["js"])
    assert client.post(reverse("board:release"), {"tasks": [recalls["js"].pk]}).status_code == 404
    assert snapshot(recalls["js"]) == before
