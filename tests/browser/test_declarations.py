"""增员减员申报 in the browser: enrol a new person, transfer one in from
another unit, suspend (after a confirmation), change a phone number; the
counts on 首页 follow."""
import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import field, login, open_menu, shot
from tests.factories import enrolment, id_number

_seq = [int(time.time()) % 100_000 * 10]


def person_no():
    """A person number no other test of this session uses. Even numbers
    only: id_number(i, female=...) may flip the last bit of i."""
    _seq[0] += 2
    return _seq[0]


def enrol_by_api(suite, token, i, **overrides):
    body = enrolment(i, **overrides)
    r = suite.api("POST", "/api/declarations/enrolment", token, json=body)
    assert r.status_code == 201, r.text
    wait_lookup(suite, token, body, "active_here")
    return body


def wait_lookup(suite, token, body, status, timeout=60):
    """The roster follows the declaration log by events: wait until it has."""
    deadline = time.time() + timeout
    while True:
        r = suite.api("GET", "/api/residents/lookup", token,
                      params={"cert_type": body["cert_type"], "cert_no": body["cert_no"], "name": body["name"]})
        if r.status_code == 200 and r.json()["status"] == status:
            return r.json()
        assert time.time() < deadline, f"roster never showed {status}: {r.text}"
        time.sleep(0.2)


def look_up(page, cert_no, name, cert_type=None):
    form = page.get_by_role("form", name="查询人员")
    if cert_type:
        field(form, "证件类型").select_option(cert_type)
    field(form, "证件号码").fill(cert_no)
    field(form, "姓名").fill(name)
    form.get_by_role("button", name="查询").click()
    return form


def test_enrol_a_new_person(page, suite, unit):
    login(page, unit["account"], unit["password"])
    open_menu(page, "城乡居民参保")
    cert_no = id_number(person_no(), female=True)
    form = page.get_by_role("form", name="查询人员")
    # a wrong check character is caught as it is typed
    wrong = cert_no[:-1] + ("0" if cert_no[-1] != "0" else "1")
    field(form, "证件号码").fill(wrong)
    expect(form.locator('[data-error-for="cert_no"]')).to_have_text("居民身份证号码校验位不正确，请核对")
    field(form, "证件号码").fill(cert_no.lower())
    expect(form.locator('[data-error-for="cert_no"]')).to_be_empty()
    field(form, "姓名").fill("陈美玲")
    form.get_by_role("button", name="查询").click()
    expect(page.get_by_role("status").filter(has_text="办理类型：新参保")).to_be_visible()

    details = page.get_by_role("form", name="参保信息")
    expect(field(details, "性别")).to_have_value("2")
    expect(field(details, "性别")).to_be_disabled()
    expect(field(details, "出生日期")).to_have_value(f"{cert_no[6:10]}-{cert_no[10:12]}-{cert_no[12:14]}")
    expect(details.locator("label", has_text="人员类别").locator(".req")).to_have_text("*")
    field(details, "民族").select_option("01")
    field(details, "人员类别").select_option("11")
    field(details, "联系电话").fill("1234567")
    details.get_by_role("button", name="保存").click()
    expect(details.locator('[data-error-for="phone"]')).to_contain_text("联系电话应为11位手机号码")
    field(details, "联系电话").fill("13905951234")
    field(details, "居住地址").fill("福建省泉州市鲤城区海滨街道")
    shot(page, "20-enrolment-form")
    details.get_by_role("button", name="保存").click()
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("办理成功：新参保")
    expect(outcome).to_contain_text(cert_no)
    shot(page, "20-enrolment-done")

    # 【城乡居民记录】 opens this person's history
    outcome.get_by_role("link", name="城乡居民记录").click()
    expect(page.locator("#screen-title")).to_have_text("城乡居民参保记录")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("陈美玲")
    expect(rows.first).to_contain_text("新参保")

    # a second enrolment of the same person here is refused at 查询
    wait_lookup(suite, unit["token"], {"cert_type": "01", "cert_no": cert_no, "name": "陈美玲"}, "active_here")
    open_menu(page, "城乡居民参保")
    look_up(page, cert_no, "陈美玲")
    expect(page.get_by_role("alert")).to_contain_text("已在本单位正常参保")
    expect(page.get_by_role("form", name="参保信息")).to_have_count(0)


def test_transfer_a_person_in_from_another_unit(page, suite, unit):
    other = suite.new_unit(suite.admin_token)
    body = enrol_by_api(suite, other["token"], person_no())
    login(page, unit["account"], unit["password"])
    open_menu(page, "城乡居民参保")
    look_up(page, body["cert_no"], body["name"])
    expect(page.get_by_role("status").filter(has_text="办理类型：调入")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="其他单位")).to_be_visible()
    details = page.get_by_role("form", name="参保信息")
    expect(field(details, "民族")).to_have_value("01")  # who the person is comes along
    expect(field(details, "联系电话")).to_have_value("")  # contact details stay with the other unit
    field(details, "人员类别").select_option("11")
    field(details, "联系电话").fill("0595-22345678")
    shot(page, "21-transfer-in-form")
    details.get_by_role("button", name="保存").click()
    expect(page.locator(".outcome")).to_contain_text("办理成功：调入")
    shot(page, "21-transfer-in-done")
    theirs = suite.api("GET", "/api/unit", other["token"]).json()
    assert theirs["insured_count"] == 0 and theirs["month_decrease"] == 1


def test_suspend_asks_for_a_confirmation_first(page, suite, unit):
    body = enrol_by_api(suite, unit["token"], person_no())
    login(page, unit["account"], unit["password"])
    open_menu(page, "城乡居民暂停参保")
    look_up(page, body["cert_no"], body["name"])
    details = page.get_by_role("form", name="暂停参保信息")
    expect(details).to_contain_text(body["name"])
    field(details, "暂停原因").select_option("99")
    details.get_by_role("button", name="保存").click()
    expect(details.locator('[data-error-for="remark"]')).to_contain_text("请填写备注")
    field(details, "暂停原因").select_option("02")
    details.get_by_role("button", name="保存").click()
    confirm = page.get_by_role("dialog", name="确认暂停参保")
    expect(confirm).to_contain_text(body["name"])
    expect(confirm).to_contain_text("参加职工基本医疗保险")
    shot(page, "22-suspension-confirm")
    confirm.get_by_role("button", name="取消").click()
    expect(confirm).to_be_hidden()
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 1
    details.get_by_role("button", name="保存").click()
    page.get_by_role("dialog", name="确认暂停参保").get_by_role("button", name="确定暂停").click()
    expect(page.locator(".outcome")).to_contain_text("办理成功：暂停参保")
    shot(page, "22-suspension-done")
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 0

    # suspended already: refused at 查询
    wait_lookup(suite, unit["token"], body, "suspended_here")
    open_menu(page, "城乡居民暂停参保")
    look_up(page, body["cert_no"], body["name"])
    expect(page.get_by_role("alert")).to_contain_text("已暂停参保")


def test_change_a_phone_number(page, suite, unit):
    body = enrol_by_api(suite, unit["token"], person_no(), phone="13900000001")
    login(page, unit["account"], unit["password"])
    open_menu(page, "城乡居民变更")
    look_up(page, body["cert_no"], body["name"])
    details = page.get_by_role("form", name="个人信息")
    expect(field(details, "联系电话")).to_have_value("13900000001")
    expect(field(details, "性别")).to_be_disabled()
    details.get_by_role("button", name="保存").click()
    expect(details.get_by_role("alert")).to_have_text("没有修改任何信息")
    field(details, "联系电话").fill("13800000002")
    shot(page, "23-change-form")
    details.get_by_role("button", name="保存").click()
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("办理成功：信息已变更")
    expect(outcome.locator(".diff")).to_contain_text("13900000001")
    expect(outcome.locator(".diff .changed")).to_have_text("13800000002")
    shot(page, "23-change-done")


def test_home_counts_follow_the_declarations(page, suite, unit):
    login(page, unit["account"], unit["password"])
    info = page.get_by_role("region", name="单位基本信息")
    expect(info.locator("[data-key=insured_count]")).to_have_text("0")
    people = [enrol_by_api(suite, unit["token"], person_no()) for _ in range(3)]
    suspended = people[0]
    r = suite.api("POST", "/api/declarations/suspension", unit["token"], json={
        "cert_type": "01", "cert_no": suspended["cert_no"], "name": suspended["name"], "reason": "01"})
    assert r.status_code == 201, r.text
    page.reload()
    expect(info.locator("[data-key=insured_count]")).to_have_text("2")
    expect(info.locator("[data-key=month_increase]")).to_have_text("3")
    expect(info.locator("[data-key=month_decrease]")).to_have_text("1")
    chart = page.get_by_role("region", name="近12个月参保变化")
    expect(chart.locator("svg g.month")).to_have_count(12)
    this_month = chart.locator("svg g.month").last
    expect(this_month.locator("title")).to_contain_text("增加 3 人，减少 1 人，月末参保 2 人")
    records = page.get_by_role("region", name="城乡居民参保记录")
    expect(records.locator("tbody tr")).to_have_count(4)
    expect(records.locator("tbody tr").first).to_contain_text("暂停参保")
    shot(page, "24-home-with-figures")
    records.get_by_role("link", name="更多").click()
    expect(page).to_have_url(re.compile(r"#/records$"))
