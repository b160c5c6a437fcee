"""Declarations through the gateway: enrol, transfer, resume, suspend,
change, the unit's figures and records, idempotent retries, and one unit
never reaching another's persons or records."""
import itertools
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from common.protect import mask_cert_no
from tests.factories import enrolment, id_number

# Persons of this module; a range of its own, so other modules' persons in
# the same session never collide with them.
_numbers = itertools.count(random.randrange(2_000_000, 2_900_000, 10_000))


@pytest.fixture
def person():
    return enrolment(next(_numbers))


def enrol(suite, unit, body, **kwargs):
    return suite.api("POST", "/api/declarations/enrolment", unit["token"], json=body, **kwargs)


def suspend(suite, unit, body, reason="02", headers=None, **extra):
    return suite.api("POST", "/api/declarations/suspension", unit["token"], headers=headers or {}, json={
        "cert_type": body["cert_type"], "cert_no": body["cert_no"], "name": body["name"],
        "reason": reason, **extra})


def change(suite, unit, body, changes, **kwargs):
    return suite.api("POST", "/api/declarations/change", unit["token"], json={
        "cert_type": body["cert_type"], "cert_no": body["cert_no"], "name": body["name"],
        "changes": changes}, **kwargs)


def unit_info(suite, unit):
    r = suite.api("GET", "/api/unit", unit["token"])
    assert r.status_code == 200, r.text
    return r.json()


def records(suite, unit, **params):
    r = suite.api("GET", "/api/declarations", unit["token"], params=params)
    assert r.status_code == 200, r.text
    return r.json()


def this_month():
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


# enrolment ---------------------------------------------------------------------

def test_a_new_enrolment_is_201_with_the_record_and_counts_on_the_home_page(suite, fresh_unit, person):
    r = enrol(suite, fresh_unit, person)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["business_type"] == "enrolment" and body["action"] == "new_enrolment"
    assert body["record_id"] and datetime.fromisoformat(body["declared_at"]).utcoffset()
    info = unit_info(suite, fresh_unit)
    assert info["insured_count"] == 1 and info["month"] == this_month()
    assert info["month_increase"] == 1 and info["month_decrease"] == 0


def test_enrolling_a_person_of_another_unit_transfers_them_and_the_old_unit_loses_them(
        suite, fresh_unit, other_unit, person):
    assert enrol(suite, fresh_unit, person).status_code == 201
    r = enrol(suite, other_unit, person)
    assert r.status_code == 201 and r.json()["action"] == "transfer_in"
    mine = unit_info(suite, fresh_unit)
    assert mine["insured_count"] == 0 and mine["month_increase"] == 1 and mine["month_decrease"] == 1
    assert unit_info(suite, other_unit)["insured_count"] == 1
    # the transfer-out is not a record of the old unit
    assert [i["action"] for i in records(suite, fresh_unit)["items"]] == ["new_enrolment"]


def test_enrolling_a_person_suspended_here_resumes(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    assert suspend(suite, fresh_unit, person).status_code == 201
    r = enrol(suite, fresh_unit, person)
    assert r.status_code == 201 and r.json()["action"] == "resume"
    assert unit_info(suite, fresh_unit)["insured_count"] == 1


def test_enrolling_a_person_already_insured_here_is_409_in_chinese(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = enrol(suite, fresh_unit, person)
    assert r.status_code == 409
    assert r.json() == {"error": "conflict", "message": "该人员已在本单位正常参保", "details": {}}


def test_invalid_fields_are_400_with_chinese_reasons_per_field(suite, fresh_unit, person):
    bad_id = person["cert_no"][:-1] + ("0" if person["cert_no"][-1] != "0" else "1")
    r = enrol(suite, fresh_unit, {**person, "cert_no": bad_id, "phone": "12345", "category": "88"})
    assert r.status_code == 400
    details = r.json()["details"]
    assert details["cert_no"] == ["身份证号码校验位不正确，请核对"]
    assert set(details) == {"cert_no", "phone", "category"}
    assert all("\u4e00" <= reasons[0][0] <= "\u9fff" for reasons in details.values())


def test_missing_required_fields_are_named(suite, fresh_unit):
    r = enrol(suite, fresh_unit, {"cert_type": "08", "cert_no": "E12345678"})
    assert r.status_code == 400
    assert {"name", "phone", "category", "gender", "birth_date"} <= set(r.json()["details"])


def test_unknown_fields_and_wrong_types_are_400(suite, fresh_unit, person):
    assert enrol(suite, fresh_unit, {**person, "salary": "1"}).status_code == 400
    r = enrol(suite, fresh_unit, {**person, "name": ["张三"]})
    assert r.status_code == 400 and "name" in r.json()["details"]


def test_a_phone_sent_as_a_number_is_accepted(suite, fresh_unit, person):
    assert enrol(suite, fresh_unit, {**person, "phone": 13905951234}).status_code == 201


def test_codes_may_be_given_by_label(suite, fresh_unit, person):
    r = enrol(suite, fresh_unit, {**person, "cert_type": "01 居民身份证（户口簿）", "category": "成年居民",
                                  "nation": "汉族"})
    assert r.status_code == 201, r.text
    detail = suite.api("GET", f"/api/declarations/{r.json()['record_id']}", fresh_unit["token"]).json()
    assert (detail["data"]["cert_type"], detail["data"]["category"], detail["data"]["nation"]) == ("01", "11", "01")


# suspension and change -----------------------------------------------------------

def test_a_suspension_with_a_reason_is_a_decrease(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = suspend(suite, fresh_unit, person, reason="99", remark="外出务工")
    assert r.status_code == 201 and r.json()["business_type"] == "suspension"
    info = unit_info(suite, fresh_unit)
    assert info["insured_count"] == 0 and info["month_decrease"] == 1
    detail = suite.api("GET", f"/api/declarations/{r.json()['record_id']}", fresh_unit["token"]).json()
    assert detail["data"]["reason"] == "99" and detail["data"]["remark"] == "外出务工"


def test_a_suspension_for_other_reasons_needs_a_remark(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = suspend(suite, fresh_unit, person, reason="99")
    assert r.status_code == 400 and "remark" in r.json()["details"]


def test_suspending_twice_is_409(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    suspend(suite, fresh_unit, person)
    r = suspend(suite, fresh_unit, person)
    assert r.status_code == 409 and r.json()["message"] == "该人员已暂停参保"


def test_a_change_answers_before_and_after_and_the_record_keeps_them(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = change(suite, fresh_unit, person, {"phone": "13812345678", "address": "泉州市鲤城区"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["business_type"] == "change"
    assert body["before"] == {"phone": person["phone"], "address": person["address"]}
    assert body["after"] == {"phone": "13812345678", "address": "泉州市鲤城区"}
    detail = suite.api("GET", f"/api/declarations/{body['record_id']}", fresh_unit["token"]).json()
    assert detail["before"] == body["before"] and detail["after"] == body["after"]


def test_the_certificate_number_cannot_be_changed(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = change(suite, fresh_unit, person, {"cert_no": id_number(1)})
    assert r.status_code == 400 and r.json()["details"]["changes.cert_no"] == ["证件号码不可变更"]


# the unit's figures ------------------------------------------------------------------

def test_stats_give_the_last_months_oldest_first_with_insured_end(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    r = suite.api("GET", "/api/unit/stats?months=3", fresh_unit["token"])
    assert r.status_code == 200
    months = r.json()["months"]
    assert len(months) == 3 and months[-1]["month"] == this_month()
    assert [m["month"] for m in months] == sorted(m["month"] for m in months)
    assert months[-1] == {"month": this_month(), "increase": 1, "decrease": 0, "insured_end": 1}
    assert months[0]["insured_end"] == 0


def test_stats_refuse_a_silly_number_of_months(suite, fresh_unit):
    assert suite.api("GET", "/api/unit/stats?months=0", fresh_unit["token"]).status_code == 400


# records ------------------------------------------------------------------------------

def test_records_are_newest_first_paged_and_filtered(suite, fresh_unit):
    people = [enrolment(next(_numbers)) for _ in range(3)]
    for p in people:
        assert enrol(suite, fresh_unit, p).status_code == 201
    suspend(suite, fresh_unit, people[0])
    page = records(suite, fresh_unit, page=1, size=2)
    assert page["total"] == 4 and page["page"] == 1 and page["size"] == 2
    assert page["items"][0]["business_type"] == "suspension"
    assert page["items"][1]["cert_no"] == mask_cert_no(people[2]["cert_no"])  # a list is masked
    assert set(page["items"][0]) >= {"record_id", "business_type", "action", "person_id", "cert_type", "cert_no",
                                     "name", "declared_at", "batch_no"}
    assert records(suite, fresh_unit, business_type="enrolment")["total"] == 3
    assert records(suite, fresh_unit, cert_no=people[1]["cert_no"])["total"] == 1
    assert records(suite, fresh_unit, name=people[1]["name"], cert_no=people[1]["cert_no"])["total"] == 1
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert records(suite, fresh_unit, **{"from": today, "to": today})["total"] == 4
    assert records(suite, fresh_unit, to="2000-01-01")["total"] == 0
    assert records(suite, fresh_unit, batch_no="P000")["total"] == 0


def test_record_filters_are_checked(suite, fresh_unit):
    for params in ({"business_type": "other"}, {"from": "2026-02-30"}, {"size": 1000}):
        assert suite.api("GET", "/api/declarations", fresh_unit["token"], params=params).status_code == 400


def test_a_record_has_every_declared_field(suite, fresh_unit, person):
    record_id = enrol(suite, fresh_unit, {**person, "remark": "新生儿"}).json()["record_id"]
    r = suite.api("GET", f"/api/declarations/{record_id}", fresh_unit["token"])
    assert r.status_code == 200
    detail = r.json()
    assert detail["record_id"] == record_id and detail["declared_by"] == fresh_unit["account"]
    for field in ("cert_type", "cert_no", "name", "category", "phone", "nation", "address"):
        assert detail["data"][field] == person[field]
    assert detail["data"]["remark"] == "新生儿" and detail["data"]["gender"] in ("1", "2")


def test_an_unknown_record_is_404(suite, fresh_unit):
    r = suite.api("GET", "/api/declarations/no-such-record", fresh_unit["token"])
    assert r.status_code == 404 and r.json()["error"] == "not_found"


# idempotency ----------------------------------------------------------------------------

def test_a_retried_post_with_the_same_key_returns_the_first_answer_and_declares_nothing_more(
        suite, fresh_unit, person):
    headers = {"Idempotency-Key": "enrol-" + person["cert_no"]}
    first = enrol(suite, fresh_unit, person, headers=dict(headers))
    again = enrol(suite, fresh_unit, person, headers=dict(headers))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert records(suite, fresh_unit)["total"] == 1
    assert unit_info(suite, fresh_unit)["month_increase"] == 1


@pytest.mark.parametrize("path", ["suspension", "change"])
def test_every_post_honours_the_key(suite, fresh_unit, person, path):
    enrol(suite, fresh_unit, person)
    headers = {"Idempotency-Key": f"{path}-{person['cert_no']}"}
    send = (lambda: suspend(suite, fresh_unit, person, headers=dict(headers))) if path == "suspension" else \
        (lambda: change(suite, fresh_unit, person, {"phone": "13712345678"}, headers=dict(headers)))
    first, again = send(), send()
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert records(suite, fresh_unit)["total"] == 2


def test_a_key_used_for_another_body_is_409(suite, fresh_unit, person):
    headers = {"Idempotency-Key": "reuse-" + person["cert_no"]}
    enrol(suite, fresh_unit, person, headers=dict(headers))
    r = enrol(suite, fresh_unit, enrolment(next(_numbers)), headers=dict(headers))
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["details"]


def test_another_accounts_same_key_is_its_own_request(suite, fresh_unit, other_unit, person):
    headers = {"Idempotency-Key": "shared-" + person["cert_no"]}
    assert enrol(suite, fresh_unit, person, headers=dict(headers)).json()["action"] == "new_enrolment"
    assert enrol(suite, other_unit, person, headers=dict(headers)).json()["action"] == "transfer_in"


# one unit, never another's data ----------------------------------------------------------

def test_another_unit_cannot_read_this_units_records(suite, fresh_unit, other_unit, person):
    record_id = enrol(suite, fresh_unit, person).json()["record_id"]
    r = suite.api("GET", f"/api/declarations/{record_id}", other_unit["token"])
    assert r.status_code == 404 and person["name"] not in r.text and person["cert_no"] not in r.text
    theirs = records(suite, other_unit, cert_no=person["cert_no"])
    assert theirs["total"] == 0 and theirs["items"] == []


def test_another_unit_cannot_suspend_or_change_this_units_person(suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    r = suspend(suite, other_unit, person)
    assert r.status_code == 409 and r.json()["message"] == "该人员未在本单位参保"
    r = change(suite, other_unit, person, {"phone": "13700000000"})
    assert r.status_code == 409 and r.json()["message"] == "该人员不属于本单位"
    for body in (r.text,):
        assert person["phone"] not in body and person["address"] not in body
    assert unit_info(suite, fresh_unit)["insured_count"] == 1


def test_a_transfer_record_does_not_name_the_unit_that_lost_the_person(suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    record_id = enrol(suite, other_unit, person).json()["record_id"]
    r = suite.api("GET", f"/api/declarations/{record_id}", other_unit["token"])
    assert r.status_code == 200
    assert fresh_unit["unit"]["name"] not in r.text and fresh_unit["unit"]["credit_code"] not in r.text


def test_declaring_needs_a_unit_account(suite, admin_token, person):
    assert suite.api("POST", "/api/declarations/enrolment", json=person).status_code == 401
    assert suite.api("POST", "/api/declarations/enrolment", admin_token, json=person).status_code == 403
    assert suite.api("GET", "/api/declarations", admin_token).status_code == 403
