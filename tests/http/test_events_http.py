"""The event feed for downstream systems: GET /api/events in position order,
the same events (same event_id and position) as the broker's messages, and
only for the downstream and admin roles."""
import itertools
import random
import subprocess
import sys
import time
import uuid

import pytest
from kombu import Connection

from services.declarations.relay import subscriber_queue
from tests.factories import enrolment
from tests.suite import ROOT

_numbers = itertools.count(random.randrange(4_000_000, 4_900_000, 10_000))
PASSWORD = "Insurer#2026"


@pytest.fixture(scope="module")
def downstream(suite):
    account = "insurer_" + uuid.uuid4().hex[:8]
    subprocess.run(
        [sys.executable, "-m", "services.auth.cli", "create-account", account, "--role", "downstream"],
        input=f"{PASSWORD}\n{PASSWORD}\n", text=True, env=suite.env, cwd=ROOT, check=True,
        capture_output=True,
    )
    return suite.login(account, PASSWORD)


def feed(suite, token, after=0, limit=500):
    r = suite.api("GET", "/api/events", token, params={"after": after, "limit": limit})
    assert r.status_code == 200, r.text
    return r.json()


def read_all(suite, token):
    items, after = [], 0
    while True:
        page = feed(suite, token, after, 200)
        if not page["items"]:
            return items
        items += page["items"]
        after = page["next_after"]


def test_events_come_in_position_order_without_gaps(suite, downstream, fresh_unit):
    for _ in range(3):
        body = enrolment(next(_numbers))
        assert suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=body).status_code == 201
    items = read_all(suite, downstream)
    positions = [e["position"] for e in items]
    assert positions == list(range(1, len(items) + 1))
    last = items[-1]
    assert last["type"] == "resident_enrolled" and last["data"]["action"] == "new_enrolment"
    assert last["unit"]["id"] == fresh_unit["unit"]["id"]
    assert last["unit"]["credit_code"] == fresh_unit["unit"]["credit_code"]
    assert set(last["person"]) == {"cert_type", "cert_no", "name"}
    assert last["schema_version"] == 1 and last["event_id"] and last["record_id"]


def test_next_after_pages_on_and_stays_put_at_the_end(suite, downstream, fresh_unit):
    body = enrolment(next(_numbers))
    suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=body)
    first = feed(suite, downstream, 0, 1)
    assert [e["position"] for e in first["items"]] == [1] and first["next_after"] == 1
    end = feed(suite, downstream, 10**9)
    assert {k: end[k] for k in ("items", "next_after")} == {"items": [], "next_after": 10**9}
    # and which log it is: its id, epoch and last position (docs/events.md)
    assert end["log"]["log_id"] and end["log"]["epoch"] >= 1 and end["log"]["head"] >= 1


def test_the_feed_and_the_broker_carry_the_same_events(suite, downstream, fresh_unit):
    with Connection(suite.env["AMQP_URI"]) as conn:
        queue = subscriber_queue("test.http-probe-" + uuid.uuid4().hex[:6])(conn.channel())
        queue.declare()
        body = enrolment(next(_numbers), hukou_address="福建省泉州市鲤城区中山路一号")
        suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=body)
        suite.api("POST", "/api/declarations/suspension", fresh_unit["token"], json={
            "cert_type": "01", "cert_no": body["cert_no"], "name": body["name"], "reason": "02"})
        got, deadline = [], time.time() + 60
        while len(got) < 2 and time.time() < deadline:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            assert message.delivery_info["routing_key"] == message.decode()["type"]
            got.append(message.decode())
        queue.delete()
    assert [e["type"] for e in got] == ["resident_enrolled", "resident_suspended"]
    from_feed = feed(suite, downstream, got[0]["position"] - 1, 2)["items"]
    assert from_feed == got
    # Sealed in the declarations database (docs/protection.md), full for downstream systems.
    for field in ("cert_no", "phone", "hukou_address", "address"):
        assert got[0]["data"][field] == body[field], field
    assert got[0]["person"]["cert_no"] == got[1]["data"]["cert_no"] == body["cert_no"]


def test_feed_limits_are_checked(suite, downstream):
    r = suite.api("GET", "/api/events", downstream, params={"limit": 5000})
    assert r.status_code == 400 and "limit" in r.json()["details"]
    r = suite.api("GET", "/api/events", downstream, params={"after": -1})
    assert r.status_code == 400


def test_admins_may_read_the_feed_and_units_may_not(suite, admin_token, fresh_unit):
    assert suite.api("GET", "/api/events", admin_token).status_code == 200
    r = suite.api("GET", "/api/events", fresh_unit["token"])
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
