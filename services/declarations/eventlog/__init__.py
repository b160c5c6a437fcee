"""The event log's storage, one recorder per database engine (as
pyeventsourcing splits its recorders): `recorder(conn)` gives the one for
the connection's engine. Everything that differs between SQLite and
PostgreSQL — how appends are serialised, how many rows go in at once, how
times and JSON are handed to the driver, how a set of persons is read —
lives in `sqlite.py` and `postgres.py`, behind the interface of
`recorder.py`; no other module of the service asks which engine it is on.

Appends are serialised: on SQLite by BEGIN IMMEDIATE (the database's write
lock), on PostgreSQL by a transaction-scoped advisory lock taken before the
next position is read. Either way the lock is held until commit, so
positions are gap-free and in commit order: a reader that resumes after
position N never misses an event that commits later.
"""
from common.protect.runtime import protection
from services.declarations import sealing
from services.declarations.eventlog.postgres import PostgresRecorder
from services.declarations.eventlog.recorder import (
    EVENT_COLUMNS,
    Recorder,
    event_from_row,
    json_value,
    read_events,
    to_json,
    utc,
)
from services.declarations.eventlog.sqlite import SqliteRecorder

RECORDERS = {"sqlite": SqliteRecorder, "postgresql": PostgresRecorder}


def recorder(conn) -> Recorder:
    """The recorder for the engine of `conn` (a SQLAlchemy Connection)."""
    return RECORDERS[conn.dialect.name](conn)


def append(conn, events):
    """Append `events` at the end of the log in the caller's write
    transaction (see Recorder.append)."""
    return recorder(conn).append(events)


def iter_events(conn, after=0, chunk=10000):
    """Every event after `after`, in position order, read in chunks, with
    their personal fields opened."""
    p = protection(conn)
    return (sealing.unseal_events(p, events) for events in recorder(conn).iter_events(after, chunk))


def iter_fold_events(conn, after=0, chunk=10000, persons=None):
    """Like iter_events, with only the metadata projection.Fold reads
    (record_id, batch_no, unit): what rebuild and verify replay. Personal
    fields opened (the projections compute their indexes from them). Given
    the fold's `persons` (a rebuild), only the 证件号码 is opened, once per
    person, and the other fields stay the tokens they are
    (sealing.open_for_rebuild: a rebuild writes them back unchanged)."""
    p = protection(conn)
    if persons is not None:
        def opened(events):
            for event in events:
                sealing.open_for_rebuild(p, event, persons)
            return events
        return (opened(events) for events in recorder(conn).iter_fold_events(after, chunk))
    return (sealing.unseal_events(p, events) for events in recorder(conn).iter_fold_events(after, chunk))


__all__ = ["EVENT_COLUMNS", "Recorder", "append", "event_from_row", "iter_events", "iter_fold_events",
           "json_value", "read_events", "recorder", "to_json", "utc"]
