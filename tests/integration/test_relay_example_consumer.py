"""The example downstream consumer (examples/consumer) behind the real relay
and broker: duplicates applied once, gaps filled from the log, and after
downtime everything published meanwhile applied, each event once."""
import threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection
from nameko.standalone.events import event_dispatcher
from sqlalchemy.orm import Session

from common.db import make_engine
from examples.consumer.consumer import Consumer, Follower, Store, consumer_queue
from services.declarations import declaring
from services.declarations.models import Base
from services.declarations.relay import OutboxRelay
from services.declarations.relay_store import RelayStore
from services.declarations.store import DeclarationsStore
from tests import waiting
from tests.factories import enrolment

TZ = ZoneInfo("Asia/Shanghai")
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


class LogApi:
    """`/api/events` of the example, read straight from the log."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = 0

    def events_after(self, after, limit=500):
        self.calls += 1
        with Session(self.engine) as session:
            return RelayStore(session, None).events_after(after, limit)


@pytest.fixture
def config(rabbit_config, sqlite_url):
    return {**rabbit_config, "DATABASE_URL": sqlite_url, "serializer": "json", "RELAY_INTERVAL": 0.02}


@pytest.fixture
def log_engine(config):
    engine = make_engine(config["DATABASE_URL"])
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def declare(engine, numbers):
    now = datetime.now(timezone.utc)
    with Session(engine) as session:
        outcomes = declaring.declare_many(DeclarationsStore(session), U, ACTOR,
                                          [("enrol", enrolment(i)) for i in numbers], now, TZ)
    assert all(o["ok"] for o in outcomes)


def applied(store):
    return [row[0] for row in store.db.execute("SELECT position FROM applied ORDER BY position")]


def test_follower_applies_a_duplicate_once_and_fills_a_gap(tmp_path, log_engine):
    declare(log_engine, range(3))
    api = LogApi(log_engine)
    events = api.events_after(0)
    follower = Follower(Store(str(tmp_path / "consumer.db")), api)
    assert follower.receive(events[0]) == 1
    assert follower.receive(events[0]) == 0
    assert follower.receive(events[2]) == 2  # 3 before 2: 2 comes from the log
    assert follower.receive(events[1]) == 0
    assert applied(follower.store) == [1, 2, 3]


class Running:
    """The example consumer on its own thread, until stopped."""

    def __init__(self, config, store, api, queue_name):
        self.connection = Connection(config["AMQP_URI"])
        self.consumer = Consumer(self.connection, consumer_queue(queue_name), Follower(store, api),
                                 catchup_seconds=60)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.consumer.should_stop = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the consumer did not stop"
        self.connection.release()


def wait_for(check, timeout=120):
    return waiting.wait_until(check, "condition not met in time", timeout, interval=0.05)


def test_after_downtime_the_consumer_applies_what_was_published_meanwhile_once(
        container_factory, config, log_engine, tmp_path):
    queue = "downstream.example-test"
    with Connection(config["AMQP_URI"]) as conn:  # the queue exists before the consumer first runs
        consumer_queue(queue)(conn.channel()).declare()
    container_factory(OutboxRelay, config).start()
    store = Store(str(tmp_path / "consumer.db"))
    api = LogApi(log_engine)

    declare(log_engine, range(0, 20))
    running = Running(config, store, api, queue)
    wait_for(lambda: store.checkpoint() == 20)
    running.stop()

    declare(log_engine, range(20, 50))  # while the consumer is down
    # and a duplicate of an old event, as a relay failover could publish
    dispatch = event_dispatcher(config)
    dispatch("declarations", "resident_enrolled", api.events_after(4, 1)[0])

    running = Running(config, store, api, queue)
    wait_for(lambda: store.checkpoint() == 50)
    # One more event, published by the relay behind the duplicate: once it
    # is applied, the duplicate has been consumed too (no sleep that hopes so).
    declare(log_engine, range(50, 51))
    wait_for(lambda: store.checkpoint() == 51)
    running.stop()
    assert applied(store) == list(range(1, 52))
    count = store.db.execute("SELECT count(*) FROM insured WHERE status = 'active'").fetchone()[0]
    assert count == 51
