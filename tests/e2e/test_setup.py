"""The administrator's rule screen in a real browser, in Chinese: open a rule, preview what it gives
on a sample policy before and after a change, save the change as a new version."""

import json
import re

import pytest
from playwright.sync_api import expect

from huifang.org.demo import DEMO_PASSWORD
from tests.e2e.test_login import login

pytestmark = pytest.mark.e2e

BS17_STATE = """
import json
from huifang.core.audit.models import AuditEvent
from huifang.rules.models import Rule
rows = list(Rule.objects.filter(pack__code="national", rule_id="BS-17").order_by("version")
            .values("version", "params", "superseded_at", "change_reason", "created_by__username"))
event = AuditEvent.objects.filter(event_type="rule.changed", rule="BS-17").order_by("-seq").first()
print(json.dumps({"rows": rows, "event": event and {"actor": event.actor.username, "data": event.data}},
                 default=str, ensure_ascii=False))
"""

# Puts BS-17 back to the shipped 15 working days (as a further version) for the tests that follow.
BS17_RESTORE = """
from huifang.rules.selectors import rule_active
from huifang.rules.services import rule_change
rule = rule_active("BS-17")
if rule.params["working_days"] != 15:
    rule_change(rule, reason="back to the shipped value", params=rule.params | {"working_days": 15})
"""


def test_admin_previews_a_rule_change_on_a_sample_policy_and_saves_a_new_version(page, screenshot, e2e_shell):
    before = json.loads(e2e_shell(BS17_STATE))
    versions_before = len(before["rows"])
    try:
        login(page, "admin", DEMO_PASSWORD)
        page.wait_for_url(re.compile(r"/$"))
        page.get_by_test_id("nav-setup").click()
        expect(page.get_by_role("heading", name="设置概览")).to_be_visible()
        expect(page.get_by_test_id("packs")).to_contain_text("国家监管规定")
        page.get_by_role("link", name="规则", exact=True).click()
        expect(page.get_by_role("heading", name="现行规则")).to_be_visible()
        page.get_by_test_id("rule-table").get_by_role("link", name="BS-17", exact=True).click()
        expect(page.get_by_test_id("rule-params")).to_contain_text("15")
        page.get_by_test_id("edit-rule").click()
        expect(page.get_by_role("heading", name="修改 BS-17：生成新版本")).to_be_visible()

        # Preview on the generated sample: a problem found on Friday 13 February 2026 (before the
        # Spring Festival holiday), now and with 12 working days instead of 15.
        page.get_by_label("工作日数 (working_days)").fill("12")
        page.get_by_label("示例保单").select_option("life_bank")
        page.get_by_label("起算日").fill("2026-02-13")
        page.get_by_role("button", name="预览").click()
        compare = page.get_by_test_id("rule-compare")
        expect(compare.get_by_test_id("preview-before")).to_contain_text(
            "应于 2026-03-12 前完成 = 发现问题 2026-02-13 + 15 个工作日 · BS-17"
        )
        expect(compare.get_by_test_id("preview-after")).to_contain_text(
            "应于 2026-03-09 前完成 = 发现问题 2026-02-13 + 12 个工作日 · BS-17"
        )
        expect(compare).to_contain_text("示例保单")
        # A preview saves nothing.
        assert len(json.loads(e2e_shell(BS17_STATE))["rows"]) == versions_before
        screenshot(page, "setup-rule-preview")

        # A laxer number than the law is refused at the field, and nothing is saved.
        page.get_by_label("工作日数 (working_days)").fill("20")
        page.get_by_label("修改原因").fill("公司回访管理办法 2027 修订")
        page.get_by_role("button", name="保存为新版本").click()
        expect(page.get_by_test_id("error-param__working_days")).to_contain_text("比法规要求宽松")
        assert len(json.loads(e2e_shell(BS17_STATE))["rows"]) == versions_before

        page.get_by_label("工作日数 (working_days)").fill("12")
        page.get_by_role("button", name="保存为新版本").click()
        page.wait_for_url(re.compile(r"/setup/rules/\d+/$"))
        expect(page.get_by_role("status")).to_contain_text("BS-17 已保存为第")
        expect(page.get_by_test_id("rule-params")).to_contain_text("12")
        expect(page.get_by_test_id("history").locator("li")).to_have_count(versions_before + 1)
        expect(page.get_by_test_id("history")).to_contain_text("公司回访管理办法 2027 修订")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        screenshot(page, "setup-rule-saved")

        after = json.loads(e2e_shell(BS17_STATE))
        assert len(after["rows"]) == versions_before + 1
        old, new = after["rows"][-2], after["rows"][-1]
        assert old["params"]["working_days"] == 15 and old["superseded_at"] not in (None, "None")
        assert new["params"]["working_days"] == 12 and new["created_by__username"] == "admin"
        assert new["change_reason"] == "公司回访管理办法 2027 修订"
        assert after["event"]["actor"] == "admin"
        assert after["event"]["data"]["before"]["params"]["working_days"] == 15
        assert after["event"]["data"]["after"]["params"]["working_days"] == 12
    finally:
        e2e_shell(BS17_RESTORE)
