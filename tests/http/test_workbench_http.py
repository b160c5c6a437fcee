"""The operator's workbench through the gateway: units with division and
乡镇/街道, their changes and history, disabling, units and targets from
Excel, and the campaign dashboard with its export and daily chart; every
endpoint refused to other roles."""
import io
import itertools
import random
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from common import sheets
from tests.factories import enrolment
from tests.suite import random_credit_code

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
UNIT_COLUMNS = ("单位名称", "统一社会信用代码", "所属区县", "乡镇/街道", "平台账号", "联系人", "联系电话")
TARGET_COLUMNS = ("单位名称", "统一社会信用代码", "平台账号", "参保任务数")
_numbers = itertools.count(random.randrange(5_000_000, 5_900_000, 10_000))


def street():
    """A 乡镇/街道 no other test uses: its figures are this test's alone."""
    return f"测试{uuid.uuid4().hex[:6]}街道"


def new_unit(suite, admin_token, division="350582", street_name=None, **extra):
    account = "wb_" + uuid.uuid4().hex[:10]
    body = {"name": f"测试{account[-4:]}社区居民委员会", "account": account, "credit_code": random_credit_code(),
            "division": division, "street": street_name or street(), **extra}
    r = suite.api("POST", "/api/admin/units", admin_token, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def xlsx(rows, columns=UNIT_COLUMNS):
    return sheets.build(columns, rows)


def upload(suite, token, path, content):
    return suite.api("POST", path, token, files={"file": ("单位.xlsx", content, XLSX)})


def test_a_new_unit_has_a_division_and_street_and_a_generated_password(suite, admin_token):
    unit = new_unit(suite, admin_token, division="350503", street_name="东海街道", contact="张三",
                    phone="13800000000")
    assert (unit["division"], unit["division_name"], unit["street"]) == ("350503", "丰泽区", "东海街道")
    assert unit["contact"] == "张三" and unit["disabled"] is False and unit["locked"] is False
    login = suite.api("POST", "/api/auth/login", json={"account": unit["account"],
                                                       "password": unit["temporary_password"]})
    assert login.status_code == 200, login.text
    assert login.json()["must_change_password"] is True


def test_division_and_street_are_required(suite, admin_token):
    r = suite.api("POST", "/api/admin/units", admin_token, json={
        "name": "无区县社区", "account": "wb_" + uuid.uuid4().hex[:8], "credit_code": random_credit_code()})
    assert r.status_code == 400 and {"division", "street"} <= set(r.json()["details"])
    r = suite.api("POST", "/api/admin/units", admin_token, json={
        "name": "外市社区", "account": "wb_" + uuid.uuid4().hex[:8], "credit_code": random_credit_code(),
        "division": "350100", "street": "某街道"})
    assert r.status_code == 400 and "division" in r.json()["details"]


def test_units_are_listed_with_division_and_filtered(suite, admin_token):
    name = street()
    unit = new_unit(suite, admin_token, division="350524", street_name=name)
    page = suite.api("GET", f"/api/admin/units?division=350524&street={name}", admin_token).json()
    assert [u["id"] for u in page["items"]] == [unit["id"]] and page["total"] == 1
    assert page["items"][0]["division_name"] == "安溪县" and "temporary_password" not in page["items"][0]
    found = suite.api("GET", f"/api/admin/units?q={unit['account']}", admin_token).json()
    assert found["items"][0]["street"] == name
    assert suite.api("GET", "/api/admin/units?division=999999", admin_token).status_code == 400


def test_a_change_is_in_the_units_history_with_who_and_when(suite, admin_token):
    unit = new_unit(suite, admin_token)
    r = suite.api("PATCH", f"/api/admin/units/{unit['id']}", admin_token,
                  json={"name": "改名后社区居民委员会", "division": "350583", "street": "溪美街道"})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["division_name"]) == ("改名后社区居民委员会", "南安市")
    history = suite.api("GET", f"/api/admin/units/{unit['id']}/history", admin_token).json()["items"]
    assert history[0]["actor"] == "admin" and history[0]["action"] == "updated"
    changed = {c["field"]: (c["before"], c["after"]) for c in history[0]["changes"]}
    assert changed["division"] == ("350582", "350583") and changed["street"][1] == "溪美街道"
    assert history[-1]["action"] == "created"
    assert suite.api("PATCH", "/api/admin/units/99999999", admin_token, json={"name": "某某社区"}).status_code == 404
    r = suite.api("PATCH", f"/api/admin/units/{unit['id']}", admin_token, json={"division": "110101"})
    assert r.status_code == 400


def test_a_disabled_unit_stops_at_once_and_cannot_sign_in_until_enabled(suite, admin_token, fresh_unit):
    token, unit_id = fresh_unit["token"], fresh_unit["unit"]["id"]
    assert suite.api("GET", "/api/unit", token).status_code == 200
    r = suite.api("PATCH", f"/api/admin/units/{unit_id}", admin_token, json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert suite.api("GET", "/api/unit", token).status_code == 401
    login = suite.api("POST", "/api/auth/login", json={"account": fresh_unit["account"],
                                                       "password": fresh_unit["password"]})
    assert login.status_code == 403 and login.json()["error"] == "account_disabled"
    suite.api("PATCH", f"/api/admin/units/{unit_id}", admin_token, json={"disabled": False})
    again = suite.api("POST", "/api/auth/login", json={"account": fresh_unit["account"],
                                                       "password": fresh_unit["password"]})
    assert again.status_code == 200
    fields = [c["field"] for item in suite.api("GET", f"/api/admin/units/{unit_id}/history", admin_token)
              .json()["items"] for c in item["changes"]]
    assert fields.count("disabled") == 2


def test_units_in_bulk_with_failures_and_passwords_once(suite, admin_token):
    template = suite.api("GET", "/api/admin/units/template", admin_token)
    assert template.status_code == 200 and template.headers["Content-Type"].startswith(XLSX)
    header = [c.value for c in openpyxl.load_workbook(io.BytesIO(template.content)).active[1]]
    assert header == list(UNIT_COLUMNS)
    name, a, b = street(), "wb_" + uuid.uuid4().hex[:8], "wb_" + uuid.uuid4().hex[:8]
    content = xlsx([
        ["批量甲社区居民委员会", random_credit_code(), "晋江市", name, a, "李四", "13800000001"],
        ["批量乙社区居民委员会", random_credit_code(), "350582", name, b, "", ""],
        ["批量丙社区居民委员会", random_credit_code(), "厦门市", name, "wb_" + uuid.uuid4().hex[:8], "", ""],
    ])
    r = upload(suite, admin_token, "/api/admin/units/import", content)
    assert r.status_code == 201, r.text
    result = r.json()
    assert (result["total"], result["succeeded"], result["failed"]) == (3, 2, 1)
    assert result["failures"][0]["row"] == 4 and "所属区县" in result["failures"][0]["reason"]
    failures = suite.api("GET", result["failures_url"], admin_token)
    sheet = openpyxl.load_workbook(io.BytesIO(failures.content)).active
    assert sheet.max_row == 2 and sheet.cell(1, 8).value == "失败原因"
    creds = suite.api("GET", result["credentials_url"], admin_token)
    assert creds.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(creds.content)).active.iter_rows(min_row=2, values_only=True))
    assert [row[2] for row in rows] == [a, b]
    assert suite.api("GET", result["credentials_url"], admin_token).status_code == 404
    login = suite.api("POST", "/api/auth/login", json={"account": a, "password": rows[0][3]})
    assert login.status_code == 200 and login.json()["must_change_password"] is True
    listed = suite.api("GET", f"/api/admin/units?street={name}", admin_token).json()
    assert {u["account"] for u in listed["items"]} == {a, b}


def test_a_file_that_is_not_an_xlsx_is_refused(suite, admin_token):
    r = upload(suite, admin_token, "/api/admin/units/import", b"name,code\n")
    assert r.status_code == 415


def test_targets_one_by_one_and_from_excel(suite, admin_token):
    one, two = new_unit(suite, admin_token), new_unit(suite, admin_token)
    year = TODAY.year
    r = suite.api("PUT", f"/api/admin/targets/{year}/{one['id']}", admin_token, json={"target": 1200})
    assert r.status_code == 200 and r.json()["target"] == 1200 and r.json()["set_by"] == "admin"
    assert suite.api("PUT", f"/api/admin/targets/{year}/{one['id']}", admin_token,
                     json={"target": -1}).status_code == 400
    assert suite.api("PUT", f"/api/admin/targets/{year}/99999999", admin_token,
                     json={"target": 5}).status_code == 404
    template = suite.api("GET", f"/api/admin/targets/{year}/template", admin_token)
    codes = [row[1] for row in openpyxl.load_workbook(io.BytesIO(template.content)).active
             .iter_rows(min_row=2, values_only=True)]
    assert one["credit_code"] in codes
    content = xlsx([["", one["credit_code"], "", "1500"], ["", "", two["account"], "800"],
                    ["", "", "no_such_account", "10"]], columns=TARGET_COLUMNS)
    r = upload(suite, admin_token, f"/api/admin/targets/{year}/import", content)
    assert r.status_code == 200, r.text
    assert (r.json()["succeeded"], r.json()["failed"]) == (2, 1) and r.json()["failures"][0]["row"] == 4
    assert r.json()["failures_file"]
    board = suite.api("GET", f"/api/admin/dashboard?level=unit&division=350582&street={one['street']}",
                      admin_token).json()
    assert board["items"][0]["target"] == 1500


def test_the_dashboard_drills_down_to_the_units_of_a_street(suite, admin_token):
    name = street()
    units = []
    for _ in range(2):
        unit = suite.new_unit(admin_token, division="350526", street=name)
        units.append(unit)
    first, second = units
    for count, unit in ((3, first), (1, second)):
        for _ in range(count):
            r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=enrolment(next(_numbers)))
            assert r.status_code == 201, r.text
    suite.api("PUT", f"/api/admin/targets/{TODAY.year}/{first['unit']['id']}", admin_token, json={"target": 6})

    r = suite.api("GET", f"/api/admin/dashboard?level=street&division=350526&street={name}&sort=-insured",
                  admin_token)
    assert r.status_code == 200, r.text
    board = r.json()
    assert [(i["unit_id"], i["insured"]) for i in board["items"]] == [(first["unit"]["id"], 3),
                                                                     (second["unit"]["id"], 1)]
    top = board["items"][0]
    assert top["completion"] == 0.5 and top["year_new"] == 3 and top["month_increase"] == 3
    assert top["last_declared_at"] == TODAY.isoformat()
    assert board["totals"]["insured"] == 4 and board["items"][1]["completion"] is None
    streets = suite.api("GET", "/api/admin/dashboard?level=division&division=350526", admin_token).json()
    assert {i["code"]: i["insured"] for i in streets["items"]}[name] == 4
    city = suite.api("GET", "/api/admin/dashboard", admin_token).json()
    assert len([i for i in city["items"] if i["code"] != "000000"]) == 12
    assert {i["code"]: i["name"] for i in city["items"]}["350526"] == "德化县"
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    before = suite.api("GET", f"/api/admin/dashboard?level=street&division=350526&street={name}&as_of={yesterday}",
                       admin_token).json()
    assert before["totals"]["insured"] == 0 and before["as_of"] == yesterday
    idle = suite.api("GET", f"/api/admin/dashboard?level=street&division=350526&street={name}&idle_days=1",
                     admin_token).json()
    assert idle["idle_units"] == []

    export = suite.api("GET", f"/api/admin/dashboard/export?level=street&division=350526&street={name}",
                       admin_token)
    assert export.status_code == 200 and export.headers["Content-Type"].startswith(XLSX)
    book = openpyxl.load_workbook(io.BytesIO(export.content))
    assert book.sheetnames[:2] == ["参保进度", "未申报单位"] and book["参保进度"].max_row == 1 + 2 + 1
    daily = suite.api("GET", f"/api/admin/dashboard/daily?year={TODAY.year}", admin_token).json()
    assert len(daily["days"]) == 122 and {"date", "enrolments", "last_year"} <= set(daily["days"][0])


def test_the_bootstrapped_demo_unit_is_placed_in_its_division_and_street(suite, admin_token):
    """deploy/bootstrap.py places the demo unit as a unit registered through
    the API is placed: listed in 丰泽区 东海街道, the change in its history,
    and on the dashboard under that street, not 未分区."""
    found = suite.api("GET", "/api/admin/units?q=demo", admin_token).json()["items"]
    demo = next(u for u in found if u["account"] == "demo")
    assert (demo["division"], demo["division_name"], demo["street"]) == ("350503", "丰泽区", "东海街道")
    history = suite.api("GET", f"/api/admin/units/{demo['id']}/history", admin_token).json()["items"]
    assert any(item["actor"] == "bootstrap" and {c["field"] for c in item["changes"]} >= {"division", "street"}
               for item in history)
    on_street = suite.api("GET", "/api/admin/dashboard?level=street&division=350503&street=东海街道&size=5000",
                          admin_token).json()
    placed = {i["unit_id"]: i for i in on_street["items"]}
    assert demo["id"] in placed and placed[demo["id"]]["division"] == "350503"
    unassigned = suite.api("GET", "/api/admin/dashboard?level=unit&division=000000&size=5000", admin_token).json()
    assert demo["id"] not in {i["unit_id"] for i in unassigned["items"]}


def test_a_unit_moved_to_another_division_takes_its_insured_along(suite, admin_token):
    name, other = street(), street()
    unit = suite.new_unit(admin_token, division="350525", street=name)
    r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=enrolment(next(_numbers)))
    assert r.status_code == 201
    suite.api("PATCH", f"/api/admin/units/{unit['unit']['id']}", admin_token,
              json={"division": "350521", "street": other})
    moved = suite.api("GET", f"/api/admin/dashboard?level=street&division=350521&street={other}",
                      admin_token).json()
    assert moved["totals"]["insured"] == 1
    left = suite.api("GET", "/api/admin/dashboard?level=division&division=350525", admin_token).json()
    figures = {i["code"]: i for i in left["items"]}[name]
    assert figures["insured"] == 0 and figures["month_increase"] == 1  # earlier flows stay where they were


def test_bad_dashboard_parameters_are_400(suite, admin_token):
    for query in ("level=nowhere", "level=division", "as_of=2026-02-30", "sort=nothing", "idle_days=0"):
        assert suite.api("GET", f"/api/admin/dashboard?{query}", admin_token).status_code == 400, query


ENDPOINTS = [
    ("GET", "/api/admin/units/1"), ("PATCH", "/api/admin/units/1"), ("GET", "/api/admin/units/1/history"),
    ("GET", "/api/admin/units/template"), ("POST", "/api/admin/units/import"),
    ("GET", "/api/admin/units/imports/x/credentials"), ("GET", "/api/admin/units/imports/x/failures"),
    ("PUT", "/api/admin/targets/2026/1"), ("GET", "/api/admin/targets/2026/template"),
    ("POST", "/api/admin/targets/2026/import"), ("GET", "/api/admin/dashboard"),
    ("GET", "/api/admin/dashboard/export"), ("GET", "/api/admin/dashboard/daily"),
    ("POST", "/api/admin/units"), ("GET", "/api/admin/units"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_only_the_system_administrator_may_use_the_workbench(suite, fresh_unit, method, path):
    assert suite.api(method, path).status_code == 401
    assert suite.api(method, path, fresh_unit["token"]).status_code == 403
