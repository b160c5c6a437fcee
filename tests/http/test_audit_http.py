"""The audit trail over HTTP: reads of personal data and writes are on
record (once each), a personal-data read fails closed (503) while the
audit service is down and succeeds once it is back, with nothing lost; the
auditor's search and export.

Records reach the audit service asynchronously after the broker confirmed
them, so the tests poll the trail with a generous cap."""
import io
import random
import time
import uuid

import pytest
from openpyxl import load_workbook

from common.protect import mask_cert_no
from common.rpc.client import RpcClient
from tests.factories import enrolment, id_number
from tests.suite import AUDITOR_PASSWORD, SECADMIN_PASSWORD

WAIT_CAP = 90  # seconds; a loaded 2-core machine is slow, never this slow


@pytest.fixture(scope="module")
def trail(suite):
    client = RpcClient(suite.env["AMQP_URI"], 30)
    yield client.cluster.audit
    client.close()


def records_of(trail, request_id, at_least=1, cap=WAIT_CAP):
    """The records of a request, once `at_least` of them are stored."""
    deadline = time.monotonic() + cap
    while True:
        items = trail.search({"request_id": request_id}, 1, 50)["items"]
        if len(items) >= at_least:
            return items
        assert time.monotonic() < deadline, f"no audit record of request {request_id} after {cap} s"
        time.sleep(0.2)


def get(suite, path, token, **kwargs):
    request_id = uuid.uuid4().hex
    r = suite.api("GET", path, token, headers={"X-Request-ID": request_id}, **kwargs)
    return r, request_id


def test_a_roster_search_is_on_record_with_who_what_and_the_filters(suite, fresh_unit, trail):
    r, request_id = get(suite, "/api/residents", fresh_unit["token"], params={"cert_no": "350502199001011234"})
    assert r.status_code == 200, r.text
    [item] = records_of(trail, request_id)
    assert item["action"] == "roster.list" and item["outcome"] == "success"
    assert item["account"] == fresh_unit["account"] and item["role"] == "unit"
    assert item["unit_id"] == fresh_unit["unit"]["id"]
    assert item["address"] == "127.0.0.1" and item["request_id"] == request_id
    assert item["object"]["cert_no"] == "350502199001011234"
    assert trail.search({"cert_no": "350502199001011234", "account": fresh_unit["account"]}, 1, 20)["total"] == 1


def test_a_refused_read_is_on_record_too(suite, fresh_unit, trail):
    r, request_id = get(suite, "/api/declarations/no-such-record", fresh_unit["token"])
    assert r.status_code == 404
    [item] = records_of(trail, request_id)
    assert item["action"] == "records.detail" and item["outcome"] == "not_found"
    assert item["object"]["record_id"] == "no-such-record"


def test_an_enrolment_is_on_record_with_its_record_id(suite, fresh_unit, trail):
    person = enrolment(random.randrange(3_000_000))
    request_id = uuid.uuid4().hex
    r = suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=person,
                  headers={"X-Request-ID": request_id})
    assert r.status_code == 201, r.text
    [item] = records_of(trail, request_id)
    assert item["action"] == "declaration.enrolment" and item["outcome"] == "success"
    assert item["object"]["record_id"] == r.json()["record_id"]
    assert item["object"]["cert_no"] == person["cert_no"]


def test_a_failed_sign_in_is_on_record_without_the_password(suite, fresh_unit, trail):
    request_id = uuid.uuid4().hex
    r = suite.api("POST", "/api/auth/login", json={"account": fresh_unit["account"], "password": "Wrong@2026x"},
                  headers={"X-Request-ID": request_id})
    assert r.status_code == 401
    [item] = records_of(trail, request_id)
    assert item["action"] == "auth.login" and item["outcome"] == "failure"
    assert item["account"] == fresh_unit["account"]
    assert "Wrong@2026x" not in str(item)


def wait_for(suite, path, token, wanted, cap=WAIT_CAP):
    """GET `path` until `wanted(response)`; returns [(response, request_id)]."""
    seen, deadline = [], time.monotonic() + cap
    while True:
        r, request_id = get(suite, path, token)
        seen.append((r, request_id))
        if wanted(r):
            return seen
        assert time.monotonic() < deadline, f"{path}: never the answer wanted in {cap} s; last {r.status_code}"
        time.sleep(0.1)


def test_personal_data_fails_closed_while_the_audit_service_is_down_and_nothing_is_lost(suite, fresh_unit, trail):
    token = fresh_unit["token"]
    before, _ = get(suite, "/api/residents", token)
    assert before.status_code == 200
    suite.stop_process("audit")
    try:
        down = wait_for(suite, "/api/residents", token, lambda r: r.status_code == 503)
        refused = down[-1][0]
        assert refused.json()["error"] == "audit_unavailable"
        assert refused.json()["message"] == "审计服务暂不可用，暂不能查看个人信息，请稍后重试"
        # what carries no personal data is still answered
        assert suite.api("GET", "/api/unit", token).status_code == 200
        more = [get(suite, "/api/residents", token) for _ in range(3)]
        assert all(r.status_code == 503 for r, _ in more)
    finally:
        suite.start_process("audit")
        suite.wait_ready()
    back = wait_for(suite, "/api/residents", token, lambda r: r.status_code == 200)
    answered = [rid for r, rid in down + more + back if r.status_code == 200]
    withheld = [rid for r, rid in down + more + back if r.status_code == 503]
    assert answered and withheld
    for request_id in answered:  # every answer given is on record, exactly once
        [item] = records_of(trail, request_id)
        assert item["outcome"] == "success" and item["action"] == "roster.list"
    for request_id in withheld:  # and so is every answer refused
        [item] = records_of(trail, request_id)
        assert item["outcome"] == "withheld"


@pytest.fixture(scope="module")
def auditor_token(suite):
    return suite.login("auditor", AUDITOR_PASSWORD)  # through the second factor


def test_the_auditor_searches_and_exports_and_is_on_record_doing_so(suite, fresh_unit, trail, auditor_token):
    cert_no = id_number(random.randrange(3_000_000))
    r, request_id = get(suite, "/api/residents/lookup", fresh_unit["token"],
                        params={"cert_type": "01", "cert_no": cert_no})
    assert r.status_code == 200, r.text
    records_of(trail, request_id)
    answer, search_id = get(suite, "/api/audit", auditor_token,
                            params={"account": fresh_unit["account"], "action": "roster.lookup"})
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    # the list shows the person masked (the search took the full number; the export has it)
    assert item["object"]["cert_no"] == mask_cert_no(cert_no) and item["request_id"] == request_id
    assert cert_no not in answer.text
    assert item["unit_id"] == fresh_unit["unit"]["id"] and item["outcome"] == "success"
    exported, _ = get(suite, "/api/audit/export", auditor_token, params={"cert_no": cert_no})
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "时间", "账号") and len(rows) == 2
    assert rows[1][2] == fresh_unit["account"] and cert_no in rows[1][8]
    [own] = records_of(trail, search_id)
    assert own["action"] == "audit.search" and own["account"] == "auditor" and own["role"] == "auditor"


def test_the_auditors_filters_are_checked(suite, auditor_token):
    r = suite.api("GET", "/api/audit", auditor_token, params={"from": "2026-12-02", "to": "2026-12-01"})
    assert r.status_code == 400
    assert suite.api("GET", "/api/audit", auditor_token, params={"outcome": "maybe"}).status_code == 400


def test_only_the_auditor_reads_the_trail(suite, fresh_unit, admin_token):
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    for token in (fresh_unit["token"], admin_token, secadmin):
        assert suite.api("GET", "/api/audit", token).status_code == 403
        assert suite.api("GET", "/api/audit/export", token).status_code == 403
    assert suite.api("GET", "/api/audit").status_code == 401


def test_a_refused_route_is_on_record_with_who_was_refused(suite, fresh_unit, trail):
    r, request_id = get(suite, "/api/events", fresh_unit["token"])
    assert r.status_code == 403
    [item] = records_of(trail, request_id)
    assert item["action"] == "events.feed" and item["outcome"] == "denied"
    assert item["account"] == fresh_unit["account"] and item["role"] == "unit"
