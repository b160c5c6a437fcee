"""管理端 in Chromium: 参保进度 as the admin's first screen (drill-down from
the city to a street's units, sorting, 截至日期, export, the daily chart),
单位管理 (a unit with its division and a generated password shown once,
filters, 修改, 停用, 变更记录, 批量导入 with failures and the passwords
downloaded once) and 参保任务. Screenshots in test-artifacts/screenshots."""
import io
import itertools
import random
import re
import uuid

import openpyxl
from playwright.sync_api import expect

from common import sheets
from tests.browser.conftest import field, login, open_menu, shot
from tests.factories import enrolment
from tests.suite import random_credit_code

UNIT_COLUMNS = ("单位名称", "统一社会信用代码", "所属区县", "乡镇/街道", "平台账号", "联系人", "联系电话")
_numbers = itertools.count(random.randrange(6_000_000, 6_900_000, 10_000))


def admin(page, suite):
    login(page, "admin", suite.admin_password, landing=r"#/admin/dashboard$")
    expect(page.locator("#screen-title")).to_have_text("参保进度")


def street_with_units(suite, division="350521"):
    """Two units of a new 乡镇/街道 with 3 and 1 enrolments."""
    street = f"界面{uuid.uuid4().hex[:5]}镇"
    units = [suite.new_unit(suite.admin_token, division=division, street=street) for _ in range(2)]
    for count, unit in zip((3, 1), units, strict=True):
        for _ in range(count):
            r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=enrolment(next(_numbers)))
            assert r.status_code == 201, r.text
    return street, units


def test_the_dashboard_drills_down_from_the_city_to_a_streets_units(page, suite, tmp_path):
    street, units = street_with_units(suite)
    admin(page, suite)
    expect(page.locator("table").first.locator("tbody tr")).to_have_count(12, timeout=15000)
    expect(page.locator(".stat-grid")).to_contain_text("参保人数")
    expect(page.locator("svg.chart")).to_be_visible()
    shot(page, "60-admin-dashboard-city")
    page.locator("table").first.get_by_role("link", name="惠安县").click()
    expect(page).to_have_url(re.compile(r"level=division&division=350521"))
    expect(page.locator(".crumbs")).to_contain_text("惠安县")
    page.locator("table").first.get_by_role("link", name=street).click()
    expect(page).to_have_url(re.compile(r"level=street"))
    rows = page.locator("table").first.locator("tbody tr")
    expect(rows).to_have_count(2)
    # sorted by 参保人数 (largest first), then the other way
    page.get_by_role("button", name="按参保人数排序").click()
    expect(page).to_have_url(re.compile(r"sort=-insured"))
    expect(rows.first).to_contain_text(units[0]["unit"]["name"])
    page.get_by_role("button", name="按参保人数排序").click()
    expect(page).to_have_url(re.compile(r"sort=insured"))
    expect(rows.first).to_contain_text(units[1]["unit"]["name"])
    shot(page, "61-admin-dashboard-street")
    with page.expect_download() as info:
        page.get_by_role("button", name="导出Excel").click()
    path = tmp_path / "dashboard.xlsx"
    info.value.save_as(path)
    sheet = openpyxl.load_workbook(path)["参保进度"]
    assert sheet.max_row == 1 + 2 + 1
    # 截至 a day before anything: nobody insured yet
    field(page, "截至日期").fill("2020-01-01")
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".stat-grid")).to_contain_text("2020-01-01")
    # back up to the city by the breadcrumb
    page.locator(".crumbs").get_by_role("link", name="泉州市").click()
    expect(page.locator("table").first.locator("tbody tr")).to_have_count(12)


def test_a_unit_in_its_division_changed_disabled_and_its_history(page, suite):
    admin(page, suite)
    open_menu(page, "单位管理")
    page.get_by_role("button", name="新增单位").click()
    dialog = page.get_by_role("dialog", name="新增单位")
    code, account = random_credit_code(), "ui_" + uuid.uuid4().hex[:8]
    street = f"界面{uuid.uuid4().hex[:5]}街道"
    field(dialog, "单位名称").fill("界面测试社区居民委员会")
    field(dialog, "平台账号").fill(account)
    field(dialog, "统一社会信用代码").fill(code)
    field(dialog, "所属区县").select_option("350581")
    field(dialog, "乡镇/街道").fill(street)
    field(dialog, "联系人").fill("王五")
    shot(page, "62-admin-new-unit-division")
    dialog.get_by_role("button", name="保存").click()
    shown = page.get_by_role("dialog", name="初始密码（仅显示一次）")
    expect(shown).to_contain_text(account)
    password = shown.get_by_test_id("temporary-password").inner_text()
    assert len(password) == 14
    shot(page, "63-admin-temporary-password")
    shown.get_by_role("button", name="我已记下").click()

    form = page.get_by_role("form", name="查询条件")
    field(form, "乡镇/街道").fill(street)
    form.get_by_role("button", name="搜索").click()
    row = page.locator("table tbody tr", has_text=account)
    expect(row).to_contain_text("石狮市")
    expect(page.locator("table tbody tr")).to_have_count(1)

    row.get_by_role("button", name="修改").click()
    edit = page.get_by_role("dialog", name="修改单位")
    field(edit, "所属区县").select_option("350582")
    edit.get_by_role("button", name="保存").click()
    expect(row).to_contain_text("晋江市")

    row.get_by_role("button", name="停用").click()
    page.get_by_role("dialog").get_by_role("button", name="停用").click()
    expect(row).to_contain_text("已停用")
    r = suite.api("POST", "/api/auth/login", json={"account": account, "password": password})
    assert r.status_code == 403 and r.json()["error"] == "account_disabled"

    row.get_by_role("button", name="变更记录").click()
    history = page.get_by_role("dialog", name=re.compile("变更记录"))
    expect(history).to_contain_text("所属区县：350581 → 350582")
    expect(history).to_contain_text("停用：否 → 是")
    expect(history).to_contain_text("admin")
    shot(page, "64-admin-unit-history")


def test_units_in_bulk_with_failures_and_the_passwords_once(page, suite, tmp_path):
    admin(page, suite)
    open_menu(page, "单位管理")
    street, good = f"批量{uuid.uuid4().hex[:5]}街道", "ui_" + uuid.uuid4().hex[:8]
    path = tmp_path / "单位.xlsx"
    path.write_bytes(sheets.build(UNIT_COLUMNS, [
        ["界面批量甲社区居民委员会", random_credit_code(), "南安市", street, good, "", ""],
        ["界面批量乙社区居民委员会", random_credit_code(), "福州市", street, "ui_" + uuid.uuid4().hex[:8], "", ""],
    ]))
    page.get_by_role("button", name="批量导入").click()
    dialog = page.get_by_role("dialog", name="批量导入单位")
    with page.expect_download() as template:
        dialog.get_by_role("button", name="下载模板").click()
    assert template.value.suggested_filename.endswith(".xlsx")
    dialog.locator("input[type=file]").set_input_files(str(path))
    dialog.get_by_role("button", name="导入").click()
    expect(dialog).to_contain_text("成功1个，失败1个")
    expect(dialog.locator("table")).to_contain_text("所属区县")
    shot(page, "65-admin-units-import")
    with page.expect_download() as creds:
        dialog.get_by_role("button", name="下载初始密码（仅一次）").click()
    creds.value.save_as(tmp_path / "creds.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "creds.xlsx").active.iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rows] == [good]
    expect(dialog.get_by_role("button", name=re.compile("初始密码已下载"))).to_be_disabled()
    with page.expect_download() as failures:
        dialog.get_by_role("button", name="下载失败原因文件").click()
    book = openpyxl.load_workbook(io.BytesIO(open(failures.value.path(), "rb").read()))
    assert book.active.cell(1, 8).value == "失败原因"


def test_targets_set_one_by_one_show_in_completion(page, suite):
    street, units = street_with_units(suite, division="350505")
    admin(page, suite)
    open_menu(page, "参保任务")
    form = page.get_by_role("form", name="查询条件")
    field(form, "所属区县").select_option("350505")
    form.get_by_role("button", name="查询").click()
    row = page.locator("table tbody tr", has_text=units[0]["unit"]["name"])
    expect(row).to_contain_text("未下达")
    row.get_by_role("button", name="设置任务数").click()
    dialog = page.get_by_role("dialog", name="设置参保任务数")
    field(dialog, "参保任务数").fill("6")
    dialog.get_by_role("button", name="保存").click()
    expect(row).to_contain_text("50.0%")
    shot(page, "66-admin-targets")
