"""Two-factor sign-in in the portal (enrolment with a QR code and recovery
codes, the code step, a forced password change) and the security
administrator's 账号安全管理 screen."""
import re
import uuid

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, field, login, shot
from tests.suite import SECADMIN_PASSWORD


def new_account(suite, role, password="Welcome#2026"):
    """An account made by the security administrator over the API."""
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    account = f"{role}_{uuid.uuid4().hex[:8]}"
    r = suite.api("POST", "/api/admin/accounts", secadmin,
                  json={"account": account, "role": role, "password": password})
    assert r.status_code == 201, r.text
    return account, password


def test_a_new_administrator_enrols_the_second_factor_then_changes_the_password(page, suite):
    account, password = new_account(suite, "admin")
    page.goto("/")
    field(page, "账号").fill(account)
    field(page, "密码").fill(password)
    page.get_by_role("button", name=re.compile("登\\s*录")).click()

    expect(page.get_by_role("heading", name="绑定动态口令")).to_be_visible()
    qr = page.get_by_role("img", name="动态口令绑定二维码")
    expect(qr).to_be_visible()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    codes = page.get_by_role("list", name="恢复码").locator("li")
    expect(codes).to_have_count(10)
    secret = page.locator("[data-key=secret]").inner_text().strip()
    shot(page, "40-mfa-enrol")

    # a wrong code is refused in words
    code = field(page, "动态口令")
    code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name=re.compile("验\\s*证")).click()
    expect(page.get_by_role("alert")).to_contain_text("动态口令不正确")
    shot(page, "40-mfa-wrong-code")

    code.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=re.compile("验\\s*证")).click()
    # the password the security administrator set must be changed first
    page.wait_for_url(re.compile(r"#/password$"))
    expect(page.locator(".screen .alert-info")).to_contain_text("请先修改密码")
    page.goto(page.url.split("#")[0] + "#/admin/units")
    page.wait_for_url(re.compile(r"#/password$"))
    shot(page, "41-password-change-required")
    field(page, "原密码").fill(password)
    field(page, "新密码").fill("Chosen#2026ui")
    field(page, "确认新密码").fill("Chosen#2026ui")
    page.get_by_role("button", name="确认修改").click()
    page.wait_for_url(re.compile(r"#/admin/dashboard$"))
    expect(page.locator("#screen-title")).to_have_text("参保进度")


def test_the_seeded_administrator_signs_in_with_a_code(page, suite):
    page.goto("/")
    field(page, "账号").fill("auditor")
    field(page, "密码").fill(suite.env["AUDITOR_PASSWORD"])
    page.get_by_role("button", name=re.compile("登\\s*录")).click()
    expect(page.get_by_role("heading", name="动态口令验证")).to_be_visible()
    shot(page, "42-mfa-code")
    field(page, "动态口令").fill(suite.totp_code("auditor"))
    page.get_by_role("button", name=re.compile("验\\s*证")).click()
    page.wait_for_url(re.compile(r"#/audit$"))


def test_the_security_administrator_manages_accounts(page, suite):
    locked, _ = new_account(suite, "downstream")
    for _ in range(5):
        suite.api("POST", "/api/auth/login", json={"account": locked, "password": "wrong-pass"})
    login(page, "secadmin", suite.env["SECADMIN_PASSWORD"], landing=r"#/admin/accounts$")
    expect(page.locator("#screen-title")).to_have_text("账号安全管理")
    table = page.locator("table")
    expect(table.locator("tr", has=page.get_by_role("cell", name="auditor", exact=True))).to_contain_text("审计管理员")
    expect(table.locator("tr", has=page.get_by_role("cell", name="secadmin", exact=True))).to_contain_text("本人账号")
    # the admin screens are not the security administrator's
    expect(page.locator("nav.sidebar").get_by_role("link", name="单位管理")).to_have_count(0)
    shot(page, "43-accounts")

    # 新增账号 without a password: a generated one, shown once
    page.get_by_role("button", name="新增账号").click()
    dialog = page.get_by_role("dialog", name="新增账号")
    reader = "reader_" + uuid.uuid4().hex[:6]
    field(dialog, "账号").fill(reader)
    field(dialog, "角色").select_option("auditor")
    dialog.get_by_role("button", name="保存").click()
    shown = page.get_by_role("dialog", name="账号已创建")
    temporary = shown.locator("[data-key=temporary_password]").inner_text().strip()
    assert len(temporary) >= 8
    shot(page, "43-accounts-created")
    shown.get_by_role("button", name="我已记下").click()
    row = table.locator("tr", has_text=reader)
    expect(row).to_contain_text("审计管理员")
    expect(row).to_contain_text("待修改")
    r = suite.api("POST", "/api/auth/login", json={"account": reader, "password": temporary})
    assert r.status_code == 200 and r.json()["mfa_enrolment_required"]

    # 重置密码: a new temporary password; the old one stops working
    row.get_by_role("button", name="重置密码").click()
    page.get_by_role("dialog", name="重置密码").get_by_role("button", name="重置").click()
    shown = page.get_by_role("dialog", name="密码已重置")
    again = shown.locator("[data-key=temporary_password]").inner_text().strip()
    shown.get_by_role("button", name="我已记下").click()
    assert again != temporary
    assert suite.api("POST", "/api/auth/login", json={"account": reader, "password": temporary}).status_code == 401

    # 重置动态口令
    row.get_by_role("button", name="重置动态口令").click()
    page.get_by_role("dialog", name="重置动态口令").get_by_role("button", name="重置").click()
    expect(page.locator(".toast", has_text="已重置动态口令")).to_be_visible()

    # 解锁
    locked_row = table.locator("tr", has_text=locked)
    expect(locked_row).to_contain_text("已锁定")
    locked_row.get_by_role("button", name="解锁").click()
    expect(page.locator(".toast", has_text=f"已解锁账号 {locked}")).to_be_visible()
    expect(table.locator("tr", has_text=locked)).to_contain_text("正常")
    shot(page, "44-accounts-unlocked")


def test_axe_on_the_second_step_and_the_accounts_screen(browser, suite, axe_source):
    # bypass_csp: the portal's CSP (script-src 'self') would refuse axe's script tag
    ctx = browser.new_context(locale="zh-CN", base_url=suite.url, viewport={"width": 1366, "height": 768},
                              bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        found = {}
        account, password = new_account(suite, "auditor")
        page.goto("/")
        field(page, "账号").fill(account)
        field(page, "密码").fill(password)
        page.get_by_role("button", name=re.compile("登\\s*录")).click()
        expect(page.get_by_role("list", name="恢复码").locator("li")).to_have_count(10)
        found["绑定动态口令"] = axe_violations(page, axe_source)
        page.goto("/")
        login(page, "secadmin", suite.env["SECADMIN_PASSWORD"], landing=r"#/admin/accounts$")
        expect(page.locator("table")).to_be_visible()
        found["账号安全管理"] = axe_violations(page, axe_source)
        page.get_by_role("button", name="新增账号").click()
        expect(field(page.get_by_role("dialog", name="新增账号"), "账号")).to_be_focused()
        found["新增账号"] = axe_violations(page, axe_source)
        assert not any(found.values()), found
    finally:
        ctx.close()
