"""The event log on PostgreSQL: a transaction-scoped advisory lock
serialises appends; many rows go in by COPY; times are handed over as aware
datetimes; a set of persons is one `= ANY(array)` parameter; the hot read
paths of rebuild and verify go straight to the driver, with JSON columns
read as text and parsed by orjson."""
import orjson
from sqlalchemy import JSON, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from common.clock import utc
from services.declarations.eventlog.recorder import Recorder, fold_events, parsed_column, to_json

# pg_advisory_xact_lock key of the append lock ("EDT1").
APPEND_LOCK = 0x45445431
# Rows from which COPY is used rather than executemany.
COPY_FROM = 50
# Ids per `= ANY(array)` read of persons (see PostgresRecorder.persons).
PERSONS_CHUNK = 1000
# What a fold reads (projection.Fold: the event, and of its metadata only
# record_id, batch_no and unit), with JSON as text: psycopg would parse
# json columns with the stdlib's json.loads, a third of verify's time.
_FOLD_EVENTS = (
    "SELECT position, event_id, stream_id, stream_version, type, unit_id, occurred_at, data::text, "
    "metadata ->> 'record_id', metadata ->> 'batch_no', (metadata -> 'unit')::text "
    "FROM events WHERE position > %s ORDER BY position LIMIT %s")


def _copy_value(value):
    return to_json(value) if isinstance(value, (dict, list)) else value


class PostgresRecorder(Recorder):
    write_options: dict = {}
    # verify compares the log and the projections as of one moment.
    snapshot_options = {"isolation_level": "REPEATABLE READ"}

    def lock_appends(self):
        self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})

    def time_converter(self):
        return lambda value: value

    def insert_rows(self, table, columns, rows):
        if not rows:
            return
        names = ", ".join(columns)
        try:
            with self.raw.cursor() as cursor:
                if len(rows) >= COPY_FROM:
                    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(
                        f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})", rows)
        except self.conn.dialect.loaded_dbapi.IntegrityError as exc:
            raise IntegrityError(f"INSERT INTO {table}", None, exc) from exc

    def update_rows(self, table, key, columns, rows):
        if rows:
            with self.raw.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE {key} = %s", rows)

    def bulk_insert(self, table, rows):
        # COPY through the driver (JSON values encoded by orjson): an
        # executemany through SQLAlchemy cost a rebuild most of its writes.
        if not rows:
            return
        columns = list(rows[0])
        json_columns = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
        with self.raw.cursor() as cursor, \
                cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            if json_columns:
                for row in rows:
                    copy.write_row([_copy_value(v) for v in row.values()])
            else:
                for row in rows:
                    copy.write_row(tuple(row.values()))

    def records_between(self, columns, first, last):
        with self.raw.cursor() as cursor:
            return cursor.execute(f"SELECT {', '.join(columns)} FROM records WHERE position BETWEEN %s AND %s",
                                  (first, last)).fetchall()

    def person_rows(self, columns):
        names = ", ".join("person::text" if c == "person" else c for c in columns)
        with self.raw.cursor() as cursor:
            rows = cursor.execute(f"SELECT {names} FROM persons").fetchall()
        return parsed_column(rows, columns, "person", orjson.loads)

    def iter_fold_events(self, after=0, chunk=10000):
        if not self.conn.in_transaction():
            yield from super().iter_fold_events(after, chunk)
            return
        units = {}
        with self.raw.cursor() as cursor:
            while True:
                rows = cursor.execute(_FOLD_EVENTS, (after, chunk)).fetchall()
                if not rows:
                    return
                yield fold_events(rows, units, utc, orjson.loads)
                after = rows[-1][0]

    def insert(self, table):
        return pg_insert(table)

    def persons(self, columns, stream_ids, key="stream_id"):
        # One array parameter per PERSONS_CHUNK ids: with a whole batch's
        # 5,000 in one array the planner preferred a full scan of persons
        # below ~1,000,000 rows (112 ms at 500,000, bench/city-plans.txt);
        # chunks of 1,000 are always primary-key lookups (43 ms for 5,000).
        rows = []
        with self.raw.cursor() as cursor:
            for start in range(0, len(stream_ids), PERSONS_CHUNK):
                cursor.execute(f"SELECT {columns} FROM persons WHERE {key} = ANY(%s)",
                               (stream_ids[start:start + PERSONS_CHUNK],))
                rows.extend(cursor.fetchall())
        return rows
