"""Browser test 4 (issue 5): a supervisor approves a visit request on the board; after the visit is
made (signed receipt), the letter/visit share (KP-03) changes.

The story: an agent made three unanswered calls and asked for a visit (EC-05, KP-04); the
supervisor approves it on the board and the request leaves the list; the visit is made and the
policyholder signs the receipt; the board's letter/visit share counts the callback. Approval alone
does not move the share: it counts callbacks made whose deciding attempt was a letter or a visit
(huifang.reports.kpis).
"""

import re

import pytest
from playwright.sync_api import expect

from huifang.org.demo import DEMO_PASSWORD
from tests.e2e.test_login import login

pytestmark = pytest.mark.e2e

ARRANGE = """
from huifang.callbacks.channels import letter_visit_request
from huifang.callbacks.models import CallbackTask
from huifang.org.models import User

agent = User.objects.get(username="agent")
task = (
    CallbackTask.objects.filter(
        status__in=["pending", "in_progress"],
        org_unit__path__startswith=agent.org_unit.path,
        policy__isnull=False,
        letter_visit_requested="",
        kind="new_policy",
    )
    .exclude(policy__salesperson__staff_user=agent)
    .order_by("due_date", "id")
    .first()
)
# Three unanswered calls were made (EC-05: a letter or visit comes after them).
CallbackTask.objects.filter(pk=task.pk).update(phone_attempts=3)
task.refresh_from_db()
letter_visit_request(task, "visit", agent)
print(task.pk, task.policy.policy_no, task.due_date.isoformat())
"""

VISIT = """
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from huifang.callbacks.models import CallbackTask
from huifang.callbacks.outcomes import attempt_submit
from huifang.callbacks.scripts import script_for_task, script_render
from huifang.org.models import User

agent = User.objects.get(username="agent")
task = CallbackTask.objects.select_related("policy").get(pk=%(pk)d)
items = script_render(script_for_task(task), task.policy)
answers = {i.code: i.expected for i in items if i.visible and i.expected != "any"}
now = timezone.now()
receipt = SimpleUploadedFile("visit-receipt.pdf", b"%%PDF-1.4 signed visit receipt", content_type="application/pdf")
attempt, outcome = attempt_submit(
    task, agent=agent, channel="visit", started_at=now - timedelta(minutes=30), ended_at=now,
    disposition="reached", answers=answers, identity_confirmed=True, recording=receipt,
)
print(outcome.result, CallbackTask.objects.get(pk=task.pk).status)
"""

SHARE = """
from datetime import date
from huifang.org.models import User
from huifang.reports.kpis import KpiFilters, kpi_callbacks
k = kpi_callbacks(User.objects.get(username="supervisor"), KpiFilters(date.fromisoformat("%(start)s"), date.fromisoformat("%(end)s")))
print(k.letter_visit_share.numerator, k.letter_visit_share.denominator)
"""


def month_of(day: str) -> tuple[str, str]:
    from datetime import date, timedelta

    d = date.fromisoformat(day)
    start = d.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return start.isoformat(), end.isoformat()


def test_supervisor_approves_a_visit_and_the_share_updates(page, e2e_shell, screenshot):
    pk, policy_no, due = e2e_shell(ARRANGE).split()[-3:]
    start, end = month_of(due)
    board = f"/board/?start={start}&end={end}"

    login(page, "supervisor", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_test_id("nav-board").click()
    page.wait_for_url(re.compile(r"/board/$"))
    expect(page.get_by_role("heading", name="回访看板")).to_be_visible()
    page.goto(board)
    share = page.get_by_test_id("kpi-letter-visit-share")
    before = share.inner_text()
    expect(page.get_by_test_id("kpi-success-rate")).to_have_text(re.compile(r"^(—|\d+\.\d%)$"))

    approvals = page.get_by_test_id("approvals")
    row = approvals.locator(f'tr[data-task="{pk}"]')
    expect(row).to_contain_text(policy_no)
    expect(row).to_contain_text("上门回访")
    screenshot(page, "board-visit-request")

    page.get_by_test_id(f"approve-{pk}").click()
    expect(page.get_by_role("status")).to_contain_text("已批准")
    expect(approvals.locator(f'tr[data-task="{pk}"]')).to_have_count(0)  # the request left the list
    assert page.url.endswith(board)
    # Approval alone is not a callback made: the share has not moved yet.
    expect(share).to_have_text(before)

    result = e2e_shell(VISIT % {"pk": int(pk)}).split()
    assert result[-1] == "success", result

    page.reload()
    numerator, denominator = (int(n) for n in e2e_shell(SHARE % {"start": start, "end": end}).split()[-2:])
    expected = f"{100 * numerator / denominator:.1f}%"
    expect(share).to_have_text(expected)
    assert expected != before
    expect(page.get_by_test_id("kpi-letter-visit-share-numerator")).to_have_text(str(numerator))
    screenshot(page, "board-share-updated")

    # Drill down: the visit is among the callbacks decided by a letter or a visit.
    page.get_by_test_id("kpi-letter-visit-share-numerator").click()
    expect(page.get_by_test_id("figure-title")).to_contain_text("以信函或上门完成")
    expect(page.get_by_test_id("figure-list")).to_contain_text(policy_no)
    screenshot(page, "board-letter-visit-list")
