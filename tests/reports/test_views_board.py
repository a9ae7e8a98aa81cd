"""The supervisor board (/board/) and its task lists: who may open them, what they count (the
drill-down lists hold exactly the tasks behind each KPI figure of huifang.reports.kpis), the
filters, bad input, and a bounded number of queries.

The hand-built month of tests/reports/conftest.py (``world``) is the data; "today" is 2026-03-31.
"""

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from huifang.callbacks.models import CallbackTask, TaskStatus
from huifang.core.audit.models import AuditEvent
from huifang.core.permissions import Role
from huifang.reports.kpis import KpiFilters, kpi_callbacks
from tests.callbacks import kpi_factories as f
from tests.reports.conftest import MARCH, TODAY

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
# Reading the board: supervisors (SUPERVISE_CALLBACKS) and readers of reports (VIEW_REPORTS).
READERS = {"supervisor", "auditor", "admin"}
MARCH_QUERY = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def today(time_machine):
    time_machine.move_to(f.at(TODAY, 15, 0), tick=False)
    return TODAY


def english(client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def _count(response) -> int:
    html = response.content.decode()
    marker = 'data-testid="figure-count" data-count="'
    start = html.index(marker) + len(marker)
    return int(html[start : html.index('"', start)])


def _tile(response, key: str) -> str:
    html = response.content.decode()
    marker = f'data-testid="kpi-{key}">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("<", start)].strip()


# ---- who may open what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_for_the_pages(client, users, world, today, role):
    client.force_login(users[role])
    before = AuditEvent.objects.count()
    expected = 200 if role in READERS else 403
    assert client.get(reverse("board:home")).status_code == expected
    assert client.get(reverse("board:tasks"), {"figure": "due"}).status_code == expected
    assert client.get(reverse("board:tasks"), {"figure": "problem_cases"}).status_code == expected
    assert AuditEvent.objects.count() == before  # reading writes nothing


@pytest.mark.parametrize("url", ["/board/", "/board/tasks/"])
def test_anonymous_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_pages_refuse_other_methods(client, users, world, today):
    client.force_login(users["supervisor"])
    assert client.post(reverse("board:home")).status_code == 405
    assert client.post(reverse("board:tasks")).status_code == 405
    assert client.get(reverse("board:reassign")).status_code == 405
    assert client.get(reverse("board:release")).status_code == 405


def test_auditor_reads_but_sees_no_action(client, users, world, today):
    task = world["tasks"][8]
    CallbackTask.objects.filter(pk=task.pk).update(letter_visit_requested="letter", phone_attempts=3)
    client.force_login(users["auditor"])
    html = client.get(reverse("board:home"), MARCH_QUERY).content.decode()
    assert 'data-testid="approval-row"' in html
    assert reverse("board:approve", args=[task.pk]) not in html
    html = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "open"}).content.decode()
    assert 'name="tasks"' not in html and reverse("board:reassign") not in html


# ---- the KPI tiles and the drill-down lists -------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "auditor"])
def test_drill_down_lists_hold_the_tasks_behind_each_figure(client, users, world, today, role):
    user = users[role]
    client.force_login(user)
    k = kpi_callbacks(user, KpiFilters(*MARCH), today=TODAY)
    expected = {
        "due": k.due,
        "denominator": k.success_rate.denominator,
        "success": k.success,
        "success_cooling_off": k.success_in_cooling_off.numerator,
        "refused": k.refused,
        "cancelled_before_callback": k.cancelled_before_callback,
        "failed": k.failed,
        "problem_found": k.problem_found,
        "open": k.open,
        "called_back": k.letter_visit_share.denominator,
        "letter_visit": k.letter_visit_share.numerator,
        "problem_cases": k.problem_cases_due,
    }
    # The hand-counted figures of the world (GD for the supervisor; GD + NJ for the auditor).
    if role == "supervisor":
        assert (k.due, k.success, k.letter_visit_share.numerator, k.letter_visit_share.denominator) == (
            12,
            5,
            2,
            9,
        )
    else:
        assert (k.due, k.success, k.letter_visit_share.numerator, k.letter_visit_share.denominator) == (
            14,
            6,
            3,
            11,
        )
    for figure, n in expected.items():
        response = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": figure})
        assert response.status_code == 200, figure
        assert _count(response) == n, figure


def test_tiles_show_the_kpis_and_link_to_their_lists(client, users, world, today):
    user = users["supervisor"]
    client.force_login(user)
    k = kpi_callbacks(user, KpiFilters(*MARCH), today=TODAY)
    response = client.get(reverse("board:home"), MARCH_QUERY)
    assert response.status_code == 200
    assert _tile(response, "success-rate") == f"{k.success_rate.value * 100:.1f}%"
    assert _tile(response, "letter-visit-share") == f"{k.letter_visit_share.value * 100:.1f}%"
    assert _tile(response, "problem-cases-on-time") == f"{k.problem_cases_on_time.value * 100:.1f}%"
    html = response.content.decode()
    # 2/9 = 22.2 % > 10 %: the KP-03 alert is on.
    assert 'data-testid="kpi-letter-visit-share-alert"' in html
    assert "figure=letter_visit" in html and "figure=denominator" in html
    assert 'id="board-trend-data"' in html


def test_trend_by_week_and_by_month(client, users, world, today):
    client.force_login(users["supervisor"])
    response = client.get(reverse("board:home"), MARCH_QUERY)
    weeks = response.context["trend"]
    assert sum(point["due"] for point in weeks) == 12
    assert len(weeks) >= 5
    months = client.get(reverse("board:home"), {**MARCH_QUERY, "granularity": "month"}).context["trend"]
    assert months == [
        {
            "bucket": "2026-03-01",
            "due": 12,
            # KP-01: 5 / (12 − 2 refused − 1 cancelled); in cooling-off 4 / 9; KP-03: 2 / 9 (T2 letter, T6 visit)
            "success_rate": 55.6,
            "cooling_off": 44.4,
            "letter_visit_share": 22.2,
        }
    ]


def test_filters_narrow_the_figures(client, users, world, today):
    client.force_login(users["supervisor"])
    ul = world["products"]["ul"]
    sz = world["tasks"][11].org_unit
    for params, due in (
        ({"channel": "agency"}, 1),  # T12
        ({"product": ul.pk}, 1),  # T11
        ({"org_unit": sz.pk}, 2),  # T11, T12
    ):
        response = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "due", **params})
        assert _count(response) == due, params
        board = client.get(reverse("board:home"), {**MARCH_QUERY, **params})
        assert board.context["kpis"].due == due


def test_agent_filter_lists_the_tasks_an_agent_holds(client, users, world, today):
    client.force_login(users["supervisor"])
    agent = users["agent"]
    f.task(world["tasks"][1].org_unit, status=TaskStatus.IN_PROGRESS, assignee=agent, due=TODAY)
    response = client.get(reverse("board:tasks"), {"figure": "held", "agent": agent.pk})
    assert _count(response) == 1
    board = client.get(reverse("board:home"), MARCH_QUERY)
    rows = {row.user.username: row for row in board.context["agents"]}
    assert rows["agent"].open == 1 and rows["agent"].in_progress == 1


def test_backlog_and_risks(client, users, world, org_tree, today):
    gz = org_tree["GZ"]
    client.force_login(users["supervisor"])
    soon = f.policy(gz, cooling_off_end=TODAY + timedelta(days=1))
    f.task(gz, pol=soon, due=TODAY + timedelta(days=1))
    f.task(gz, due=TODAY)
    overdue = f.task(gz, due=TODAY - timedelta(days=3))
    f.task(org_tree["NJ"], due=TODAY - timedelta(days=3))  # not the supervisor's
    f.problem_case(overdue, due=TODAY - timedelta(days=1))
    response = client.get(reverse("board:home"))
    backlog = response.context["backlog"]
    # Open GD tasks: T8 (03-30) and the new one due 03-28 are overdue; T9 and the new one are due today.
    assert (backlog.overdue, backlog.today, backlog.next_days) == (2, 2, 1)
    assert response.context["at_risk_count"] == 1
    assert [t.policy_id for t in response.context["at_risk"]] == [soon.pk]
    # Problem cases near their deadline: PC4 (overdue), PC5 (today) and the new one.
    assert response.context["problems_count"] == 3
    for figure, n in (("overdue", 2), ("today", 2), ("next_days", 1), ("at_risk", 1)):
        assert _count(client.get(reverse("board:tasks"), {"figure": figure})) == n, figure


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "The end of the period is before its start."),
        ({"start": "yesterday"}, "Enter a date."),
        ({"start": "2020-01-01", "end": "2026-03-01"}, "Choose a period of at most two years."),
        ({"channel": "carrier-pigeon"}, "Select a valid choice."),
        ({"product": "999999"}, "Select a valid choice."),
        ({"product": "abc"}, "Select a valid choice."),
        ({"start": "2026-03-01\x00"}, "Enter a date."),
    ],
)
def test_bad_filters_get_a_clear_message(client, users, world, today, params, message):
    client.force_login(users["supervisor"])
    english(client)
    for url in (reverse("board:home"), reverse("board:tasks")):
        response = client.get(url, params)
        assert response.status_code == 400
        assert message in response.content.decode(), url


def test_org_unit_outside_scope_is_refused_like_a_missing_one(client, users, world, org_tree, today):
    client.force_login(users["supervisor"])
    english(client)
    for pk in (org_tree["NJ"].pk, 999999):
        response = client.get(reverse("board:home"), {"org_unit": pk})
        assert response.status_code == 400
        assert "Select a valid choice." in response.content.decode()


def test_unknown_figure_and_page(client, users, world, today):
    client.force_login(users["supervisor"])
    english(client)
    response = client.get(reverse("board:tasks"), {"figure": "nope"})
    assert response.status_code == 400
    response = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "due", "page": "zzz"})
    assert response.status_code == 200 and response.context["page"].number == 1


# ---- query counts ---------------------------------------------------------------------------------

BOARD_MAX_QUERIES = 40
LIST_MAX_QUERIES = 16


def test_board_query_count_is_bounded(client, users, world, org_tree, today, django_assert_max_num_queries):
    client.force_login(users["supervisor"])
    gz = org_tree["GZ"]
    f.task(gz, status=TaskStatus.IN_PROGRESS, assignee=users["agent"], due=TODAY)  # one agent row
    client.get(reverse("board:home"), MARCH_QUERY)  # warm caches (content types, calendar)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES) as small:
        assert client.get(reverse("board:home"), MARCH_QUERY).status_code == 200
    # Ten times the agents, tasks, approvals, recalls and problem cases: the same number of queries.
    agents = [user_agent(i, org_tree) for i in range(10)]
    for i in range(60):
        agent = agents[i % 10]
        task = f.task(
            gz,
            status=TaskStatus.IN_PROGRESS,
            assignee=agent,
            due=TODAY - timedelta(days=i % 5),
            recall_at=f.at(TODAY - timedelta(days=1), 10) if i % 3 == 0 else None,
            letter_visit_requested="visit" if i % 4 == 0 else "",
        )
        f.attempt(task, agent=agent, started_at=f.at(TODAY, 10, i % 60))
        f.problem_case(task, due=TODAY + timedelta(days=1))
    with django_assert_max_num_queries(len(small.captured_queries)) as big:
        response = client.get(reverse("board:home"), MARCH_QUERY)
    assert response.status_code == 200
    assert len(response.context["agents"]) >= 10
    assert len(big.captured_queries) == len(small.captured_queries)


def user_agent(i, org_tree):
    from huifang.org.services import user_create

    return user_create(
        username=f"agent{i}", password="x-Huifang-2026", org_unit=org_tree["GZ"], roles=[Role.AGENT]
    )


def test_task_list_query_count_is_bounded(client, users, world, today, django_assert_max_num_queries):
    client.force_login(users["supervisor"])
    client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "due"})
    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "due"})
    assert response.status_code == 200
    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "problem_cases"})
    assert response.status_code == 200


def test_the_board_shows_chinese(client, users, world, today):
    client.force_login(users["supervisor"])
    html = client.get(reverse("board:home"), MARCH_QUERY).content.decode()
    assert "回访看板" in html or "看板" in html
    assert date(2026, 3, 1).isoformat() in html


def test_task_list_pages_and_htmx_fragment(client, users, world, org_tree, today):
    gz = org_tree["GZ"]
    for i in range(55):
        f.task(gz, due=date(2026, 3, 1) + timedelta(days=i % 28))
    client.force_login(users["supervisor"])
    first = client.get(reverse("board:tasks"), {**MARCH_QUERY, "figure": "open"})
    assert _count(first) == 57  # T8, T9 and the new ones
    assert first.content.decode().count('data-testid="figure-row"') == 50
    assert 'hx-get="?' in first.content.decode()
    second = client.get(
        reverse("board:tasks"), {**MARCH_QUERY, "figure": "open", "page": 2}, headers={"HX-Request": "true"}
    )
    html = second.content.decode()
    assert "<html" not in html and html.count('data-testid="figure-row"') == 7
    rows = {t.pk for t in first.context["page"]} | {t.pk for t in second.context["page"]}
    assert len(rows) == 57
