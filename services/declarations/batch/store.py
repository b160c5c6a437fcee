"""Reads and writes of the batch tables (batches, batch_files,
batch_counters), in the declarations store's session, so that a batch is
finished in the same transaction as its events.

The queue is the `batches` table itself: a submitted batch is a row with
status `queued` and its file beside it; a worker takes it by writing its
name and a lease end into the row with a conditional UPDATE (the one that
changed the row won), renews the lease as it goes, and finishes or fails it
only while it still holds it. A worker that dies leaves a lease that runs
out; any worker then takes the batch again. Nothing of an unfinished batch
has been appended (the events commit with the `done` status), so taking it
again doubles nothing.

A batch's failed rows and its file hold personal fields as typed: both are
stored encrypted (services/declarations/sealed.py). `add`, `update_held`
and `close` encrypt; `held` and `failures_of` decrypt."""
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from common.protect.runtime import protection
from services.declarations import sealed
from services.declarations.models import BATCH_OPEN, Batch, BatchCounter, BatchFile


class AlreadyTaken(Exception):
    """Another upload took the same file or Idempotency-Key meanwhile."""


class LeaseLost(Exception):
    """The batch is no longer this worker's: its lease ran out and another
    worker took it, or it was finished."""


def _like_escape(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class BatchStore:
    def __init__(self, session):
        self.session = session
        self.bind = session.get_bind()
        protection(self.bind)  # built before the use case's transaction

    def failures_of(self, batch):
        """The failed rows of `batch` ([] for none), decrypted."""
        token = batch.failures
        return sealed.unseal(self.bind, sealed.BATCH_FAILURES, token) if token else []

    def _sealed(self, values):
        if "failures" in values:
            values["failures"] = sealed.seal(self.bind, sealed.BATCH_FAILURES, values["failures"] or [])
        return values

    # -- the unit's batches ---------------------------------------------------

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
                   Batch.total, Batch.succeeded, Batch.failed, Batch.status, Batch.rows_read,
                   Batch.rows_decided, Batch.message, Batch.error, Batch.reason)
            .where(*where).order_by(Batch.submitted_at.desc(), Batch.batch_no.desc())
            .offset(offset).limit(limit)).all()
        return total, rows

    # -- submitting -----------------------------------------------------------

    def next_number(self, day):
        """The next batch number of business day `day` ("YYYYMMDD"): one
        statement that increments the day's counter row in place (its row
        lock orders concurrent uploads; none is refused or retried)."""
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        stmt = (insert(BatchCounter).values(day=day, last=1)
                .on_conflict_do_update(index_elements=["day"], set_={"last": BatchCounter.last + 1})
                .returning(BatchCounter.last))
        return self.session.execute(stmt).scalar_one()

    def add(self, content, **values):
        """Record a new batch and its file; AlreadyTaken if the unit's same
        file or key was recorded meanwhile (the caller's transaction is then
        unusable: roll it back)."""
        batch = Batch(**self._sealed(dict(values)))
        self.session.add(batch)
        self.session.add(BatchFile(batch_no=batch.batch_no, content=sealed.seal_file(self.bind, content)))
        try:
            self.session.flush()
        except IntegrityError:
            raise AlreadyTaken(values.get("batch_no")) from None
        return batch

    # -- the workers' side ----------------------------------------------------

    def claim(self, worker, now, lease_seconds):
        """Take the oldest open batch whose lease is free or ran out, for
        `worker`; its batch number, or None when there is none. Counts the
        attempt. Runs in the caller's write transaction."""
        free = or_(Batch.lease_until.is_(None), Batch.lease_until < now)
        batch_no = self.session.scalar(
            select(Batch.batch_no).where(Batch.status.in_(BATCH_OPEN), free)
            .order_by(Batch.submitted_at, Batch.batch_no).limit(1))
        if batch_no is None:
            return None
        taken = self.session.execute(
            update(Batch).where(Batch.batch_no == batch_no, Batch.status.in_(BATCH_OPEN), free)
            .values(worker=worker, lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=Batch.attempts + 1)
            .execution_options(synchronize_session=False))
        return batch_no if taken.rowcount == 1 else None

    def held(self, batch_no, worker):
        """The batch and its file, while `worker` holds it."""
        batch = self.session.scalar(select(Batch).where(
            Batch.batch_no == batch_no, Batch.worker == worker, Batch.status.in_(BATCH_OPEN)))
        if batch is None:
            raise LeaseLost(batch_no)
        content = self.session.scalar(select(BatchFile.content).where(BatchFile.batch_no == batch_no))
        return batch, sealed.unseal_file(self.bind, content)

    def update_held(self, batch_no, worker, **values):
        """Write `values` into a batch `worker` still holds; LeaseLost
        otherwise."""
        changed = self.session.execute(
            update(Batch).where(Batch.batch_no == batch_no, Batch.worker == worker,
                                Batch.status.in_(BATCH_OPEN))
            .values(**self._sealed(values)).execution_options(synchronize_session=False))
        if changed.rowcount != 1:
            raise LeaseLost(batch_no)

    def close(self, batch_no, worker, **values):
        """Finish (or fail) a held batch with `values` and drop its file."""
        self.update_held(batch_no, worker, lease_until=None, **values)
        self.session.execute(delete(BatchFile).where(BatchFile.batch_no == batch_no))

    def open_count(self):
        """Batches waiting or in work, for the workers' gauge."""
        return self.session.scalar(select(func.count()).select_from(Batch).where(
            Batch.status.in_(BATCH_OPEN))) or 0
