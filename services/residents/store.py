"""Storage API of the residents service: every read and write of its tables."""
import weakref

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.residents.models import Checkpoint, Resident, ResidentHistory
from common.clock import aware, utcnow  # noqa: F401 (re-exported)

FEED = "declarations"  # the one log this service follows
_LOCK_CHECKPOINT = select(Checkpoint.position).where(Checkpoint.name == FEED).with_for_update()
_CHECKPOINT = select(Checkpoint.position).where(Checkpoint.name == FEED)
# Roster totals per engine, by (unit, filters): (checkpoint when counted, total).
_COUNTS = weakref.WeakKeyDictionary()
_COUNTS_MAX = 10_000

# A unit's roster, newest first: by the time the status began, then by the
# log position that set it (persons declared in one second keep log order).
ROSTER_ORDER = (Resident.since.desc(), Resident.status_position.desc())




class RosterStore:
    def __init__(self, session):
        self.session = session
        self._persons = {}  # (cert_type, cert_no) -> Resident or None, in this transaction

    def commit(self):
        self.session.commit()
        self._persons.clear()

    def rollback(self):
        self.session.rollback()
        self._persons.clear()

    # the feed's checkpoint
    def begin_apply(self):
        """Start the transaction that applies events. It locks the checkpoint
        row (SQLite: the write lock at BEGIN; PostgreSQL: FOR UPDATE), so two
        instances never apply the same position, and returns the position."""
        if not self.session.in_transaction():
            self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
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

    # persons
    def preload(self, keys):
        """Read the rows of the persons `keys` ((cert_type, cert_no) pairs)
        in one query per 500, so that applying a batch of events does not
        ask the database person by person."""
        keys = [k for k in set(keys) if k not in self._persons and None not in k]
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            self._persons.update(dict.fromkeys(chunk))
            rows = self.session.scalars(select(Resident).where(
                tuple_(Resident.cert_type, Resident.cert_no).in_(chunk)))
            self._persons.update(((r.cert_type, r.cert_no), r) for r in rows)

    def person(self, cert_type, cert_no):
        key = (cert_type, cert_no)
        if key in self._persons:
            return self._persons[key]
        return self.session.get(Resident, key)

    def add_person(self, row):
        self.session.add(row)
        self._persons[(row.cert_type, row.cert_no)] = row

    def add_history(self, row):
        self.session.add(row)

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
            query = query.where(Resident.cert_no.in_(cert_nos))
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
        """COUNT of a roster query, reused while the checkpoint stays where
        it was when it was counted: rows change only in the transactions
        that apply events, and those move the checkpoint. (Counting 50,000
        index entries takes ~7 ms on SQLite; a page of 20 takes 0.3 ms.)
        The checkpoint is read before counting, so a count is never filed
        under a checkpoint older than the rows it counted."""
        position = self.session.scalar(_CHECKPOINT)
        engine = self.session.get_bind()
        engine = getattr(engine, "engine", engine)
        counts = _COUNTS.setdefault(engine, {})
        key = (unit_id, tuple(sorted((k, str(v)) for k, v in filters.items() if v)))
        cached = counts.get(key)
        if cached is not None and position is not None and cached[0] == position:
            return cached[1]
        total = self.session.scalar(select(func.count()).select_from(query.subquery()))
        if position is not None:
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
