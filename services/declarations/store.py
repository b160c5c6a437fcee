"""Storage API of the declarations service: the event log, the projections
and the idempotency answers. Every read and write of its tables is here.

Appends are serialised: on SQLite by `begin_write` (BEGIN IMMEDIATE takes the
database's write lock), on PostgreSQL by a transaction-scoped advisory lock
taken in `begin_write` (and again, harmlessly, in `append`) before the next
position is read. Either way the lock is
held until commit, so positions are gap-free and in commit order: a reader
that resumes after position N never misses an event that commits later.
"""
import contextlib
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from common.metrics import EVENTS_APPENDED

from services.declarations.models import (
    Event, Idempotency, Person, Record, UnitCount, UnitMonth, UnitSeen,
)

# pg_advisory_xact_lock key of the append lock ("EDT1").
APPEND_LOCK = 0x45445431
# Rows per IN (...) list.
_CHUNK = 500

EVENT_COLUMNS = ("position", "event_id", "stream_id", "stream_version", "type",
                 "unit_id", "occurred_at", "data", "metadata")
_EVENTS_SQL = ("SELECT position, event_id, stream_id, stream_version, type, unit_id, occurred_at, "
               "data, metadata FROM events WHERE position > {} ORDER BY position LIMIT {}")
_EVENTS_AFTER = text(_EVENTS_SQL.format(":after", ":limit"))
_EVENTS_AFTER_QMARK = _EVENTS_SQL.format("?", "?")
# What a fold reads of the metadata (projection.Fold: record_id, batch_no,
# unit), picked out by SQLite itself: parsing every event's whole metadata
# in Python would cost a rebuild a twelfth of its time.
_FOLD_EVENTS_SQLITE = (
    "SELECT position, event_id, stream_id, stream_version, type, unit_id, occurred_at, data, "
    "metadata ->> '$.record_id', metadata ->> '$.batch_no', metadata -> '$.unit' "
    "FROM events WHERE position > ? ORDER BY position LIMIT ?")


def utc(dt):
    """Every time stored here is UTC; SQLite gives it back naive, PostgreSQL
    in the session's zone."""
    if dt is None:
        return None
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def json_value(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def event_from_row(row):
    """An event dict from a raw (driver-typed) row of EVENT_COLUMNS."""
    position, event_id, sid, version, type_, unit_id, occurred_at, data, meta = row
    return {
        "position": position, "event_id": event_id, "stream_id": sid,
        "stream_version": version, "type": type_, "unit_id": unit_id,
        "occurred_at": utc(occurred_at), "data": json_value(data), "metadata": json_value(meta),
    }


def _event_from_sqlite(row, _utc=timezone.utc, _loads=json.loads, _parse=datetime.fromisoformat):
    # event_from_row for SQLite's own types (text times and JSON): rebuild's
    # inner loop, so without the generic checks.
    position, event_id, sid, version, type_, unit_id, occurred_at, data, meta = row
    return {
        "position": position, "event_id": event_id, "stream_id": sid,
        "stream_version": version, "type": type_, "unit_id": unit_id,
        "occurred_at": _parse(occurred_at).replace(tzinfo=_utc), "data": _loads(data),
        "metadata": _loads(meta),
    }


def _fold_events_sqlite(rows, units, _utc=timezone.utc, _loads=json.loads,
                        _parse=datetime.fromisoformat):
    # `units` caches the parsed unit of each distinct unit text.
    out = []
    for position, event_id, sid, version, type_, unit_id, occurred_at, data, record_id, batch_no, unit in rows:
        parsed = units.get(unit)
        if parsed is None and unit is not None:
            parsed = units[unit] = _loads(unit)
        out.append({
            "position": position, "event_id": event_id, "stream_id": sid,
            "stream_version": version, "type": type_, "unit_id": unit_id,
            "occurred_at": _parse(occurred_at).replace(tzinfo=_utc), "data": _loads(data),
            "metadata": {"record_id": record_id, "batch_no": batch_no, "unit": parsed},
        })
    return out


def read_events(conn, after=0, limit=1000):
    """Events after `after` in position order, at most `limit`."""
    rows = conn.execute(_EVENTS_AFTER, {"after": after, "limit": limit})
    return [event_from_row(row) for row in rows]


def iter_events(conn, after=0, chunk=10000):
    """Every event after `after`, in position order, read in chunks (keyset
    paging: each chunk is one short query)."""
    while True:
        if conn.dialect.name == "sqlite" and conn.in_transaction():
            # Straight from the driver, in the caller's transaction: a
            # million SQLAlchemy rows would cost rebuild a tenth of its time.
            rows = conn.connection.dbapi_connection.execute(
                _EVENTS_AFTER_QMARK, (after, chunk)).fetchall()
            parse = _event_from_sqlite
        else:
            rows = conn.execute(_EVENTS_AFTER, {"after": after, "limit": chunk}).all()
            parse = event_from_row
        if not rows:
            return
        yield [parse(row) for row in rows]
        after = rows[-1][0]


def iter_fold_events(conn, after=0, chunk=10000):
    """Like iter_events, but with only the metadata projection.Fold reads
    (record_id, batch_no, unit): what rebuild and verify replay. On SQLite
    straight from the driver, in the caller's transaction."""
    if conn.dialect.name != "sqlite" or not conn.in_transaction():
        yield from iter_events(conn, after, chunk)
        return
    cursor, units = conn.connection.dbapi_connection.cursor(), {}
    while True:
        rows = cursor.execute(_FOLD_EVENTS_SQLITE, (after, chunk)).fetchall()
        if not rows:
            return
        yield _fold_events_sqlite(rows, units)
        after = rows[-1][0]


def append(conn, events):
    """Insert `events` (dicts without positions) at the end of the log and
    set their `position`. Must run inside the caller's write transaction,
    which the lock protects until it commits or rolls back.

    A stream_version already taken raises IntegrityError: another writer
    appended to that person since the caller read its state.
    """
    if not events:
        return events
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})
    last = conn.scalar(select(func.max(Event.position))) or 0
    for offset, event in enumerate(events, 1):
        event["position"] = last + offset
    when, dumps = _when(conn), to_json
    insert_rows(conn, "events", EVENT_COLUMNS, [
        (e["position"], e["event_id"], e["stream_id"], e["stream_version"], e["type"], e["unit_id"],
         when(e["occurred_at"]), dumps(e["data"]), dumps(e["metadata"])) for e in events])
    return events


def to_json(value, _dumps=orjson.dumps):
    """JSON text of a column value (compact UTF-8): orjson encodes a batch's
    data, metadata and persons several times faster than json.dumps."""
    return _dumps(value).decode()


# Driver-level writes of the live path: a batch of 20,000 rows through
# SQLAlchemy's per-row parameter processing took a third of its time.
_COPY_FROM = 50  # rows from which PostgreSQL gets COPY rather than executemany


def insert_rows(conn, table, columns, rows):
    """Insert `rows` (tuples in the order of `columns`, values as the driver
    takes them: see `_when`, JSON already encoded) in the caller's
    transaction: on SQLite the driver's executemany, on PostgreSQL COPY (or
    executemany for a few rows). A unique key already taken raises
    SQLAlchemy's IntegrityError, as a Core insert would."""
    if not rows:
        return
    raw = conn.connection.dbapi_connection
    names = ", ".join(columns)
    postgres = conn.dialect.name == "postgresql"
    try:
        if postgres and len(rows) >= _COPY_FROM:
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif postgres:
            with raw.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})", rows)
        else:
            raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        raise IntegrityError(f"INSERT INTO {table}", None, exc) from exc


def update_rows(conn, table, key, columns, rows):
    """UPDATE `table` SET `columns` WHERE `key` = ?, one tuple per row (the
    values of `columns`, then the key's), through the driver."""
    if not rows:
        return
    raw = conn.connection.dbapi_connection
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = f"UPDATE {table} SET {', '.join(f'{c} = {mark}' for c in columns)} WHERE {key} = {mark}"
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            cursor.executemany(sql, rows)
    else:
        raw.executemany(sql, rows)


def _when(conn):
    """How the driver of `conn` is given a time, as SQLAlchemy would store
    it: SQLite's text form (remembering the last one: the times of an
    append are mostly one), PostgreSQL's aware datetime itself."""
    if conn.dialect.name == "postgresql":
        return lambda value: value
    last = [None, None]

    def when(value):
        if value is None:
            return None
        if value is not last[0]:
            last[0], last[1] = value, _sqlite_datetime(value)
        return last[1]
    return when


def _sqlite_datetime(value, _utc=timezone.utc):
    # SQLAlchemy's storage format on SQLite: naive UTC, always microseconds
    # (so that stored times and bound parameters compare as strings).
    if value.tzinfo is not _utc:
        if value.tzinfo is not None:
            value = value.astimezone(_utc)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    return value.isoformat(" ", "microseconds")[:26]  # without "+00:00"


def _sqlite_converter(value):
    if isinstance(value, datetime):
        return _sqlite_datetime
    if isinstance(value, (dict, list)):
        return json.dumps
    return None


def bulk_insert(conn, table, rows):
    """Insert many rows of dicts, all with the same keys in the same order
    (they come from one function). On SQLite straight
    through the driver's executemany (SQLAlchemy's per-row parameter
    processing would cost rebuild a third of its time); elsewhere a Core
    executemany."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    converting = [(i, f) for i, f in enumerate(_sqlite_converter(rows[0][c]) for c in columns) if f]
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
    conn.connection.dbapi_connection.executemany(sql, params)  # in the caller's transaction


def _insert_for(conn):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


_UPSERTS = {}


def upsert(conn, table, rows, keys, update):
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET `update(table, excluded)`.
    One form per table and dialect, built once (building it costs a third
    of a declaration's time)."""
    if not rows:
        return
    cache_key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        stmt = _insert_for(conn)(table)
        stmt = _UPSERTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=keys, set_=update(table, stmt.excluded))
    conn.execute(stmt, rows)


def person_row(state):
    return {
        "stream_id": state["stream_id"], "cert_type": state["cert_type"],
        "cert_no": state["cert_no"], "status": state["status"], "unit_id": state["unit_id"],
        "version": state["version"], "since": state["since"], "person": state["person"],
    }


PERSON_COLUMNS = ("status", "unit_id", "version", "since", "person")
RECORD_COLUMNS = ("record_id", "position", "unit_id", "business_type", "action", "cert_type",
                  "cert_no", "name", "declared_at", "batch_no")


def write_live(conn, fold, stored):
    """Write what a projection.Fold folded over one append, adding its
    counts and month figures to the stored ones: one statement per unit
    and per unit-month, persons inserted (those not in `stored`, which have
    no row) or updated, and the records, through the driver."""
    counts = [{"unit_id": u, "insured_count": n} for u, n in fold.counts.items()]
    months = [{"unit_id": u, "month": m, "increase": inc, "decrease": dec}
              for (u, m), (inc, dec) in fold.months.items()]
    units = [{"unit_id": u, "name": unit.get("name"), "credit_code": unit.get("credit_code")}
             for u, unit in fold.units.items()]
    upsert(conn, UnitCount.__table__, counts, ["unit_id"],
           lambda t, x: {"insured_count": t.c.insured_count + x.insured_count})
    upsert(conn, UnitMonth.__table__, months, ["unit_id", "month"],
           lambda t, x: {"increase": t.c.increase + x.increase, "decrease": t.c.decrease + x.decrease})
    upsert(conn, UnitSeen.__table__, units, ["unit_id"],
           lambda t, x: {"name": x.name, "credit_code": x.credit_code})
    when, dumps, persons = _when(conn), to_json, fold.persons
    new, changed = [], []
    for sid in fold.touched:
        p = persons[sid]
        if sid in stored:
            changed.append((p["status"], p["unit_id"], p["version"], when(p["since"]),
                            dumps(p["person"]), sid))
        else:
            new.append((sid, p["cert_type"], p["cert_no"], p["status"], p["unit_id"], p["version"],
                        when(p["since"]), dumps(p["person"])))
    insert_rows(conn, "persons", ("stream_id", "cert_type", "cert_no") + PERSON_COLUMNS, new)
    update_rows(conn, "persons", "stream_id", PERSON_COLUMNS, changed)
    insert_rows(conn, "records", RECORD_COLUMNS, [
        (r["record_id"], r["position"], r["unit_id"], r["business_type"], r["action"], r["cert_type"],
         r["cert_no"], r["name"], when(r["declared_at"]), r["batch_no"]) for r in fold.take_records()])


def write_fold(conn, fold, additive=True):
    """Write what a projection.Fold folded. `additive`: counts and month
    figures are added to the stored ones (the live path); otherwise the
    tables are assumed empty (rebuild)."""
    counts = [{"unit_id": u, "insured_count": n} for u, n in fold.counts.items()]
    months = [{"unit_id": u, "month": m, "increase": inc, "decrease": dec}
              for (u, m), (inc, dec) in fold.months.items()]
    persons = [person_row(fold.persons[sid]) for sid in (fold.touched if additive else fold.persons)]
    units = [{"unit_id": u, "name": unit.get("name"), "credit_code": unit.get("credit_code")}
             for u, unit in fold.units.items()]
    if additive:
        upsert(conn, UnitCount.__table__, counts, ["unit_id"],
               lambda t, x: {"insured_count": t.c.insured_count + x.insured_count})
        upsert(conn, UnitMonth.__table__, months, ["unit_id", "month"],
               lambda t, x: {"increase": t.c.increase + x.increase, "decrease": t.c.decrease + x.decrease})
        upsert(conn, Person.__table__, persons, ["stream_id"],
               lambda t, x: {c: getattr(x, c) for c in ("status", "unit_id", "version", "since", "person")})
        upsert(conn, UnitSeen.__table__, units, ["unit_id"],
               lambda t, x: {"name": x.name, "credit_code": x.credit_code})
    else:
        for table, rows in ((UnitCount, counts), (UnitMonth, months), (Person, persons), (UnitSeen, units)):
            bulk_insert(conn, table.__table__, rows)
    records = fold.take_records()
    if additive:
        if records:
            conn.execute(insert(Record.__table__), records)
    else:
        bulk_insert(conn, Record.__table__, records)


class DeclarationsStore:
    def __init__(self, session):
        self.session = session
        self._appended = Counter()  # event types appended in the open transaction

    @property
    def conn(self):
        return self.session.connection()

    def commit(self):
        self.session.commit()
        # Counted once committed: a rolled-back append was never in the log.
        for event_type, count in self._appended.items():
            EVENTS_APPENDED.labels(event_type).inc(count)
        self._appended.clear()

    def rollback(self):
        self.session.rollback()
        self._appended.clear()

    @contextlib.contextmanager
    def reading(self):
        """A read whose transaction ends with the block (no snapshot kept)."""
        try:
            yield self
        finally:
            self.rollback()

    @contextlib.contextmanager
    def unit_of_work(self, append=False):
        """A write transaction (cosmicpython's unit of work): the block's
        writes are kept only if it calls `commit()`; anything else, an
        exception included, rolls them back. With `append` it holds the
        append lock (see `begin_write`); without, SQLite still takes its
        write lock at the start, so the block never fails half-way on a busy
        database."""
        if append:
            self.begin_write()
        elif not self.session.in_transaction():
            self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield self
        finally:
            if self.session.in_transaction():
                self.rollback()

    def begin_write(self):
        """Start a write transaction holding the append lock until it ends:
        on SQLite BEGIN IMMEDIATE (the database's write lock), on PostgreSQL
        the transaction-scoped advisory lock. Every statement after it sees
        every earlier append committed, so `stream_versions` read here tells
        whether a person moved since a decision was taken."""
        if not self.session.in_transaction():
            conn = self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})

    # deciding
    def person_states(self, stream_ids):
        """{stream_id: state} of the persons of `stream_ids` ever declared."""
        rows = self._persons("stream_id, cert_type, cert_no, status, unit_id, version, since, person",
                             stream_ids)
        return {row[0]: {
            "stream_id": row[0], "cert_type": row[1], "cert_no": row[2], "status": row[3],
            "unit_id": row[4], "version": row[5], "since": utc(row[6]), "person": json_value(row[7]),
        } for row in rows}

    def stream_versions(self, stream_ids):
        """{stream_id: version} of the persons of `stream_ids` ever declared."""
        return dict(self._persons("stream_id, version", stream_ids))

    def _persons(self, columns, stream_ids):
        # One statement through the driver however many persons a batch
        # names: the ids travel as one parameter (an array on PostgreSQL, a
        # JSON array on SQLite), not as thousands of bound IN (...) values.
        ids = sorted(set(stream_ids))
        if not ids:
            return []
        conn = self.conn
        raw = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cursor:
                cursor.execute(f"SELECT {columns} FROM persons WHERE stream_id = ANY(%s)", (ids,))
                return cursor.fetchall()
        return raw.execute(f"SELECT {columns} FROM persons WHERE stream_id IN "
                           "(SELECT value FROM json_each(?))", (json.dumps(ids),)).fetchall()

    def units(self, unit_ids):
        ids = sorted(set(unit_ids))
        out = {}
        for start in range(0, len(ids), _CHUNK):
            rows = self.session.execute(
                select(UnitSeen).where(UnitSeen.unit_id.in_(ids[start:start + _CHUNK]))).scalars()
            out.update((r.unit_id, {"id": r.unit_id, "name": r.name, "credit_code": r.credit_code})
                       for r in rows)
        return out

    # appending
    def append(self, events, fold, after=None):
        """Append `events` and write `fold` (over the same events) in this
        transaction. The persons `fold` began with are those that have a
        row (read under this lock or checked since); `after`, if given, the
        persons' states after `events` (see projection.Fold.apply_all)."""
        stored = set(fold.persons)
        append(self.conn, events)
        self._appended.update(e["type"] for e in events)
        fold.apply_all(events, after)
        write_live(self.conn, fold, stored)

    # idempotency
    def answer(self, account, key):
        return self.session.get(Idempotency, (account, key))

    def save_answer(self, account, key, fingerprint, response, now):
        self.session.add(Idempotency(account=account, key=key, fingerprint=fingerprint,
                                     response=response, created_at=now))
        self.session.flush()

    # unit figures
    def insured_count(self, unit_id):
        return self.session.scalar(
            select(UnitCount.insured_count).where(UnitCount.unit_id == unit_id)) or 0

    def months_from(self, unit_id, first_month):
        """(insured at the end of the month before `first_month`,
        {month: (increase, decrease)} from `first_month` on)."""
        base = self.session.execute(
            select(func.coalesce(func.sum(UnitMonth.increase - UnitMonth.decrease), 0))
            .where(UnitMonth.unit_id == unit_id, UnitMonth.month < first_month)).scalar()
        rows = self.session.execute(
            select(UnitMonth.month, UnitMonth.increase, UnitMonth.decrease)
            .where(UnitMonth.unit_id == unit_id, UnitMonth.month >= first_month)).all()
        return int(base or 0), {m: (inc, dec) for m, inc, dec in rows}

    # records
    def records(self, unit_id, offset, limit, business_type=None, start=None, end=None,
                name=None, cert_nos=None, batch_no=None):
        """(total, rows) of a unit's records, newest first. `start`/`end` are
        UTC instants (end exclusive); `cert_nos` any of several spellings."""
        where = [Record.unit_id == unit_id]
        if business_type:
            where.append(Record.business_type == business_type)
        if start is not None:
            where.append(Record.declared_at >= start)
        if end is not None:
            where.append(Record.declared_at < end)
        if name:
            where.append(Record.name == name)
        if cert_nos:
            where.append(Record.cert_no.in_(cert_nos))
        if batch_no:
            where.append(Record.batch_no == batch_no)
        total = self.session.scalar(select(func.count()).select_from(Record).where(*where))
        rows = self.session.execute(
            select(Record).where(*where).order_by(Record.position.desc())
            .offset(offset).limit(limit)).scalars().all()
        return total, rows

    def record(self, unit_id, record_id):
        """(record, event) of one of the unit's records, or None."""
        row = self.session.execute(
            select(Record).where(Record.record_id == record_id, Record.unit_id == unit_id)
        ).scalar()
        if row is None:
            return None
        event = read_events(self.conn, row.position - 1, 1)[0]
        return row, event

    # the log, for consumers
    def events_after(self, after, limit):
        return read_events(self.conn, after, limit)

    def last_position(self):
        return self.session.scalar(select(func.max(Event.position))) or 0


def day_bounds(day_from, day_to, tz):
    """UTC instants [start, end) of the business-zone days `day_from` ..
    `day_to` (either may be None)."""
    start = end = None
    if day_from is not None:
        start = datetime.combine(day_from, datetime.min.time(), tz).astimezone(timezone.utc)
    if day_to is not None:
        end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), tz).astimezone(timezone.utc)
    return start, end
