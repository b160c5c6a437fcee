"""The event log on SQLite: BEGIN IMMEDIATE serialises appends; rows go in
through the driver's executemany; times are SQLAlchemy's text form; the
hot read paths of rebuild go straight to the driver."""
import json
from datetime import UTC, datetime

import orjson
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from services.declarations.eventlog.recorder import EVENTS_AFTER_QMARK, Recorder, fold_events, parsed_column

# What a fold reads of the metadata (projection.Fold: record_id, batch_no,
# unit), picked out by SQLite itself: parsing every event's whole metadata
# in Python would cost a rebuild a twelfth of its time.
_FOLD_EVENTS = (
    "SELECT position, event_id, stream_id, stream_version, type, unit_id, occurred_at, data, "
    "metadata ->> '$.record_id', metadata ->> '$.batch_no', metadata -> '$.unit' "
    "FROM events WHERE position > ? ORDER BY position LIMIT ?")
# SQLite page cache while rebuilding (KiB): index pages of a million
# records stay in memory instead of being re-read on every random insert.
REBUILD_CACHE_KIB = 256 * 1024


def sqlite_datetime(value, _utc=UTC):
    """SQLAlchemy's storage format on SQLite: naive UTC, always microseconds
    (so that stored times and bound parameters compare as strings)."""
    if value.tzinfo is not _utc:
        if value.tzinfo is not None:
            value = value.astimezone(_utc)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    return value.isoformat(" ", "microseconds")[:26]  # without "+00:00"


def _converter(value):
    if isinstance(value, datetime):
        return sqlite_datetime
    if isinstance(value, (dict, list)):
        return json.dumps
    return None


def _event(row, _utc=UTC, _loads=json.loads, _parse=datetime.fromisoformat):
    # event_from_row for SQLite's own types (text times and JSON): rebuild's
    # inner loop, so without the generic checks.
    position, event_id, sid, version, type_, unit_id, occurred_at, data, meta = row
    return {
        "position": position, "event_id": event_id, "stream_id": sid,
        "stream_version": version, "type": type_, "unit_id": unit_id,
        "occurred_at": _parse(occurred_at).replace(tzinfo=_utc), "data": _loads(data),
        "metadata": _loads(meta),
    }


def _utc_text(value, _utc=UTC, _parse=datetime.fromisoformat):
    """A stored time (SQLAlchemy's naive UTC text) as an aware UTC datetime."""
    return _parse(value).replace(tzinfo=_utc)


class SqliteRecorder(Recorder):
    write_options = {"sqlite_begin": "IMMEDIATE"}

    def lock_appends(self):
        pass  # the transaction began IMMEDIATE: it holds the database's write lock

    def time_converter(self):
        # Remembers the last time converted: the times of an append are mostly one.
        last = [None, None]

        def when(value):
            if value is None:
                return None
            if value is not last[0]:
                last[0], last[1] = value, sqlite_datetime(value)
            return last[1]
        return when

    def insert_rows(self, table, columns, rows):
        if not rows:
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        try:
            self.raw.executemany(sql, rows)
        except self.conn.dialect.loaded_dbapi.IntegrityError as exc:
            raise IntegrityError(f"INSERT INTO {table}", None, exc) from exc

    def update_rows(self, table, key, columns, rows):
        if rows:
            self.raw.executemany(
                f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE {key} = ?", rows)

    def bulk_insert(self, table, rows):
        # Straight through the driver's executemany: SQLAlchemy's per-row
        # parameter processing would cost rebuild a third of its time.
        if not rows:
            return
        columns = list(rows[0])
        converting = [(i, f) for i, f in enumerate(_converter(rows[0][c]) for c in columns) if f]
        if converting:
            def convert(row):
                values = list(row.values())
                for i, f in converting:
                    if values[i] is not None:
                        values[i] = f(values[i])
                return values
            params = [convert(row) for row in rows]
        else:
            params = [tuple(row.values()) for row in rows]
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
        self.raw.executemany(sql, params)

    def insert(self, table):
        return sqlite_insert(table)

    def persons(self, columns, stream_ids, key="stream_id"):
        # The ids travel as one JSON array, not as thousands of bound values.
        return self.raw.execute(f"SELECT {columns} FROM persons WHERE {key} IN "
                                "(SELECT value FROM json_each(?))", (json.dumps(stream_ids),)).fetchall()

    def iter_events(self, after=0, chunk=10000):
        if not self.conn.in_transaction():
            yield from super().iter_events(after, chunk)
            return
        # Straight from the driver, in the caller's transaction: a million
        # SQLAlchemy rows would cost rebuild a tenth of its time.
        while True:
            rows = self.raw.execute(EVENTS_AFTER_QMARK, (after, chunk)).fetchall()
            if not rows:
                return
            yield [_event(row) for row in rows]
            after = rows[-1][0]

    def iter_fold_events(self, after=0, chunk=10000):
        if not self.conn.in_transaction():
            yield from super().iter_fold_events(after, chunk)
            return
        cursor, units = self.raw.cursor(), {}
        while True:
            rows = cursor.execute(_FOLD_EVENTS, (after, chunk)).fetchall()
            if not rows:
                return
            yield fold_events(rows, units, _utc_text, json.loads)
            after = rows[-1][0]

    def records_between(self, columns, first, last):
        return self.raw.execute(f"SELECT {', '.join(columns)} FROM records WHERE position BETWEEN ? AND ?",
                                (first, last)).fetchall()

    def person_rows(self, columns):
        rows = self.raw.execute(f"SELECT {', '.join(columns)} FROM persons").fetchall()
        return parsed_column(rows, columns, "person", orjson.loads)

    def prepare_rebuild(self):
        # On the driver's connection: a PRAGMA through SQLAlchemy would begin
        # a transaction first.
        self.raw.execute(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")

    def end_rebuild(self):
        self.raw.execute("PRAGMA cache_size=-2000")  # SQLite's default, for the pool

    def rebuild_indexes(self, tables):
        # Built once at the end, inside the same transaction (readers keep
        # the old schema and rows until it commits).
        return [i for table in tables for i in table.indexes]
