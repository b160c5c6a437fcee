"""The portal from the keyboard alone: log in, look a person up and enrol
them, and dialogs that keep the focus and give it back."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import field, login
from tests.browser.test_declarations import person_no
from tests.factories import id_number


def test_log_in_and_enrol_with_the_keyboard_only(page, unit):
    page.goto("/")
    expect(field(page, "账号")).to_be_focused()
    page.keyboard.type(unit["account"])
    page.keyboard.press("Tab")
    expect(field(page, "密码")).to_be_focused()
    page.keyboard.type(unit["password"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/home$"))

    page.goto(page.url.replace("#/home", "#/declare/enrolment"))
    lookup = page.get_by_role("form", name="查询人员")
    expect(field(lookup, "证件号码")).to_be_focused()
    page.keyboard.type(id_number(person_no()))
    page.keyboard.press("Tab")
    expect(field(lookup, "姓名")).to_be_focused()
    page.keyboard.type("林晓东")
    page.keyboard.press("Enter")
    details = page.get_by_role("form", name="参保信息")
    expect(field(details, "民族")).to_be_focused()
    page.keyboard.press("Tab")
    expect(field(details, "人员类别")).to_be_focused()
    page.keyboard.press("Tab")
    expect(field(details, "联系电话")).to_be_focused()
    page.keyboard.type("13705951111")
    page.keyboard.press("Enter")  # submits; the category is still missing
    expect(details.locator('[data-error-for="category"]')).to_have_text("请选择人员类别")
    expect(field(details, "人员类别")).to_be_focused()
    field(details, "人员类别").select_option("11")  # a <select> takes arrow keys; the choice is what matters
    field(details, "联系电话").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".outcome")).to_contain_text("办理成功：新参保")


def test_dialogs_trap_the_focus_close_on_escape_and_give_it_back(page, suite):
    login(page, "admin", suite.admin_password, landing=r"#/admin/dashboard$")
    page.locator("nav.sidebar").get_by_role("link", name="单位管理").click()
    opener = page.get_by_role("button", name="新增单位")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="新增单位")
    expect(field(dialog, "单位名称")).to_be_focused()
    for _ in range(12):  # Tab round and round: the focus never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('[role=dialog]')")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
