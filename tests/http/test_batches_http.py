"""Batch declarations over HTTP, with real .xlsx files made in the tests
(openpyxl, and one re-saved by LibreOffice): the template, the import and
its per-row answers, the whole-file refusals (nothing recorded), the same
file twice, the failures file corrected and imported again, the batch
records, batch numbers in records and events, and units kept apart."""
import io
import uuid
from datetime import date

import openpyxl
import pytest

from common.protect import mask_cert_no
from tests import fixtures_xlsx as fx

pytestmark = pytest.mark.http

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def fresh_ids(count):
    """ID numbers no other test of the session uses (a random region)."""
    region = f"35{uuid.uuid4().int % 10000:04d}"
    return [fx.id_number(i % 500, date(1960 + i // 500, 3, 4), region=region) for i in range(count)]


def upload(suite, token, data, business_type="enrolment", name="参保名单.xlsx", headers=None):
    return suite.api("POST", f"/api/batches?business_type={business_type}", token,
                     files={"file": (name, data, XLSX)}, headers=headers or {})


def imported(suite, token, data, business_type="enrolment", status=202):
    """Upload and wait for the batch worker: the finished batch (202), or
    the first batch of the same file (200)."""
    r = upload(suite, token, data, business_type)
    assert r.status_code == status, r.text
    if status == 200:
        return r.json()
    assert r.json()["status"] == "queued", r.text
    done = suite.wait_batch(token, r.json()["batch_no"])
    assert done["status"] == "done", done
    return done


def batches(suite, token, query=""):
    r = suite.api("GET", f"/api/batches?{query}", token)
    assert r.status_code == 200, r.text
    return r.json()


def records(suite, token, batch_no):
    r = suite.api("GET", f"/api/declarations?batch_no={batch_no}&size=200", token)
    assert r.status_code == 200, r.text
    return r.json()


# the template

@pytest.mark.parametrize("business_type, sheet", [("enrolment", "城乡居民参保"), ("suspension", "城乡居民暂停参保")])
def test_the_template_downloads_as_an_xlsx_attachment(suite, fresh_unit, business_type, sheet):
    r = suite.api("GET", f"/api/batches/template?business_type={business_type}", fresh_unit["token"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(XLSX)
    assert "attachment" in r.headers["Content-Disposition"] and "filename*=UTF-8''" in r.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[0] == sheet and "说明" in wb.sheetnames
    assert wb[sheet].column_dimensions["B"].number_format == "@"
    assert wb[sheet].data_validations.dataValidation


def test_the_template_wants_a_business_type(suite, fresh_unit):
    r = suite.api("GET", "/api/batches/template?business_type=change", fresh_unit["token"])
    assert r.status_code == 400 and "business_type" in r.json()["details"]


def test_batches_are_for_units_only(suite, admin_token):
    assert suite.api("GET", "/api/batches/template?business_type=enrolment", admin_token).status_code == 403
    assert upload(suite, admin_token, b"x").status_code == 403
    assert upload(suite, None, b"x").status_code == 401


# importing

def test_a_valid_file_declares_every_row_with_the_batch_number(suite, fresh_unit, admin_token):
    ids = fresh_ids(3)
    result = imported(suite, fresh_unit["token"], fx.filled("enrolment", [fx.enrolment_row(i) for i in ids]))
    assert (result["total"], result["succeeded"], result["failed"], result["failures"]) == (3, 3, 0, [])
    assert result["business_type"] == "enrolment" and result["file_name"] == "参保名单.xlsx"
    assert result["batch_no"].startswith("PL") and result["submitted_at"].endswith("+08:00")
    listed = records(suite, fresh_unit["token"], result["batch_no"])
    assert listed["total"] == 3 and {r["batch_no"] for r in listed["items"]} == {result["batch_no"]}
    assert {r["cert_no"] for r in listed["items"]} == {mask_cert_no(i) for i in ids}  # a list is masked
    events = suite.api("GET", "/api/events?after=0&limit=1000", admin_token).json()["items"]
    mine = [e for e in events if e["batch_no"] == result["batch_no"]]
    assert sorted(e["person"]["cert_no"] for e in mine) == sorted(ids)
    unit = suite.api("GET", "/api/unit", fresh_unit["token"]).json()
    assert unit["insured_count"] == 3 and unit["month_increase"] == 3


def test_rejected_rows_carry_their_excel_row_number_and_a_chinese_reason(suite, fresh_unit):
    ids = fresh_ids(4)
    r = suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json={
        "cert_type": "01", "cert_no": ids[0], "name": "张三", "category": "11", "phone": "13800138000"})
    assert r.status_code == 201, r.text
    rows = [fx.enrolment_row(ids[0]), {}, fx.enrolment_row(ids[1]), fx.enrolment_row(ids[2], phone="5"),
            fx.enrolment_row(float(ids[3][:17] + "0")), fx.enrolment_row(ids[1])]
    result = imported(suite, fresh_unit["token"], fx.filled("enrolment", rows))
    assert (result["total"], result["succeeded"], result["failed"]) == (5, 1, 4)
    reasons = {f["row"]: f["reason"] for f in result["failures"]}
    assert reasons[2] == "该人员已在本单位正常参保"
    assert "联系电话" in reasons[5]
    assert "Excel" in reasons[6] and "文本" in reasons[6]
    assert reasons[7] == "与第4行是同一人，同一文件中每人只能填写一次"


def test_a_suspension_file_suspends_only_this_units_people(suite, fresh_unit, other_unit):
    ids = fresh_ids(3)
    imported(suite, fresh_unit["token"], fx.filled("enrolment", [fx.enrolment_row(i) for i in ids[:2]]))
    imported(suite, other_unit["token"], fx.filled("enrolment", [fx.enrolment_row(ids[2])]))
    rows = [fx.suspension_row(ids[0]), fx.suspension_row(ids[2]), fx.suspension_row(ids[1], reason="99 其他")]
    result = imported(suite, fresh_unit["token"], fx.filled("suspension", rows), "suspension")
    reasons = {f["row"]: f["reason"] for f in result["failures"]}
    assert result["succeeded"] == 1 and reasons[3] == "该人员未在本单位参保" and "备注" in reasons[4]
    assert suite.api("GET", "/api/unit", fresh_unit["token"]).json()["month_decrease"] == 1


def test_a_file_resaved_by_libreoffice_imports(suite, fresh_unit):
    assert fx.libreoffice(), "LibreOffice is missing: `make test` installs it (deploy/browser.py)"
    ids = fresh_ids(3)
    rows = [fx.enrolment_row(ids[0], birth_date=None), fx.enrolment_row(ids[1], nation="汉"),
            fx.enrolment_row("E1234" + ids[2][-4:], cert_type="08 外国人护照", gender="2 女",
                             birth_date=date(1990, 1, 2))]
    converted = fx.convert(fx.filled("enrolment", rows))
    assert b"openpyxl" not in converted
    result = imported(suite, fresh_unit["token"], converted)
    assert result["succeeded"] == 3, result["failures"]


# whole-file refusals: a clear 4xx and nothing recorded

ERROR_OF = {400: "invalid_input", 413: "too_large", 415: "unsupported_file"}


def refused(suite, unit, data, status, reason=None, business_type="enrolment", name="名单.xlsx",
            at_once=False):
    """A file refused as a whole: at once with `status` (what needs no
    reading: empty, oversize, plainly not an .xlsx) and no batch recorded,
    or, once a worker has read it, a failed batch whose error is `status`'s
    and whose message says why in Chinese; either way nothing declared."""
    r = upload(suite, unit["token"], data, business_type, name)
    if at_once:
        assert r.status_code == status, r.text
        body = r.json()
        assert batches(suite, unit["token"])["total"] == 0
    else:
        assert r.status_code in (202, status), r.text
        if r.status_code == 202:
            body = suite.wait_batch(unit["token"], r.json()["batch_no"])
            assert (body["status"], body["error"], body["succeeded"]) == ("failed", ERROR_OF[status], 0), body
            listed = batches(suite, unit["token"])
            assert listed["total"] == 1 and listed["items"][0]["status"] == "failed"
            failures = suite.api("GET", f"/api/batches/{body['batch_no']}/failures.xlsx", unit["token"])
            assert failures.status_code == 409
        else:
            body = r.json()
            assert batches(suite, unit["token"])["total"] == 0
    assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), body
    if reason:
        assert body.get("reason") == reason, body
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 0
    return body


def test_an_xls_file_is_415(suite, fresh_unit):
    assert fx.libreoffice(), "LibreOffice is missing: `make test` installs it (deploy/browser.py)"
    xls = fx.convert(fx.filled("enrolment", [fx.enrolment_row(fresh_ids(1)[0])]), "xls")
    assert ".xls" in refused(suite, fresh_unit, xls, 415, name="名单.xls")["message"]


@pytest.mark.parametrize("make, words", [
    (fx.csv_bytes, "CSV"),
    (fx.html_bytes, "HTML"),
    (fx.encrypted_bytes, "密码"),
    (lambda: fx.zip_bomb(120), "压缩"),
    (lambda: fx.macro_enabled(fx.filled("enrolment", [fx.enrolment_row(fx.id_number(1))])), "宏"),
])
def test_files_that_are_not_plain_xlsx_are_415(suite, fresh_unit, make, words):
    assert words in refused(suite, fresh_unit, make(), 415)["message"]


def test_a_foreign_workbook_is_400_asking_for_the_template(suite, fresh_unit):
    data = fx.plain_workbook([["证件类型", "证件号码", "姓名"], ["01", fx.id_number(1), "张三"]])
    assert "下载最新模板" in refused(suite, fresh_unit, data, 400, "wrong_template")["message"]


def test_an_outdated_template_is_400(suite, fresh_unit):
    data = fx.with_mark(fx.filled("enrolment", [fx.enrolment_row(fx.id_number(1))]), "enrolment-v0")
    assert "过期" in refused(suite, fresh_unit, data, 400, "outdated_template")["message"]


def test_the_other_business_types_template_is_400(suite, fresh_unit):
    data = fx.filled("suspension", [fx.suspension_row(fx.id_number(1))])
    refused(suite, fresh_unit, data, 400, "wrong_template")


def test_a_template_without_data_rows_is_400(suite, fresh_unit):
    r = suite.api("GET", "/api/batches/template?business_type=enrolment", fresh_unit["token"])
    refused(suite, fresh_unit, r.content, 400, "no_rows")


def test_more_than_20000_rows_is_413(suite, fresh_unit):
    ids = fx.many_ids(20001)
    data = fx.big("enrolment", [fx.enrolment_row(i) for i in ids])
    assert "20000" in refused(suite, fresh_unit, data, 413)["message"]


def test_a_file_over_10_mb_is_413_from_the_gateway(suite, fresh_unit):
    body = refused(suite, fresh_unit, b"PK\x03\x04" + bytes(10 * 1024 * 1024), 413, at_once=True)
    assert "10MB" in body["message"]


def test_a_missing_file_is_400(suite, fresh_unit):
    r = suite.api("POST", "/api/batches?business_type=enrolment", fresh_unit["token"],
                  files={"other": ("a.txt", b"x")})
    assert r.status_code == 400 and "file" in r.json()["details"]


# the same file twice, and the failures file

def test_the_same_file_twice_answers_with_the_first_batch_and_doubles_nothing(suite, fresh_unit):
    ids = fresh_ids(3)
    data = fx.filled("enrolment", [fx.enrolment_row(i) for i in ids] + [fx.enrolment_row(ids[0][:-1])])
    first = imported(suite, fresh_unit["token"], data)
    second = imported(suite, fresh_unit["token"], data, status=200)
    assert second["duplicate"] is True and second["batch_no"] == first["batch_no"]
    assert second["failures"] == first["failures"]
    assert batches(suite, fresh_unit["token"])["total"] == 1
    assert suite.api("GET", "/api/unit", fresh_unit["token"]).json()["insured_count"] == 3


def test_the_same_idempotency_key_with_another_file_is_409(suite, fresh_unit):
    ids = fresh_ids(2)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    data = fx.filled("enrolment", [fx.enrolment_row(ids[0])])
    one = upload(suite, fresh_unit["token"], data, headers=key)
    assert one.status_code == 202, one.text
    again = upload(suite, fresh_unit["token"], data, headers=key)
    assert again.status_code == 200 and again.json()["batch_no"] == one.json()["batch_no"]
    other = upload(suite, fresh_unit["token"], fx.filled("enrolment", [fx.enrolment_row(ids[1])]), headers=key)
    assert other.status_code == 409


def test_the_corrected_failures_file_imports_the_corrected_rows(suite, fresh_unit):
    ids = fresh_ids(3)
    rows = [fx.enrolment_row(ids[0]), fx.enrolment_row(ids[1], phone="12"),
            fx.enrolment_row(ids[2], name='=HYPERLINK("http://evil.example","点我")')]
    first = imported(suite, fresh_unit["token"], fx.filled("enrolment", rows))
    assert first["failed"] == 2
    r = suite.api("GET", f"/api/batches/{first['batch_no']}/failures.xlsx", fresh_unit["token"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(XLSX)
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    ws = wb["城乡居民参保"]
    assert ws.cell(1, 12).value == "失败原因" and ws["B2"].value == ids[1]
    assert ws["C3"].data_type == "s" and ws["C3"].value.startswith("=HYPERLINK")
    ws["H2"] = "13900139000"
    ws["C3"] = "李四"
    second = imported(suite, fresh_unit["token"], fx.save(wb))
    assert (second["succeeded"], second["failed"]) == (2, 0)
    assert suite.api("GET", "/api/unit", fresh_unit["token"]).json()["insured_count"] == 3


# batch records

def test_batch_records_filter_by_type_date_and_number(suite, fresh_unit):
    ids = fresh_ids(2)
    a = imported(suite, fresh_unit["token"],
                 fx.filled("enrolment", [fx.enrolment_row(ids[0]), fx.enrolment_row(ids[1])]))
    b = imported(suite, fresh_unit["token"],
                 fx.filled("suspension", [fx.suspension_row(ids[0]), fx.suspension_row(fx.id_number(9))]),
                 "suspension")
    listed = batches(suite, fresh_unit["token"])
    assert [i["batch_no"] for i in listed["items"]] == [b["batch_no"], a["batch_no"]]
    assert "failures" not in listed["items"][0] and listed["items"][0]["failed"] == 1
    assert batches(suite, fresh_unit["token"], "business_type=enrolment")["items"][0]["batch_no"] == a["batch_no"]
    day = a["submitted_at"][:10]
    assert batches(suite, fresh_unit["token"], f"from={day}&to={day}")["total"] == 2
    assert batches(suite, fresh_unit["token"], "from=2000-01-01&to=2000-01-02")["total"] == 0
    assert batches(suite, fresh_unit["token"], f"batch_no={b['batch_no']}")["total"] == 1
    detail = suite.api("GET", f"/api/batches/{b['batch_no']}", fresh_unit["token"]).json()
    assert detail["failed"] == 1 and detail["failures"][0]["row"] == 3
    assert suite.api("GET", "/api/batches?from=2026/01/01", fresh_unit["token"]).status_code == 400


def test_another_units_batches_are_invisible(suite, fresh_unit, other_unit):
    result = imported(suite, other_unit["token"], fx.filled("enrolment", [fx.enrolment_row(fresh_ids(1)[0])]))
    no = result["batch_no"]
    assert suite.api("GET", f"/api/batches/{no}", fresh_unit["token"]).status_code == 404
    assert suite.api("GET", f"/api/batches/{no}/failures.xlsx", fresh_unit["token"]).status_code == 404
    assert batches(suite, fresh_unit["token"], f"batch_no={no}")["total"] == 0
    assert records(suite, fresh_unit["token"], no)["total"] == 0


def test_the_upload_is_documented_as_multipart(suite):
    doc = suite.api("GET", "/api/openapi.json").json()
    post = doc["paths"]["/api/batches"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"202", "200", "413", "415"} <= set(post["responses"])
