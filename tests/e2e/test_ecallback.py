"""The customer's e-callback in a phone-sized Chromium, in Chinese, against the real server.

Each test arranges its own new policy and electronic task with ``e2e_shell`` (the server's
database), starts the e-callback the way the engine does (``ecallback_start``: the link goes out
through the file SMS backend) and reads the link and the one-time code back from the server's
SMS outbox (``huifang.notify.backends.outbox_read``).
"""

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}

ARRANGE = """
import datetime, json, secrets
from django.utils import timezone
from huifang.callbacks.channels import channel_fallback_point
from huifang.callbacks.models import CallbackTask, Channel, TaskKind
from huifang.notify.backends import outbox_read
from huifang.notify.models import Message
from huifang.records.models import Policy
from huifang.records.services import RecordsFeed
from huifang.selfservice.services import ecallback_start
from tests.callbacks.factories import task_make
from tests.records.conftest import policy_values

base = Policy.objects.select_related("product", "org_unit").filter(
    product__term_type="long", product__cooling_off_days__gt=0
).order_by("id").first()
n = secrets.randbelow(900000) + 100000
today = timezone.localdate()
values = policy_values(
    n,
    policy_no=f"E2E{n}",
    applicant_no=f"E2EC{n}",
    applicant_name="李小明",
    product_code=base.product.code,
    org_unit=base.org_unit.code,
    application_date=today - datetime.timedelta(days=8),
    receipt_date=today - datetime.timedelta(days=1),
)
outcome = RecordsFeed("policies").upsert([(1, values)])
assert outcome.summary["rejected"] == 0, outcome.summary
policy = Policy.objects.get(policy_no=values["policy_no"])
task = CallbackTask.objects.filter(policy=policy, kind=TaskKind.NEW_POLICY).first() or task_make(policy)
CallbackTask.objects.filter(pk=task.pk).update(channel=Channel.ELECTRONIC, channel_due_at=channel_fallback_point(task))
link, url = ecallback_start(CallbackTask.objects.get(pk=task.pk))
message = Message.objects.filter(subject=f"selfservice.ecallbacklink:{link.pk}", kind="ecallback_link").get()
sms = [m for m in outbox_read() if m["ref"] == f"hf-msg-{message.pk}"][-1]
path = "/h5/" + sms["text"].split("/h5/", 1)[1].split()[0]
print(json.dumps({"task": task.pk, "link": link.pk, "path": path, "sms": sms["text"]}))
"""

LAST_CODE = """
from huifang.notify.backends import outbox_read
from huifang.notify.models import Message
m = Message.objects.filter(subject="selfservice.ecallbacklink:{link}", kind="ecallback_code").latest("id")
text = [r for r in outbox_read() if r["ref"] == f"hf-msg-{{m.pk}}"][-1]["text"]
print(text.split("验证码为", 1)[1][:6])
"""

TASK_STATE = """
import json
from huifang.callbacks.models import CallbackTask
from huifang.selfservice.models import ECallbackLink
t = CallbackTask.objects.get(pk={task})
link = ECallbackLink.objects.get(pk={link})
print(json.dumps({{"status": t.status, "channel": t.channel, "link": link.status,
                  "sealed": hasattr(link, "bundle"), "cases": list(t.problem_cases.values_list("number", flat=True))}}))
"""


@pytest.fixture
def phone_page(browser, e2e_server):
    context = browser.new_context(
        base_url=e2e_server,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def arranged(e2e_shell):
    return json.loads(e2e_shell(ARRANGE).strip().splitlines()[-1])


def _state(e2e_shell, arranged):
    return json.loads(e2e_shell(TASK_STATE.format(**arranged)).strip().splitlines()[-1])


def _code(e2e_shell, arranged) -> str:
    return e2e_shell(LAST_CODE.format(link=arranged["link"])).strip().splitlines()[-1]


def _enter_code(page, e2e_shell, arranged):
    page.goto(arranged["path"])
    expect(page.get_by_role("heading", name="新保单回访确认")).to_be_visible()
    page.get_by_test_id("send-code").click()
    expect(page.get_by_role("status")).to_contain_text("验证码已发送")
    page.get_by_label("6位验证码").fill(_code(e2e_shell, arranged))
    page.get_by_test_id("verify-code").click()
    expect(page.get_by_role("heading", name="确认身份")).to_be_visible()


def _fits_the_phone(page):
    # Nothing wider than the phone: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_success_path(phone_page, e2e_shell, arranged, screenshot):
    page = phone_page
    assert "电子化回访" in arranged["sms"] and "尾号" in arranged["sms"]
    page.goto(arranged["path"])
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    expect(page.get_by_test_id("switch-phone")).to_have_text("改为电话回访")
    _fits_the_phone(page)
    screenshot(page, "h5-code")
    _enter_code(page, e2e_shell, arranged)
    expect(page.get_by_test_id("identity-text")).to_contain_text("李**")
    screenshot(page, "h5-identity")
    page.get_by_test_id("identity-yes").click()
    first = True
    while page.get_by_test_id("answer-yes").count():
        expect(page.get_by_test_id("switch-phone")).to_be_visible()
        if first:
            expect(page.get_by_text("第1项")).to_be_visible()
            _fits_the_phone(page)
            screenshot(page, "h5-item")
            first = False
        page.get_by_test_id("answer-yes").click()
        page.wait_for_load_state()
    expect(page.get_by_test_id("done")).to_have_text("感谢您，本次回访已完成")
    expect(page.get_by_test_id("cooling-off")).to_contain_text("犹豫期")
    screenshot(page, "h5-done")
    state = _state(e2e_shell, arranged)
    assert state == {
        "status": "success",
        "channel": "electronic",
        "link": "finished",
        "sealed": True,
        "cases": [],
    }


def test_no_answer_opens_a_problem_case(phone_page, e2e_shell, arranged, screenshot):
    page = phone_page
    _enter_code(page, e2e_shell, arranged)
    page.get_by_test_id("identity-yes").click()
    page.get_by_test_id("answer-yes").click()
    expect(page.get_by_text("第2项")).to_be_visible()
    page.get_by_test_id("answer-no").click()
    expect(page.get_by_test_id("problem")).to_have_text("您的回答已记录")
    expect(page.locator("main")).to_contain_text("问题件PC")
    expect(page.locator("main")).to_contain_text("致电您")
    screenshot(page, "h5-problem")
    state = _state(e2e_shell, arranged)
    assert state["status"] == "problem_found" and state["channel"] == "phone" and len(state["cases"]) == 1


def test_wrong_code_lockout(phone_page, e2e_shell, arranged, screenshot):
    page = phone_page
    page.goto(arranged["path"])
    page.get_by_test_id("send-code").click()
    right = _code(e2e_shell, arranged)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for left in (4, 3, 2, 1):
        page.get_by_label("6位验证码").fill(wrong)
        page.get_by_test_id("verify-code").click()
        expect(page.get_by_role("alert")).to_contain_text(f"还可尝试{left}次")
    page.get_by_label("6位验证码").fill(wrong)
    page.get_by_test_id("verify-code").click()
    expect(page.get_by_test_id("locked")).to_have_text("该链接已锁定")
    screenshot(page, "h5-locked")
    page.goto(arranged["path"])  # the right code no longer helps: the link is locked
    expect(page.get_by_test_id("locked")).to_be_visible()
    state = _state(e2e_shell, arranged)
    assert state["link"] == "locked" and state["channel"] == "phone" and state["status"] == "pending"


def test_switch_to_phone(phone_page, e2e_shell, arranged, screenshot):
    page = phone_page
    _enter_code(page, e2e_shell, arranged)
    page.get_by_test_id("identity-yes").click()
    page.get_by_test_id("switch-phone").click()
    expect(page.get_by_role("heading", name="改为电话回访")).to_be_visible()
    page.get_by_label("晚间（18:00–21:00）").check()
    screenshot(page, "h5-switch")
    page.get_by_test_id("confirm-phone").click()
    expect(page.get_by_test_id("switched")).to_have_text("我们将致电您")
    expect(page.locator("main")).to_contain_text("18:00")
    state = _state(e2e_shell, arranged)
    assert state["link"] == "switched" and state["channel"] == "phone" and state["sealed"]


def test_expired_link(phone_page, e2e_shell, arranged, screenshot):
    e2e_shell(
        "from datetime import timedelta\nfrom django.utils import timezone\n"
        "from huifang.selfservice.models import ECallbackLink\n"
        f"ECallbackLink.objects.filter(pk={arranged['link']}).update(expires_at=timezone.now() - timedelta(minutes=1))"
    )
    page = phone_page
    page.goto(arranged["path"])
    expect(page.get_by_test_id("expired")).to_have_text("该链接已过期")
    expect(page.get_by_test_id("send-code")).to_have_count(0)
    screenshot(page, "h5-expired")
    assert _state(e2e_shell, arranged)["link"] == "expired"


def test_completed_link_reused(browser, e2e_server, phone_page, e2e_shell, arranged, screenshot):
    page = phone_page
    _enter_code(page, e2e_shell, arranged)
    page.get_by_test_id("identity-yes").click()
    while page.get_by_test_id("answer-yes").count():
        page.get_by_test_id("answer-yes").click()
        page.wait_for_load_state()
    expect(page.get_by_test_id("done")).to_be_visible()
    other = browser.new_context(base_url=e2e_server, locale="zh-CN", viewport=PHONE, is_mobile=True)
    try:
        again = other.new_page()
        response = again.goto(arranged["path"])
        expect(again.get_by_test_id("gone")).to_have_text("该链接已失效")
        expect(again.locator("main")).to_contain_text("本次回访已完成")
        assert response.status in (200, 410)
        assert again.get_by_test_id("cooling-off").count() == 0
        screenshot(again, "h5-reused")
    finally:
        other.close()
