"""Runbook, "A consumer falls behind", tried on the suite: residents stopped
while 300 declarations are made: the metrics show its queue growing without
a consumer (broker_queue_messages, broker_queue_consumers, reported by the
publishing relay); started again, it applies the backlog and its lag falls
to 0. A downstream system whose queue grows without a consumer has its queue
deleted (its name out of RELAY_SUBSCRIBER_QUEUES) and catches up later over
GET /api/events: the example consumer, started on a new queue, applies the
whole log and then what arrives on its queue."""
import threading

import pytest
from kombu import Connection

from common.queues import PLATFORM_QUEUES
from examples.consumer.consumer import Consumer, EventsApi, Follower, Store, consumer_queue
from tests.faults.conftest import downstream_token, fold, listed, read_log
from tests.runbook.steps import declare, process_metric, relayed, roster_checkpoint, roster_of, wait_until
from tests.suite import ADMIN_PASSWORD, start_suite

ROSTER_QUEUE = PLATFORM_QUEUES["residents"]
DOWNSTREAM = "downstream.runbook"


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2", "RELAY_SUBSCRIBER_QUEUES": DOWNSTREAM}) as s:
        yield s


def depth(suite, queue):
    return process_metric(suite, "declarations", "broker_queue_messages", queue=queue)


def consumers(suite, queue):
    return process_metric(suite, "declarations", "broker_queue_consumers", queue=queue)


def test_residents_behind_catches_up_and_a_downstream_catches_up_over_http(suite, tmp_path):
    admin = suite.login("admin", ADMIN_PASSWORD)
    unit = suite.new_unit(admin)
    declare(suite, unit, 4_900_000, 20)
    wait_until(lambda: roster_checkpoint(suite) == 20, "the roster did not follow")

    suite.stop_process("residents")
    declare(suite, unit, 5_000_000, 300)
    wait_until(lambda: relayed(suite) == 320, "the relay did not publish")
    # What the runbook reads: the queue grows and has no consumer.
    # At least 300: messages of the first 20 that residents had not taken
    # yet (it had applied them by catching up from the log) or had not
    # acknowledged when it stopped are still there too.
    wait_until(lambda: depth(suite, ROSTER_QUEUE) >= 300 and consumers(suite, ROSTER_QUEUE) == 0,
               lambda: f"queue metrics: {depth(suite, ROSTER_QUEUE)} messages, "
                       f"{consumers(suite, ROSTER_QUEUE)} consumers", cap=120)
    # Nobody consumes the downstream queue either (the relay samples the
    # queues one after the other, every 10 s: wait for a sample after the last publish).
    # (nobody ever consumed it: exactly one message per event)
    wait_until(lambda: depth(suite, DOWNSTREAM) == 320,
               lambda: f"downstream queue metric: {depth(suite, DOWNSTREAM)} messages", cap=120)

    suite.start_process("residents")
    wait_until(lambda: roster_checkpoint(suite) == 320, lambda: suite.log_tail("residents"))
    wait_until(lambda: process_metric(suite, "residents", "consumer_lag_events", consumer="residents") == 0,
               "residents' lag did not fall to 0")
    wait_until(lambda: depth(suite, ROSTER_QUEUE) == 0 and consumers(suite, ROSTER_QUEUE) == 1,
               "residents' queue did not drain", cap=120)
    log = read_log(suite, admin)
    assert roster_of(suite, unit) == listed(fold(log))

    # The downstream queue: deleted; the system catches up over HTTP later.
    with Connection(suite.env["AMQP_URI"]) as conn:
        conn.default_channel.queue_delete(DOWNSTREAM)
    account, password, _ = downstream_token(suite)
    store = Store(str(tmp_path / "downstream.db"))
    follower = Follower(store, EventsApi(suite.url, account, password))
    with Connection(suite.env["AMQP_URI"]) as connection:
        consumer = Consumer(connection, consumer_queue("downstream.runbook-new"), follower, catchup_seconds=60)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: store.checkpoint() == 320, "the downstream did not catch up over HTTP")
            declare(suite, unit, 5_100_000, 10)  # and then follows its new queue
            wait_until(lambda: store.checkpoint() == 330, "the downstream did not follow its queue")
        finally:
            consumer.should_stop = True
            thread.join(60)
    insured = store.db.execute("SELECT count(*) FROM insured WHERE status = 'active'").fetchone()[0]
    assert insured == 330 and follower.ready()
