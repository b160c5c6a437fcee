"""The batch records table, on the declarations service's own metadata (its
rows are written in the same transaction as the batch's events)."""
from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.declarations.models import Base


class Batch(Base):
    """One imported file: its totals and its rejected rows. `failures` holds
    [{row, cert_no, name, reason, values}] where `values` is the row as the
    user typed it, so the failures workbook can be rebuilt at any time."""
    __tablename__ = "batches"
    batch_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    business_type: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    failures: Mapped[list] = mapped_column(JSON)
    account: Mapped[str | None] = mapped_column(String(50), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    __table_args__ = (
        # A byte-identical file imported again by the same unit answers with
        # the first batch (see batches.import_batch).
        UniqueConstraint("unit_id", "business_type", "file_sha256", name="uq_batches_unit_file"),
        UniqueConstraint("unit_id", "idempotency_key", name="uq_batches_unit_key"),
        Index("ix_batches_unit_submitted", "unit_id", "submitted_at"),
    )
