"""Runbook, "Scaling each service", tried on the suite: declarations and
residents moved to new instances. A second instance of each starts beside
the first (the new machine), the first is stopped (SIGTERM, as a rolling
deploy does), and everything goes on on the new ones: declarations answer,
the new relay holds the lease and publishes, the new residents is the
active consumer of the roster queue, the roster equals the log."""
import time

import pytest

from tests.faults.conftest import fold, listed, read_log
from tests.runbook.steps import (
    answering,
    declare,
    heartbeat_fresh,
    process_metric,
    relayed,
    roster_checkpoint,
    roster_of,
    wait_until,
)
from tests.suite import ADMIN_PASSWORD, start_suite


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2"}, instances={"declarations": 2, "residents": 2}) as s:
        # The ".2" processes are the new instances: not there yet.
        s.stop_process("declarations.2")
        s.stop_process("residents.2")
        yield s


def test_declarations_and_residents_move_to_new_instances(suite):
    admin = suite.login("admin", ADMIN_PASSWORD)
    unit = suite.new_unit(admin)
    declare(suite, unit, 5_200_000, 40)
    wait_until(lambda: roster_checkpoint(suite) == 40, "the roster did not follow")

    # The new instances start beside the old ones.
    started = time.time()
    for name in ("declarations.2", "residents.2"):
        suite.start_process(name)
    wait_until(lambda: heartbeat_fresh(suite, "declarations.2", started)
               and heartbeat_fresh(suite, "residents.2", started), "the new instances did not start")
    declare(suite, unit, 5_300_000, 40)  # both instances serve meanwhile

    # The old ones go, as a rolling deploy stops them.
    for name in ("declarations.1", "residents.1"):
        suite.stop_process(name)
    wait_until(lambda: answering(suite, "/readyz"), "the platform is not ready on the new instances")
    declare(suite, unit, 5_400_000, 40)
    wait_until(lambda: relayed(suite) == 120, "the new relay did not publish")
    wait_until(lambda: roster_checkpoint(suite) == 120, lambda: suite.log_tail("residents.2"))

    assert process_metric(suite, "declarations.2", "declarations_relay_lease_held") == 1
    assert process_metric(suite, "declarations.2", "service_instance_up", service="declarations") == 1
    calls = process_metric(suite, "declarations.2", "service_entrypoint_calls_total", service="declarations",
                           method="enrol")
    assert calls >= 40  # every declaration after the move, at least
    wait_until(lambda: process_metric(suite, "residents.2", "consumer_lag_events", consumer="residents") == 0,
               "the new residents is behind")
    assert roster_of(suite, unit) == listed(fold(read_log(suite, admin)))
