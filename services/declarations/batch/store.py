"""Reads and writes of the batches table, in the declarations store's
session (so a batch record commits with its events)."""
from sqlalchemy import func, select

from services.declarations.batch.models import Batch


def _like_escape(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class BatchStore:
    def __init__(self, session):
        self.session = session

    def by_file(self, unit_id, business_type, file_sha256):
        return self.session.scalar(select(Batch).where(
            Batch.unit_id == unit_id, Batch.business_type == business_type,
            Batch.file_sha256 == file_sha256))

    def by_key(self, unit_id, idempotency_key):
        return self.session.scalar(select(Batch).where(
            Batch.unit_id == unit_id, Batch.idempotency_key == idempotency_key))

    def get(self, unit_id, batch_no):
        return self.session.scalar(select(Batch).where(
            Batch.batch_no == batch_no, Batch.unit_id == unit_id))

    def last_number(self, prefix):
        """The highest batch number beginning with `prefix`, or None."""
        return self.session.scalar(select(func.max(Batch.batch_no)).where(
            Batch.batch_no.like(_like_escape(prefix) + "%", escape="\\")))

    def add(self, **values):
        batch = Batch(**values)
        self.session.add(batch)
        self.session.flush()
        return batch

    def list(self, unit_id, offset, limit, business_type=None, start=None, end=None, batch_no=None):
        """(total, batches) of a unit, newest first; `batch_no` matches any
        part of the number."""
        where = [Batch.unit_id == unit_id]
        if business_type:
            where.append(Batch.business_type == business_type)
        if start is not None:
            where.append(Batch.submitted_at >= start)
        if end is not None:
            where.append(Batch.submitted_at < end)
        if batch_no:
            where.append(Batch.batch_no.like("%" + _like_escape(batch_no) + "%", escape="\\"))
        total = self.session.scalar(select(func.count()).select_from(Batch).where(*where))
        # Columns only: the failures of a listed batch are not read.
        rows = self.session.execute(
            select(Batch.batch_no, Batch.business_type, Batch.submitted_at, Batch.file_name,
                   Batch.total, Batch.succeeded, Batch.failed)
            .where(*where).order_by(Batch.submitted_at.desc(), Batch.batch_no.desc())
            .offset(offset).limit(limit)).all()
        return total, rows
