"""Masked lists (issue 17 point 3, docs/protection.md) through the gateway:
every list answer that names persons — the roster and its searches, the
records, a batch's failed rows (as it is polled and as a duplicate upload
answers it), the lookup of another unit's person — shows 证件号码 and 联系电话
masked, gives each person's opaque `person_id`, and holds the full values
nowhere in its text; `GET /api/residents/p/{person_id}` opens the person
with full values, audited as the details read is, for the unit holding the
person only. Full values stay in details and in downloaded files."""
import io
import itertools
import random
import re
import uuid
from datetime import date

import pytest
from openpyxl import load_workbook

from common.protect import mask_cert_no, mask_phone
from common.rpc.client import RpcClient
from tests import fixtures_xlsx as fx, waiting
from tests.factories import enrolment
from tests.suite import AUDITOR_PASSWORD

pytestmark = pytest.mark.http

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERSON_ID = re.compile(r"[A-Za-z0-9_-]{22}")
# Persons of this module: a range of their own in the session.
_numbers = itertools.count(random.randrange(4_000_000, 4_900_000, 10_000))


@pytest.fixture
def person():
    return enrolment(next(_numbers), hukou_address="福建省泉州市鲤城区开元街道")


def get(suite, unit, path, **params):
    r = suite.api("GET", path, unit["token"], params=params)
    assert r.status_code == 200, r.text
    return r


def enrol(suite, unit, body):
    r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def wait_until(check, what, cap=60):
    return waiting.wait_until(check, what, cap, interval=0.05)


def on_roster(suite, unit, person):
    """The person's roster line, once the projection has it (searched by the full number)."""
    return wait_until(lambda: get(suite, unit, "/api/residents", cert_no=person["cert_no"]).json()["items"],
                      "the roster never showed the person")[0]


def full_values(person):
    return [v for v in (person["cert_no"], person["phone"], person.get("hukou_address"), person.get("address"))
            if v]


def assert_masked(text, person):
    """None of the person's full values anywhere in an answer's text (nor the
    birth date, which the mask hides)."""
    born = person["cert_no"][6:14]
    for value in (*full_values(person), f"{born[:4]}-{born[4:6]}-{born[6:]}"):
        assert value not in text, f"{value} in a list answer: {text[:400]}"


def test_the_roster_is_masked_and_a_person_id_opens_the_person(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    line = on_roster(suite, fresh_unit, person)  # searching by the full number still finds the person
    assert line["cert_no"] == mask_cert_no(person["cert_no"]) == person["cert_no"][:6] + "********" \
        + person["cert_no"][-4:]
    assert line["phone"] == mask_phone(person["phone"]) == person["phone"][:3] + "****" + person["phone"][-4:]
    assert PERSON_ID.fullmatch(line["person_id"]) and "birth_date" not in line
    for page in (get(suite, fresh_unit, "/api/residents"), get(suite, fresh_unit, "/api/residents",
                                                                  name=person["name"])):
        assert line["person_id"] in page.text
        assert_masked(page.text, person)

    opened = get(suite, fresh_unit, f"/api/residents/p/{line['person_id']}").json()
    by_number = get(suite, fresh_unit, f"/api/residents/01/{person['cert_no']}").json()
    assert opened == by_number
    assert (opened["cert_no"], opened["phone"], opened["hukou_address"], opened["address"]) == \
        (person["cert_no"], person["phone"], person["hukou_address"], person["address"])
    assert opened["person_id"] == line["person_id"] and opened["history"][0]["kind"] == "new_enrolment"
    # stable: the same id on the next page read
    assert get(suite, fresh_unit, "/api/residents").json()["items"][0]["person_id"] == line["person_id"]


def test_another_unit_cannot_open_a_person_by_its_id(suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    person_id = on_roster(suite, fresh_unit, person)["person_id"]
    for path in (f"/api/residents/p/{person_id}", f"/api/residents/01/{person['cert_no']}"):
        r = suite.api("GET", path, other_unit["token"])
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        for value in (*full_values(person), person["name"]):
            assert value not in r.text
    # an id that names nobody, or is not an id at all, is just as unknown
    for other in ("A" * 22, person_id[:-1], person["cert_no"], "x"):
        assert suite.api("GET", f"/api/residents/p/{other}", fresh_unit["token"]).status_code == 404
    assert suite.api("GET", f"/api/residents/p/{person_id}").status_code == 401


def test_a_transferred_persons_id_opens_it_for_the_new_unit_only(suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    person_id = on_roster(suite, fresh_unit, person)["person_id"]
    assert enrol(suite, other_unit, person)["action"] == "transfer_in"
    assert on_roster(suite, other_unit, person)["person_id"] == person_id  # one person, one id
    wait_until(lambda: suite.api("GET", f"/api/residents/p/{person_id}", fresh_unit["token"]).status_code == 404,
               "the old unit still opens the person")
    kinds = [h["kind"] for h in get(suite, other_unit, f"/api/residents/p/{person_id}").json()["history"]]
    assert kinds == ["transfer_in"]


def test_records_are_masked_with_person_ids_and_the_record_detail_is_full(suite, fresh_unit, person):
    record_id = enrol(suite, fresh_unit, person)["record_id"]
    page = get(suite, fresh_unit, "/api/declarations", cert_no=person["cert_no"])  # the full number finds it
    [line] = page.json()["items"]
    assert line["record_id"] == record_id and line["cert_no"] == mask_cert_no(person["cert_no"])
    assert PERSON_ID.fullmatch(line["person_id"])
    assert_masked(page.text, person)
    assert_masked(get(suite, fresh_unit, "/api/declarations").text, person)
    detail = get(suite, fresh_unit, f"/api/declarations/{record_id}").json()
    assert detail["cert_no"] == person["cert_no"] and detail["data"]["phone"] == person["phone"]
    assert detail["person_id"] == line["person_id"]
    on_roster(suite, fresh_unit, person)
    assert get(suite, fresh_unit, f"/api/residents/p/{line['person_id']}").json()["cert_no"] == person["cert_no"]


def test_a_batchs_failed_rows_are_masked_in_json_and_whole_in_the_failures_file(suite, fresh_unit):
    region = f"35{uuid.uuid4().int % 10000:04d}"
    ids = [fx.id_number(i, date(1970, 5, 6), region=region) for i in range(3)]
    enrol(suite, fresh_unit, enrolment(0, cert_no=ids[0], name="已参保", phone="13905950000"))
    rows = [fx.enrolment_row(ids[0], name="已参保"), fx.enrolment_row(ids[1], name="电话错", phone="123"),
            fx.enrolment_row(ids[2], name="成功")]
    data = fx.filled("enrolment", rows)
    r = suite.api("POST", "/api/batches?business_type=enrolment", fresh_unit["token"],
                  files={"file": ("参保名单.xlsx", data, XLSX)})
    assert r.status_code == 202, r.text
    batch_no = r.json()["batch_no"]
    done = suite.wait_batch(fresh_unit["token"], batch_no)
    assert (done["succeeded"], done["failed"]) == (1, 2), done
    polled = get(suite, fresh_unit, f"/api/batches/{batch_no}")
    again = suite.api("POST", "/api/batches?business_type=enrolment", fresh_unit["token"],
                      files={"file": ("参保名单.xlsx", data, XLSX)})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    for answer in (polled, again):
        failures = {f["row"]: f for f in answer.json()["failures"]}
        assert [failures[2]["cert_no"], failures[3]["cert_no"]] == [mask_cert_no(ids[0]), mask_cert_no(ids[1])]
        assert failures[2]["cert_type"] == "01" and PERSON_ID.fullmatch(failures[2]["person_id"])
        for number in ids:
            assert number not in answer.text
    # the row of a person already enrolled here opens that person
    wait_until(lambda: get(suite, fresh_unit, "/api/residents", cert_no=ids[0]).json()["total"],
               "the roster never showed the enrolled person")
    opened = get(suite, fresh_unit, f"/api/residents/p/{failures[2]['person_id']}").json()
    assert opened["cert_no"] == ids[0] and opened["name"] == "已参保"
    # the failures file is for correcting the rows: full values
    file = get(suite, fresh_unit, f"/api/batches/{batch_no}/failures.xlsx")
    cells = {str(c) for row in load_workbook(io.BytesIO(file.content)).active.iter_rows(values_only=True)
             for c in row if c is not None}
    assert {ids[0], ids[1]} <= cells


def test_a_lookup_masks_another_units_person_and_not_this_units(suite, fresh_unit, other_unit, person):
    enrol(suite, fresh_unit, person)
    person_id = on_roster(suite, fresh_unit, person)["person_id"]
    query = {"cert_type": "01", "cert_no": person["cert_no"], "name": person["name"]}
    here = get(suite, fresh_unit, "/api/residents/lookup", **query).json()["person"]
    assert (here["cert_no"], here["phone"], here["person_id"]) == (person["cert_no"], person["phone"], person_id)
    elsewhere = get(suite, other_unit, "/api/residents/lookup", **query)
    shown = elsewhere.json()["person"]
    assert shown["cert_no"] == mask_cert_no(person["cert_no"]) and shown["person_id"] == person_id
    for value in full_values(person):
        assert value not in elsewhere.text
    assert suite.api("GET", f"/api/residents/p/{person_id}", other_unit["token"]).status_code == 404


def test_opening_a_person_by_id_is_audited_as_a_details_read(suite, fresh_unit, person):
    enrol(suite, fresh_unit, person)
    person_id = on_roster(suite, fresh_unit, person)["person_id"]
    request_id = uuid.uuid4().hex
    r = suite.api("GET", f"/api/residents/p/{person_id}", fresh_unit["token"], headers={"X-Request-ID": request_id})
    assert r.status_code == 200
    client = RpcClient(suite.env["AMQP_URI"], 30)
    try:
        [item] = wait_until(lambda: client.cluster.audit.search({"request_id": request_id}, 1, 5)["items"],
                            "the read is not on record", cap=90)
    finally:
        client.close()
    assert item["action"] == "roster.person" and item["outcome"] == "success"
    assert item["object"]["person_id"] == person_id and item["object"]["cert_no"] == person["cert_no"]
    # the auditor's list shows the person masked; searching by the full number finds the read
    auditor = suite.login("auditor", AUDITOR_PASSWORD)
    found = suite.api("GET", "/api/audit", auditor, params={"cert_no": person["cert_no"], "action": "roster.person"})
    assert found.status_code == 200, found.text
    [listed] = [i for i in found.json()["items"] if i["request_id"] == request_id]
    assert listed["object"]["cert_no"] == mask_cert_no(person["cert_no"]) and person["cert_no"] not in found.text
