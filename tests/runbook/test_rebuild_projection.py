"""Runbook, rebuilding a projection, tried on the suite: a declarations
projection found wrong by `cli verify` (exit 1, the difference named) is
rebuilt with `cli rebuild` while declarations and batches are stopped, and
verifies again; the residents roster, its tables emptied ("if its data is
in doubt, reset its tables"), rebuilds from position 0 through
`declarations.events_after`. Both end equal to the log."""
import sqlite3

import pytest

from tests.faults.conftest import fold, listed, read_log
from tests.runbook.steps import (
    answering,
    declare,
    relayed,
    roster_checkpoint,
    roster_of,
    run,
    wait_until,
)
from tests.suite import ADMIN_PASSWORD, start_suite


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2"}) as s:
        yield s


def test_a_wrong_count_is_found_by_verify_and_mended_by_rebuild(suite):
    admin = suite.login("admin", ADMIN_PASSWORD)
    unit = suite.new_unit(admin)
    declare(suite, unit, 4_400_000, 60)
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 60
    path = suite.env["DECLARATIONS_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:  # a projection gone wrong
        db.execute("UPDATE unit_counts SET insured_count = 999 WHERE unit_id = ?", (unit["unit"]["id"],))

    found = run(suite, "services.declarations.cli", "verify")
    assert found.returncode == 1, found.stdout + found.stderr
    assert "unit_counts" in found.stdout + found.stderr

    for name in ("batches", "declarations"):
        suite.stop_process(name)
    rebuilt = run(suite, "services.declarations.cli", "rebuild")
    assert rebuilt.returncode == 0 and "from 60 events" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    verified = run(suite, "services.declarations.cli", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for name in ("declarations", "batches"):
        suite.start_process(name)
    wait_until(lambda: answering(suite, "/readyz"), "declarations did not come back")
    assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == 60


def test_the_roster_reset_rebuilds_from_position_0(suite):
    admin = suite.login("admin", ADMIN_PASSWORD)
    unit = suite.new_unit(admin)
    declare(suite, unit, 4_500_000, 80)
    wait_until(lambda: roster_checkpoint(suite) == 80 and relayed(suite) == 80, "the roster did not follow")

    suite.stop_process("residents")
    path = suite.env["RESIDENTS_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:  # "empty its tables"
        for table in ("resident_history", "residents", "residents_unit_versions"):
            db.execute(f"DELETE FROM {table}")
        db.execute("UPDATE residents_checkpoint SET position = 0")
    suite.start_process("residents")
    wait_until(lambda: answering(suite, "/readyz"), lambda: suite.log_tail("residents"))
    wait_until(lambda: roster_checkpoint(suite) == 80, lambda: "no catch-up:\n" + suite.log_tail("residents"))
    assert roster_of(suite, unit) == listed(fold(read_log(suite, admin)))
