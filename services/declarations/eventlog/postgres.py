"""The event log on PostgreSQL: a transaction-scoped advisory lock
serialises appends; many rows go in by COPY; times are handed over as aware
datetimes; a set of persons is one `= ANY(array)` parameter."""
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from services.declarations.eventlog.recorder import Recorder

# pg_advisory_xact_lock key of the append lock ("EDT1").
APPEND_LOCK = 0x45445431
# Rows from which COPY is used rather than executemany.
COPY_FROM = 50
# Ids per `= ANY(array)` read of persons (see PostgresRecorder.persons).
PERSONS_CHUNK = 1000


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
        if rows:
            self.conn.execute(table.insert(), rows)

    def insert(self, table):
        return pg_insert(table)

    def persons(self, columns, stream_ids):
        # One array parameter per PERSONS_CHUNK ids: with a whole batch's
        # 5,000 in one array the planner preferred a full scan of persons
        # below ~1,000,000 rows (112 ms at 500,000, bench/city-plans.txt);
        # chunks of 1,000 are always primary-key lookups (43 ms for 5,000).
        rows = []
        with self.raw.cursor() as cursor:
            for start in range(0, len(stream_ids), PERSONS_CHUNK):
                cursor.execute(f"SELECT {columns} FROM persons WHERE stream_id = ANY(%s)",
                               (stream_ids[start:start + PERSONS_CHUNK],))
                rows.extend(cursor.fetchall())
        return rows
