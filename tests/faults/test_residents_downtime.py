"""Residents is stopped during 1,000 declarations: after it starts again, and
even after it is killed while catching up, its roster equals what the log
says (unit, status and name of every person).

The kill is proven to land mid-catch-up: the process is frozen (SIGSTOP) as
soon as its checkpoint has moved, the checkpoint is read from its database
while nothing can change it, it must lie strictly between where the
catch-up started and the end of the log, and only then is the frozen
process killed (SIGKILL). A small RESIDENTS_ROSTER_PREFETCH makes the
catch-up a few hundred transactions, not a handful, so there is a middle to
land in however fast the machine is."""
import os
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import waiting
from tests.factories import enrolment
from tests.faults.conftest import fold, listed, listed_key, read_log
from tests.suite import ADMIN_PASSWORD, start_suite

DECLARATIONS = 1000


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2", "RESIDENTS_ROSTER_PREFETCH": "5"}) as s:
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        yield s


def plan(a, b):
    """1,000 declarations: 700 enrolments in A, 150 in B, 60 transfers from
    A to B, 60 suspensions in A, 30 changes in B."""
    people = [enrolment(6_000_000 + i) for i in range(850)]
    first = [(a, "enrolment", p) for p in people[:700]] + [(b, "enrolment", p) for p in people[700:]]
    then = [(b, "enrolment", p) for p in people[:60]]
    then += [(a, "suspension", {"cert_type": "01", "cert_no": p["cert_no"], "name": p["name"],
                                 "reason": "02"}) for p in people[100:160]]
    then += [(b, "change", {"cert_type": "01", "cert_no": p["cert_no"], "name": p["name"],
                            "changes": {"phone": "13912345678"}}) for p in people[700:730]]
    return first, then


def declare_all(suite, steps):
    def one(step):
        unit, kind, body = step
        r = suite.api("POST", f"/api/declarations/{kind}", unit["token"], json=body)
        assert r.status_code == 201, r.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, steps))


def residents_checkpoint(suite):
    """The roster's checkpoint, read from residents' database (WAL: a reader
    never waits for the writer, frozen or not)."""
    path = suite.env["RESIDENTS_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:
        row = db.execute("SELECT position FROM residents_checkpoint").fetchone()
        return row[0] if row else 0


def wait_until(condition, message, cap):
    """Poll `condition` until true; fail after `cap` seconds with `message`
    (a string or a function that returns one)."""
    return waiting.wait_until(condition, message, cap, interval=0.01)


def roster_of(suite, unit):
    items, page = [], 1
    while True:
        body = suite.api("GET", "/api/residents", unit["token"], params={"page": page, "size": 200}).json()
        items += body["items"]
        if len(items) >= body["total"]:
            return {listed_key(i): (unit["unit"]["id"], i["status"], i["name"]) for i in items}
        page += 1


def test_residents_down_during_1000_declarations_catches_up_to_the_log(suite):
    a = suite.new_unit(suite.admin_token)
    b = suite.new_unit(suite.admin_token)
    first, then = plan(a, b)
    assert len(first) + len(then) == DECLARATIONS

    suite.stop_process("residents")
    declare_all(suite, first)
    declare_all(suite, then)
    log = read_log(suite, suite.admin_token)
    last = log[-1]["position"]
    started_at = residents_checkpoint(suite)
    assert started_at < last - DECLARATIONS // 2

    # Start it, and kill it hard while it is catching up: freeze it as soon
    # as the checkpoint moved, read where it is, then kill it.
    suite.start_process("residents")
    process = suite.procs["residents"]
    wait_until(lambda: residents_checkpoint(suite) > started_at or process.poll() is not None,
               "residents did not start catching up", cap=180)
    assert process.poll() is None, suite.log_tail("residents")
    os.killpg(process.pid, signal.SIGSTOP)
    killed_at = residents_checkpoint(suite)  # nothing moves it any more
    suite.stop_process("residents", sig=signal.SIGKILL)
    print(f"\nresidents killed at checkpoint {killed_at} (caught up from {started_at} to {last})")
    assert started_at < killed_at < last, \
        f"the kill did not land mid-catch-up: checkpoint {killed_at}, caught up from {started_at} to {last}"

    suite.start_process("residents")
    suite.wait_ready(timeout=180)
    wait_until(lambda: residents_checkpoint(suite) >= last,
               lambda: f"residents did not catch up after the kill at {killed_at}:\n{suite.log_tail('residents')}",
               cap=300)
    assert residents_checkpoint(suite) == last

    expected = listed(fold(log))
    roster = {**roster_of(suite, a), **roster_of(suite, b)}
    assert len(roster) == len(expected) == 850
    assert roster == expected
