"""Tables of the audit service: the records (a hash chain in `seq` order),
the head of the chain, and the archive files older records moved to."""
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.protect.sql import data_keys_table


class Base(DeclarativeBase):
    pass


class AuditRecord(Base):
    """One audited action. `hash` is SM3 over `prev_hash` and the record's
    canonical form (services/audit/chain.py) in plain text, before its
    object and person were encrypted for storage; `seq` numbers the chain
    without gaps. Rows are only ever inserted, and deleted by `archive`
    once they are safely in a file."""
    __tablename__ = "audit_records"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    unit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    # The object as canonical JSON (the person's key, or the filters used),
    # encrypted: one token (services/audit/store.py, docs/protection.md).
    object: Mapped[str] = mapped_column(Text)
    # The person's 证件号码 when the object names one: encrypted, and its
    # blind index for the auditor's exact search by number.
    person_enc: Mapped[str | None] = mapped_column(String(200), nullable=True)
    person_bidx: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_account", "account", "seq"),
        Index("ix_audit_records_unit", "unit_id", "seq"),
        Index("ix_audit_records_person", "person_bidx", "seq"),
        Index("ix_audit_records_action", "action", "seq"),
    )


class ChainHead(Base):
    """The last link of the chain (one row, id 1): the next record's
    `prev_hash` and `seq - 1`. Kept in the appending transaction, so a
    record deleted from the end of the table is noticed by `verify`."""
    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ArchiveFile(Base):
    """A file of archived records (gzip JSON lines), seqs first..last."""
    __tablename__ = "audit_archives"
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(200))
    records: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    last_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The store's data keys, wrapped by master keys that never enter the database
# (common/protect/sql.py, docs/protection.md).
DataKeys = data_keys_table(Base.metadata)
