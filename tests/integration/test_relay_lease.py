"""The relay publishes only while its lease has time left (LEASE_MARGIN), so
a holder that stalls stops before another instance may take over: the
duplicates the scaling test found (two declarations instances both
publishing after a stall of the holder) cannot recur. On SQLite and
PostgreSQL."""
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from services.declarations.models import Base
from services.declarations.relay import LeaseLost, relay_pending
from services.declarations.relay_store import RelayStore
from tests.integration.test_relay import NOW, declare
from tests.databases import schema_engine

LEASE = timedelta(seconds=15)


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def test_a_holder_that_stalls_past_its_lease_publishes_nothing_more(engine):
    declare(engine, 0, 8)
    clock = Clock()
    a = RelayStore(Session(engine), "a")
    b = RelayStore(Session(engine), "b")
    sent = []

    def publish(event):
        sent.append(event["position"])
        if event["position"] == 2:  # a stalls here; its lease lapses and b takes over
            clock.now = NOW + LEASE + timedelta(seconds=1)
            assert b.claim(clock(), LEASE) == 0

    with pytest.raises(LeaseLost):
        relay_pending(a, publish, clock, LEASE)
    assert sent == [1, 2]  # not 3..8, which b publishes
    assert b.state().holder == "b"
    a.session.close()
    b.session.close()


def test_a_holder_renews_before_its_lease_runs_short_and_publishes_everything_once(engine):
    declare(engine, 0, 8)
    clock = Clock()
    a = RelayStore(Session(engine), "a")
    sent, left = [], []

    def publish(event):
        sent.append(event["position"])
        left.append(a.lease_until - clock())
        clock.now += timedelta(seconds=3)  # a slow broker: 3 s per confirm

    assert relay_pending(a, publish, clock, LEASE, budget=60) == 8
    assert sent == list(range(1, 9))
    state = a.state()
    assert state.position == 8 and state.holder == "a"
    assert min(left) > LEASE / 3  # renewed in time, never published on a short lease
    a.session.close()
