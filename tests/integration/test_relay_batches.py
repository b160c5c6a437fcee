"""The relay's BatchPublisher on the real broker: windows of messages on one
confirm channel, each confirmed in position order; an unroutable message
ends its window with UndeliverableMessage after the events confirmed before
it; a relay run publishes a log of 1,200 events in windows, every message
with the log's identity headers."""
import time

import pytest
from kombu import Connection
from nameko.amqp.publish import UndeliverableMessage

from common.queues import event_exchange, subscriber_queue
from services.declarations.eventlog import identity as log_identity
from services.declarations.relay import BatchPublisher, OutboxRelay
from tests.integration.test_relay import declare


def event(position):
    return {"position": position, "event_id": f"e-{position}", "type": "resident_enrolled"}


@pytest.fixture
def queue(rabbit_config):
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        bound = subscriber_queue("test.batches")(conn.channel())
        bound.declare()
        yield bound


def drain(queue, n, timeout=60):
    got, deadline = [], time.time() + timeout
    while len(got) < n and time.time() < deadline:
        message = queue.get(no_ack=True)
        if message is None:
            time.sleep(0.02)
            continue
        got.append(message)
    return got


def test_a_window_is_confirmed_in_order(rabbit_config, queue):
    publisher = BatchPublisher(rabbit_config["AMQP_URI"], [event_exchange()], window=100)
    confirmed = []
    try:
        for start in range(1, 301, 100):
            publisher.publish_many([event(p) for p in range(start, start + 100)], confirmed.append)
    finally:
        publisher.close()
    assert [e["position"] for e in confirmed] == list(range(1, 301))
    got = drain(queue, 300)
    assert [m.decode()["position"] for m in got] == list(range(1, 301))
    assert all(m.properties["delivery_mode"] == 2 for m in got)


def test_an_unroutable_message_ends_the_window_after_what_was_confirmed(rabbit_config):
    publisher = BatchPublisher(rabbit_config["AMQP_URI"], [event_exchange()], window=10)
    confirmed = []
    try:
        with pytest.raises(UndeliverableMessage):  # no queue is bound: nothing routes
            publisher.publish_many([event(p) for p in range(1, 4)], confirmed.append)
    finally:
        publisher.close()
    assert confirmed == []


def test_a_relay_run_publishes_a_long_log_in_windows_with_the_identity(
        container_factory, rabbit_config, sqlite_url, tables, queue):
    from services.declarations.models import Base

    config = {**rabbit_config, "DATABASE_URL": sqlite_url, "serializer": "json", "RELAY_INTERVAL": 0.02,
              "RELAY_CONFIRM_WINDOW": 200}
    engine = tables(Base, sqlite_url).get_bind()
    declare(engine, 0, 1200)
    with engine.connect() as conn:
        identity = log_identity.current(conn)
    container_factory(OutboxRelay, config).start()
    got = drain(queue, 1200, timeout=120)
    assert [m.decode()["position"] for m in got] == list(range(1, 1201))
    assert {(m.headers["log_id"], m.headers["log_epoch"]) for m in got} == {(identity.log_id, identity.epoch)}
    assert all(m.headers["position"] == m.decode()["position"] for m in got)
