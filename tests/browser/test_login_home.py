"""登录, 首页, 修改密码 and 退出, as a community worker uses them."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import field, login, shot


def test_login_page_is_served_at_root(page):
    page.goto("/")
    expect(page.get_by_role("heading", name="单位账号登录")).to_be_visible()
    expect(field(page, "账号")).to_be_focused()
    shot(page, "01-login")


def test_wrong_password_says_so(page, unit):
    page.goto("/")
    field(page, "账号").fill(unit["account"])
    field(page, "密码").fill("not-the-password")
    field(page, "密码").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("账号或密码错误")
    expect(page).to_have_url(re.compile(r"#/login$"))
    shot(page, "01-login-wrong-password")


def test_locked_account_says_until_when(page, suite, unit):
    for _ in range(5):
        suite.api("POST", "/api/auth/login", json={"account": unit["account"], "password": "bad-password"})
    page.goto("/")
    field(page, "账号").fill(unit["account"])
    field(page, "密码").fill(unit["password"])
    page.get_by_role("button", name=re.compile("登\\s*录")).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("锁定")
    expect(alert).to_contain_text(re.compile(r"请于.*\d{1,2}:\d{2}.*后再试"))
    shot(page, "01-login-locked")


def test_home_shows_the_unit_and_its_figures(page, unit):
    login(page, unit["account"], unit["password"])
    info = page.get_by_role("region", name="单位基本信息")
    expect(info.locator("[data-key=name]")).to_have_text(unit["unit"]["name"])
    expect(info.locator("[data-key=account]")).to_have_text(unit["account"])
    expect(info.locator("[data-key=credit_code]")).to_have_text(unit["unit"]["credit_code"])
    for key in ("insured_count", "month_increase", "month_decrease"):
        expect(info.locator(f"[data-key={key}]")).to_have_text("0")
    expect(page.locator(".topbar-unit")).to_have_text(unit["unit"]["name"])
    shortcuts = page.get_by_role("navigation", name="常用功能")
    expect(shortcuts.get_by_role("link", name="城乡居民参保", exact=True)).to_be_visible()
    shot(page, "02-home")


def test_home_notices_open_and_lose_their_unread_mark(page, unit):
    login(page, unit["account"], unit["password"])
    notices = page.locator(".notice-list")
    first = notices.locator("li").first
    expect(first).to_have_class(re.compile(r"\bunread\b"))
    badge = page.locator(".topbar-notices .badge")
    expect(badge).to_be_visible()
    before = int(badge.inner_text())
    title = first.get_by_role("link").inner_text()
    first.get_by_role("link").click()
    expect(page.locator(".notice-title")).to_have_text(title)
    expect(page.locator(".notice-body")).not_to_be_empty()
    if before > 1:
        expect(badge).to_have_text(str(before - 1))
    else:
        expect(badge).to_be_hidden()
    shot(page, "03-notice-detail")
    page.get_by_role("link", name="全部通知").click()
    expect(page.locator("#screen-title")).to_have_text("通知公告")
    row = page.locator(".notice-list li", has=page.get_by_role("link", name=title, exact=True))
    expect(row).to_have_class(re.compile(r"\bread\b"))
    shot(page, "03-notices-all")


def test_change_password_then_log_out_and_in_again(page, unit):
    login(page, unit["account"], unit["password"])
    page.locator("nav.sidebar").get_by_role("link", name="修改密码").click()
    field(page, "原密码").fill(unit["password"])
    field(page, "新密码").fill("Short1")
    field(page, "确认新密码").fill("Short1")
    page.get_by_role("button", name="确认修改").click()
    expect(page.locator('[data-error-for="new_password"]')).to_have_text("密码至少8位")
    field(page, "新密码").fill("Renewed#2026")
    field(page, "确认新密码").fill("Renewed#2026")
    page.get_by_role("button", name="确认修改").click()
    expect(page.get_by_role("alert")).to_contain_text("密码修改成功")
    shot(page, "04-password")
    page.locator("nav.sidebar").get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="单位账号登录")).to_be_visible()
    page.goto("/#/home")
    expect(page).to_have_url(re.compile(r"#/login$"))
    login(page, unit["account"], "Renewed#2026")


def test_a_revoked_session_returns_to_login(page, suite, unit):
    login(page, unit["account"], unit["password"])
    expect(page.locator(".topbar-notices .badge")).to_be_visible()  # 首页 has done its requests
    expect(page.locator(".loading")).to_have_count(0)
    token = page.evaluate("JSON.parse(sessionStorage.getItem('edt.session')).token")
    assert suite.api("POST", "/api/auth/logout", token).status_code == 204
    page.reload()
    expect(page.get_by_role("heading", name="单位账号登录")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="登录已失效")).to_be_visible()
