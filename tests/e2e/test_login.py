"""Log in through a real browser on the real server (see conftest.py), in Chinese."""

import re

import pytest
from playwright.sync_api import expect

from huifang.org.demo import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def login(page, username, password):
    page.goto("/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def test_login_page_is_in_chinese(page, screenshot):
    page.goto("/")  # anonymous: sent to the login page
    assert re.search(r"/accounts/login/\?next=/$", page.url)
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.get_by_role("heading", name="登录回访系统")).to_be_visible()
    expect(page.get_by_test_id("insurer-name").first).to_have_text("汇安人寿保险股份有限公司")
    expect(page.get_by_role("button", name="登录", exact=True)).to_be_visible()
    screenshot(page, "login")


def test_wrong_password_shows_the_chinese_error(page, screenshot):
    login(page, "qa_inspector", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("用户名或密码错误")
    assert page.get_by_label("用户名").input_value() == "qa_inspector"
    assert page.get_by_label("密码").input_value() == ""
    screenshot(page, "login-error")


def test_agent_logs_in_and_sees_home_in_chinese(page, screenshot):
    login(page, "agent", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="欢迎，李晓梅")).to_be_visible()
    expect(page.get_by_test_id("roles")).to_contain_text("回访专员")
    expect(page.get_by_test_id("org-unit")).to_contain_text("总公司 / 广东分公司 / 广州中心支公司")
    current_user = page.get_by_test_id("current-user").inner_text()
    assert "李晓梅" in current_user and "广州中心支公司" in current_user
    # An agent has no administration link; nothing in the menu is a dead link.
    assert page.get_by_role("link", name="系统管理").count() == 0
    assert page.locator('a[href="#"]').count() == 0
    screenshot(page, "home-agent")

    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("heading", name="登录回访系统")).to_be_visible()


def test_language_switch_to_english_and_back(page):
    page.goto("/accounts/login/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Log in to Huifang")).to_be_visible()
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="Welcome, 孙立新")).to_be_visible()
    expect(page.get_by_test_id("roles")).to_contain_text("Compliance auditor")
    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name="欢迎，孙立新")).to_be_visible()


def test_auditor_verifies_the_audit_chain(page, screenshot):
    login(page, "auditor", DEMO_PASSWORD)
    page.get_by_role("link", name="审计记录", exact=True).click()
    expect(page.get_by_role("link", name="校验审计链")).to_be_visible()
    page.get_by_role("link", name="校验审计链").click()
    page.get_by_role("button", name="立即校验").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("审计链完整")
    screenshot(page, "audit-verify")


def test_htmx_is_loaded_and_sends_the_csrf_token(page):
    login(page, "agent", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    page.wait_for_function("() => window.htmx !== undefined")
    assert page.evaluate("() => htmx.config.allowEval") is False
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    # A same-origin htmx POST to the language switch carries the token (else Django answers 403).
    status = page.evaluate(
        """() => new Promise(resolve => {
            document.body.addEventListener('htmx:afterRequest',
                e => resolve(e.detail.xhr.status), {once: true});
            htmx.ajax('POST', '/i18n/setlang/', {values: {language: 'zh-hans', next: '/'}, swap: 'none'});
        })"""
    )
    assert status == 200
