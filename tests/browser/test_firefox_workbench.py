"""管理端 in real Firefox (firefox-esr over Marionette, see gecko.py): 参保进度
as the admin's first screen, drilled down from the city to a street's units
and sorted; 单位管理's 新增单位 with its division and a generated password
shown once, then moved to another division; 参保任务. Screenshots prefixed
`firefox-`."""
import itertools
import random
import re
import uuid

from tests.browser.test_firefox import ff, firefox, login, shot  # noqa: F401 (fixtures)
from tests.factories import enrolment
from tests.suite import random_credit_code

_numbers = itertools.count(random.randrange(7_000_000, 7_900_000, 10_000))


def test_firefox_dashboard_drills_down_and_sorts(ff, suite):  # noqa: F811
    street = f"火狐{uuid.uuid4().hex[:5]}镇"
    units = [suite.new_unit(suite.admin_token, division="350524", street=street) for _ in range(2)]
    for count, unit in zip((1, 2), units, strict=True):
        for _ in range(count):
            r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=enrolment(next(_numbers)))
            assert r.status_code == 201, r.text
    login(ff, "admin", suite.admin_password, landing="/admin/dashboard", title="参保进度")
    ff.css("svg.chart")
    ff.wait(lambda: len(ff.all("table tbody tr", ff.css("table"))) >= 12, "the 12 divisions were not listed")
    shot(ff, "60-dashboard-city")
    ff.link("安溪县", ff.css("table")).click()
    ff.wait_url(r"level=division&division=350524")
    ff.link(street, ff.css("table")).click()
    ff.wait_url(r"level=street")
    ff.wait(lambda: len(ff.all("table tbody tr", ff.css("table"))) == 2, "the street's 2 units were not listed")
    ff.button("按参保人数排序").click()
    ff.wait_url(r"sort=-insured")
    ff.wait(lambda: units[1]["unit"]["name"] in ff.text(ff.css("table tbody tr")), "not sorted by 参保人数")
    ff.wait_text(".stat-grid", "3")
    shot(ff, "61-dashboard-street")


def test_firefox_new_unit_with_a_generated_password_moved_to_another_division(ff, suite):  # noqa: F811
    login(ff, "admin", suite.admin_password, landing="/admin/dashboard", title="参保进度")
    ff.open_menu("单位管理")
    ff.button("新增单位").click()
    dialog = ff.dialog("新增单位")
    account = "ff_" + uuid.uuid4().hex[:8]
    street = f"火狐{uuid.uuid4().hex[:5]}街道"
    ff.fill(ff.field("单位名称", dialog), "火狐测试社区居民委员会")
    ff.fill(ff.field("平台账号", dialog), account)
    ff.fill(ff.field("统一社会信用代码", dialog), random_credit_code())
    ff.choose(ff.field("所属区县", dialog), "350526")
    ff.fill(ff.field("乡镇/街道", dialog), street)
    ff.button("保存", dialog).click()
    shown = ff.dialog("初始密码（仅显示一次）")
    password = ff.text(ff.css('[data-testid="temporary-password"]', shown))
    assert len(password) == 14
    shot(ff, "62-temporary-password")
    ff.button("我已记下", shown).click()
    ff.no_dialog()
    form = ff.form("查询条件")
    ff.fill(ff.field("乡镇/街道", form), street)
    ff.button("搜索", form).click()
    ff.wait(lambda: len(ff.all("table tbody tr")) == 1 and "德化县" in ff.text(ff.css("table tbody tr")),
            "the new unit was not listed under 德化县")
    ff.button("修改", ff.css("table tbody tr")).click()
    edit = ff.dialog("修改单位")
    ff.choose(ff.field("所属区县", edit), "350525")
    ff.button("保存", edit).click()
    ff.wait(lambda: "永春县" in ff.text(ff.css("table tbody tr")), "the unit did not move to 永春县")
    shot(ff, "63-unit-moved")
    r = suite.api("POST", "/api/auth/login", json={"account": account, "password": password})
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    assert re.fullmatch(r"\S{14}", password)


def test_firefox_targets_screen_opens(ff, suite):  # noqa: F811
    login(ff, "admin", suite.admin_password, landing="/admin/dashboard", title="参保进度")
    ff.open_menu("参保任务")
    ff.css("table")
    shot(ff, "64-targets")
