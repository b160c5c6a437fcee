"""管理端: units with 新增单位, notices with 发布, 编辑 and 撤回; and what
units see of them, HTML and script payloads shown as text."""
import re
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import field, login, shot
from tests.suite import random_credit_code

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def admin_login(page, suite):
    login(page, "admin", suite.admin_password, landing=r"#/admin/dashboard$")


def test_admin_registers_a_unit_with_the_credit_code_checked_as_typed(page, suite):
    admin_login(page, suite)
    page.locator("nav.sidebar").get_by_role("link", name="单位管理").click()
    expect(page.locator("#screen-title")).to_have_text("单位管理")
    expect(page.locator("table tbody tr").first).to_be_visible()
    page.get_by_role("button", name="新增单位").click()
    dialog = page.get_by_role("dialog", name="新增单位")
    code = random_credit_code()
    account = "ui_" + uuid.uuid4().hex[:8]
    name = f"<b>鲤城</b>{PAYLOAD}社区居民委员会"
    field(dialog, "单位名称").fill(name)
    field(dialog, "平台账号").fill(account)
    credit = field(dialog, "统一社会信用代码")
    credit.fill(code[:10])
    expect(dialog).to_contain_text("已输入10位，共18位")
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    credit.fill(wrong)
    expect(dialog.locator('[data-error-for="credit_code"]')).to_have_text("统一社会信用代码校验位不正确，请核对")
    credit.fill(code.lower())
    expect(credit).to_have_value(code)
    expect(dialog).to_contain_text("统一社会信用代码校验通过")
    field(dialog, "所属区县").select_option("350502")
    field(dialog, "乡镇/街道").fill("海滨街道")
    field(dialog, "初始密码").fill("Newunit#2026")
    shot(page, "10-admin-new-unit")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".toast")).to_contain_text("已新增单位")
    page.locator(".pager select").select_option("100")
    row = page.locator("table tbody tr", has_text=code)
    expect(row).to_contain_text(name)
    assert page.evaluate("window.__xss") is None
    shot(page, "10-admin-units")
    # the unit logs in and must first replace the password the operator typed;
    # its name is text on 首页 and in the top bar
    page.locator(".topbar").get_by_role("button", name="退出").click()
    login(page, account, "Newunit#2026", landing=r"#/password$")
    expect(page.locator(".screen .alert-info")).to_contain_text("请先修改密码")
    field(page, "原密码").fill("Newunit#2026")
    field(page, "新密码").fill("Ownunit#2026")
    field(page, "确认新密码").fill("Ownunit#2026")
    page.get_by_role("button", name="确认修改").click()
    page.wait_for_url(re.compile(r"#/home$"))
    expect(page.locator(".topbar-unit")).to_have_text(name)
    expect(page.get_by_role("region", name="单位基本信息").locator("[data-key=name]")).to_have_text(name)
    assert page.evaluate("window.__xss") is None


def test_admin_publishes_edits_and_withdraws_a_notice_units_see_it_as_text(page, browser, suite, unit):
    admin_login(page, suite)
    page.locator("nav.sidebar").get_by_role("link", name="通知公告管理").click()
    expect(page.locator("#screen-title")).to_have_text("通知公告管理")
    page.get_by_role("button", name="发布通知").click()
    dialog = page.get_by_role("dialog", name="发布通知")
    title = f"测试通知{uuid.uuid4().hex[:6]}{PAYLOAD}"
    field(dialog, "标题").fill(title)
    field(dialog, "正文").fill(f"各单位：\n\n**请注意** {PAYLOAD}\n\n- 第一条\n- 第二条\n\n[坏链接](javascript:alert(1))")
    dialog.get_by_role("button", name="发布").click()
    expect(dialog.locator('[data-error-for="body"]')).to_contain_text("链接")
    field(dialog, "正文").fill(f"各单位：\n\n**请注意** {PAYLOAD}\n\n- 第一条\n- 第二条")
    dialog.get_by_role("button", name="发布").click()
    expect(dialog).to_be_hidden()
    row = page.locator("table tbody tr", has_text=title)
    expect(row).to_contain_text("已发布")
    shot(page, "11-admin-notices")

    # the unit reads it: title and body are text, bold and list still shown
    unit_page = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=suite.url).new_page()
    login(unit_page, unit["account"], unit["password"])
    unit_page.get_by_role("link", name=title).click()
    expect(unit_page.locator(".notice-title")).to_have_text(title)
    body = unit_page.locator(".notice-body")
    expect(body).to_contain_text(PAYLOAD)
    expect(body.locator("strong")).to_have_text("请注意")
    expect(body.locator("li")).to_have_count(2)
    expect(body.locator("img, script")).to_have_count(0)
    assert unit_page.evaluate("window.__xss") is None
    shot(unit_page, "11-notice-with-payload")

    # edit the title
    row.get_by_role("button", name="编辑").click()
    dialog = page.get_by_role("dialog", name="编辑通知")
    expect(field(dialog, "标题")).to_have_value(title)
    new_title = title.replace("测试通知", "修改后通知")
    field(dialog, "标题").fill(new_title)
    dialog.get_by_role("button", name="保存修改").click()
    expect(dialog).to_be_hidden()
    row = page.locator("table tbody tr", has_text=new_title)
    expect(row).to_be_visible()

    # withdraw, after a confirmation
    row.get_by_role("button", name="撤回").click()
    confirm = page.get_by_role("dialog", name="撤回通知")
    expect(confirm).to_contain_text(new_title)
    confirm.get_by_role("button", name="撤回").click()
    expect(row).to_contain_text("已撤回")
    expect(row.get_by_role("button", name="撤回")).to_have_count(0)

    unit_page.goto(suite.url + "/#/notices")
    expect(unit_page.locator(".notice-list")).to_be_visible()
    expect(unit_page.get_by_role("link", name=re.compile("修改后通知"))).to_have_count(0)
    unit_page.context.close()


def test_a_unit_account_never_sees_the_admin_screens(page, unit):
    login(page, unit["account"], unit["password"])
    expect(page.locator("nav.sidebar").get_by_role("link", name="单位管理")).to_have_count(0)
    page.goto(page.url.split("#")[0] + "#/admin/units")
    expect(page).to_have_url(re.compile(r"#/home$"))
