"""The portal on a phone (Chromium, 390×844, touch): sign in, 首页, the menu
drawer, 大字模式, enrol through 查询 → 保存, the roster's search and a
person's details, a batch upload with its progress and failures, a notice;
and every screen of both roles fitting a 360 px window, with large text too.
The page itself never scrolls sideways on any screen visited."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_SCREENS, UNIT_SCREENS, assert_no_page_scroll, field, second_factor, shot
from tests.browser.test_batches import ENROLMENT_COLUMNS, download_template, fill_template, import_file
from tests.browser.test_declarations import enrol_by_api, person_no
from tests.factories import enrolment, id_number


def sign_in(page, account, password, landing=r"#/home$"):
    page.goto("/")
    assert_no_page_scroll(page, "登录")
    field(page, "账号").fill(account)
    field(page, "密码").fill(password)
    page.get_by_role("button", name=re.compile("登\\s*录")).click()
    second_factor(page, account)
    page.wait_for_url(re.compile(landing))
    assert_no_page_scroll(page, landing)
    return page


def menu(page, text):
    """Open a screen from the drawer, as a thumb does."""
    toggle = page.get_by_role("button", name="菜单")
    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.locator("nav.sidebar").get_by_role("link", name=text, exact=True).tap()
    expect(page.locator("#screen-title")).to_have_text(text)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert_no_page_scroll(page, text)


def go(page, path, title):
    page.evaluate("(path) => { location.hash = '#' + path; }", path)
    expect(page.locator("#screen-title")).to_have_text(title)
    expect(page.locator(".loading")).to_have_count(0)
    if page.evaluate("JSON.parse(sessionStorage.getItem('edt.session') || '{}').role") == "unit":
        expect(page.locator(".topbar-notices .badge")).to_be_visible()  # the unread count is in


def one_column(*locators):
    """The fields stand one above the other, each the form's full width."""
    boxes = [loc.bounding_box() for loc in locators]
    assert len({round(b["x"]) for b in boxes}) == 1, boxes
    assert all(b["y"] < c["y"] for b, c in zip(boxes, boxes[1:])), boxes


def test_phone_sign_in_home_and_the_menu_drawer(phone, unit):
    page = phone
    page.goto("/")
    shot(page, "phone-01-login")
    sign_in(page, unit["account"], unit["password"])
    info = page.get_by_role("region", name="单位基本信息")
    name = info.locator("[data-key=name]")
    expect(name).to_have_text(unit["unit"]["name"])
    # 单位名称 and the credit code are read on one line, not a character a line
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-key=name]')).lineHeight)")
    assert name.bounding_box()["height"] <= 2 * line
    assert info.locator("[data-key=credit_code]").bounding_box()["height"] <= 2 * line
    expect(page.get_by_role("navigation", name="常用功能").get_by_role("link", name="城乡居民参保", exact=True)).to_be_visible()
    chart = page.get_by_role("region", name="近12个月参保变化")
    expect(chart.locator("svg g.month")).to_have_count(12)
    # a thumb on a month shows its figures (the chart scrolls in its own box)
    chart.locator("svg g.month").last.locator("rect.hit").tap()
    expect(chart.locator(".chart-tip")).to_contain_text("月末参保 0 人")
    shot(page, "phone-02-home")

    # the menu is a drawer behind a button of the top bar
    toggle = page.get_by_role("button", name="菜单")
    menu_links = page.locator("nav.sidebar .menu-link")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(menu_links.first).to_be_hidden()
    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("nav.sidebar").get_by_role("link", name="首页")).to_be_focused()
    shot(page, "phone-03-menu")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(menu_links.first).to_be_hidden()
    # the focus goes round the open drawer and its button only
    toggle.press("Enter")
    for _ in range(len(menu_links.all()) + 2):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('nav.sidebar, .menu-toggle')")
    page.locator(".drawer-backdrop").click(position={"x": 370, "y": 400})
    expect(toggle).to_have_attribute("aria-expanded", "false")
    menu(page, "人员列表")
    expect(page.locator("#main")).to_be_focused()

    # 大字模式: a switch of the top bar, remembered by the browser
    switch = page.get_by_role("button", name="大字")
    expect(switch).to_have_attribute("aria-pressed", "false")
    size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#screen-title')).fontSize)")
    switch.tap()
    expect(switch).to_have_attribute("aria-pressed", "true")
    large = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#screen-title')).fontSize)")
    assert 1.2 <= large / size <= 1.4, (size, large)
    page.reload()
    expect(page.locator("#screen-title")).to_have_text("人员列表")
    expect(page.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    expect(page.get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "true")
    assert_no_page_scroll(page, "人员列表, 大字")
    go(page, "/home", "首页")
    assert_no_page_scroll(page, "首页, 大字")
    shot(page, "phone-04-home-large-text")
    page.get_by_role("button", name="大字").tap()
    expect(page.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))


def test_phone_enrol_through_look_up_and_save(phone, unit):
    page = sign_in(phone, unit["account"], unit["password"])
    menu(page, "城乡居民参保")
    cert_no = id_number(person_no())
    form = page.get_by_role("form", name="查询人员")
    one_column(field(form, "证件类型"), field(form, "证件号码"), field(form, "姓名"))
    field(form, "证件号码").fill(cert_no)
    field(form, "姓名").fill("黄志强")
    form.get_by_role("button", name="查询").tap()
    expect(page.get_by_role("status").filter(has_text="办理类型：新参保")).to_be_visible()
    details = page.get_by_role("form", name="参保信息")
    one_column(field(details, "民族"), field(details, "人员类别"), field(details, "联系电话"))
    field(details, "民族").select_option("01")
    field(details, "人员类别").select_option("11")
    field(details, "联系电话").fill("13905950001")
    assert_no_page_scroll(page, "参保信息")
    shot(page, "phone-10-enrolment-form")
    details.get_by_role("button", name="保存").tap()
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("办理成功：新参保")
    expect(outcome).to_contain_text(cert_no)
    assert_no_page_scroll(page, "办理结果")
    shot(page, "phone-11-enrolment-done")


def test_phone_roster_search_and_a_persons_details(phone, suite, unit):
    people = [enrol_by_api(suite, unit["token"], person_no()) for _ in range(2)]
    page = sign_in(phone, unit["account"], unit["password"])
    menu(page, "人员列表")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    wanted = people[1]
    filters = page.get_by_role("form", name="查询条件")
    field(filters, "证件号码").fill(wanted["cert_no"])
    filters.get_by_role("button", name="查询").tap()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted["name"])
    assert_no_page_scroll(page, "人员列表 查询")
    shot(page, "phone-20-roster")
    # the table scrolls inside its own box to its last column
    rows.first.get_by_role("button", name=re.compile("查看.*个人信息")).tap()
    dialog = page.get_by_role("dialog", name="个人信息")
    expect(dialog.locator("[data-key=cert_no]")).to_have_text(wanted["cert_no"])
    expect(dialog.locator("table tbody tr").first).to_contain_text("新参保")
    assert_no_page_scroll(page, "个人信息")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "phone-21-roster-person")
    dialog.get_by_role("button", name="关闭", exact=True).tap()
    expect(dialog).to_be_hidden()


def test_phone_batch_upload_progress_and_failures(phone, unit, tmp_path):
    page = sign_in(phone, unit["account"], unit["password"])
    menu(page, "批量城乡居民参保")
    shot(page, "phone-30-batch")
    template = download_template(page, tmp_path)
    good = enrolment(person_no())
    bad_phone = enrolment(person_no(), phone="12345")
    rows = [{h: p[k] for h, k in ENROLMENT_COLUMNS.items()} for p in (good, bad_phone)]
    path = fill_template(template, tmp_path / "参保导入.xlsx", rows)
    dialog = import_file(page, path)  # waits for the progress bar to reach 100
    expect(dialog.get_by_role("status")).to_contain_text("共 2 条，提交成功 1 条，提交失败 1 条")
    failures = dialog.locator("table tbody tr")
    expect(failures).to_have_count(1)
    expect(failures.first).to_contain_text("联系电话")
    expect(dialog.get_by_role("button", name="下载失败数据")).to_be_visible()
    assert_no_page_scroll(page, "导入结果")
    shot(page, "phone-31-batch-result")
    dialog.get_by_role("button", name="关闭", exact=True).tap()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    assert_no_page_scroll(page, "批量城乡居民参保")


def test_phone_open_a_notice(phone, unit):
    page = sign_in(phone, unit["account"], unit["password"])
    first = page.locator(".notice-list li").first
    title = first.get_by_role("link").inner_text()
    first.get_by_role("link").tap()
    expect(page.locator(".notice-title")).to_have_text(title)
    assert_no_page_scroll(page, "通知公告详情")
    shot(page, "phone-40-notice")
    page.get_by_role("link", name="全部通知").tap()
    expect(page.locator("#screen-title")).to_have_text("通知公告")
    assert_no_page_scroll(page, "通知公告")


def tour(page, screens, prefix, drawer=True):
    for large in (False, True):
        page.evaluate("(on) => localStorage.setItem('edt.largeText', on ? '1' : '0')", large)
        page.reload()
        expect(page.locator("#screen-title")).to_be_visible()
        for path, title in screens:
            go(page, path, title)
            assert_no_page_scroll(page, f"{title}{'（大字）' if large else ''}")
            shot(page, f"{prefix}-{path.strip('/').replace('/', '-')}{'-large' if large else ''}")
        # a notice's own page, and the open drawer
        go(page, "/notices", "通知公告")
        page.locator(".notice-list li a").first.click()
        expect(page.locator(".notice-title")).to_be_visible()
        assert_no_page_scroll(page, "通知公告详情")
        if drawer:
            page.get_by_role("button", name="菜单").click()
            assert_no_page_scroll(page, "菜单")
            page.keyboard.press("Escape")


def test_every_unit_screen_fits_360_px(phone, unit):
    phone.set_viewport_size({"width": 360, "height": 740})
    page = sign_in(phone, unit["account"], unit["password"])
    tour(page, UNIT_SCREENS, "phone360-unit")


def test_every_admin_screen_fits_360_px(phone, suite):
    phone.set_viewport_size({"width": 360, "height": 740})
    page = sign_in(phone, "admin", suite.admin_password, landing=r"#/admin/dashboard$")
    tour(page, ADMIN_SCREENS, "phone360-admin")


def test_phone_large_text_chosen_on_the_login_page(phone, unit):
    page = phone
    page.goto("/")
    switch = page.get_by_role("button", name="大字")
    expect(switch).to_have_attribute("aria-pressed", "false")
    switch.tap()
    expect(page.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    assert_no_page_scroll(page, "登录（大字）")
    shot(page, "phone-05-login-large-text")
    sign_in(page, unit["account"], unit["password"])
    expect(page.locator(".topbar").get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("getComputedStyle(document.documentElement).fontSize") == "18px"


def test_every_unit_screen_fits_a_tablet_and_the_desktop(page, unit):
    """768 px (the drawer still) and 1366 px (the menu beside the screen)."""
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, unit["account"], unit["password"])
    tour(page, UNIT_SCREENS, "tablet-unit")
    page.set_viewport_size({"width": 1366, "height": 768})
    expect(page.get_by_role("button", name="菜单")).to_be_hidden()
    expect(page.locator("nav.sidebar").get_by_role("link", name="首页")).to_be_visible()
    tour(page, UNIT_SCREENS, "desktop-unit", drawer=False)
