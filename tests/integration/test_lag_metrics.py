"""The lag gauges (issue 8, point 4) carry what they say: the relay's
`declarations_relay_lag_events` is the log's events after what the lease
holder published (0 on a standby), and residents' `consumer_lag_events` is
the log head the relay announced minus the roster's checkpoint. (The
scaling test, tests/faults/test_scaling_postgres.py, reads both from every
running process's METRICS_PORT.)"""
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from common.db import make_engine
from services.declarations.models import Base as DeclarationsBase
from services.declarations.relay import RelayDatabase
from services.declarations.relay_store import RelayStore, utcnow
from services.residents.models import Base as ResidentsBase
from services.residents.store import RosterStore
from services.residents.subscription import MeteredIntake
from tests.integration.test_relay import declare
from tests.unit.test_residents_projection import T0, LogBuilder, id_number

LEASE = timedelta(seconds=15)


def gauge(name, **labels):
    return REGISTRY.get_sample_value(name, labels)


@pytest.fixture
def declarations_engine(sqlite_url):
    engine = make_engine(sqlite_url)
    DeclarationsBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


def relay_database(engine):
    database = RelayDatabase()
    database.engine = engine
    return database


def test_relay_lag_is_the_log_after_what_the_holder_published(declarations_engine):
    declare(declarations_engine, 0, 5)
    database = relay_database(declarations_engine)
    store = RelayStore(Session(declarations_engine), database.holder)
    store.claim(utcnow(), LEASE)
    store.advance(2, utcnow())
    database.memory.note(store)
    assert gauge("declarations_relay_lease_held") == 1

    assert database.due(LEASE) is True  # the log grew past what it published
    assert gauge("declarations_relay_lag_events") == 3

    store.advance(5, utcnow())
    database.memory.note(store)
    assert database.due(LEASE) is False
    assert gauge("declarations_relay_lag_events") == 0


def test_a_standby_relay_reports_no_lag_and_no_lease(declarations_engine):
    declare(declarations_engine, 0, 4)
    RelayStore(Session(declarations_engine), "someone-else").claim(utcnow(), LEASE)
    database = relay_database(declarations_engine)
    store = RelayStore(Session(declarations_engine), database.holder)
    assert store.claim(utcnow(), LEASE) is None
    database.memory.note(store)
    assert gauge("declarations_relay_lag_events") == 0
    assert gauge("declarations_relay_lease_held") == 0


@pytest.fixture
def roster_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/residents.db")
    ResidentsBase.metadata.create_all(engine)
    with Session(engine) as session:
        yield RosterStore(session)
    engine.dispose()


def test_consumer_lag_is_the_announced_head_minus_the_checkpoint(roster_store):
    log = LogBuilder()
    for i in range(10):
        log.enrol(1, id_number(i), "林" + "一二三四五六七八九十"[i])
    intake = MeteredIntake()
    delivered = log.events[:5]
    for event in delivered:  # as the roster consumer does with each message
        intake.offer(event)
        intake.heard(10)  # the relay's log_head header: the log reaches 10

    intake.apply(roster_store, delivered[-1], log.events_after, T0)
    assert roster_store.checkpoint() == 5
    assert gauge("consumer_lag_events", consumer="residents") == 5

    intake.catch_up(roster_store, log.events_after, T0)
    assert roster_store.checkpoint() == 10
    assert gauge("consumer_lag_events", consumer="residents") == 0
