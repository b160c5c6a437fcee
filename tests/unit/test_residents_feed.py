"""Following the log: duplicates acknowledged without effect, gaps filled from
`events_after` before applying, catch-up after downtime; on SQLite and
PostgreSQL, with two instances racing over one database."""
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.residents import feed
from services.residents.models import Base, ResidentHistory
from services.residents.store import RosterStore
from tests.unit.test_residents_projection import T0, LogBuilder, id_number
from tests.databases import schema_engine


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield RosterStore(session)


class CountingLog:
    def __init__(self, log):
        self.log = log
        self.calls = []

    def __call__(self, after, limit):
        self.calls.append((after, limit))
        return self.log.events_after(after, limit)


def build(n):
    log = LogBuilder()
    for i in range(n):
        log.enrol(1 + i % 2, id_number(i), "陈" + "一二三四五六七八九十"[i % 10])
    return log


def test_events_in_order_are_applied_one_by_one(store):
    log = build(3)
    fetch = CountingLog(log)
    assert [feed.receive(store, e, fetch, T0) for e in log.events] == [1, 1, 1]
    assert store.checkpoint() == 3 and fetch.calls == []


def test_the_same_message_twice_is_applied_once(store):
    log = build(2)
    fetch = CountingLog(log)
    first = log.events[0]
    assert feed.receive(store, first, fetch, T0) == 1
    assert feed.receive(store, dict(first), fetch, T0) == 0
    assert store.checkpoint() == 1
    assert len(store.history(1, "01", store.bidx("01", first["person"]["cert_no"]))) == 1


def test_position_n_plus_2_before_n_plus_1_fills_the_gap_and_applies_both_in_order(store):
    log = LogBuilder()
    cert = id_number(7)
    log.enrol(1, cert, "林一")          # 1
    log.change(1, cert, phone="13500000000")  # 2
    log.suspend(1, cert, reason="01")   # 3
    fetch = CountingLog(log)
    feed.receive(store, log.events[0], fetch, T0)
    assert feed.receive(store, log.events[2], fetch, T0) == 2
    assert fetch.calls == [(1, 1)]
    history = store.history(1, "01", store.bidx("01", cert))
    assert [h.position for h in history] == [3, 2, 1]
    assert [h.kind for h in history] == ["suspension", "change", "new_enrolment"]
    row = store.opened(store.person("01", cert))
    assert (row.status, row.phone) == ("suspended", "13500000000")
    # N+1 arriving late is now a duplicate.
    assert feed.receive(store, log.events[1], fetch, T0) == 0
    assert store.checkpoint() == 3


def test_a_large_gap_is_fetched_in_pages(store):
    log = build(1203)
    fetch = CountingLog(log)
    assert feed.receive(store, log.events[-1], fetch, T0) == 1203
    assert [after for after, _ in fetch.calls] == [0, 500, 1000]
    assert store.checkpoint() == 1203


def test_catch_up_applies_everything_after_the_checkpoint(store):
    log = build(1100)
    feed.apply_in_order(store, log.events[:40], T0)
    assert feed.catch_up(store, CountingLog(log), T0) == 1060
    assert store.checkpoint() == 1100
    assert feed.catch_up(store, CountingLog(log), T0) == 0


def test_a_gap_the_log_cannot_fill_is_reported_not_skipped(store):
    log = build(3)
    holed = LogBuilder()
    holed.events = [log.events[0], log.events[2]]  # 2 is missing from the log
    with pytest.raises(feed.GapNotFilled):
        feed.receive(store, log.events[2], holed.events_after, T0)
    assert store.checkpoint() == 1  # what precedes the hole, and no further


def test_a_message_without_a_position_is_refused_as_not_an_event(store):
    with pytest.raises(feed.NotAnEvent):
        feed.receive(store, {"hello": "world"}, CountingLog(build(0)), T0)


def test_two_instances_racing_over_one_database_apply_each_event_once(engine):
    log = build(300)
    errors = []

    def instance(events):
        try:
            with Session(engine) as session:
                s = RosterStore(session)
                for event in events:
                    feed.receive(s, event, log.events_after, T0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # Each instance gets every other message, as two consumers of one queue do.
    threads = [threading.Thread(target=instance, args=(log.events[k::2],)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as session:
        s = RosterStore(session)
        assert s.checkpoint() == 300
        assert s.roster(1, 0, 1)[0] + s.roster(2, 0, 1)[0] == 300
        assert session.scalar(select(func.count()).select_from(ResidentHistory)) == 300


def test_events_delivered_together_are_applied_in_one_transaction(store):
    log = build(5)
    intake = feed.Intake()
    fetch = CountingLog(log)
    for event in log.events:
        intake.offer(event)
    # The first worker to hold the lock applies what all five workers offered.
    assert intake.apply(store, log.events[0], fetch, T0) == 5
    assert [intake.apply(store, e, fetch, T0) for e in log.events[1:]] == [0, 0, 0, 0]
    assert store.checkpoint() == 5 and fetch.calls == []


def test_a_batch_with_a_hole_applies_up_to_it_and_the_late_event_closes_it(store):
    log = build(4)
    intake = feed.Intake()
    fetch = CountingLog(log)
    for event in (log.events[0], log.events[1], log.events[3]):  # 3 is still on its way
        intake.offer(event)
    assert intake.apply(store, log.events[0], fetch, T0) == 2
    assert store.checkpoint() == 2 and fetch.calls == []
    intake.offer(log.events[2])
    assert intake.apply(store, log.events[2], fetch, T0) == 2  # 3, and 4 that waited
    assert intake.apply(store, log.events[3], fetch, T0) == 0
    assert store.checkpoint() == 4 and fetch.calls == []


def test_an_event_beyond_a_gap_nobody_closes_is_filled_from_the_log(store):
    log = build(3)
    intake = feed.Intake()
    fetch = CountingLog(log)
    intake.offer(log.events[2])
    assert intake.apply(store, log.events[2], fetch, T0) == 3
    assert fetch.calls == [(0, 2)]


def test_after_a_failed_batch_each_worker_applies_its_own_event(store):
    log = build(3)
    broken = dict(log.events[1], occurred_at="not a time")
    intake = feed.Intake()
    for event in (log.events[0], broken, log.events[2]):
        intake.offer(event)
    with pytest.raises(ValueError):
        intake.apply(store, broken, CountingLog(log), T0)
    assert store.checkpoint() == 0 and intake.pending == {}
    # The broken message goes back to the queue; the others still get applied.
    assert intake.apply(store, log.events[0], CountingLog(log), T0) == 1
    assert intake.apply(store, log.events[2], CountingLog(log), T0) == 2  # 2 comes from the log
    assert store.checkpoint() == 3
