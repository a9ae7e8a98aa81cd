"""Browser tests 1, 2, 3 and 5 of issue 5: the agent workbench and the problem-case desk, in Chinese,
on the real server (see conftest.py).

1. An agent takes the next task, answers every item as expected (keyboard and click), saves
   "reached" with a recording; the task is a success and the supervisor's success rate moves.
2. An agent answers item 5 (BS-13(5), the loss on surrender) "否": the problem case and its 15-WD due
   date (BS-17) show; the handler finds it on the desk with that date and resolves it.
3. A recall at 21:30 is refused with the CL-01 message and nothing is scheduled.
5. An agent of another province opens a Guangzhou task by URL: 404, and nothing changed.

Each test arranges its own task with ``e2e_shell``. Outbound calls are refused 21:00–09:00 (CL-01):
when the suite runs in those hours, the customer of a task that is called is given a preferred
window covering the day (the customer "asked for that time"), so the tests pass at any hour.
"""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from huifang.org.demo import DEMO_PASSWORD
from tests.e2e.test_login import login

pytestmark = pytest.mark.e2e

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"

# Let a called customer be called now, whatever the hour (see the module docstring).
CALLABLE_NOW = """
from datetime import time
from django.utils import timezone
from huifang.callbacks.channels import in_quiet_hours
from huifang.callbacks.models import CallbackTask
from huifang.records.models import Customer
task = CallbackTask.objects.get(pk=%(pk)d)
if in_quiet_hours(timezone.now()):
    Customer.objects.filter(pk=task.customer_id).update(contact_window_start=time(0, 0), contact_window_end=time(23, 59))
print(task.due_date.isoformat())
"""

# A Guangzhou phone task from the workbench demo, nobody's, given to the agent by the supervisor.
ASSIGNED_TO_AGENT = """
from huifang.callbacks.assignment import callback_task_reassign
from huifang.callbacks.models import CallbackTask
from huifang.org.models import User
agent = User.objects.get(username="agent")
supervisor = User.objects.get(username="supervisor")
task = (
    CallbackTask.objects.filter(
        status="pending", assignee__isnull=True, channel="phone", kind="new_policy", recall_at__isnull=True,
        letter_visit_requested="", org_unit__code="GZ", policy__policy_no__startswith="HAWB",
        customer__contact_window_start__isnull=True,
    )
    .order_by("due_date", "id")
    .first()
)
callback_task_reassign(task, agent, supervisor, reason="e2e")
print(task.pk)
"""

SUCCESS_RATE = """
from datetime import date
from huifang.org.models import User
from huifang.reports.kpis import KpiFilters, kpi_callbacks
day = date.fromisoformat("%(day)s")
k = kpi_callbacks(User.objects.get(username="supervisor"), KpiFilters(day, day))
print(k.success_rate.numerator, k.success_rate.denominator)
"""

TASK_STATE = """
from huifang.callbacks.models import Attempt, CallbackTask, ProblemCase
from huifang.core.audit.models import AuditEvent
t = CallbackTask.objects.get(pk=%(pk)d)
print(t.status, t.assignee_id, t.recall_at, t.letter_visit_requested or "-", t.phone_attempts,
      Attempt.objects.filter(task=t).count(), ProblemCase.objects.filter(task=t).count(),
      AuditEvent.objects.filter(subject_id=str(t.pk)).count(),
      AuditEvent.objects.filter(event_type="pii.revealed").count())
"""


def new_page(browser, e2e_server):
    """A second person at another desk: a fresh context, Chinese browser."""
    context = browser.new_context(
        base_url=e2e_server,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    return context, context.new_page()


def board_success_rate(page, day: str) -> str:
    page.goto(f"/board/?start={day}&end={day}")
    tile = page.get_by_test_id("kpi-success-rate")
    expect(tile).to_be_visible()
    return tile.inner_text().strip()


def answer_all_as_expected(page, *, wrong_code: str | None = None, min_items: int = 1) -> int:
    """Answer the shown items one at a time: the first by a click, the rest with the keys 1/2
    (1 = 是 for "yes" and "any", 2 = 否 for the item ``wrong_code``). Returns the number of items."""
    items = page.get_by_test_id("script-item")
    count = items.count()
    assert count >= min_items
    for index in range(count):
        item = items.nth(index)
        expect(item).to_be_visible()  # one item at a time: this one is shown now
        if index + 1 < count:
            expect(items.nth(index + 1)).to_be_hidden()
        code = item.get_attribute("data-code")
        expected = item.get_attribute("data-expected")
        key = "2" if code == wrong_code else ("2" if expected == "no" else "1")
        if index == 0:
            item.get_by_label("是").check()
        else:
            page.keyboard.press(key)
    return count


def test_1_agent_takes_the_next_task_succeeds_and_the_success_rate_moves(
    page, browser, e2e_server, e2e_shell, screenshot
):
    login(page, "agent", DEMO_PASSWORD)
    page.goto("/work/")
    expect(page.get_by_role("heading", name="我的回访")).to_be_visible()
    expect(page.get_by_test_id("agent-counts")).to_contain_text("今日到期")
    screenshot(page, "workbench-1-home")

    page.get_by_role("button", name="下一个任务").click()
    page.wait_for_url(re.compile(r"/work/tasks/\d+/$"))
    pk = int(re.search(r"/work/tasks/(\d+)/", page.url).group(1))
    due = e2e_shell(CALLABLE_NOW % {"pk": pk}).strip()

    # The supervisor's success rate for the tasks due that day, before.
    sup_context, sup = new_page(browser, e2e_server)
    login(sup, "supervisor", DEMO_PASSWORD)
    before_kpi = e2e_shell(SUCCESS_RATE % {"day": due}).split()
    before_tile = board_success_rate(sup, due)
    screenshot(sup, "workbench-1-board-before")

    page.reload()
    expect(page.get_by_test_id("task-status")).to_have_text("处理中")
    expect(page.get_by_test_id("due-explanation")).to_contain_text("应于")
    expect(page.get_by_text("逐题宣读")).to_be_visible()
    screenshot(page, "workbench-1-task")
    answer_all_as_expected(page)
    expect(page.locator("#id_identity_confirmed")).to_be_checked()  # the identity item answered 是
    expect(page.get_by_test_id("wrong-warning").filter(visible=True)).to_have_count(0)
    page.get_by_label("通话结果").select_option("reached")
    page.get_by_label("录音（音频文件）").set_input_files(
        files=[{"name": "call.wav", "mimeType": "audio/wav", "buffer": AUDIO}]
    )
    screenshot(page, "workbench-1-answered")
    page.get_by_role("button", name="保存本次回访").click()

    expect(page.get_by_test_id("task-status")).to_have_text("成功")
    expect(page.get_by_text("已保存：回访成功（KP-06）。")).to_be_visible()
    expect(page.get_by_test_id("recording-audio")).to_have_count(1)
    sha = page.get_by_test_id("recording-sha256").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    screenshot(page, "workbench-1-success")

    after_kpi = e2e_shell(SUCCESS_RATE % {"day": due}).split()
    assert int(after_kpi[0]) == int(before_kpi[0]) + 1 and after_kpi[1] == before_kpi[1]
    after_tile = board_success_rate(sup, due)
    assert after_tile != before_tile
    screenshot(sup, "workbench-1-board-after")
    sup_context.close()


def test_2_a_no_to_item_5_opens_a_problem_case_the_handler_resolves(
    page, browser, e2e_server, e2e_shell, screenshot
):
    pk = int(e2e_shell(ASSIGNED_TO_AGENT).strip())
    e2e_shell(CALLABLE_NOW % {"pk": pk})
    login(page, "agent", DEMO_PASSWORD)
    page.goto(f"/work/tasks/{pk}/")
    expect(page.get_by_test_id("script-runner")).to_be_visible()
    # A 期缴 policy: BS-13 (1)-(7), plus the optional closing question.
    assert answer_all_as_expected(page, wrong_code="surrender_loss", min_items=7) == 8
    item5 = page.locator('[data-code="surrender_loss"]')
    expect(item5).to_contain_text("退保")
    assert item5.get_attribute("data-position") == "5"
    page.get_by_label("通话结果").select_option("reached")
    page.get_by_role("button", name="保存本次回访").click()

    expect(page.get_by_test_id("task-status")).to_have_text("发现问题（问题件）")
    case = page.get_by_test_id("problem-case")
    expect(case).to_have_count(1)
    number = page.get_by_test_id("problem-case-number").inner_text().strip()
    due = page.get_by_test_id("problem-case-due").inner_text().strip()
    assert re.fullmatch(r"PC\d{10}", number)
    expect(page.get_by_role("status")).to_contain_text(f"已创建问题件 {number}")
    screenshot(page, "workbench-2-problem-case")
    expected_due = e2e_shell(
        "from huifang.callbacks.models import ProblemCase\n"
        "from huifang.core.calendar.services import add_working_days\n"
        f"c = ProblemCase.objects.get(number='{number}')\n"
        "print(c.item_code, c.due_date.isoformat(), add_working_days(c.discovered_on, 15).isoformat())"
    ).split()
    assert expected_due == ["surrender_loss", due, due]  # BS-17: 15 working days from discovery
    assert date.fromisoformat(due) > date.today() + timedelta(days=14)

    handler_context, handler = new_page(browser, e2e_server)
    login(handler, "problem_handler", DEMO_PASSWORD)
    handler.goto("/work/problems/")
    row = handler.locator(f'[data-testid="problem-row"][data-number="{number}"]')
    expect(row).to_be_visible()
    expect(row.get_by_test_id("problem-due")).to_have_text(due)
    screenshot(handler, "workbench-2-desk")
    row.get_by_role("link", name=number).click()
    expect(handler.get_by_test_id("problem-title")).to_contain_text(number)
    expect(handler.get_by_test_id("problem-due")).to_have_text(due)
    handler.get_by_label("处理结果").select_option("explained")
    handler.get_by_label("处理说明").fill("已向客户解释犹豫期后退保的现金价值损失，客户表示理解。")
    handler.get_by_role("button", name="提交处理结果").click()
    expect(handler.get_by_test_id("problem-status")).to_have_text("已处理")
    expect(handler.get_by_text(f"问题件 {number} 已处理。")).to_be_visible()
    screenshot(handler, "workbench-2-resolved")
    state = e2e_shell(
        f"from huifang.callbacks.models import ProblemCase\nc = ProblemCase.objects.get(number='{number}')\n"
        "print(c.status, c.resolution, c.resolved_by.username)"
    ).split()
    assert state == ["resolved", "explained", "problem_handler"]
    handler_context.close()


def test_3_a_recall_at_2130_is_refused_and_nothing_is_scheduled(page, e2e_shell, screenshot):
    pk = int(e2e_shell(ASSIGNED_TO_AGENT).strip())
    before = e2e_shell(TASK_STATE % {"pk": pk})
    login(page, "agent", DEMO_PASSWORD)
    page.goto(f"/work/tasks/{pk}/")
    expect(page.get_by_test_id("preferred-window")).to_have_text("未指定（外呼时间 09:00–21:00）")
    tomorrow = e2e_shell(
        "from datetime import timedelta\nfrom django.utils import timezone\n"
        "print((timezone.localdate() + timedelta(days=1)).isoformat())"
    ).strip()
    recall = page.get_by_test_id("recall-input")
    expect(recall).to_have_accessible_name("再次回访时间（北京时间）")
    recall.fill(f"{tomorrow}T21:30")
    page.get_by_role("button", name="预约再次回访").click()
    error = page.get_by_test_id("recall-error")
    expect(error).to_contain_text("CL-01")
    expect(error).to_contain_text("21:00至次日09:00")
    expect(error).to_contain_text(f"{tomorrow} 21:30")
    expect(page.get_by_test_id("recall-scheduled")).to_have_count(0)
    screenshot(page, "workbench-3-recall-refused")
    assert e2e_shell(TASK_STATE % {"pk": pk}) == before  # nothing scheduled, nothing audited


def test_5_an_agent_of_another_province_gets_404_and_nothing_changes(page, e2e_server, e2e_shell, screenshot):
    pk = int(e2e_shell(ASSIGNED_TO_AGENT).strip())
    before = e2e_shell(TASK_STATE % {"pk": pk})
    login(page, "agent_js", DEMO_PASSWORD)
    page.goto("/work/")
    expect(page.get_by_role("heading", name="我的回访")).to_be_visible()
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")

    response = page.goto(f"/work/tasks/{pk}/")
    assert response.status == 404
    screenshot(page, "workbench-5-other-province-404")
    # Working it blind is the same 404: an attempt, a recall, a reveal.
    headers = {"X-CSRFToken": token, "Referer": f"{e2e_server}/work/"}
    posts = {
        f"/work/tasks/{pk}/attempt/": {"disposition": "refused"},
        f"/work/tasks/{pk}/recall/": {"recall_at": "2030-01-02T10:00"},
        f"/work/tasks/{pk}/reveal/mobile/": {"reason": "试图查看号码"},
    }
    for url, form in posts.items():
        assert page.request.post(url, form=form, headers=headers).status == 404
    assert e2e_shell(TASK_STATE % {"pk": pk}) == before
