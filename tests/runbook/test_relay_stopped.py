"""Runbook, "The relay lags", tried on the suite with two declarations
instances: exactly one holds the lease (sum of declarations_relay_lease_held
is 1, and the logs say who took it); when the holder stalls (frozen with
SIGSTOP) it stops publishing and the other instance takes the lease over
once it lapses, publishing from the checkpoint; the stalled one, thawed,
publishes nothing more; restarting the holder releases the lease at once
(the other takes it "from nobody", not after it lapsed). The roster ends
equal to the log; nothing is lost while the relay lags."""
import os
import signal
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from services.declarations import declaring
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment
from tests.faults.conftest import fold, listed, read_log
from tests.runbook.steps import (
    declare,
    log_head,
    process_metric,
    relayed,
    roster_checkpoint,
    roster_of,
    scalar,
    wait_until,
)
from tests.suite import ADMIN_PASSWORD, start_suite

INSTANCES = ("declarations.1", "declarations.2")


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2", "RELAY_LEASE_SECONDS": "15"},
                     instances={"declarations": 2}) as s:
        yield s


def holder_process(suite):
    """The declarations process whose relay holds the lease (its pid is in the holder id)."""
    holder = scalar(suite, "declarations", "SELECT holder FROM relay_state")
    for name in INSTANCES:
        if name in suite.procs and holder and f":{suite.procs[name].pid}:" in holder:
            return name
    return None


def append_directly(suite, unit, first, count):
    """Declarations written by the use case straight into the log: what the
    relay must publish, whichever declarations instance is frozen."""
    engine = make_engine(suite.env["DECLARATIONS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            outcomes = declaring.declare_many(
                DeclarationsStore(session), unit, {"account": "runbook"},
                [("enrol", enrolment(first + i)) for i in range(count)], datetime.now(UTC),
                ZoneInfo("Asia/Shanghai"))
        assert all(o["ok"] for o in outcomes), outcomes
    finally:
        engine.dispose()


def log_of(suite, process):
    with open(os.path.join(suite.workdir, f"{process}.log"), encoding="utf-8", errors="replace") as f:
        return f.read()


def test_a_stalled_relay_is_replaced_and_a_restarted_one_hands_over_at_once(suite):
    admin = suite.login("admin", ADMIN_PASSWORD)
    a = suite.new_unit(admin)
    declare(suite, a, 4_600_000, 30)
    wait_until(lambda: relayed(suite) == 30, "nothing was published")
    unit = {"id": a["unit"]["id"], "name": a["unit"]["name"], "credit_code": a["unit"]["credit_code"]}

    # 1. Is anyone publishing? Exactly one instance holds the lease.
    first = wait_until(lambda: holder_process(suite), "no relay instance holds the lease")
    other = next(name for name in INSTANCES if name != first)
    wait_until(lambda: process_metric(suite, first, "declarations_relay_lease_held") == 1,
               "the holder does not say it holds the lease")
    assert process_metric(suite, other, "declarations_relay_lease_held") == 0
    assert "took the lease at position" in log_of(suite, first)

    # 4. The holder stalls: it publishes nothing more; the other takes over
    # when the lease lapses and publishes from the checkpoint.
    os.killpg(suite.procs[first].pid, signal.SIGSTOP)
    try:
        append_directly(suite, unit, 4_700_000, 40)
        wait_until(lambda: holder_process(suite) == other and relayed(suite) == log_head(suite) == 70,
                   lambda: f"{other} did not take over: holder {holder_process(suite)}, "
                           f"published {relayed(suite)}:\n{suite.log_tail(other)}", cap=180)
        assert process_metric(suite, other, "declarations_relay_lease_held") == 1
        wait_until(lambda: process_metric(suite, other, "declarations_relay_lag_events") == 0, "lag not 0")
    finally:
        os.killpg(suite.procs[first].pid, signal.SIGCONT)
    # Thawed, the old holder finds the lease taken and publishes nothing.
    wait_until(lambda: process_metric(suite, first, "declarations_relay_lease_held") == 0,
               "the thawed instance still says it holds the lease")
    assert "the lease is held by" in log_of(suite, first) or "lease lost" in log_of(suite, first)

    # Restarting the holder releases the lease at once: the other takes it
    # "from nobody" (a lapsed lease would name its last holder).
    suite.stop_process(other)
    assert "released the lease at position" in log_of(suite, other)
    append_directly(suite, unit, 4_800_000, 20)
    wait_until(lambda: holder_process(suite) == first and relayed(suite) == 90,
               lambda: f"{first} did not take over:\n{suite.log_tail(first)}", cap=180)
    assert "(from nobody)" in log_of(suite, first).split("took the lease at position")[-1].splitlines()[0]

    # Nothing was lost while the relay lagged.
    wait_until(lambda: roster_checkpoint(suite) == 90, lambda: suite.log_tail("residents"))
    assert roster_of(suite, a) == listed(fold(read_log(suite, admin)))
