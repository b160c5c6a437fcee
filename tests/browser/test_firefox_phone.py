"""The portal in Firefox (Debian's firefox-esr over Marionette, gecko.py) at
a phone's width, 390×844: sign in, 首页, the menu drawer, enrol through
查询 → 保存, the roster's search and a person's details, a batch upload with
its progress and failures, a notice, and every screen of both roles, with
大字模式 too. The page never scrolls sideways on any screen visited.

Screenshots go next to the others, prefixed `firefox-phone-`."""
import os

import pytest

from tests.browser import gecko
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_batches import ENROLMENT_COLUMNS, fill_template
from tests.browser.test_declarations import enrol_by_api, person_no
from tests.browser.test_firefox import ff, firefox, login  # noqa: F401 (fixtures)
from tests.factories import enrolment, id_number

PHONE = (390, 844)
UNIT_SCREENS = ["人员列表", "城乡居民参保", "批量城乡居民参保", "城乡居民暂停参保", "批量城乡居民暂停参保",
                "城乡居民变更", "批量提交记录", "城乡居民参保记录", "修改密码", "首页"]
ADMIN_SCREENS = ["参保进度", "单位管理", "参保任务", "通知公告管理", "通知公告", "修改密码"]


@pytest.fixture
def ffp(ff):
    """Firefox with a phone-wide viewport, the desktop's again afterwards.
    The browser window's own style keeps it at least 500 px wide; that
    minimum is lifted (in the browser's chrome, not the page) first."""
    with ff.m.using_context(ff.m.CONTEXT_CHROME):
        ff.m.execute_script("document.documentElement.style.minWidth = '0px';")
    try:
        size_viewport(ff, *PHONE)
        yield ff
    finally:
        ff._size_viewport(*gecko.VIEWPORT)


def size_viewport(ff, width, height):
    """Resize the window until the page's viewport is width×height CSS px."""
    for _ in range(4):
        inner = ff.js("return [window.innerWidth, window.innerHeight]")
        if inner == [width, height]:
            return
        rect = ff.m.window_rect
        ff.m.set_window_rect(width=rect["width"] + width - inner[0], height=rect["height"] + height - inner[1])
    assert ff.js("return [window.innerWidth, window.innerHeight]") == [width, height]


def shot(ff, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    ff.screenshot(os.path.join(SCREENSHOTS, f"firefox-phone-{name}.png"))


def fits(ff, where):
    ff.wait_idle()
    scroll, inner = ff.js("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: the page is {scroll} px wide in a {inner} px window (Firefox)"


def menu(ff, text):
    """A screen from the drawer of the top bar."""
    toggle = ff.css(".menu-toggle")
    toggle.click()
    ff.wait(lambda: toggle.get_attribute("aria-expanded") == "true", "the drawer did not open")
    ff.link(text, ff.css("nav.sidebar")).click()
    ff.wait_text("#screen-title", text, exact=True)
    ff.wait(lambda: toggle.get_attribute("aria-expanded") == "false", "the drawer stayed open")
    fits(ff, text)


def test_firefox_phone_home_drawer_enrol_and_a_notice(ffp, unit):
    ff = ffp
    fits(ff, "登录")
    shot(ff, "01-login")
    login(ff, unit["account"], unit["password"])
    ff.wait(lambda: ff.all("[data-key=credit_code]"), "单位基本信息 never loaded")
    fits(ff, "首页")
    line = ff.js("return parseFloat(getComputedStyle(document.querySelector('[data-key=name]')).lineHeight)")
    assert ff.css("[data-key=name]").rect["height"] <= 2 * line  # not a character a line
    shot(ff, "02-home")

    # the drawer: opened by its button, closed by Escape, the focus back on the button
    toggle = ff.css(".menu-toggle")
    assert not ff.css("nav.sidebar .menu-link").is_displayed()
    toggle.click()
    ff.wait(lambda: ff.js("return document.activeElement.closest('nav.sidebar') !== null"), "the drawer took no focus")
    ff.wait(lambda: ff.js("return document.querySelector('nav.sidebar').getBoundingClientRect().left") == 0,
            "the drawer did not slide in")
    shot(ff, "03-menu")
    ff.press(gecko.Keys.ESCAPE)
    ff.wait(lambda: toggle.get_attribute("aria-expanded") == "false", "Escape did not close the drawer")
    assert ff.js("return document.activeElement.classList.contains('menu-toggle')")

    menu(ff, "城乡居民参保")
    cert_no = id_number(person_no())
    lookup = ff.form("查询人员")
    ff.fill(ff.field("证件号码", lookup), cert_no)
    ff.fill(ff.field("姓名", lookup), "蔡丽华")
    ff.button("查询", lookup).click()
    details = ff.form("参保信息")
    ff.choose(ff.field("民族", details), "01")
    ff.choose(ff.field("人员类别", details), "11")
    ff.fill(ff.field("联系电话", details), "13905950002")
    fits(ff, "参保信息")
    shot(ff, "10-enrolment-form")
    ff.button("保存", details).click()
    ff.wait_text(".outcome", "办理成功：新参保")
    fits(ff, "办理结果")
    shot(ff, "11-enrolment-done")

    menu(ff, "首页")
    first = ff.css(".notice-list li a", ff.region("消息列表"))
    title = ff.text(first)
    first.click()
    ff.wait_text(".notice-title", title, exact=True)
    fits(ff, "通知公告详情")
    shot(ff, "40-notice")


def test_firefox_phone_roster_and_a_batch_upload(ffp, suite, unit, tmp_path):
    ff = ffp
    wanted = enrol_by_api(suite, unit["token"], person_no())
    login(ff, unit["account"], unit["password"])
    menu(ff, "人员列表")
    filters = ff.form("查询条件")
    ff.fill(ff.field("证件号码", filters), wanted["cert_no"])
    ff.button("查询", filters).click()
    ff.wait(lambda: len(ff.all("table tbody tr")) == 1 and wanted["name"] in ff.css("table tbody tr").text,
            "the search did not find the person")
    fits(ff, "人员列表")
    shot(ff, "20-roster")
    ff.js("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", ff.button("详情", ff.css("table tbody tr")))
    ff.button("详情", ff.css("table tbody tr")).click()
    dialog = ff.dialog("个人信息")
    ff.wait_text("[data-key=cert_no]", wanted["cert_no"], dialog, exact=True)
    fits(ff, "个人信息")
    shot(ff, "21-roster-person")
    ff.button("关闭", dialog).click()
    ff.no_dialog()

    menu(ff, "批量城乡居民参保")
    template = ff.download(tmp_path / "template", ff.button("下载模板").click)
    good, bad = enrolment(person_no()), enrolment(person_no(), phone="12345")
    rows = [{h: p[k] for h, k in ENROLMENT_COLUMNS.items()} for p in (good, bad)]
    path = fill_template(template, tmp_path / "参保导入.xlsx", rows)
    form = ff.form("导入模板并提交")
    ff.upload(ff.css("input[type=file]", form), path)
    ff.button("导入模板并提交", form).click()
    dialog = ff.dialog("导入结果")
    ff.wait(lambda: ff.css('[role="progressbar"]', form).get_attribute("aria-valuenow") == "100",
            "the progress bar did not reach 100")
    ff.wait_text('[role="status"]', "共 2 条，提交成功 1 条，提交失败 1 条", dialog)
    ff.wait(lambda: len(ff.all("table tbody tr", dialog)) == 1, "the dialog does not list the failure")
    assert "联系电话" in ff.css("table tbody tr", dialog).text
    fits(ff, "导入结果")
    shot(ff, "31-batch-result")
    ff.button("关闭", dialog).click()
    ff.no_dialog()


def test_firefox_phone_every_screen_with_large_text(ffp, suite, unit):
    ff = ffp
    for account, password, landing, title, screens in (
            (unit["account"], unit["password"], "/home", "首页", UNIT_SCREENS),
            ("admin", suite.admin_password, "/admin/dashboard", "参保进度", ADMIN_SCREENS)):
        login(ff, account, password, landing=landing, title=title)
        for large in (False, True):
            if large:
                ff.button("大字").click()
                ff.wait(lambda: ff.js("return document.documentElement.classList.contains('large-text')"),
                        "大字 did not enlarge the text")
            for name in screens:
                menu(ff, name)
                shot(ff, f"90-{landing.strip('/').replace('/', '-')}-{name}{'-large' if large else ''}")
        ff.button("大字").click()  # off again, for the next role and test
        ff.wait(lambda: not ff.js("return document.documentElement.classList.contains('large-text')"),
                "大字 did not switch off")
        ff.css(".menu-toggle").click()
        ff.button("退出", ff.css("nav.sidebar")).click()
        ff.wait_url(r"#/login$")
