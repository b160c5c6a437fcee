"""The broker stops while declarations are made: when it is back, every event
of the log reaches the residents roster and the example downstream consumer,
each applied once.

The whole platform (deploy/Procfile) and the example consumer run on a
private RabbitMQ node, whose application is stopped and started again."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection
from sqlalchemy.orm import Session

from common.db import make_engine
from common.protect import process_index
from services.declarations import declaring
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment
from tests.faults.conftest import downstream_token, fold, listed, listed_key, read_log
from tests.suite import ADMIN_PASSWORD, ROOT, Suite

QUEUE = "downstream.fault-test"


@pytest.fixture
def platform(private_broker, tmp_path):
    suite = Suite(private_broker.uri, str(tmp_path), {"RESIDENTS_CATCHUP_INTERVAL": "2"})
    try:
        suite.start()
        suite.admin_token = suite.login("admin", ADMIN_PASSWORD)
        yield suite
    finally:
        suite.stop()


@pytest.fixture
def example_consumer(platform, private_broker, tmp_path):
    account, password, _ = downstream_token(platform)
    db = tmp_path / "example-consumer.db"
    log = open(tmp_path / "example-consumer.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.consumer"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ROOT, "AMQP_URI": private_broker.uri, "EDT_API": platform.url,
             "EDT_ACCOUNT": account, "EDT_PASSWORD": password, "CONSUMER_QUEUE": QUEUE,
             "CONSUMER_DB": str(db), "CATCHUP_SECONDS": "5"})
    deadline = time.time() + 120  # a cap, not an expectation: it starts in seconds
    while not queue_exists(private_broker.uri, QUEUE):
        assert proc.poll() is None and time.time() < deadline, "the example consumer did not start"
        time.sleep(0.2)
    try:
        yield db
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def queue_exists(uri, name):
    try:
        with Connection(uri, connect_timeout=2) as conn:
            conn.channel().queue_declare(name, passive=True)
        return True
    except Exception:
        return False


def checkpoint(db_path, table, where=""):
    try:
        with sqlite3.connect(db_path, timeout=5) as db:
            row = db.execute(f"SELECT position FROM {table} {where}").fetchone()
            return row[0] if row else 0
    except sqlite3.Error:
        return 0


def declare_directly(suite, unit, items):
    """Declarations committed while no message can leave: straight into the
    declarations database, as a declarations instance does when the broker
    is down but its database is not."""
    engine = make_engine(suite.env["DECLARATIONS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            outcomes = declaring.declare_many(
                DeclarationsStore(session), unit, {"account": unit["account"]}, items,
                datetime.now(timezone.utc), ZoneInfo("Asia/Shanghai"))
    finally:
        engine.dispose()
    assert all(o["ok"] for o in outcomes), outcomes


def test_after_a_broker_outage_every_event_is_applied_once_everywhere(
        platform, private_broker, example_consumer, tmp_path):
    suite = platform
    a = suite.new_unit(suite.admin_token)
    b = suite.new_unit(suite.admin_token)
    unit_a = {**a["unit"], "account": a["account"]}
    people = [enrolment(5_000_000 + i) for i in range(60)]

    # Before the outage: enrolments in A, transfers to B, suspensions.
    for body in people[:30]:
        assert suite.api("POST", "/api/declarations/enrolment", a["token"], json=body).status_code == 201
    for body in people[:10]:
        assert suite.api("POST", "/api/declarations/enrolment", b["token"], json=body).status_code == 201

    private_broker.stop_app()
    try:
        # The gateway cannot reach any service now: it says so, it does not fail.
        r = suite.api("POST", "/api/declarations/enrolment", a["token"], json=people[59])
        assert r.status_code == 503, r.text
        declare_directly(suite, unit_a, [("enrol", body) for body in people[30:55]])
        declare_directly(suite, unit_a, [
            ("suspend", {"cert_type": "01", "cert_no": body["cert_no"], "name": body["name"], "reason": "02"})
            for body in people[40:45]])
        time.sleep(3)  # the relay tries and fails meanwhile
    finally:
        private_broker.start_app()

    admin = suite.admin_token
    log = read_log(suite, admin)
    last = log[-1]["position"]
    assert [e["position"] for e in log] == list(range(1, last + 1))
    residents_db = suite.env["RESIDENTS_DATABASE_URL"].removeprefix("sqlite:///")
    deadline = time.time() + 120
    while time.time() < deadline:
        if (checkpoint(residents_db, "residents_checkpoint") == last
                and checkpoint(example_consumer, "checkpoint") == last):
            break
        time.sleep(0.5)
    assert checkpoint(residents_db, "residents_checkpoint") == last, suite.log_tail("residents")
    assert checkpoint(example_consumer, "checkpoint") == last

    # The example consumer: each position applied exactly once.
    with sqlite3.connect(example_consumer) as db:
        applied = [row[0] for row in db.execute("SELECT position FROM applied ORDER BY position")]
    assert applied == list(range(1, last + 1))

    # Residents: each event's history rows exactly once, and the roster the log says.
    with sqlite3.connect(residents_db) as db:
        rows = db.execute("SELECT position, unit_id, count(*) FROM resident_history "
                          "GROUP BY position, unit_id").fetchall()
        roster = {(t, n): (u, s, name) for t, n, u, s, name in db.execute(
            "SELECT cert_type, cert_no_bidx, unit_id, status, name FROM residents")}
    assert all(count == 1 for _, _, count in rows)
    assert {position for position, _, _ in rows} == set(range(1, last + 1))
    # The roster keeps the 证件号码 as its blind index (docs/protection.md); the
    # suite's processes and this one read the same development key file.
    index = process_index()
    assert roster == {(t, index.cert_no(t, n)): value for (t, n), value in fold(log).items()}

    # And through the gateway, per unit.
    for unit in (a, b):
        page = suite.api("GET", "/api/residents", unit["token"], params={"size": 200}).json()
        expected = {k for k, (u, _, _) in listed(fold(log)).items() if u == unit["unit"]["id"]}
        assert {listed_key(i) for i in page["items"]} == expected
