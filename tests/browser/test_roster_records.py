"""人员列表 (search, details, 下载) and 城乡居民参保记录 (filters, detail popup).
Lists show 证件号码 and 联系电话 masked; a person's details (opened by the
list's person_id), a record's details and the download have them whole."""
import re

import openpyxl
from playwright.sync_api import expect

from common.protect import mask_cert_no, mask_phone
from tests.browser.conftest import field, login, open_menu, shot
from tests.browser.test_declarations import enrol_by_api, person_no


def test_search_the_roster_see_a_person_and_download_it(page, suite, unit, tmp_path):
    people = [enrol_by_api(suite, unit["token"], person_no()) for _ in range(3)]
    login(page, unit["account"], unit["password"])
    open_menu(page, "人员列表")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    shot(page, "30-roster")

    wanted = people[1]
    filters = page.get_by_role("form", name="查询条件")
    field(filters, "证件号码").fill(wanted["cert_no"][:-2])  # exact search: a part finds nobody
    filters.get_by_role("button", name="查询").click()
    expect(page.locator(".empty")).to_have_text("没有找到符合条件的人员")
    field(filters, "证件号码").fill(wanted["cert_no"])
    filters.get_by_role("button", name="查询").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted["name"])
    expect(rows.first).to_contain_text("正常参保")

    rows.first.get_by_role("button", name=re.compile("查看.*个人信息")).click()
    dialog = page.get_by_role("dialog", name="个人信息")
    expect(dialog.locator("[data-key=cert_no]")).to_have_text(wanted["cert_no"])
    expect(dialog.locator("[data-key=phone]")).to_have_text(wanted["phone"])
    expect(dialog.locator("table tbody tr").first).to_contain_text("新参保")
    shot(page, "30-roster-person")
    dialog.get_by_role("button", name="关闭", exact=True).click()
    expect(dialog).to_be_hidden()

    filters.get_by_role("button", name="重置").click()
    field(filters, "姓名").fill(people[2]["name"])
    field(filters, "姓名").press("Enter")
    expect(rows.filter(has_text=mask_cert_no(people[2]["cert_no"]))).to_have_count(1)

    filters.get_by_role("button", name="重置").click()
    expect(rows).to_have_count(3)
    with page.expect_download() as info:
        filters.get_by_role("button", name="下载").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert "参保人员名单" in download.suggested_filename
    path = tmp_path / "roster.xlsx"
    download.save_as(path)
    cells = {str(c.value) for row in openpyxl.load_workbook(path).active.iter_rows() for c in row if c.value}
    for person in people:
        assert person["cert_no"] in cells and person["name"] in cells


def test_the_roster_is_masked_and_a_person_opens_with_full_values_then_a_change(page, suite, unit):
    people = [enrol_by_api(suite, unit["token"], person_no()) for _ in range(2)]
    login(page, unit["account"], unit["password"])
    open_menu(page, "人员列表")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    table = page.locator("table")
    for person in people:
        row = rows.filter(has_text=person["name"])
        expect(row).to_contain_text(mask_cert_no(person["cert_no"]))
        expect(row).to_contain_text(mask_phone(person["phone"]))
        expect(table).not_to_contain_text(person["cert_no"])
        expect(table).not_to_contain_text(person["phone"])
    expect(page.get_by_role("columnheader", name="出生日期")).to_have_count(0)  # it would give the digits back
    shot(page, "30-roster-masked")

    wanted = people[0]
    with page.expect_request(re.compile(r"/api/residents/p/[A-Za-z0-9_-]{22}$")):
        rows.filter(has_text=wanted["name"]).get_by_role("button", name=re.compile("查看.*个人信息")).click()
    dialog = page.get_by_role("dialog", name="个人信息")
    expect(dialog.locator("[data-key=cert_no]")).to_have_text(wanted["cert_no"])
    expect(dialog.locator("[data-key=phone]")).to_have_text(wanted["phone"])
    expect(dialog.locator("[data-key=person_id]")).to_have_count(0)
    dialog.get_by_role("button", name="变更信息").click()
    expect(page).to_have_url(re.compile(r"#/declare/change\?person_id=[A-Za-z0-9_-]{22}$"))
    assert wanted["cert_no"] not in page.url
    lookup = page.get_by_role("form", name="查询人员")
    expect(field(lookup, "证件号码")).to_have_value(wanted["cert_no"])
    expect(field(lookup, "姓名")).to_have_value(wanted["name"])
    details = page.get_by_role("form", name="个人信息")
    expect(field(details, "联系电话")).to_have_value(wanted["phone"])


def test_records_show_everything_then_filter_and_open_a_record(page, suite, unit):
    first, second = (enrol_by_api(suite, unit["token"], person_no()) for _ in range(2))
    r = suite.api("POST", "/api/declarations/change", unit["token"], json={
        "cert_type": "01", "cert_no": second["cert_no"], "name": second["name"],
        "changes": {"phone": "13811112222"}})
    assert r.status_code == 201, r.text
    login(page, unit["account"], unit["password"])
    open_menu(page, "城乡居民参保记录")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=second["name"]).first).to_contain_text(mask_cert_no(second["cert_no"]))
    expect(page.locator("table")).not_to_contain_text(second["cert_no"])
    filters = page.get_by_role("form", name="查询条件")
    expect(filters).to_be_hidden()
    page.get_by_role("button", name="更多").click()
    expect(filters).to_be_visible()
    expect(field(filters, "业务类型")).to_have_value("城乡居民参保")
    shot(page, "31-records")

    field(filters, "姓名").fill(second["name"])
    filters.get_by_role("button", name="搜索").click()
    expect(rows).to_have_count(2)
    field(filters, "办理事项").select_option("change")
    filters.get_by_role("button", name="搜索").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("信息变更")
    rows.first.get_by_role("button", name=re.compile("详情")).click()
    dialog = page.get_by_role("dialog", name="城乡居民参保记录详情")
    expect(dialog.locator("[data-key=cert_no]")).to_have_text(second["cert_no"])
    expect(dialog.locator(".diff")).to_contain_text("13811112222")
    shot(page, "31-record-detail")
    dialog.press("Escape")
    expect(dialog).to_be_hidden()

    filters.get_by_role("button", name="重置").click()
    expect(rows).to_have_count(3)
    field(filters, "证件号码").fill(first["cert_no"])
    field(filters, "申报日期（起）").fill("2000-01-01")
    filters.get_by_role("button", name="搜索").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(first["name"])
    field(filters, "申报日期（止）").fill("1999-01-01")
    filters.get_by_role("button", name="搜索").click()
    expect(filters.locator('[data-error-for="to"]')).to_have_text("结束日期不能早于开始日期")
