"""The portal's main flow in real headless Firefox (Debian's stock
`firefox-esr`), driven over Firefox's built-in Marionette remote agent with
Mozilla's `marionette_driver` client (see gecko.py): 登录 (and a wrong
password), 首页's 单位基本信息, enrolling a new person through 增员减员申报,
the counts of 首页 following, the roster search and 下载, a notice, a
suspension's confirmation, a batch upload, every menu screen opening, and
the keyboard.

Screenshots go next to Chromium's, prefixed `firefox-`."""
import json
import os
import re

import openpyxl
import pytest

from common.protect import mask_cert_no, mask_phone
from tests.browser import gecko
from tests.browser.gecko import Keys
from tests.browser.conftest import SCREENSHOTS, needs_second_factor, totp_code
from tests.browser.test_batches import ENROLMENT_COLUMNS, fill_template
from tests.browser.test_declarations import enrol_by_api, person_no, wait_lookup
from tests.factories import enrolment, id_number
from tests.suite import ROOT


@pytest.fixture(scope="session")
def firefox(suite):
    if not gecko.executable():
        pytest.fail("Debian's firefox-esr is needed for the Firefox tests: apt-get install firefox-esr"
                    " (deploy/browser.py does it)")
    artifacts = os.path.join(ROOT, "test-artifacts")
    os.makedirs(os.path.join(artifacts, "firefox-downloads"), exist_ok=True)
    log = os.path.join(artifacts, "firefox.log")
    if os.path.exists(log):
        os.remove(log)
    ff = gecko.Firefox(suite.url, log, os.path.join(artifacts, "firefox-downloads"))
    yield ff
    ff.quit()


@pytest.fixture
def ff(firefox):
    """Firefox on a fresh, logged-out portal; a JavaScript error fails the test."""
    if firefox.url.startswith(firefox.base_url):
        try:
            firefox.wait_idle()  # leave no screen half-loaded behind
        except gecko.errors.TimeoutException:
            pass  # a failed test may leave one spinning; start afresh all the same
        firefox.js("sessionStorage.clear(); localStorage.clear();")
    firefox.m.navigate("about:blank")  # a new document: no state left in the page
    firefox.goto("/")
    firefox.wait_text("h1", "单位账号登录")
    firefox.mark_log()
    yield firefox
    errors = firefox.page_errors()
    assert not errors, f"JavaScript errors in Firefox: {errors}"


def shot(ff, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    ff.screenshot(os.path.join(SCREENSHOTS, f"firefox-{name}.png"))


def login(ff, account, password, landing="/home", title="首页"):
    ff.goto("/")
    ff.fill(ff.field("账号"), account)
    ff.fill(ff.field("密码"), password)
    ff.button("登 录").click()
    if needs_second_factor(account):  # the administrators' code
        ff.fill(ff.field("动态口令"), totp_code(account))
        ff.button("验 证").click()
    ff.wait_url(rf"#{landing}$")
    ff.wait_text("#screen-title", title, exact=True)


def figures(ff):
    """单位基本信息 as shown: {data-key: text}."""
    info = ff.region("单位基本信息")
    ff.wait(lambda: ff.all("[data-key=insured_count]", info), "单位基本信息 never loaded")
    return {el.get_attribute("data-key"): ff.text(el) for el in ff.all("dd[data-key]", info)}


def test_firefox_runs_the_portal(ff):
    assert ff.version and int(ff.version.split(".")[0]) >= 115, ff.version
    assert ff.js("return [innerWidth, innerHeight]") == list(gecko.VIEWPORT)
    assert ff.js("return navigator.userAgent").find("Firefox/") > 0


def test_firefox_login_page_and_a_wrong_password(ff, unit):
    ff.wait_text("h1", "单位账号登录")
    account = ff.field("账号")
    assert ff.focused() == account, "the cursor starts in 账号"
    shot(ff, "01-login")
    ff.fill(account, unit["account"])
    password = ff.field("密码")
    ff.fill(password, "not-the-password")
    ff.press_enter(password)
    ff.wait_text('[role="alert"]', "账号或密码错误")
    assert ff.url.endswith("#/login")
    assert ff.focused() == password, "the password is selected again for retyping"
    shot(ff, "01-login-wrong-password")


def test_firefox_home_then_enrol_a_new_person_and_the_counts_change(ff, suite, unit):
    login(ff, unit["account"], unit["password"])
    shown = figures(ff)
    assert shown["name"] == unit["unit"]["name"]
    assert shown["account"] == unit["account"]
    assert shown["credit_code"] == unit["unit"]["credit_code"]
    assert (shown["insured_count"], shown["month_increase"], shown["month_decrease"]) == ("0", "0", "0")
    chart = ff.region("近12个月参保变化")
    ff.wait(lambda: len(ff.all("svg g.month", chart)) == 12, "the 12-month chart was not drawn")
    shot(ff, "02-home")

    # 增员减员申报 → 城乡居民参保: 查询, the form, 保存
    ff.open_menu("城乡居民参保")
    menu = ff.css("nav.sidebar")
    assert "增员减员申报" in menu.text
    cert_no = id_number(person_no())  # (female=True could give a number another test has)
    lookup = ff.form("查询人员")
    wrong = cert_no[:-1] + ("0" if cert_no[-1] != "0" else "1")
    ff.fill(ff.field("证件号码", lookup), wrong)
    ff.wait_text('[data-error-for="cert_no"]', "居民身份证号码校验位不正确，请核对", lookup)
    ff.fill(ff.field("证件号码", lookup), cert_no)
    ff.wait(lambda: ff.text(ff.css('[data-error-for="cert_no"]', lookup)) == "", "the ID error stayed")
    ff.fill(ff.field("姓名", lookup), "林雅婷")
    ff.button("查询", lookup).click()
    ff.wait(lambda: any("办理类型：新参保" in s.text for s in ff.all('[role="status"]')),
            "查询 did not say 新参保")

    details = ff.form("参保信息")
    gender = ff.field("性别", details)
    assert gender.get_property("value") == ("2" if int(cert_no[16]) % 2 == 0 else "1")  # from the ID
    assert not gender.is_enabled()
    assert ff.field("出生日期", details).get_property("value") == f"{cert_no[6:10]}-{cert_no[10:12]}-{cert_no[12:14]}"
    ff.choose(ff.field("民族", details), "01")
    ff.choose(ff.field("人员类别", details), "11")
    ff.fill(ff.field("联系电话", details), "1234567")
    ff.button("保存", details).click()
    ff.wait_text('[data-error-for="phone"]', "联系电话应为11位手机号码", details)
    ff.fill(ff.field("联系电话", details), "13905950001")
    ff.fill(ff.field("居住地址", details), "福建省泉州市丰泽区东海街道")
    shot(ff, "20-enrolment-form")
    ff.button("保存", details).click()
    ff.wait_text(".outcome", "办理成功：新参保")
    assert cert_no in ff.css(".outcome").text
    shot(ff, "20-enrolment-done")

    # 首页 counts the new person
    wait_lookup(suite, unit["token"], {"cert_type": "01", "cert_no": cert_no, "name": "林雅婷"}, "active_here")
    ff.open_menu("首页")
    ff.wait(lambda: figures(ff)["insured_count"] == "1", "首页 never counted the new person")
    shown = figures(ff)
    assert (shown["month_increase"], shown["month_decrease"]) == ("1", "0")
    records = ff.region("城乡居民参保记录")
    ff.wait(lambda: "林雅婷" in records.text and "新参保" in records.text, "the latest records miss the enrolment")
    shot(ff, "24-home-with-figures")


def test_firefox_roster_search_a_person_and_download(ff, suite, unit, tmp_path):
    people = [enrol_by_api(suite, unit["token"], person_no()) for _ in range(3)]
    login(ff, unit["account"], unit["password"])
    ff.open_menu("人员列表")
    ff.wait(lambda: len(ff.all("table tbody tr")) == 3, "the roster did not list 3 people")
    shot(ff, "30-roster")
    listed = ff.css("table").text
    for person in people:
        assert mask_cert_no(person["cert_no"]) in listed and mask_phone(person["phone"]) in listed
        assert person["cert_no"] not in listed and person["phone"] not in listed

    wanted = people[1]
    filters = ff.form("查询条件")
    ff.fill(ff.field("证件号码", filters), wanted["cert_no"][:-2])  # exact search: a part finds nobody
    ff.button("查询", filters).click()
    ff.wait_text(".empty", "没有找到符合条件的人员")
    ff.fill(ff.field("证件号码", filters), wanted["cert_no"])
    ff.press_enter(ff.field("证件号码", filters))
    ff.wait(lambda: len(ff.all("table tbody tr")) == 1 and wanted["name"] in ff.css("table tbody tr").text,
            "the search did not find exactly the person")
    assert "正常参保" in ff.css("table tbody tr").text

    ff.button("详情", ff.css("table tbody tr")).click()
    dialog = ff.css('[role="dialog"]')
    ff.wait_text("[data-key=cert_no]", wanted["cert_no"], dialog, exact=True)
    ff.wait_text("[data-key=phone]", wanted["phone"], dialog, exact=True)
    shot(ff, "30-roster-person")
    ff.button("关闭", dialog).click()
    ff.no_dialog()

    ff.button("重置", filters).click()
    ff.fill(ff.field("姓名", filters), people[2]["name"])
    ff.button("查询", filters).click()
    ff.wait(lambda: [r.text for r in ff.all("table tbody tr")]
            and all(mask_cert_no(people[2]["cert_no"]) in r.text for r in ff.all("table tbody tr")),
            "the search by 姓名 did not find the person")
    assert people[2]["cert_no"] not in ff.css("table").text  # a list is masked

    ff.button("重置", filters).click()
    ff.wait(lambda: len(ff.all("table tbody tr")) == 3, "重置 did not list everyone again")
    path = ff.download(tmp_path / "roster", ff.button("下载", filters).click)
    assert path.endswith(".xlsx") and "参保人员名单" in os.path.basename(path)
    cells = {str(c.value) for row in openpyxl.load_workbook(path).active.iter_rows() for c in row if c.value}
    for person in people:
        assert person["cert_no"] in cells and person["name"] in cells


def test_firefox_open_a_notice_from_home(ff, unit):
    login(ff, unit["account"], unit["password"])
    notices = ff.region("消息列表")
    first = ff.css(".notice-list li", notices)
    assert "unread" in first.get_attribute("class").split()
    badge = ff.css(".topbar-notices .badge")
    ff.wait(lambda: badge.is_displayed() and ff.text(badge).isdigit(), "no unread count")
    before = int(ff.text(badge))
    link = first.find_element(gecko.By.CSS_SELECTOR, "a")
    title = ff.text(link)
    link.click()
    ff.wait_text(".notice-title", title, exact=True)
    assert ff.text(ff.css(".notice-body"))
    if before > 1:
        ff.wait(lambda: ff.text(badge) == str(before - 1), "the unread count did not go down")
    else:
        ff.wait(lambda: not badge.is_displayed(), "the unread badge stayed")
    shot(ff, "03-notice-detail")
    ff.link("全部通知").click()
    ff.wait_text("#screen-title", "通知公告", exact=True)
    ff.wait(lambda: any(ff.text(li.find_element(gecko.By.CSS_SELECTOR, "a")) == title
                        and re.search(r"\bread\b", li.get_attribute("class"))
                        for li in ff.all(".notice-list li")), "the notice is not marked read")
    shot(ff, "03-notices-all")


def test_firefox_suspension_asks_for_a_confirmation(ff, suite, unit):
    body = enrol_by_api(suite, unit["token"], person_no())
    login(ff, unit["account"], unit["password"])
    ff.open_menu("城乡居民暂停参保")
    lookup = ff.form("查询人员")
    ff.fill(ff.field("证件号码", lookup), body["cert_no"])
    ff.fill(ff.field("姓名", lookup), body["name"])
    ff.button("查询", lookup).click()
    details = ff.form("暂停参保信息")
    ff.wait(lambda: body["name"] in details.text, "the person is not shown")
    ff.choose(ff.field("暂停原因", details), "02")
    ff.button("保存", details).click()
    confirm = ff.dialog("确认暂停参保")
    assert body["name"] in confirm.text and "参加职工基本医疗保险" in confirm.text
    shot(ff, "22-suspension-confirm")
    ff.button("取消", confirm).click()
    ff.no_dialog()
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 1
    ff.button("保存", details).click()
    ff.button("确定暂停", ff.dialog("确认暂停参保")).click()
    ff.wait_text(".outcome", "办理成功：暂停参保")
    shot(ff, "22-suspension-done")
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 0


def test_firefox_batch_enrolment_upload_and_failures(ff, unit, tmp_path):
    """File download, file upload with progress and the results dialog."""
    login(ff, unit["account"], unit["password"])
    ff.open_menu("批量城乡居民参保")
    template = ff.download(tmp_path / "template", ff.button("下载模板").click)
    assert template.endswith(".xlsx")
    good = [enrolment(person_no()) for _ in range(2)]
    bad_phone = enrolment(person_no(), phone="12345")
    bad_name = enrolment(person_no(), name='<img src=x onerror="window.__xss=1">')
    rows = [{h: p[k] for h, k in ENROLMENT_COLUMNS.items()} for p in (good[0], bad_phone, good[1], bad_name)]
    path = fill_template(template, tmp_path / "参保导入.xlsx", rows)

    form = ff.form("导入模板并提交")
    ff.upload(ff.css("input[type=file]", form), path)
    ff.button("导入模板并提交", form).click()
    dialog = ff.dialog("导入结果")
    ff.wait(lambda: ff.css('[role="progressbar"]', form).get_attribute("aria-valuenow") == "100",
            "the upload progress did not reach 100")
    ff.wait_text('[role="status"]', "共 4 条，提交成功 2 条，提交失败 2 条", dialog)
    ff.wait(lambda: len(ff.all("table tbody tr", dialog)) == 2, "the dialog does not list 2 failures")
    failures = ff.all("table tbody tr", dialog)
    assert "联系电话" in failures[0].text and bad_phone["name"] in failures[0].text
    assert bad_name["name"] in failures[1].text  # shown as the text it is
    assert not ff.all("img", failures[1]) and ff.js("return window.__xss") is None
    shot(ff, "40-batch-enrolment-result")

    failed = ff.download(tmp_path / "failed", ff.button("下载失败数据", dialog).click)
    ws = openpyxl.load_workbook(failed).worksheets[0]
    assert "失败原因" in [str(c.value or "") for c in ws[1]]
    names = {str(c.value) for row in ws.iter_rows(min_row=2) for c in row if c.value}
    assert bad_phone["name"] in names and good[0]["name"] not in names
    ff.button("关闭", dialog).click()
    ff.no_dialog()


UNIT_SCREENS = ["人员列表", "城乡居民参保", "批量城乡居民参保", "城乡居民暂停参保", "批量城乡居民暂停参保",
                "城乡居民变更", "批量提交记录", "城乡居民参保记录", "修改密码", "首页"]
ADMIN_SCREENS = ["参保进度", "单位管理", "参保任务", "通知公告管理", "通知公告", "修改密码"]


def tour(ff, screens, prefix):
    """Open each screen from the menu: it loads with no error shown (nor a
    JavaScript error, checked by the fixture) and is screenshotted."""
    for i, title in enumerate(screens):
        ff.open_menu(title)
        ff.wait_idle()
        errors = [e.text for e in ff.all(".alert-error") if e.is_displayed()]
        assert not errors, f"{title} shows an error in Firefox: {errors}"
        shot(ff, f"90-{prefix}-{i:02d}-{title}")


def test_firefox_every_unit_screen_opens(ff, suite, unit):
    enrol_by_api(suite, unit["token"], person_no())
    login(ff, unit["account"], unit["password"])
    tour(ff, UNIT_SCREENS, "unit")
    # 城乡居民参保记录's 【更多】 filters and 退出
    ff.open_menu("城乡居民参保记录")
    ff.wait(lambda: len(ff.all("table tbody tr")) == 1, "the record is not listed")
    ff.button("更多").click()
    filters = ff.form("查询条件")
    ff.wait(filters.is_displayed, "【更多】 did not show the filters")
    assert ff.field("业务类型", filters).get_property("value") == "城乡居民参保"
    ff.button("退出", ff.css("nav.sidebar")).click()
    ff.wait_text("h1", "单位账号登录")


def test_firefox_every_admin_screen_opens(ff, suite):
    login(ff, "admin", suite.admin_password, landing="/admin/dashboard", title="参保进度")
    tour(ff, ADMIN_SCREENS, "admin")


def test_firefox_log_in_and_enrol_with_the_keyboard_only(ff, unit):
    assert ff.focused() == ff.field("账号")
    ff.type(unit["account"])
    ff.press(Keys.TAB)
    assert ff.focused() == ff.field("密码")
    ff.type(unit["password"])
    ff.press(Keys.ENTER)
    ff.wait_url(r"#/home$")

    ff.goto("/#/declare/enrolment")
    lookup = ff.form("查询人员")
    ff.wait(lambda: ff.focused() == ff.field("证件号码", lookup), "证件号码 does not have the focus")
    ff.type(id_number(person_no()))
    ff.press(Keys.TAB)
    assert ff.focused() == ff.field("姓名", lookup)
    ff.type("林晓东")
    ff.press(Keys.ENTER)
    details = ff.form("参保信息")
    ff.wait(lambda: ff.focused() == ff.field("民族", details), "民族 does not have the focus")
    ff.press(Keys.TAB)
    assert ff.focused() == ff.field("人员类别", details)
    ff.press(Keys.TAB)
    assert ff.focused() == ff.field("联系电话", details)
    ff.type("13705951111")
    ff.press(Keys.ENTER)  # submits; the category is still missing
    ff.wait_text('[data-error-for="category"]', "请选择人员类别", details, exact=True)
    assert ff.focused() == ff.field("人员类别", details)
    ff.press(Keys.DOWN)  # a closed <select> takes the arrow keys
    ff.wait(lambda: ff.field("人员类别", details).get_property("value") != "", "the arrow key chose nothing")
    ff.field("联系电话", details).click()
    ff.press(Keys.ENTER)
    ff.wait_text(".outcome", "办理成功：新参保")


def test_firefox_dialogs_trap_the_focus_close_on_escape_and_give_it_back(ff, suite):
    login(ff, "admin", suite.admin_password, landing="/admin/dashboard", title="参保进度")
    ff.open_menu("单位管理")
    opener = ff.button("新增单位")
    ff.js("arguments[0].focus()", opener)
    ff.press(Keys.ENTER)
    dialog = ff.dialog("新增单位")
    ff.wait(lambda: ff.focused() == ff.field("单位名称", dialog), "单位名称 does not have the focus")
    for _ in range(12):  # Tab round and round: the focus never leaves the dialog
        ff.press(Keys.TAB)
        assert ff.js("return !!document.activeElement.closest('[role=dialog]')")
    ff.press(Keys.ESCAPE)
    ff.no_dialog()
    assert ff.focused() == opener


def test_firefox_judges_the_shared_validation_vectors_as_the_server_does(ff):
    """tests/vectors/person_validation.json through the portal's validate.js
    in Firefox (Chromium: tests/browser/test_validation_vectors.py)."""
    with open(os.path.join(ROOT, "tests", "vectors", "person_validation.json"), encoding="utf-8") as f:
        vectors = json.load(f)
    judged = ff.m.execute_async_script("""
        const [vectors, done] = arguments;
        const out = (r) => ({ ok: r.ok, value: r.ok ? r.value : null });
        import("/static/js/validate.js").then((v) => done({
          phone: vectors.phone.map((c) => out(v.checkPhone(c.input))),
          name: vectors.name.map((c) => out(v.checkName(c.input))),
          cert_no: vectors.cert_no.map((c) => out(v.checkCertNo(c.cert_type, c.input))),
        }), (err) => done({ error: String(err) }));
    """, script_args=[vectors], sandbox=None)
    assert "error" not in judged, judged
    wrong = [(name, case, got) for name in ("phone", "name", "cert_no")
             for case, got in zip(vectors[name], judged[name], strict=True)
             if got != {"ok": case["ok"], "value": case.get("value") if case["ok"] else None}]
    assert not wrong, "validate.js disagrees with the vectors in Firefox:\n" + "\n".join(map(repr, wrong))

