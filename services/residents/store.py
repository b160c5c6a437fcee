"""Storage API of the residents service: every read and write of its tables."""
import contextlib
import logging
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
from common.protect.runtime import Protection, engine_of, protection

log = logging.getLogger(__name__)

FEED = "declarations"  # the one log this service follows
_LOCK_CHECKPOINT = (select(Checkpoint.position, Checkpoint.index_key_id)
                    .where(Checkpoint.name == FEED).with_for_update())
_CHECKPOINT = select(Checkpoint.position).where(Checkpoint.name == FEED)
_CHECKPOINT_KEY = select(Checkpoint.position, Checkpoint.index_key_id).where(Checkpoint.name == FEED)
_UNIT_VERSION = select(UnitVersion.position).where(UnitVersion.unit_id == bindparam("unit_id"))
# Roster totals per engine, by (unit, filters): (unit version when counted, total).
_COUNTS = weakref.WeakKeyDictionary()
_COUNTS_MAX = 10_000

# A unit's roster, newest first: by the time the status began, then by the
# log position that set it (persons declared in one second keep log order).
ROSTER_ORDER = (Resident.since.desc(), Resident.status_position.desc())

_RESIDENT = Resident.__table__
_HISTORY = ResidentHistory.__table__
RESIDENT_COLUMNS = tuple(c.name for c in _RESIDENT.columns)  # cert_type, cert_no_bidx first (the key)
assert RESIDENT_COLUMNS[:2] == ("cert_type", "cert_no_bidx")
# Personal fields kept encrypted: (field, column of its token). The field
# name is the token's associated data (a phone's token is no cert_no's).
PROTECTED = {"cert_no": "cert_no_enc", "phone": "phone_enc", "hukou_address": "hukou_address_enc",
             "address": "address_enc"}
# What a list shows of a person (masked): the other two are never decrypted for it.
LISTED = ("cert_no", "phone")
# The token of a change's before/after in resident_history.detail.
SEALED = "sealed"
DETAIL_FIELD = "resident_history.detail"
HISTORY_COLUMNS = tuple(c.name for c in _HISTORY.columns)
# Written when the row is made, never changed: left out of the upserts'
# SET, so changing a person never rewrites its entry of the unique index
# (nor the token of its number).
WRITE_ONCE = ("person_id", "cert_no_enc")
UPDATED_COLUMNS = tuple(c for c in RESIDENT_COLUMNS[2:] if c not in WRITE_ONCE)


# The rows of a batch's persons: one join of the primary key against the keys' arrays.
_PG_PRELOAD = (
    f"SELECT {', '.join('r.' + c for c in RESIDENT_COLUMNS)} FROM {_RESIDENT.name} r "
    "JOIN unnest(%(types)s::varchar[], %(bidxs)s::varchar[]) AS k(cert_type, cert_no_bidx) "
    "ON r.cert_type = k.cert_type AND r.cert_no_bidx = k.cert_no_bidx"
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
    "ON CONFLICT (cert_type, cert_no_bidx) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATED_COLUMNS)
)
_PG_CLEAR_STAGE = f"DELETE FROM {_PG_STAGE}"
_PG_HISTORY_COPY = f"COPY {_HISTORY.name} ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"

_PG_UNIT_VERSIONS = (
    f"INSERT INTO {UnitVersion.__tablename__} (unit_id, position) "
    "SELECT unnest(%(units)s::integer[]), %(position)s "
    "ON CONFLICT (unit_id) DO UPDATE SET position = EXCLUDED.position"
)


class _Protected:
    """A personal field of a PersonState: set in clear by the projection,
    kept aside until the row is written (`seal`), so a person changed by
    several events of one transaction is encrypted once. Never read back in
    clear by the apply (that would cost a decryption per person)."""

    def __init__(self, field):
        self.field = field

    def __get__(self, state, owner=None):
        if state is None:
            return self
        raise AttributeError(f"{self.field} is kept encrypted; the projection only sets it")

    def __set__(self, state, value):
        if state._pending is None:
            state._pending = {}
        state._pending[self.field] = value


class PersonState:
    """A row of `residents` as the projection reads and changes it: plain
    attributes (the table's columns), written back in bulk when changed.
    The personal fields (phone, hukou_address, address) are set in clear
    and encrypted into their `*_enc` columns when the row is written."""

    __slots__ = RESIDENT_COLUMNS + ("loaded_unit", "_original", "_pending")
    phone = _Protected("phone")
    hukou_address = _Protected("hukou_address")
    address = _Protected("address")

    def __init__(self, **values):
        for column in RESIDENT_COLUMNS:
            setattr(self, column, values.get(column))
        self.loaded_unit = None  # the unit as read from the database (None: a new row)
        self._original = None  # the column values as read (None: a new row)
        self._pending = None  # personal fields set in clear, not yet encrypted

    @classmethod
    def loaded(cls, values, _columns=RESIDENT_COLUMNS, _set=setattr):
        """From a row of RESIDENT_COLUMNS, as read (not changed)."""
        state = cls.__new__(cls)
        for column, value in zip(_columns, values):
            _set(state, column, value)
        state._original = tuple(values)
        state.loaded_unit = state.unit_id
        state._pending = None
        return state

    def values(self):
        return dict(zip(RESIDENT_COLUMNS, _columns_of(self)))

    def row(self):
        """The column values, in the order of RESIDENT_COLUMNS."""
        return _columns_of(self)

    def changed(self):
        return self._original is None or bool(self._pending) or self._original != _columns_of(self)

    def seal(self, fields):
        """Encrypt the personal fields set since the row was read or written
        into their columns (`fields`: the store's FieldProtector)."""
        if self._pending:
            for field, value in self._pending.items():
                setattr(self, PROTECTED[field], None if value is None else fields.encrypt(field, value))
            self._pending = None

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


class Person:
    """A Resident row for answers: its columns, and the personal fields
    asked for decrypted under their plain names (`cert_no`, `phone`,
    `hukou_address`, `address`); the others are not decrypted."""

    def __init__(self, row, opened):
        self.__dict__.update({c: getattr(row, c) for c in RESIDENT_COLUMNS})
        self.__dict__.update(opened)


class RosterStore(UnitOfWork):
    def __init__(self, session, protected: Protection | None = None):
        self.session = session
        # The store's FieldProtector and blind index, built once per engine
        # (at service start-up by Database(protected=True); here when a
        # tool or test makes a store first, before any transaction).
        self.protection = protected or protection(session)
        self.index = self.protection.index
        self._bidx = {}  # (cert_type, cert_no) -> cert_no_bidx, in this transaction
        self._persons = {}  # (cert_type, cert_no_bidx) -> PersonState or None, in this transaction
        self._history = []  # resident_history rows to write, in this transaction

    def commit(self):
        self.session.commit()
        self._forget()

    def rollback(self):
        self.session.rollback()
        self._forget()

    def _forget(self):
        self._persons.clear()
        self._history.clear()
        if len(self._bidx) > 50_000:
            self._bidx.clear()

    # protected fields
    def bidx(self, cert_type, cert_no):
        """The blind index of a person's 证件号码 as events carry it (the
        person key, normalised), kept for the transaction's other events."""
        key = (cert_type, cert_no)
        found = self._bidx.get(key)
        if found is None:
            found = self._bidx[key] = self.index.cert_no(cert_type, cert_no)
        return found

    def search_bidx(self, cert_no, cert_type=None):
        """The blind indexes a typed 证件号码 may be stored under: exact for a
        type, else the plain spelling and an ID card's 18-digit upgrade."""
        if cert_type:
            return [self.index.cert_no(cert_type, cert_no)]
        return self.index.cert_no_search(cert_no)

    def opened(self, row, fields=tuple(PROTECTED)):
        """`row` (a Resident) with `fields` decrypted, for an answer: a Person."""
        decrypt = self.protection.decrypt
        return Person(row, {f: decrypt(f, getattr(row, PROTECTED[f])) for f in fields})

    def seal_detail(self, detail):
        """A history detail holding personal fields, as stored: one token."""
        return {SEALED: self.protection.fields.encrypt_bytes(DETAIL_FIELD, orjson.dumps(detail))}

    def open_detail(self, detail):
        if detail and SEALED in detail:
            return orjson.loads(self.protection.fields.decrypt_bytes(DETAIL_FIELD, detail[SEALED]))
        return detail or {}

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
        row = self.session.execute(_LOCK_CHECKPOINT).first()
        if row is None:
            insert = (pg_insert if self._postgres() else sqlite_insert)
            self.session.execute(insert(Checkpoint).values(name=FEED, position=0, updated_at=utcnow(),
                                                           index_key_id=self.index.key_id)
                                 .on_conflict_do_nothing())
            row = self.session.execute(_LOCK_CHECKPOINT).first()
        position, key_id = row
        if key_id != self.index.key_id:
            # Rows indexed under another blind-index key would never be found
            # again: empty the tables, and the feed applies the log from 0.
            self.adopt_index_key(position, key_id)
            position = 0
        return position

    def adopt_index_key(self, position, key_id):
        """Within the apply transaction: the tables were indexed with `key_id`,
        not with the current index key: empty them (when anything was
        applied) and record the current key."""
        now = utcnow()
        if position or key_id is not None:
            log.warning("the roster was indexed with blind-index key %r, the key now is %r: "
                        "roster emptied, rebuilding from the log", key_id, self.index.key_id)
            self.empty_projection(now)
        self.session.execute(update(Checkpoint).where(Checkpoint.name == FEED)
                             .values(index_key_id=self.index.key_id, updated_at=now))

    def check_index_key(self):
        """In a unit of work of its own: empty the tables if they were built
        with another blind-index key than the current one (`begin_apply`
        does it) and record the current key. Returns whether they were emptied."""
        with self.unit_of_work():
            row = self.session.execute(_CHECKPOINT_KEY).first()
            emptied = False
            if row is not None and row.index_key_id != self.index.key_id:
                emptied = bool(row.position) or row.index_key_id is not None
                self.begin_apply()  # locks the checkpoint, empties, records the key
                self.commit()
        return emptied

    def index_key_id(self):
        """The blind-index key id the tables were built with (None before the
        first apply); no lock."""
        key_id = self.session.scalar(select(Checkpoint.index_key_id).where(Checkpoint.name == FEED))
        self.session.rollback()
        return key_id

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
        _COUNTS.pop(engine_of(self.session), None)  # totals counted at positions of the old log

    # persons, as the projection changes them (bulk reads and writes)
    def preload(self, keys):
        """Read the rows of the persons `keys` ((cert_type, cert_no) pairs, as
        events name them) as PersonState objects, so that applying a batch
        of events asks the database once (PostgreSQL: one join against the
        arrays of keys; SQLite: one query per certificate type and 500 keys),
        not person by person. Rows are found by blind index; nothing is
        decrypted."""
        keys = {(k[0], self.bidx(*k)) for k in set(keys) if None not in k}
        keys = [k for k in keys if k not in self._persons]
        if not keys:
            return
        self._persons.update(dict.fromkeys(keys))
        if self._postgres():
            rows = self.session.connection().exec_driver_sql(
                _PG_PRELOAD, {"types": [k[0] for k in keys], "bidxs": [k[1] for k in keys]})
            self._loaded(rows)
            return
        # SQLite: one `cert_type = ? AND cert_no_bidx IN (...)` per type and
        # 500 keys, which walks the primary key; a row-value IN scans the table.
        by_type = {}
        for cert_type, bidx in keys:
            by_type.setdefault(cert_type, []).append(bidx)
        for cert_type, indexes in by_type.items():
            for start in range(0, len(indexes), 500):
                self._loaded(self.session.execute(select(*_RESIDENT.c).where(
                    _RESIDENT.c.cert_type == cert_type,
                    _RESIDENT.c.cert_no_bidx.in_(indexes[start:start + 500]))))

    def _loaded(self, rows):
        for values in rows:
            state = PersonState.loaded(values)
            self._persons[(state.cert_type, state.cert_no_bidx)] = state

    def _postgres(self):
        return self.session.get_bind().dialect.name == "postgresql"

    def person(self, cert_type, cert_no):
        """The person's row (a Resident, fields still encrypted: see
        `opened`), for reading; `cert_no` as the person key has it."""
        return self.session.get(Resident, (cert_type, self.index.cert_no(cert_type, cert_no)))

    def person_by_id(self, person_id):
        """The row of the person `person_id` (a Resident), for reading, or None."""
        return self.session.scalars(select(Resident).where(Resident.person_id == person_id)).first()

    def person_state(self, cert_type, cert_no):
        """The person's row as the apply transaction sees it (None if there
        is none), for the projection to change: written by `write_applied`."""
        if cert_type is None or cert_no is None:
            return None
        key = (cert_type, self.bidx(cert_type, cert_no))
        if key not in self._persons:
            self.preload([(cert_type, cert_no)])
        return self._persons[key]

    def new_person(self, cert_type, cert_no, name):
        bidx = self.bidx(cert_type, cert_no)
        state = PersonState(cert_type=cert_type, cert_no_bidx=bidx, name=name,
                            cert_no_enc=self.protection.fields.encrypt("cert_no", cert_no),
                            person_id=self.index.person_id(cert_type, cert_no))
        self._persons[(cert_type, bidx)] = state
        return state

    def add_history(self, row):
        """A resident_history row (a dict of its columns, with the person's
        `cert_no` in clear, stored as its blind index), written by
        `write_applied`."""
        row["cert_no_bidx"] = self.bidx(row["cert_type"], row.pop("cert_no"))
        self._history.append(row)

    def write_applied(self, position):
        """Within the apply transaction: write the persons the projection
        created or changed and the history rows it added, in a few bulk
        statements (PostgreSQL: one upsert from arrays and one COPY;
        SQLite: executemany), and move the version of every unit
        whose roster changed to `position`. Returns those units."""
        changed = [s for s in self._persons.values() if s is not None and s.changed()]
        fields = self.protection.fields
        for state in changed:
            state.seal(fields)
        history, self._history = self._history, []
        units = {s.unit_id for s in changed} | {s.loaded_unit for s in changed} | {h["unit_id"] for h in history}
        units.discard(None)
        if changed:
            if self._postgres():
                self._pg_upsert(changed)
            else:
                insert = sqlite_insert(_RESIDENT)
                upsert = insert.on_conflict_do_update(
                    index_elements=[_RESIDENT.c.cert_type, _RESIDENT.c.cert_no_bidx],
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

    def history(self, unit_id, cert_type, cert_no_bidx):
        """The person's history rows in the unit, newest first (`detail` as
        stored: see `open_detail`)."""
        return list(self.session.scalars(
            select(ResidentHistory).where(
                ResidentHistory.unit_id == unit_id,
                ResidentHistory.cert_type == cert_type,
                ResidentHistory.cert_no_bidx == cert_no_bidx,
            ).order_by(ResidentHistory.position.desc())
        ))

    # the roster of a unit
    def _roster_query(self, unit_id, cert_no_bidx=None, name=None, status=None, cert_type=None):
        query = select(Resident).where(Resident.unit_id == unit_id)
        if cert_no_bidx:
            # Through the primary key (cert_type, cert_no_bidx), every type
            # tried when none is given: the roster has no (unit_id,
            # cert_no_bidx) index.
            query = query.where(Resident.cert_no_bidx.in_(cert_no_bidx))
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
        if filters.get("cert_no_bidx"):
            # A handful of rows at most: found by the primary key and
            # ordered here, so that no planner prefers walking the unit's
            # whole roster in date order to avoid a sort.
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
        counts = _COUNTS.setdefault(engine_of(self.session), {})
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
        """Every row of a unit's roster, newest first, with its personal
        fields decrypted (Person), fetched `chunk` rows at a time so that a
        large unit never sits in memory at once."""
        query = self._roster_query(unit_id, **filters).order_by(*ROSTER_ORDER)
        result = self.session.execute(query.execution_options(yield_per=chunk))
        for row in result.scalars():
            yield self.opened(row)

    def active_count(self, unit_id):
        return self.session.scalar(select(func.count()).select_from(Resident).where(
            Resident.unit_id == unit_id, Resident.status == "active"))
