"""审计日志: the audit administrator signs in (with the second factor),
lands on the trail, finds a unit's reads by account and 证件号码, and
exports them to Excel."""
import io
import random
import re
import time
import uuid

from openpyxl import load_workbook
from playwright.sync_api import expect

from common.protect import mask_cert_no
from tests.browser.conftest import field, login, shot
from tests.factories import id_number
from tests.suite import AUDITOR_PASSWORD


def wait_on_record(suite, token, request_id, cap=90):
    """Until the audit service has stored the request's record (polled
    through the auditor's own API)."""
    deadline = time.monotonic() + cap
    while True:
        r = suite.api("GET", "/api/audit", token, params={"request_id": request_id})
        if r.status_code == 200 and r.json()["total"] >= 1:
            return
        assert time.monotonic() < deadline, f"request {request_id} not on record after {cap} s"
        time.sleep(0.3)


def test_the_auditor_finds_a_units_reads_and_exports_them(page, suite, unit):
    cert_no = id_number(random.randrange(3_000_000))
    request_id = uuid.uuid4().hex
    r = suite.api("GET", "/api/residents/lookup", unit["token"], params={"cert_type": "01", "cert_no": cert_no},
                  headers={"X-Request-ID": request_id})
    assert r.status_code == 200, r.text
    wait_on_record(suite, suite.login("auditor", AUDITOR_PASSWORD), request_id)

    login(page, "auditor", AUDITOR_PASSWORD, landing=r"#/audit$")
    expect(page.locator("#screen-title")).to_have_text("审计日志")
    expect(page.locator("nav.sidebar")).to_contain_text("审计日志")
    expect(page.locator("nav.sidebar")).not_to_contain_text("单位管理")
    field(page, "账号").fill(unit["account"])
    field(page, "人员证件号码").fill(cert_no)
    page.get_by_role("button", name="搜索").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("查询参保状态")
    expect(rows.first).to_contain_text(mask_cert_no(cert_no))  # the list masks it; the export below has it whole
    expect(rows.first).not_to_contain_text(cert_no)
    expect(rows.first).to_contain_text(request_id)
    shot(page, "audit-trail")

    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("导出")).click()
    path = download.value.path()
    with open(path, "rb") as f:
        sheet = load_workbook(io.BytesIO(f.read())).active
    data = list(sheet.iter_rows(values_only=True))
    assert len(data) == 2 and data[1][2] == unit["account"] and cert_no in data[1][8]
