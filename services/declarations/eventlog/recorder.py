"""What every recorder of the event log does, and the parts that are the
same on every engine: the events' columns, reading events after a
position, appending at the end of the log."""
import json

import orjson
from sqlalchemy import func, select, text

from common import tracing
from common.clock import utc
from common.protect.runtime import protection
from services.declarations import sealing
from services.declarations.models import Event

EVENT_COLUMNS = ("position", "event_id", "stream_id", "stream_version", "type",
                 "unit_id", "occurred_at", "data", "metadata")
_EVENTS_SQL = ("SELECT position, event_id, stream_id, stream_version, type, unit_id, occurred_at, "
               "data, metadata FROM events WHERE position > {} ORDER BY position LIMIT {}")
EVENTS_AFTER = text(_EVENTS_SQL.format(":after", ":limit"))
EVENTS_AFTER_QMARK = _EVENTS_SQL.format("?", "?")


def json_value(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def to_json(value, _dumps=orjson.dumps):
    """JSON text of a column value (compact UTF-8): orjson encodes a batch's
    data, metadata and persons several times faster than json.dumps."""
    return _dumps(value).decode()


def event_from_row(row):
    """An event dict from a raw (driver-typed) row of EVENT_COLUMNS."""
    position, event_id, sid, version, type_, unit_id, occurred_at, data, meta = row
    return {
        "position": position, "event_id": event_id, "stream_id": sid,
        "stream_version": version, "type": type_, "unit_id": unit_id,
        "occurred_at": utc(occurred_at), "data": json_value(data), "metadata": json_value(meta),
    }


def fold_events(rows, units, when, loads):
    """Events as a fold reads them (rebuild's and verify's inner loop) from
    driver rows of position, event_id, stream_id, stream_version, type,
    unit_id, occurred_at, data (JSON text), and of the metadata only
    record_id, batch_no and unit (JSON text). `when` gives occurred_at as an
    aware UTC datetime, `loads` parses JSON text; `units` caches the parsed
    unit of each distinct unit text."""
    out = []
    for position, event_id, sid, version, type_, unit_id, occurred_at, data, record_id, batch_no, unit in rows:
        parsed = units.get(unit)
        if parsed is None and unit is not None:
            parsed = units[unit] = loads(unit)
        out.append({
            "position": position, "event_id": event_id, "stream_id": sid,
            "stream_version": version, "type": type_, "unit_id": unit_id,
            "occurred_at": when(occurred_at), "data": loads(data),
            "metadata": {"record_id": record_id, "batch_no": batch_no, "unit": parsed},
        })
    return out


def parsed_column(rows, columns, name, loads):
    """`rows` (tuples of `columns`) with the JSON text of column `name`
    parsed, when it is among them."""
    if name not in columns:
        return rows
    at = columns.index(name)
    return [row[:at] + (loads(row[at]),) + row[at + 1:] for row in rows]


def read_events(conn, after=0, limit=1000, opened=True):
    """Events after `after` in position order, at most `limit`, with their
    personal fields opened (full values, as consumers receive them); with
    `opened=False` as stored (tokens), for a reader of no personal field."""
    rows = conn.execute(EVENTS_AFTER, {"after": after, "limit": limit}).all()
    events = [event_from_row(row) for row in rows]
    return sealing.unseal_events(protection(conn), events) if opened and events else events


class Recorder:
    """The engine-specific half of the log's storage, over one Connection.

    Rows handed to `insert_rows` / `update_rows` are tuples of values as the
    driver takes them: times through `time_converter()`, JSON already
    encoded (`to_json`)."""

    # Execution options of the connection that begins a write transaction,
    # and of one that reads a consistent snapshot of several tables.
    write_options: dict = {}
    snapshot_options: dict = {}

    def __init__(self, conn):
        self.conn = conn

    @property
    def protection(self):
        """The store's protection (services/declarations/sealing.py)."""
        return protection(self.conn)

    @property
    def raw(self):
        """The driver's connection, in the caller's transaction."""
        return self.conn.connection.dbapi_connection

    def append(self, events, tokens=None):
        """Insert `events` (dicts without positions) at the end of the log
        and set their `position`. Must run inside the caller's write
        transaction, which the append lock protects until it commits or
        rolls back.

        A stream_version already taken raises IntegrityError: another writer
        appended to that person since the caller read its state.

        `tokens`, if given, a dict that receives {(field, value): token} of
        the values sealed, for the projections of the same append to copy
        (sealing.seal).
        """
        if not events:
            return events
        if tracing.enabled():
            with tracing.span("eventlog append", scope="services.declarations.eventlog",
                              attributes={"edt.events": len(events)}) as span:
                # The append's context goes with each event (its metadata):
                # the relay's publish continues the trace from it.
                trace = tracing.traceparent()
                for event in events:
                    if trace:
                        event["metadata"] = {**event["metadata"], "trace": trace}
                self._append(events, tokens)
                span.set_attribute("edt.log.position.first", events[0]["position"])
                span.set_attribute("edt.log.position.last", events[-1]["position"])
            return events
        return self._append(events, tokens)

    def _append(self, events, tokens=None):
        self.lock_appends()
        last = self.conn.scalar(select(func.max(Event.position))) or 0
        for offset, event in enumerate(events, 1):
            event["position"] = last + offset
        when, dumps, seal, p = self.time_converter(), to_json, sealing.seal, self.protection
        # The personal fields go in as tokens; the caller's events keep full values.
        self.insert_rows("events", EVENT_COLUMNS, [
            (e["position"], e["event_id"], e["stream_id"], e["stream_version"], e["type"], e["unit_id"],
             when(e["occurred_at"]), dumps(seal(p, e["data"], tokens)), dumps(e["metadata"])) for e in events])
        return events

    def lock_appends(self):
        """Take the append lock in the current transaction (held until it ends)."""
        raise NotImplementedError

    def time_converter(self):
        """A function giving a time as the driver stores it."""
        raise NotImplementedError

    def insert_rows(self, table, columns, rows):
        """Insert tuples in the order of `columns`; a unique key already
        taken raises SQLAlchemy's IntegrityError, as a Core insert would."""
        raise NotImplementedError

    def update_rows(self, table, key, columns, rows):
        """UPDATE `table` SET `columns` WHERE `key` = ?, one tuple per row
        (the values of `columns`, then the key's)."""
        raise NotImplementedError

    def bulk_insert(self, table, rows):
        """Insert many dict rows (all with the same keys in the same order)."""
        raise NotImplementedError

    def insert(self, table):
        """An INSERT construct of this dialect (for ON CONFLICT ...)."""
        raise NotImplementedError

    def persons(self, columns, stream_ids, key="stream_id"):
        """Rows of `columns` of the persons whose `key` (stream_id, or
        cert_no_bidx) is among `stream_ids`, in one statement however many
        ids a batch names."""
        raise NotImplementedError

    def iter_events(self, after=0, chunk=10000):
        """Every event after `after`, in position order, in chunks (keyset
        paging: each chunk is one short query); data as stored (sealed:
        eventlog.iter_events opens it)."""
        while True:
            rows = self.conn.execute(EVENTS_AFTER, {"after": after, "limit": chunk}).all()
            if not rows:
                return
            yield [event_from_row(row) for row in rows]
            after = rows[-1][0]

    def iter_fold_events(self, after=0, chunk=10000):
        """What rebuild and verify replay: events with the metadata a
        projection.Fold reads; data as stored (eventlog.iter_fold_events
        opens it)."""
        yield from self.iter_events(after, chunk)

    def records_between(self, columns, first, last):
        """Tuples of `columns` of the records at positions first..last
        (driver-typed: times as the engine gives them back)."""
        raise NotImplementedError

    def person_rows(self, columns):
        """Tuples of `columns` of every person, the JSON column `person`
        (when asked for) parsed."""
        raise NotImplementedError

    def prepare_rebuild(self):
        """Settings of a rebuild's connection before its transaction."""

    def end_rebuild(self):
        """Undo `prepare_rebuild` before the connection goes back to the pool."""

    def rebuild_indexes(self, tables):
        """Secondary indexes to drop for a rebuild's bulk insert and build
        again at its end (none where dropping would lock readers out)."""
        return []
