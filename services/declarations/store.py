"""Storage API of the declarations service over one session: the event log
(through its recorder, services/declarations/eventlog/), the projections
written with each append (projection_tables.py), the idempotency answers and
the reads of the unit's figures and records; and the unit of work its use
cases write in. Which engine it runs on is the recorders' concern only.
"""
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from common.clock import utc
from common.db import Database, UnitOfWork
from common.errors import Conflict
from common.metrics import EVENTS_APPENDED
from common.protect.runtime import protection
from services.declarations import index_key, sealed, sealing
from services.declarations.domain import BUSY
from services.declarations.eventlog import RECORDERS, json_value, read_events, recorder
from services.declarations.models import Event, Idempotency, Record, UnitCount, UnitMonth, UnitSeen
from services.declarations.projection_tables import write_live

# Rows per IN (...) list.
_CHUNK = 500


class DeclarationsStore(UnitOfWork):
    def __init__(self, session):
        self.session = session
        self._appended = Counter()  # event types appended in the open transaction
        # Built once per engine, here, before any transaction of this store:
        # on SQLite a first data key made under the write lock would wait on it.
        self.protection = protection(session)

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

    def begin_unit_of_work(self, append=False):
        """A unit of work (common.db.UnitOfWork); with `append` it holds the
        append lock (see `begin_write`)."""
        if append:
            self.begin_write()
        else:
            self.begin_immediate()

    def begin_write(self):
        """Start a write transaction holding the append lock until it ends:
        on SQLite BEGIN IMMEDIATE (the database's write lock), on PostgreSQL
        the transaction-scoped advisory lock. Every statement after it sees
        every earlier append committed, so `stream_versions` read here tells
        whether a person moved since a decision was taken."""
        if not self.session.in_transaction():
            log = self._recorder(write=True)
            log.lock_appends()

    # deciding
    def streams(self, keys):
        """{(cert_type, cert_no): stream id} for normalised person keys: the
        stream of a person ever declared, found in `persons` by the blind
        index of the number; for a person never seen, the id its first
        event will get (sealing.new_stream_id)."""
        p = self.protection
        wanted = {key: p.index.cert_no(*key) for key in set(keys)}
        rows = self._persons("stream_id, cert_type, cert_no_bidx", wanted.values(), key="cert_no_bidx")
        found = {(cert_type, bidx): sid for sid, cert_type, bidx in rows}
        return {key: found.get((key[0], bidx)) or sealing.STREAM_PREFIX + bidx for key, bidx in wanted.items()}

    def person_states(self, stream_ids):
        """{stream_id: state} of the persons of `stream_ids` ever declared,
        with full values."""
        rows = self._persons("stream_id, cert_type, cert_no_enc, status, unit_id, version, since, person",
                             stream_ids)
        p = self.protection
        return {row[0]: {
            "stream_id": row[0], "cert_type": row[1], "cert_no": p.fields.decrypt("cert_no", row[2]),
            "status": row[3], "unit_id": row[4], "version": row[5], "since": utc(row[6]),
            "person": sealing.unseal(p, json_value(row[7])),
        } for row in rows}

    def stream_versions(self, stream_ids):
        """{stream_id: version} of the persons of `stream_ids` ever declared."""
        return dict(self._persons("stream_id, version", stream_ids))

    def _persons(self, columns, ids, key="stream_id"):
        ids = sorted(set(ids))
        return self._recorder().persons(columns, ids, key) if ids else []

    def _recorder(self, write=False):
        """The event log's recorder on this session's connection; with
        `write`, a connection that begins as the engine's writes must."""
        if write:
            options = RECORDERS[self.session.get_bind().dialect.name].write_options
            return recorder(self.session.connection(execution_options=options) if options
                            else self.session.connection())
        return recorder(self.conn)

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
        tokens: dict = {}  # the values sealed in the events, copied into the projections
        try:
            self._recorder().append(events, tokens)
        except IntegrityError:
            # Unreachable while every writer takes the append lock; kept so
            # that a stream version taken anyway is a 409, not a 500.
            raise Conflict(BUSY) from None
        self._appended.update(e["type"] for e in events)
        fold.apply_all(events, after)
        write_live(self.conn, fold, stored, tokens)

    # idempotency (the answer is stored encrypted whole: services/declarations/sealed.py)
    def answer(self, account, key):
        """(fingerprint, answer) first given to `account` for `key`, or None."""
        row = self.session.get(Idempotency, (account, key))
        if row is None:
            return None
        return row.fingerprint, sealed.unseal(self.session.get_bind(), sealed.IDEMPOTENCY_RESPONSE, row.response)

    def save_answer(self, account, key, fingerprint, response, now):
        token = sealed.seal(self.session.get_bind(), sealed.IDEMPOTENCY_RESPONSE, response)
        self.session.add(Idempotency(account=account, key=key, fingerprint=fingerprint,
                                     response=token, created_at=now))
        try:
            self.session.flush()
        except IntegrityError:
            raise Conflict(BUSY) from None  # the same key, answered meanwhile

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
        UTC instants (end exclusive); `cert_nos` any of several spellings
        (raw, as typed: searched by their blind indexes). The rows' `cert_no`
        is the number in full (decrypted)."""
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
            index = self.protection.index
            bidx = sorted({b for raw in cert_nos for b in index.cert_no_search(raw)})
            where.append(Record.cert_no_bidx.in_(bidx))
        if batch_no:
            where.append(Record.batch_no == batch_no)
        total = self.session.scalar(select(func.count()).select_from(Record).where(*where))
        rows = self.session.execute(
            select(Record).where(*where).order_by(Record.position.desc())
            .offset(offset).limit(limit)).scalars().all()
        return total, [self._opened(row) for row in rows]

    def _opened(self, row):
        """A record row with its `cert_no` in full (a plain attribute of the
        loaded row, never flushed: the store does not write records here)."""
        row.cert_no = self.protection.fields.decrypt("cert_no", row.cert_no_enc)
        return row

    def record(self, unit_id, record_id):
        """(record, event) of one of the unit's records, or None."""
        row = self.session.execute(
            select(Record).where(Record.record_id == record_id, Record.unit_id == unit_id)
        ).scalar()
        if row is None:
            return None
        event = read_events(self.conn, row.position - 1, 1)[0]
        return self._opened(row), event

    # the log, for consumers
    def events_after(self, after, limit):
        return read_events(self.conn, after, limit)

    def last_position(self):
        return self.session.scalar(select(func.max(Event.position))) or 0


class DeclarationsDatabase(Database):
    """The declarations database as a Nameko dependency (the service and the
    batch worker): its personal fields are protected, so the keys are
    checked and the data key made at start-up (common.db.Database
    `protected`), and a process whose blind-index key is not the one the
    projections were built with refuses to start (index_key.check)."""

    def __init__(self, store_cls=DeclarationsStore, **kwargs):
        super().__init__(store_cls, protected=True, **kwargs)

    def setup(self):
        super().setup()
        index_key.check(self.engine)
