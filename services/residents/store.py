"""Storage API of the residents service: every read and write of its tables."""
import contextlib
import operator
import weakref

import orjson
from sqlalchemy import bindparam, func, insert as insert_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.residents.models import Checkpoint, FollowedLog, Resident, ResidentHistory, UnitVersion
from common import codes
from common.clock import aware, utcnow  # noqa: F401 (re-exported)
from common.db import UnitOfWork
from common.protect import process_index

FEED = "declarations"  # the one log this service follows
_LOCK_CHECKPOINT = select(Checkpoint.position).where(Checkpoint.name == FEED).with_for_update()
_CHECKPOINT = select(Checkpoint.position).where(Checkpoint.name == FEED)
_UNIT_VERSION = select(UnitVersion.position).where(UnitVersion.unit_id == bindparam("unit_id"))
# Roster totals per engine, by (unit, filters): (unit version when counted, total).
_COUNTS = weakref.WeakKeyDictionary()
_COUNTS_MAX = 10_000

# A unit's roster, newest first: by the time the status began, then by the
# log position that set it (persons declared in one second keep log order).
ROSTER_ORDER = (Resident.since.desc(), Resident.status_position.desc())

_RESIDENT = Resident.__table__
_HISTORY = ResidentHistory.__table__
RESIDENT_COLUMNS = tuple(c.name for c in _RESIDENT.columns)  # cert_type, cert_no first (the key)
assert RESIDENT_COLUMNS[:2] == ("cert_type", "cert_no")
HISTORY_COLUMNS = tuple(c.name for c in _HISTORY.columns)
# Written when the row is made, never changed: left out of the upserts'
# SET, so changing a person never rewrites its entry of the unique index.
WRITE_ONCE = ("person_id",)
UPDATED_COLUMNS = tuple(c for c in RESIDENT_COLUMNS[2:] if c not in WRITE_ONCE)


# The rows of a batch's persons: one join of the primary key against the keys' arrays.
_PG_PRELOAD = (
    f"SELECT {', '.join('r.' + c for c in RESIDENT_COLUMNS)} FROM {_RESIDENT.name} r "
    "JOIN unnest(%(types)s::varchar[], %(nos)s::varchar[]) AS k(cert_type, cert_no) "
    "ON r.cert_type = k.cert_type AND r.cert_no = k.cert_no"
)
# Persons created or changed by a batch: COPY into a session's temporary
# table without indexes, then one upsert from it. (From arrays, as before,
# psycopg's dumping of 17 arrays — a regex per text element — cost the apply
# a fifth of its CPU at city size; a COPY row costs a tenth of that.)
_PG_STAGE = "residents_stage"
_PG_CREATE_STAGE = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGE} "
                    f"(LIKE {_RESIDENT.name} INCLUDING DEFAULTS)")
_PG_STAGE_COPY = f"COPY {_PG_STAGE} ({', '.join(RESIDENT_COLUMNS)}) FROM STDIN"
_PG_UPSERT = (
    f"INSERT INTO {_RESIDENT.name} ({', '.join(RESIDENT_COLUMNS)}) "
    f"SELECT {', '.join(RESIDENT_COLUMNS)} FROM {_PG_STAGE} "
    "ON CONFLICT (cert_type, cert_no) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATED_COLUMNS)
)
_PG_CLEAR_STAGE = f"DELETE FROM {_PG_STAGE}"
_PG_HISTORY_COPY = f"COPY {_HISTORY.name} ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"

_PG_UNIT_VERSIONS = (
    f"INSERT INTO {UnitVersion.__tablename__} (unit_id, position) "
    "SELECT unnest(%(units)s::integer[]), %(position)s "
    "ON CONFLICT (unit_id) DO UPDATE SET position = EXCLUDED.position"
)


class PersonState:
    """A row of `residents` as the projection reads and changes it: plain
    attributes (the table's columns), written back in bulk when changed."""

    __slots__ = RESIDENT_COLUMNS + ("loaded_unit", "_original")

    def __init__(self, **values):
        for column in RESIDENT_COLUMNS:
            setattr(self, column, values.get(column))
        self.loaded_unit = None  # the unit as read from the database (None: a new row)
        self._original = None  # the column values as read (None: a new row)

    @classmethod
    def loaded(cls, values, _columns=RESIDENT_COLUMNS, _set=setattr):
        """From a row of RESIDENT_COLUMNS, as read (not changed)."""
        state = cls.__new__(cls)
        for column, value in zip(_columns, values):
            _set(state, column, value)
        state._original = tuple(values)
        state.loaded_unit = state.unit_id
        return state

    def values(self):
        return dict(zip(RESIDENT_COLUMNS, _columns_of(self)))

    def row(self):
        """The column values, in the order of RESIDENT_COLUMNS."""
        return _columns_of(self)

    def changed(self):
        return self._original is None or self._original != _columns_of(self)

    def written(self):
        self._original = _columns_of(self)
        self.loaded_unit = self.unit_id


# A PersonState's columns as a tuple, in C (a generator of getattr calls was
# a tenth of the apply's CPU at city size).
_columns_of = operator.attrgetter(*RESIDENT_COLUMNS)


def cooperative_waits():
    """Make psycopg wait for PostgreSQL through select(), which eventlet
    patches, instead of its C wait (wait_c), which blocks the whole process:
    psycopg detects gevent's patching but not eventlet's. Then a transaction
    applying events yields to the hub while the server works, and the RPC
    workers (roster, person, lookup) answer meanwhile. Does nothing in a
    process that eventlet has not patched. Returns whether it did."""
    import eventlet.patcher

    if not eventlet.patcher.is_monkey_patched("select"):
        return False
    import psycopg.waiting

    psycopg.waiting.wait = psycopg.waiting.wait_select
    return True


class RosterStore(UnitOfWork):
    def __init__(self, session, index=None):
        self.session = session
        self._index = index  # the BlindIndex of person ids (default: this process's key)
        self._persons = {}  # (cert_type, cert_no) -> PersonState or None, in this transaction
        self._history = []  # resident_history rows to write, in this transaction

    def commit(self):
        self.session.commit()
        self._persons.clear()
        self._history.clear()

    def rollback(self):
        self.session.rollback()
        self._persons.clear()
        self._history.clear()

    # the feed's checkpoint
    def begin_apply(self):
        """In the unit of work that applies events (or starting it): lock the
        checkpoint row (SQLite: the write lock at BEGIN; PostgreSQL: FOR
        UPDATE), so two instances never apply the same position, and return
        the position."""
        if not self.session.in_transaction():
            self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        if self._postgres():
            # The commit need not wait for the WAL flush: a crash loses at
            # most the last transactions whole, checkpoint included, and the
            # feed applies their events again from the log.
            self.session.connection().exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        position = self.session.execute(_LOCK_CHECKPOINT).scalar()
        if position is None:
            insert = (pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert)
            self.session.execute(insert(Checkpoint).values(name=FEED, position=0, updated_at=utcnow())
                                 .on_conflict_do_nothing())
            position = self.session.execute(_LOCK_CHECKPOINT).scalar()
        return position

    def set_checkpoint(self, position, now):
        """Within the apply transaction: the new last position applied."""
        self.session.execute(
            update(Checkpoint).where(Checkpoint.name == FEED).values(position=position, updated_at=now))

    def checkpoint(self):
        """The last position applied (0 before the first event); no lock."""
        position = self.session.scalar(select(Checkpoint.position).where(Checkpoint.name == FEED))
        self.session.rollback()  # end the read, so no snapshot is held
        return position or 0

    # which log the checkpoint is a position of (common/log_identity.py)
    def followed_log(self, in_apply=False):
        """(log_id, epoch) of the log these tables follow, or None; no lock
        (`in_apply`: read in the apply transaction, which goes on)."""
        row = self.session.execute(
            select(FollowedLog.log_id, FollowedLog.epoch).where(FollowedLog.name == FEED)).first()
        if not in_apply:
            self.session.rollback()
        return None if row is None else (row.log_id, row.epoch)

    def follow_log(self, log_id, epoch, now):
        """Within the apply transaction: these tables follow `log_id` at `epoch` now."""
        insert = pg_insert if self._postgres() else sqlite_insert
        self.session.execute(
            insert(FollowedLog).values(name=FEED, log_id=log_id, epoch=epoch, updated_at=now)
            .on_conflict_do_update(index_elements=[FollowedLog.name],
                                   set_={"log_id": log_id, "epoch": epoch, "updated_at": now}))

    def empty_projection(self, now):
        """Within the apply transaction: forget everything applied (the log
        it came from is not the one followed now); the checkpoint goes to 0."""
        for table in (_HISTORY, _RESIDENT, UnitVersion.__table__):
            self.session.execute(table.delete())
        self.set_checkpoint(0, now)
        self._persons.clear()
        self._history.clear()
        engine = self.session.get_bind()
        _COUNTS.pop(getattr(engine, "engine", engine), None)  # totals counted at positions of the old log

    # persons, as the projection changes them (bulk reads and writes)
    def preload(self, keys):
        """Read the rows of the persons `keys` ((cert_type, cert_no) pairs)
        as PersonState objects, so that applying a batch of events asks the
        database once (PostgreSQL: one join against the arrays of keys;
        SQLite: one query per certificate type and 500 keys), not person by
        person."""
        keys = [k for k in set(keys) if k not in self._persons and None not in k]
        if not keys:
            return
        self._persons.update(dict.fromkeys(keys))
        if self._postgres():
            rows = self.session.connection().exec_driver_sql(
                _PG_PRELOAD, {"types": [k[0] for k in keys], "nos": [k[1] for k in keys]})
            self._loaded(rows)
            return
        # SQLite: one `cert_type = ? AND cert_no IN (...)` per type and 500
        # keys, which walks the primary key; a row-value IN scans the table.
        by_type = {}
        for cert_type, cert_no in keys:
            by_type.setdefault(cert_type, []).append(cert_no)
        for cert_type, numbers in by_type.items():
            for start in range(0, len(numbers), 500):
                self._loaded(self.session.execute(select(*_RESIDENT.c).where(
                    _RESIDENT.c.cert_type == cert_type, _RESIDENT.c.cert_no.in_(numbers[start:start + 500]))))

    def _loaded(self, rows):
        for values in rows:
            state = PersonState.loaded(values)
            self._persons[(state.cert_type, state.cert_no)] = state

    def _postgres(self):
        return self.session.get_bind().dialect.name == "postgresql"

    def person(self, cert_type, cert_no):
        """The person's row (a Resident), for reading."""
        return self.session.get(Resident, (cert_type, cert_no))

    def person_by_id(self, person_id):
        """The row of the person `person_id` (a Resident), for reading, or None."""
        return self.session.scalars(select(Resident).where(Resident.person_id == person_id)).first()

    def person_state(self, cert_type, cert_no):
        """The person's row as the apply transaction sees it (None if there
        is none), for the projection to change: written by `write_applied`."""
        key = (cert_type, cert_no)
        if key not in self._persons:
            if None in key:
                return None
            self.preload([key])
        return self._persons[key]

    def new_person(self, cert_type, cert_no, name):
        index = self._index or process_index()
        state = PersonState(cert_type=cert_type, cert_no=cert_no, name=name,
                            person_id=index.person_id(cert_type, cert_no))
        self._persons[(cert_type, cert_no)] = state
        return state

    def add_history(self, row):
        """A resident_history row (a dict of its columns), written by `write_applied`."""
        self._history.append(row)

    def write_applied(self, position):
        """Within the apply transaction: write the persons the projection
        created or changed and the history rows it added, in a few bulk
        statements (PostgreSQL: one upsert from arrays and one COPY;
        SQLite: executemany), and move the version of every unit
        whose roster changed to `position`. Returns those units."""
        changed = [s for s in self._persons.values() if s is not None and s.changed()]
        history, self._history = self._history, []
        units = {s.unit_id for s in changed} | {s.loaded_unit for s in changed} | {h["unit_id"] for h in history}
        units.discard(None)
        if changed:
            if self._postgres():
                self._pg_upsert(changed)
            else:
                insert = sqlite_insert(_RESIDENT)
                upsert = insert.on_conflict_do_update(
                    index_elements=[_RESIDENT.c.cert_type, _RESIDENT.c.cert_no],
                    set_={c: insert.excluded[c] for c in UPDATED_COLUMNS})
                self.session.execute(upsert, [s.values() for s in changed])
            for state in changed:
                state.written()
        if history:
            if self._postgres():
                # COPY: half the time of an insert from arrays (measured on 600 rows).
                with self._driver_cursor(_PG_HISTORY_COPY) as cursor, cursor.copy(_PG_HISTORY_COPY) as copy:
                    for h in history:
                        copy.write_row([orjson.dumps(h[c]).decode() if c == "detail" else h[c]
                                        for c in HISTORY_COLUMNS])
            else:
                self.session.execute(insert_(_HISTORY), history)
        if units:
            if self._postgres():
                self.session.connection().exec_driver_sql(
                    _PG_UNIT_VERSIONS, {"units": sorted(units), "position": position})
            else:
                insert = sqlite_insert(UnitVersion)
                self.session.execute(
                    insert.on_conflict_do_update(index_elements=[UnitVersion.unit_id],
                                                 set_={"position": insert.excluded.position}),
                    [{"unit_id": unit, "position": position} for unit in sorted(units)])
        if self.session.identity_map:
            self.session.expire_all()  # Residents read before are reloaded with what was written
        return units

    def _pg_upsert(self, changed):
        """Write `changed` PersonStates through the session's staging table
        (created by the first transaction that needs it on a connection —
        asked every time, since a rolled-back transaction takes its CREATE
        with it; emptied in the same transaction)."""
        with self._driver_cursor(_PG_UPSERT) as cursor:
            cursor.execute(_PG_CREATE_STAGE)
            with cursor.copy(_PG_STAGE_COPY) as copy:
                for state in changed:
                    copy.write_row(state.row())
            cursor.execute(_PG_UPSERT)
            cursor.execute(_PG_CLEAR_STAGE)

    @contextlib.contextmanager
    def _driver_cursor(self, statement):
        """A cursor of the driver's connection in this transaction; its
        errors raised as SQLAlchemy's (DataError for a value too long for
        its column, as a Core statement would)."""
        connection = self.session.connection()
        dbapi = connection.dialect.loaded_dbapi
        try:
            with connection.connection.driver_connection.cursor() as cursor:
                yield cursor
        except dbapi.Error as exc:
            raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc

    def history(self, unit_id, cert_type, cert_no):
        return list(self.session.scalars(
            select(ResidentHistory).where(
                ResidentHistory.unit_id == unit_id,
                ResidentHistory.cert_type == cert_type,
                ResidentHistory.cert_no == cert_no,
            ).order_by(ResidentHistory.position.desc())
        ))

    # the roster of a unit
    def _roster_query(self, unit_id, cert_nos=None, name=None, status=None, cert_type=None):
        query = select(Resident).where(Resident.unit_id == unit_id)
        if cert_nos:
            # Through the primary key (cert_type, cert_no), every type tried
            # when none is given: the roster has no (unit_id, cert_no) index.
            query = query.where(Resident.cert_no.in_(cert_nos))
            if not cert_type:
                query = query.where(Resident.cert_type.in_(sorted(codes.CERT_TYPES)))
        if cert_type:
            query = query.where(Resident.cert_type == cert_type)
        if name:
            query = query.where(Resident.name == name)
        if status:
            query = query.where(Resident.status == status)
        return query

    def roster(self, unit_id, offset, limit, **filters):
        """(total, rows of one page) of a unit's roster, newest first."""
        query = self._roster_query(unit_id, **filters)
        if filters.get("cert_nos"):
            # A handful of rows at most: found by the (unit_id, cert_no)
            # index and ordered here, so that no planner prefers walking the
            # unit's whole roster in date order to avoid a sort.
            rows = sorted(self.session.scalars(query),
                          key=lambda r: (aware(r.since), r.status_position), reverse=True)
            return len(rows), rows[offset:offset + limit]
        total = self._count(query, unit_id, filters)
        rows = list(self.session.scalars(query.order_by(*ROSTER_ORDER).offset(offset).limit(limit)))
        return total, rows

    def _count(self, query, unit_id, filters):
        """COUNT of a roster query, reused while the unit's version (the
        last position that changed its roster, written in the transactions
        that apply events) stays where it was when it was counted: a
        catch-up that moves the checkpoint through other units' events
        leaves this unit's total as it is. (Counting 50,000 index entries
        takes ~7 ms on SQLite; a page of 20 takes 0.3 ms.) The version is
        read before counting, so a count is never filed under a version
        older than the rows it counted."""
        position = self.session.scalar(_UNIT_VERSION, {"unit_id": unit_id}) or 0
        engine = self.session.get_bind()
        engine = getattr(engine, "engine", engine)
        counts = _COUNTS.setdefault(engine, {})
        key = (unit_id, tuple(sorted((k, str(v)) for k, v in filters.items() if v)))
        cached = counts.get(key)
        if cached is not None and cached[0] == position:
            return cached[1]
        total = self.session.scalar(select(func.count()).select_from(query.subquery()))
        if len(counts) >= _COUNTS_MAX:
            counts.clear()
        counts[key] = (position, total)
        return total

    def roster_stream(self, unit_id, chunk=2000, **filters):
        """Every row of a unit's roster, newest first, fetched `chunk` rows at
        a time so that a large unit never sits in memory at once."""
        query = self._roster_query(unit_id, **filters).order_by(*ROSTER_ORDER)
        result = self.session.execute(query.execution_options(yield_per=chunk))
        for row in result.scalars():
            yield row

    def active_count(self, unit_id):
        return self.session.scalar(select(func.count()).select_from(Resident).where(
            Resident.unit_id == unit_id, Resident.status == "active"))
