"""common/audit.py on the real broker: records are confirmed, travel
together as persistent messages on the durable audit queue, and `ready()`
says whether the audit queue has a consumer."""
import threading
import time

import pytest
from kombu import Connection, Consumer

from common.audit import AuditPublisher, record
from common.queues import AUDIT_QUEUE_NAME, audit_queue
from tests.suite import Vhost

CAP = 60  # seconds


@pytest.fixture
def vhost():
    with Vhost() as v:
        yield v


@pytest.fixture
def publisher(vhost):
    p = AuditPublisher(vhost.uri, check_interval=0.2).start()
    yield p
    p.stop()


def until(condition, cap=CAP):
    deadline = time.monotonic() + cap
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def drain(uri):
    """Every record waiting in the audit queue, and the messages' delivery modes."""
    records, modes = [], []
    with Connection(uri) as conn:
        with conn.SimpleQueue(audit_queue()) as queue:
            while True:
                try:
                    message = queue.get(timeout=1)
                except queue.Empty:
                    return records, modes
                records += message.payload["records"]
                modes.append(message.delivery_info and message.properties.get("delivery_mode"))
                message.ack()


def test_concurrent_records_are_confirmed_and_queued_persistently(publisher, vhost):
    until(lambda: publisher._connected)
    results = []

    def one(i):
        results.append(publisher.publish(record("roster.list", account=f"a{i}", object={"page": i}), timeout=30))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 40
    records, modes = drain(vhost.uri)
    assert sorted(r["account"] for r in records) == sorted(f"a{i}" for i in range(40))
    assert len(modes) <= 40 and set(modes) == {2}  # persistent; usually fewer messages than records


def test_a_record_with_values_json_cannot_carry_is_sent_and_holds_nothing_back(publisher, vhost):
    # A hostile request's query (page=2**70, a non-text key) must not become
    # a record that the encoder refuses at every attempt, failing every
    # record queued behind it closed.
    until(lambda: publisher._connected)
    assert publisher.publish(record("records.list", object={"page": 2 ** 70, 7: "x"}), timeout=30)
    assert publisher.publish(record("roster.list", object={"page": 1}), timeout=30)
    records, _ = drain(vhost.uri)
    assert [r["object"] for r in records] == [{"page": str(2 ** 70), "7": "x"}, {"page": 1}]


def test_ready_only_while_the_audit_queue_has_a_consumer(publisher, vhost):
    until(lambda: publisher._connected)
    time.sleep(0.5)
    assert not publisher.ready()  # connected, but nobody consumes the trail
    with Connection(vhost.uri) as conn:
        channel = conn.channel()
        with Consumer(channel, [audit_queue()], callbacks=[lambda body, message: None]):
            until(publisher.ready)
        until(lambda: not publisher.ready())
        _name, _messages, consumers = channel.queue_declare(queue=AUDIT_QUEUE_NAME, passive=True)
        assert consumers == 0


def test_a_record_submitted_while_the_broker_is_unreachable_fails_at_once_and_is_sent_later(vhost):
    publisher = AuditPublisher(vhost.uri, check_interval=0.2)
    try:
        ticket = publisher.submit(record("auth.login", account="early"))  # before the first connection
        assert ticket.wait(0) is False
        until(lambda: publisher.pending() == 0)
        records, _modes = drain(vhost.uri)
        assert [r["account"] for r in records] == ["early"]
    finally:
        publisher.stop()


def test_a_fresh_publisher_is_waited_for_not_refused(vhost):
    """The first read in a new gateway process finds the publisher still
    connecting: wait_ready gives it time instead of failing closed."""
    publisher = AuditPublisher(vhost.uri, check_interval=0.2)
    try:
        with Connection(vhost.uri) as conn:
            channel = conn.channel()
            queue = audit_queue()(channel)
            queue.declare()
            with Consumer(channel, [queue], callbacks=[lambda body, message: None]):
                assert publisher.wait_ready(30)
    finally:
        publisher.stop()


def test_wait_ready_does_not_wait_once_the_publisher_has_looked(publisher):
    until(lambda: publisher._checks > 0)
    started = time.monotonic()
    assert not publisher.wait_ready(30)  # nobody consumes: refused at once
    assert time.monotonic() - started < 5
