"""Storage API of the audit service: every read and write of its tables.

Appends run in `store.unit_of_work()` (common.db.UnitOfWork) and are
serialised by the chain head: SQLite's write lock (BEGIN IMMEDIATE) or, on
PostgreSQL, a row lock on `audit_chain_head`, so two appenders (two
consumers, two instances) never chain after the same link.

Personal data at rest (docs/protection.md): a record's `object` (which names
the 证件号码 of the person read, or the filters typed) and its `person` are
stored encrypted with the audit database's own data keys (pi_data_keys);
`person_bidx`, the blind index of the number, answers the auditor's search.
The chain is computed over the plain record and every read decrypts, so
`records()` gives the chain's dicts as before. Archive files hold the stored
(encrypted) form of each record (`sealed_records`, `opened`)."""
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from common.clock import utc, utcnow  # noqa: F401 (re-exported)
from common.db import UnitOfWork, is_postgres
from common.protect import DecryptError
from common.protect.runtime import protection
from services.audit.chain import GENESIS, format_at
from services.audit.models import ArchiveFile, AuditRecord, ChainHead

HEAD_ID = 1
COLUMNS = ("seq", "record_id", "at", "account", "role", "unit_id", "address", "request_id",
           "action", "object", "person_enc", "person_bidx", "outcome", "prev_hash", "hash")
OBJECT = "audit_records.object"
PERSON = "audit_records.person"
TOKEN = "v1:"
UNREADABLE = "（记录内容无法解密：存储后被改动）"


def stored_form(row):
    """A stored row as a record dict with its object and person still
    encrypted (what an archive file keeps)."""
    return {
        "seq": row.seq, "id": row.record_id, "at": format_at(utc(row.at)),
        "account": row.account, "role": row.role, "unit_id": row.unit_id, "address": row.address,
        "request_id": row.request_id, "action": row.action, "object": row.object,
        "person": row.person_enc, "outcome": row.outcome, "prev_hash": row.prev_hash, "hash": row.hash,
    }


class AuditStore(UnitOfWork):
    def __init__(self, session):
        self.session = session
        # Built once per engine (by the service at start-up; here, for the
        # commands and tests, before any transaction of the store).
        self.protection = protection(session.get_bind())

    # personal data
    def _open(self, field, value):
        """A stored value in plain text. Values that are not tokens pass as
        they are: archive files written before the audit store encrypted."""
        if isinstance(value, str) and value.startswith(TOKEN):
            try:
                return self.protection.fields.decrypt(field, value)
            except DecryptError:
                # An altered token: shown as such, and `verify` names the
                # record as edited (this text is not what was hashed).
                return UNREADABLE
        return value

    def object_text(self, row):
        """The object's canonical JSON of a stored row."""
        return self._open(OBJECT, row.object)

    def opened(self, stored):
        """The chain's record dict of a stored-form dict (decrypted)."""
        return {**stored, "object": self._open(OBJECT, stored["object"]),
                "person": self._open(PERSON, stored.get("person"))}

    def sealed(self, stored):
        """A stored-form dict with its object and person encrypted (an
        archive line written before the store encrypted)."""
        out = dict(stored)
        for key, field in (("object", OBJECT), ("person", PERSON)):
            value = out.get(key)
            if isinstance(value, str) and not value.startswith(TOKEN):
                out[key] = self.protection.fields.encrypt(field, value)
        return out

    def as_record(self, row):
        """A stored row as the chain's record dict (services/audit/chain.py)."""
        return self.opened(stored_form(row))

    def person_index(self, cert_no):
        return self.protection.index.cert_no("99", cert_no)

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
        """Insert chained records (plain dicts), their object and person encrypted."""
        seal = self.protection.encrypt
        self.session.execute(AuditRecord.__table__.insert(), [{
            "seq": r["seq"], "record_id": r["id"], "at": utc(r["at"]), "account": r["account"],
            "role": r["role"], "unit_id": r["unit_id"], "address": r["address"],
            "request_id": r["request_id"], "action": r["action"], "object": seal(OBJECT, r["object"]),
            "person_enc": seal(PERSON, r["person"]),
            "person_bidx": self.person_index(r["person"]) if r["person"] else None,
            "outcome": r["outcome"], "prev_hash": r["prev_hash"], "hash": r["hash"],
        } for r in records])

    # the auditor's search
    def _where(self, filters):
        where = []
        if filters.get("from") is not None:
            where.append(AuditRecord.at >= filters["from"])
        if filters.get("to") is not None:
            where.append(AuditRecord.at < filters["to"])
        for key, column in (("account", AuditRecord.account), ("unit_id", AuditRecord.unit_id),
                            ("action", AuditRecord.action),
                            ("outcome", AuditRecord.outcome), ("request_id", AuditRecord.request_id)):
            if filters.get(key) not in (None, ""):
                where.append(column == filters[key])
        if filters.get("cert_no") not in (None, ""):
            # Exact, by blind index: the number as typed, normalised (and a
            # 15-digit ID number's 18-digit form too).
            where.append(AuditRecord.person_bidx.in_(
                self.protection.index.cert_no_search(str(filters["cert_no"]))))
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
        """The stored records in seq order, as chain dicts (decrypted), read in chunks."""
        for stored in self.sealed_records(after_seq, through_seq, chunk):
            yield self.opened(stored)

    def sealed_records(self, after_seq=None, through_seq=None, chunk=5000):
        """The stored records in seq order, object and person encrypted."""
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
                yield stored_form(row)
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

    def archive_resealed(self, first_seq, sha256):
        """Record the new SHA-256 of an archive file whose lines were sealed."""
        self.session.get(ArchiveFile, first_seq).sha256 = sha256
