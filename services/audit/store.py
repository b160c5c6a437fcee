"""Storage API of the audit service: every read and write of its tables.

Appends run in `store.unit_of_work()` (common.db.UnitOfWork) and are
serialised by the chain head: SQLite's write lock (BEGIN IMMEDIATE) or, on
PostgreSQL, a row lock on `audit_chain_head`, so two appenders (two
consumers, two instances) never chain after the same link."""
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from common.clock import utc, utcnow  # noqa: F401 (re-exported)
from common.db import UnitOfWork, is_postgres
from services.audit.chain import GENESIS, format_at
from services.audit.models import ArchiveFile, AuditRecord, ChainHead

HEAD_ID = 1
COLUMNS = ("seq", "record_id", "at", "account", "role", "unit_id", "address", "request_id",
           "action", "object", "person", "outcome", "prev_hash", "hash")


def as_record(row):
    """A stored row as the chain's record dict (services/audit/chain.py)."""
    return {
        "seq": row.seq, "id": row.record_id, "at": format_at(utc(row.at)),
        "account": row.account, "role": row.role, "unit_id": row.unit_id, "address": row.address,
        "request_id": row.request_id, "action": row.action, "object": row.object,
        "person": row.person, "outcome": row.outcome, "prev_hash": row.prev_hash, "hash": row.hash,
    }


class AuditStore(UnitOfWork):
    def __init__(self, session):
        self.session = session

    # the chain's end
    def head(self, for_update=False):
        """(seq, hash) of the chain's last link; the row is made on first use."""
        query = select(ChainHead).where(ChainHead.id == HEAD_ID)
        if for_update and is_postgres(self.session.get_bind()):
            query = query.with_for_update()
        row = self.session.scalar(query)
        if row is None:
            dialect = self.session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            self.session.execute(insert(ChainHead).values(id=HEAD_ID, seq=0, hash=GENESIS).on_conflict_do_nothing())
            row = self.session.scalar(query)
        return row.seq, row.hash

    def move_head(self, seq, hash_):
        row = self.session.get(ChainHead, HEAD_ID)
        row.seq, row.hash = seq, hash_

    def stored_head(self):
        """The head as kept, or None before the first record."""
        row = self.session.get(ChainHead, HEAD_ID)
        return None if row is None else (row.seq, row.hash)

    # appending
    def known_ids(self, ids):
        ids = list(ids)
        known = set()
        for start in range(0, len(ids), 500):
            known |= set(self.session.scalars(
                select(AuditRecord.record_id).where(AuditRecord.record_id.in_(ids[start:start + 500]))))
        return known

    def add(self, records):
        self.session.execute(AuditRecord.__table__.insert(), [{
            "seq": r["seq"], "record_id": r["id"], "at": utc(r["at"]), "account": r["account"],
            "role": r["role"], "unit_id": r["unit_id"], "address": r["address"],
            "request_id": r["request_id"], "action": r["action"], "object": r["object"],
            "person": r["person"], "outcome": r["outcome"], "prev_hash": r["prev_hash"], "hash": r["hash"],
        } for r in records])

    # the auditor's search
    def _where(self, filters):
        where = []
        if filters.get("from") is not None:
            where.append(AuditRecord.at >= filters["from"])
        if filters.get("to") is not None:
            where.append(AuditRecord.at < filters["to"])
        for key, column in (("account", AuditRecord.account), ("unit_id", AuditRecord.unit_id),
                            ("action", AuditRecord.action), ("cert_no", AuditRecord.person),
                            ("outcome", AuditRecord.outcome), ("request_id", AuditRecord.request_id)):
            if filters.get(key) not in (None, ""):
                where.append(column == filters[key])
        return where

    def search(self, filters, offset, limit):
        """(total, rows) newest first."""
        where = self._where(filters)
        total = self.session.scalar(select(func.count()).select_from(AuditRecord).where(*where))
        rows = self.session.scalars(
            select(AuditRecord).where(*where).order_by(AuditRecord.seq.desc()).offset(offset).limit(limit)).all()
        return total, rows

    def matching(self, filters, limit, chunk=2000):
        """Rows matching `filters`, newest first, at most `limit`, read in chunks."""
        where = self._where(filters)
        below = None
        left = limit
        while left > 0:
            query = select(AuditRecord).where(*where)
            if below is not None:
                query = query.where(AuditRecord.seq < below)
            rows = self.session.scalars(query.order_by(AuditRecord.seq.desc()).limit(min(chunk, left))).all()
            if not rows:
                return
            yield from rows
            left -= len(rows)
            below = rows[-1].seq

    # walking the chain
    def records(self, after_seq=None, through_seq=None, chunk=5000):
        """The stored records in seq order, as chain dicts, read in chunks."""
        last = after_seq
        while True:
            query = select(AuditRecord).order_by(AuditRecord.seq).limit(chunk)
            if last is not None:
                query = query.where(AuditRecord.seq > last)
            if through_seq is not None:
                query = query.where(AuditRecord.seq <= through_seq)
            rows = self.session.scalars(query).all()
            if not rows:
                return
            for row in rows:
                yield as_record(row)
            last = rows[-1].seq
            self.session.expunge_all()

    def first_seq_at_or_after(self, cutoff):
        """The first seq whose record is at or after `cutoff`, or None."""
        return self.session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.at >= cutoff))

    def last_seq(self):
        return self.session.scalar(select(func.max(AuditRecord.seq)))

    def first_seq(self):
        return self.session.scalar(select(func.min(AuditRecord.seq)))

    def delete_through(self, seq):
        self.session.execute(delete(AuditRecord).where(AuditRecord.seq <= seq))

    # archive files
    def archives(self):
        return self.session.scalars(select(ArchiveFile).order_by(ArchiveFile.first_seq)).all()

    def add_archive(self, **values):
        self.session.add(ArchiveFile(**values))
