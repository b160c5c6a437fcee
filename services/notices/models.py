"""Tables of the notices service."""
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Notice(Base):
    """A message of the platform to every community unit. Never deleted:
    withdrawing hides it from units and keeps it for the admins."""
    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="published")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(50), nullable=True)
    # The Idempotency-Key of the publishing request (or the seed's key), so a
    # repeated request returns the first notice instead of a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    __table_args__ = (
        UniqueConstraint("published_by", "idempotency_key", name="uq_notices_idempotency"),
        Index("ix_notices_listing", "state", "pinned", "published_at"),
    )


class NoticeRead(Base):
    """That a unit has opened a notice. The primary key makes the mark unique,
    so concurrent or repeated reads leave exactly one row."""
    __tablename__ = "notice_reads"
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_notice_reads_unit", "unit_id", "notice_id"),)
