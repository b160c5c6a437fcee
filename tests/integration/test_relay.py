"""The outbox relay: lease and checkpoint over both databases, and publishing
on the real broker (persistent, confirmed, routing key = event type, the
platform's queues declared up front, one publisher among several)."""
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection
from sqlalchemy.orm import Session

from common.db import make_engine
from common.identity import check_character
from services.declarations import declaring
from services.declarations.models import Base
from services.declarations.relay import (
    PLATFORM_QUEUES, LeaseLost, OutboxRelay, relay_pending, subscriber_queue,
)
from services.declarations.relay_store import RelayStore
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=10)
UNIT = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


def cert_no(i):
    first = f"350503{19800101 + i // 1000:08d}{i % 1000:03d}"
    return first + check_character(first)


def declare(engine, start, count, suspend_every=0):
    """`count` enrolments of persons start.. (and suspensions of some)."""
    items = [("enrol", {"cert_type": "01", "cert_no": cert_no(i), "name": "张三",
                        "category": "11", "phone": "13800138000"})
             for i in range(start, start + count)]
    if suspend_every:
        items += [("suspend", {"cert_type": "01", "cert_no": cert_no(i), "name": "张三", "reason": "02"})
                  for i in range(start, start + count, suspend_every)]
    with Session(engine) as session:
        outcomes = declaring.declare_many(DeclarationsStore(session), UNIT, ACTOR, items, NOW, TZ)
    assert all(o["ok"] for o in outcomes), outcomes


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def relay_store(engine, holder):
    return RelayStore(Session(engine), holder)


# lease and checkpoint ---------------------------------------------------------

def test_the_first_instance_takes_the_lease_and_a_second_waits(engine):
    a, b = relay_store(engine, "a"), relay_store(engine, "b")
    assert a.claim(NOW, LEASE) == 0
    assert b.claim(NOW + timedelta(seconds=5), LEASE) is None
    assert a.claim(NOW + timedelta(seconds=6), LEASE) == 0  # renewed past half-time
    assert b.claim(NOW + timedelta(seconds=12), LEASE) is None
    assert a.state().holder == "a"


def test_an_expired_lease_passes_on_and_the_old_holder_can_no_longer_advance(engine):
    declare(engine, 0, 3)
    a, b = relay_store(engine, "a"), relay_store(engine, "b")
    assert a.claim(NOW, LEASE) == 0
    assert a.advance(2, NOW)
    assert b.claim(NOW + LEASE + timedelta(seconds=1), LEASE) == 2
    assert not a.advance(3, NOW + LEASE + timedelta(seconds=2))
    assert b.advance(3, NOW + LEASE + timedelta(seconds=2))
    assert b.state().position == 3


def test_release_hands_the_lease_over_at_once(engine):
    a, b = relay_store(engine, "a"), relay_store(engine, "b")
    a.claim(NOW, LEASE)
    a.release(NOW + timedelta(seconds=1))
    assert b.claim(NOW + timedelta(seconds=1), LEASE) == 0


def test_events_are_read_in_the_payload_shape_of_the_contract(engine):
    declare(engine, 0, 2)
    events = relay_store(engine, "a").events_after(0, 10)
    assert [e["position"] for e in events] == [1, 2]
    assert events[0]["type"] == "resident_enrolled"
    assert events[0]["unit"] == UNIT
    assert events[0]["person"] == {"cert_type": "01", "cert_no": cert_no(0), "name": "张三"}
    assert events[0]["data"]["action"] == "new_enrolment"
    assert events[0]["occurred_at"].endswith("+00:00")


class Publisher:
    def __init__(self, fail_at=None):
        self.sent = []
        self.fail_at = fail_at

    def __call__(self, event):
        if event["position"] == self.fail_at:
            raise ConnectionError("broker went away")
        self.sent.append(event["position"])


def test_relay_pending_publishes_in_order_and_moves_the_checkpoint(engine):
    declare(engine, 0, 12)
    publish = Publisher()
    store = relay_store(engine, "a")
    assert relay_pending(store, publish, lambda: NOW, LEASE, batch=5) == 12
    assert publish.sent == list(range(1, 13))
    assert store.state().position == 12
    assert relay_pending(store, publish, lambda: NOW, LEASE, batch=5) == 0


def test_a_failed_publish_keeps_the_checkpoint_at_the_last_confirmed_event(engine):
    declare(engine, 0, 6)
    store = relay_store(engine, "a")
    with pytest.raises(ConnectionError):
        relay_pending(store, Publisher(fail_at=4), lambda: NOW, LEASE)
    assert store.state().position == 3
    publish = Publisher()
    relay_pending(store, publish, lambda: NOW, LEASE)
    assert publish.sent == [4, 5, 6]


def test_an_instance_without_the_lease_publishes_nothing(engine):
    declare(engine, 0, 3)
    relay_store(engine, "a").claim(NOW, LEASE)
    publish = Publisher()
    assert relay_pending(relay_store(engine, "b"), publish, lambda: NOW, LEASE) == 0
    assert publish.sent == []


def test_losing_the_lease_while_publishing_stops_the_relay(engine):
    declare(engine, 0, 3)
    a = relay_store(engine, "a")
    a.claim(NOW, LEASE)

    def publish(event):
        if event["position"] == 2:  # meanwhile b took over an expired lease
            relay_store(engine, "b").claim(NOW + 2 * LEASE, LEASE)

    with pytest.raises(LeaseLost):
        relay_pending(a, publish, lambda: NOW, LEASE)


# on the broker -----------------------------------------------------------------

@pytest.fixture
def relay_config(rabbit_config, sqlite_url):
    return {**rabbit_config, "DATABASE_URL": sqlite_url, "serializer": "json",
            "RELAY_INTERVAL": 0.02, "RELAY_LEASE_SECONDS": 3}


@pytest.fixture
def log_engine(relay_config):
    engine = make_engine(relay_config["DATABASE_URL"])
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def probe(relay_config):
    """A durable queue bound to every event type, declared before the relay
    runs; `probe.take(n)` returns n messages (body, message)."""
    conn = Connection(relay_config["AMQP_URI"])
    queue = subscriber_queue("test.probe")(conn.channel())
    queue.declare()

    class Probe:
        def take(self, n, timeout=60):
            got, deadline = [], time.time() + timeout
            while len(got) < n and time.time() < deadline:
                message = queue.get(no_ack=True)
                if message is None:
                    time.sleep(0.02)
                    continue
                got.append((message.decode(), message))
            return got

        def empty(self, wait=0.5):
            time.sleep(wait)
            return queue.get(no_ack=True) is None

    yield Probe()
    conn.release()


def queue_depth(config, name):
    with Connection(config["AMQP_URI"]) as conn:
        channel = conn.channel()
        return channel.queue_declare(name, passive=True).message_count


def test_relay_publishes_every_event_persistent_with_its_type_as_routing_key(
        container_factory, relay_config, log_engine, probe):
    declare(log_engine, 0, 4, suspend_every=2)
    container_factory(OutboxRelay, relay_config).start()
    got = probe.take(6)
    assert [body["position"] for body, _ in got] == [1, 2, 3, 4, 5, 6]
    for body, message in got:
        assert message.delivery_info["exchange"] == "declarations.events"
        assert message.delivery_info["routing_key"] == body["type"]
        assert message.properties["delivery_mode"] == 2
        assert message.properties["message_id"] == body["event_id"]
    assert [b["type"] for b, _ in got][-2:] == ["resident_suspended", "resident_suspended"]
    expected = RelayStore(Session(log_engine), None).events_after(0, 10)
    assert [b for b, _ in got] == expected


def test_events_wait_in_the_residents_queue_before_residents_ever_ran(
        container_factory, relay_config, log_engine, probe):
    declare(log_engine, 0, 5)
    container_factory(OutboxRelay, relay_config).start()
    probe.take(5)
    assert queue_depth(relay_config, PLATFORM_QUEUES["residents"]) == 5


def test_a_restarted_relay_publishes_only_what_follows_its_checkpoint(
        container_factory, relay_config, log_engine, probe):
    declare(log_engine, 0, 3)
    first = container_factory(OutboxRelay, relay_config)
    first.start()
    assert len(probe.take(3)) == 3
    first.stop()
    declare(log_engine, 3, 2)
    container_factory(OutboxRelay, relay_config).start()
    assert [b["position"] for b, _ in probe.take(2)] == [4, 5]
    assert probe.empty()


def test_two_relay_instances_publish_each_event_once_in_order(
        container_factory, relay_config, log_engine, probe):
    for config in (relay_config, dict(relay_config)):
        container_factory(OutboxRelay, config).start()
    for start in range(0, 200, 20):
        declare(log_engine, start, 20)
        time.sleep(0.01)
    got = probe.take(200)
    assert [b["position"] for b, _ in got] == list(range(1, 201))
    assert probe.empty()


def test_downstream_queues_named_in_the_settings_are_declared_and_a_conflict_stops_nobody(
        container_factory, relay_config, log_engine, probe):
    with Connection(relay_config["AMQP_URI"]) as conn:
        # A downstream declared its queue with arguments of its own.
        subscriber_queue("downstream.odd", arguments={"x-max-length": 10})(conn.channel()).declare()
    config = {**relay_config, "RELAY_SUBSCRIBER_QUEUES": "downstream.insurer, downstream.odd"}
    declare(log_engine, 0, 3)
    container_factory(OutboxRelay, config).start()
    assert len(probe.take(3)) == 3
    assert queue_depth(relay_config, "downstream.insurer") == 3
    assert queue_depth(relay_config, "downstream.odd") == 3


def test_the_residents_queue_is_single_active_consumer(container_factory, relay_config, log_engine):
    declare(log_engine, 0, 1)
    container_factory(OutboxRelay, relay_config).start()
    deadline = time.time() + 60
    while True:
        try:
            if queue_depth(relay_config, PLATFORM_QUEUES["residents"]) == 1:
                break
        except Exception:  # not declared yet
            pass
        assert time.time() < deadline, "the relay never published to the residents queue"
        time.sleep(0.05)
    with Connection(relay_config["AMQP_URI"]) as conn:
        # Declaring it without the argument is refused: the queue has it.
        with pytest.raises(Exception, match="x-single-active-consumer"):
            subscriber_queue(PLATFORM_QUEUES["residents"])(conn.channel()).declare()
