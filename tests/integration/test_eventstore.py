"""The event log of declarations on SQLite and PostgreSQL: positions,
stream versions, unique event ids, append-only, the consumer read."""
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from common.events import ENROLLED, payload
from services.declarations.eventlog import append, iter_events, read_events
from services.declarations.models import Base, Event
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

NOW = datetime(2026, 11, 27, 1, 30, tzinfo=timezone.utc)


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def event(stream="01:350503199001011236", version=1, event_id=None, unit_id=1):
    event_id = event_id or str(uuid.uuid4())
    return {
        "event_id": event_id, "stream_id": stream, "stream_version": version, "type": ENROLLED,
        "unit_id": unit_id, "occurred_at": NOW,
        "data": {"cert_type": "01", "cert_no": stream[3:], "name": "张三", "action": "new_enrolment"},
        "metadata": {"schema_version": 1, "record_id": event_id, "actor": "donghai",
                     "unit": {"id": unit_id, "name": "东海社区", "credit_code": "A"}, "batch_no": None},
    }


def append_committed(engine, events):
    with Session(engine) as session:
        store = DeclarationsStore(session)
        store.begin_write()
        append(store.conn, events)
        session.commit()
    return events


def test_positions_start_at_one_and_follow_each_other_across_appends(engine):
    append_committed(engine, [event("01:A", 1), event("01:B", 1)])
    append_committed(engine, [event("01:A", 2)])
    with engine.connect() as conn:
        assert [e["position"] for e in read_events(conn, 0, 100)] == [1, 2, 3]


def test_a_stream_version_already_taken_is_refused(engine):
    append_committed(engine, [event("01:A", 1)])
    with pytest.raises(IntegrityError):
        append_committed(engine, [event("01:A", 1)])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == 1


def test_a_refused_append_leaves_no_gap(engine):
    append_committed(engine, [event("01:A", 1)])
    with pytest.raises(IntegrityError):
        append_committed(engine, [event("01:B", 1), event("01:A", 1)])
    append_committed(engine, [event("01:B", 1)])
    with engine.connect() as conn:
        assert [e["position"] for e in read_events(conn, 0, 100)] == [1, 2]


def test_event_ids_are_unique(engine):
    same = str(uuid.uuid4())
    append_committed(engine, [event("01:A", 1, same)])
    with pytest.raises(IntegrityError):
        append_committed(engine, [event("01:B", 1, same)])


@pytest.mark.parametrize("statement", ["UPDATE events SET unit_id = 9", "DELETE FROM events"])
def test_nothing_updates_or_deletes_an_event(engine, statement):
    append_committed(engine, [event("01:A", 1)])
    with pytest.raises(DBAPIError) as exc, engine.begin() as conn:
        conn.execute(text(statement))
    assert "append-only" in str(exc.value)
    with engine.connect() as conn:
        assert read_events(conn, 0, 10)[0]["unit_id"] == 1


def test_events_read_back_with_their_metadata_and_utc_time(engine):
    written = append_committed(engine, [event("01:A", 1)])[0]
    with engine.connect() as conn:
        (read,) = read_events(conn, 0, 10)
    assert read["occurred_at"] == NOW and read["occurred_at"].utcoffset().total_seconds() == 0
    assert read["metadata"] == written["metadata"] and read["data"] == written["data"]


def test_the_payload_is_the_contract_of_api_md(engine):
    append_committed(engine, [event("01:350503199001011236", 1)])
    with engine.connect() as conn:
        out = payload(read_events(conn, 0, 1)[0])
    assert set(out) >= {"position", "event_id", "type", "schema_version", "occurred_at", "unit",
                        "person", "data", "batch_no", "record_id"}
    assert out["occurred_at"] == "2026-11-27T01:30:00+00:00"
    assert out["person"] == {"cert_type": "01", "cert_no": "350503199001011236", "name": "张三"}
    assert out["unit"] == {"id": 1, "name": "东海社区", "credit_code": "A"}
    assert out["record_id"] == out["event_id"] and out["schema_version"] == 1


def test_reading_after_a_position_resumes_there_in_chunks(engine):
    append_committed(engine, [event(f"01:P{i}", 1) for i in range(25)])
    with engine.connect() as conn:
        assert [e["position"] for e in read_events(conn, 20, 100)] == [21, 22, 23, 24, 25]
        chunks = list(iter_events(conn, 0, chunk=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [e["position"] for c in chunks for e in c] == list(range(1, 26))
