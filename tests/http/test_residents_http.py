"""The roster through the gateway: declarations reach 人员列表 through the
relay and the residents projection; search, status filter, person details
with history, the enrolment form's lookup, and the Excel download; one unit
never sees another's residents."""
import io
import itertools
import random
import time
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from common.protect import mask_cert_no, mask_phone
from tests.factories import enrolment

# Persons of this module: a range of their own in the session.
_numbers = itertools.count(random.randrange(3_000_000, 3_900_000, 10_000))


@pytest.fixture
def person():
    return enrolment(next(_numbers))


def enrol(suite, unit, body):
    r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def suspend(suite, unit, body, reason="02"):
    r = suite.api("POST", "/api/declarations/suspension", unit["token"], json={
        "cert_type": body["cert_type"], "cert_no": body["cert_no"], "name": body["name"],
        "reason": reason})
    assert r.status_code == 201, r.text


def roster(suite, unit, **params):
    r = suite.api("GET", "/api/residents", unit["token"], params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for_roster(suite, unit, predicate, timeout=60, **params):
    """The roster follows the log within milliseconds; tests wait for it
    (with a cap a loaded machine cannot reach)."""
    deadline = time.time() + timeout
    while True:
        page = roster(suite, unit, **params)
        if predicate(page):
            return page
        if time.time() > deadline:
            raise AssertionError(f"roster did not catch up: {page}")
        time.sleep(0.05)


def has(cert_no, status="active"):
    """The roster shows the person (by the masked number: a list is masked)."""
    return lambda page: any(i["cert_no"] == mask_cert_no(cert_no) and i["status"] == status for i in page["items"])


def numbers(items):
    """The masked numbers of a list's lines."""
    return [i["cert_no"] for i in items]


def test_an_enrolment_appears_on_the_roster_with_its_fields(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    page = wait_for_roster(suite, fresh_unit, has(person["cert_no"]))
    item = page["items"][0]
    assert (item["name"], item["phone"], item["category"]) == (person["name"], mask_phone(person["phone"]), "11")
    assert item["status"] == "active" and item["status_label"] == "正常参保"
    assert item["person_id"] and item["gender"] in ("1", "2") and "birth_date" not in item
    assert datetime.fromisoformat(item["since"]).utcoffset() is not None
    assert page["total"] == 1 and page["page"] == 1 and page["size"] == 20


def test_roster_is_newest_first_and_paged(suite, fresh_unit):
    people = [enrolment(next(_numbers)) for _ in range(3)]
    for body in people:
        enrol(suite, fresh_unit, body)
    wait_for_roster(suite, fresh_unit, lambda p: p["total"] == 3)
    page = roster(suite, fresh_unit, page=1, size=2)
    assert numbers(page["items"]) == [mask_cert_no(people[2]["cert_no"]), mask_cert_no(people[1]["cert_no"])]
    assert numbers(roster(suite, fresh_unit, page=2, size=2)["items"]) == [mask_cert_no(people[0]["cert_no"])]


def test_exact_search_by_cert_no_and_name_and_status_filter(suite, fresh_unit, person):
    other = enrolment(next(_numbers))
    enrol(suite, fresh_unit, person)
    enrol(suite, fresh_unit, other)
    suspend(suite, fresh_unit, other)
    wait_for_roster(suite, fresh_unit, has(other["cert_no"], "suspended"))
    typed = " " + person["cert_no"][:9] + " " + person["cert_no"][9:].lower() + " "
    assert [i["name"] for i in roster(suite, fresh_unit, cert_no=typed)["items"]] == [person["name"]]
    assert roster(suite, fresh_unit, cert_no=person["cert_no"][:-1])["total"] == 0
    assert set(numbers(roster(suite, fresh_unit, name=person["name"])["items"])) >= {mask_cert_no(person["cert_no"])}
    assert roster(suite, fresh_unit, name=person["name"][:1])["total"] == 0
    assert numbers(roster(suite, fresh_unit, status="suspended")["items"]) == [mask_cert_no(other["cert_no"])]
    assert numbers(roster(suite, fresh_unit, status="active")["items"]) == [mask_cert_no(person["cert_no"])]


def test_a_bad_status_filter_is_400_in_chinese(suite, fresh_unit):
    r = suite.api("GET", "/api/residents", fresh_unit["token"], params={"status": "gone"})
    assert r.status_code == 400 and "status" in r.json()["details"]


def test_person_details_with_history_in_this_unit(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    suspend(suite, fresh_unit, person, reason="01")
    wait_for_roster(suite, fresh_unit, has(person["cert_no"], "suspended"))
    r = suite.api("GET", f"/api/residents/01/{person['cert_no']}", fresh_unit["token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == person["name"] and body["address"] == person["address"]
    assert body["status"] == "suspended" and body["labels"]["suspension_reason"] == "死亡"
    assert [h["kind"] for h in body["history"]] == ["suspension", "new_enrolment"]


def test_a_transferred_person_leaves_the_old_roster_and_the_old_unit_cannot_read_it(
        suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    wait_for_roster(suite, fresh_unit, has(person["cert_no"]))
    assert enrol(suite, other_unit, {**person, "phone": "13912340000"})["action"] == "transfer_in"
    wait_for_roster(suite, other_unit, has(person["cert_no"]))
    wait_for_roster(suite, fresh_unit, lambda p: p["total"] == 0)
    r = suite.api("GET", f"/api/residents/01/{person['cert_no']}", fresh_unit["token"])
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    kinds = [h["kind"] for h in suite.api(
        "GET", f"/api/residents/01/{person['cert_no']}", other_unit["token"]).json()["history"]]
    assert kinds == ["transfer_in"]


def lookup(suite, unit, body, name=None):
    params = {"cert_type": body["cert_type"], "cert_no": body["cert_no"]}
    if name is not None:
        params["name"] = name
    r = suite.api("GET", "/api/residents/lookup", unit["token"], params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_lookup_tells_the_form_new_refused_resume_and_transfer(suite, fresh_unit, other_unit, person):
    answer = lookup(suite, fresh_unit, person, person["name"])
    assert (answer["status"], answer["action"], answer["person"]) == ("none", "new_enrolment", None)
    enrol(suite, fresh_unit, person)
    wait_for_roster(suite, fresh_unit, has(person["cert_no"]))
    here = lookup(suite, fresh_unit, person, person["name"])
    assert (here["status"], here["action"]) == ("active_here", None)
    assert here["message"] == "该人员已在本单位正常参保" and here["person"]["phone"] == person["phone"]
    assert here["person"]["cert_no"] == person["cert_no"]  # this unit's person: full values
    elsewhere = lookup(suite, other_unit, person, person["name"])
    assert (elsewhere["status"], elsewhere["action"]) == ("active_elsewhere", "transfer_in")
    assert elsewhere["person"]["name"] == person["name"]
    assert elsewhere["person"]["cert_no"] == mask_cert_no(person["cert_no"])  # another unit's: masked
    assert "phone" not in elsewhere["person"] and "address" not in elsewhere["person"]
    assert fresh_unit["unit"]["name"] not in str(elsewhere)
    guessed = lookup(suite, other_unit, person, "别人")
    assert guessed["person"] is None and guessed["name_matches"] is False
    suspend(suite, fresh_unit, person)
    wait_for_roster(suite, fresh_unit, has(person["cert_no"], "suspended"))
    assert lookup(suite, fresh_unit, person)["action"] == "resume"
    assert lookup(suite, other_unit, person)["status"] == "suspended_elsewhere"


def test_lookup_of_an_invalid_number_is_400_with_the_reason(suite, fresh_unit, person):
    r = suite.api("GET", "/api/residents/lookup", fresh_unit["token"],
                  params={"cert_type": "01", "cert_no": person["cert_no"][:-1] + "Z"})
    assert r.status_code == 400 and r.json()["details"]["cert_no"]
    r = suite.api("GET", "/api/residents/lookup", fresh_unit["token"], params={"cert_type": "01"})
    assert r.status_code == 400 and r.json()["details"]["cert_no"] == ["此项为必填项"]


def test_export_is_an_xlsx_named_after_the_unit_and_the_date(suite, fresh_unit, person):
    other = enrolment(next(_numbers))
    enrol(suite, fresh_unit, person)
    enrol(suite, fresh_unit, other)
    suspend(suite, fresh_unit, other)
    wait_for_roster(suite, fresh_unit, has(other["cert_no"], "suspended"))
    r = suite.api("GET", "/api/residents/export", fresh_unit["token"], params={"status": "active"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    expected = quote(f"{fresh_unit['unit']['name']}_参保人员名单_{today}.xlsx", safe="")
    assert f"filename*=UTF-8''{expected}" in disposition
    assert f'filename="residents-{today}.xlsx"' in disposition
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.values)
    assert rows[0][:4] == ("证件类型", "证件号码", "姓名", "性别")
    assert [row[1] for row in rows[1:]] == [person["cert_no"]]
    assert sheet.cell(row=2, column=2).data_type == "s"
    assert sheet.cell(row=2, column=2).number_format == "@"
    assert r.headers["X-Row-Count"] == "1"


def test_the_roster_is_for_units_only(suite, admin_token):
    assert suite.api("GET", "/api/residents", admin_token).status_code == 403
    assert suite.api("GET", "/api/residents").status_code == 401
