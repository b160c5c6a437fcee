"""Storage API of the notices service: every read and write of its tables.

Use cases run their writes in `store.unit_of_work()` and their reads in
`store.reading()` (common.db.UnitOfWork); a duplicate (an idempotency key
or a read mark taken meanwhile) is absorbed here, never raised as a
database error."""

from sqlalchemy import and_, exists, false, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from common.clock import aware, utcnow  # noqa: F401 (re-exported)
from common.db import UnitOfWork
from services.notices.models import Notice, NoticeRead

# Units see published notices, pinned ones first, then the newest.
LISTING_ORDER = (Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc())


class NoticesStore(UnitOfWork):
    def __init__(self, session):
        self.session = session

    # notices
    def notice(self, notice_id):
        return self.session.get(Notice, notice_id)

    def published_notice(self, notice_id):
        return self.session.scalar(
            select(Notice).where(Notice.id == notice_id, Notice.state == "published"))

    def notice_by_key(self, published_by, key):
        return self.session.scalar(select(Notice).where(
            Notice.published_by == published_by, Notice.idempotency_key == key))

    def add_notice(self, title, body, pinned, now, published_by=None, idempotency_key=None):
        """Insert a notice; None when (published_by, idempotency_key) is taken."""
        notice = Notice(
            title=title, body=body, pinned=pinned, state="published",
            published_at=now, updated_at=now,
            published_by=published_by, idempotency_key=idempotency_key,
        )
        try:
            with self.session.begin_nested():
                self.session.add(notice)
        except IntegrityError:
            if idempotency_key is None:
                raise
            return None
        return notice

    def all_notices(self, offset, limit, state=None):
        """Every notice (admins), with how many units have read each."""
        where = [Notice.state == state] if state else []
        total = self.session.scalar(select(func.count()).select_from(Notice).where(*where))
        reads = (
            select(func.count()).select_from(NoticeRead)
            .where(NoticeRead.notice_id == Notice.id).scalar_subquery()
        )
        rows = self.session.execute(
            select(Notice, reads).where(*where).order_by(*LISTING_ORDER).offset(offset).limit(limit)
        ).all()
        return total, rows

    def read_count(self, notice_id):
        return self.session.scalar(
            select(func.count()).select_from(NoticeRead).where(NoticeRead.notice_id == notice_id))

    # what a unit sees
    def _read_by(self, unit_id):
        if unit_id is None:  # admins have no read marks
            return false()
        return exists().where(and_(NoticeRead.notice_id == Notice.id, NoticeRead.unit_id == unit_id))

    def notices_for_unit(self, unit_id, offset, limit, unread_only=False):
        """(total, rows of (Notice, read)) of the published notices."""
        read = self._read_by(unit_id)
        where = [Notice.state == "published"]
        if unread_only:
            where.append(~read)
        total = self.session.scalar(select(func.count()).select_from(Notice).where(*where))
        rows = self.session.execute(
            select(Notice, read.label("read")).where(*where)
            .order_by(*LISTING_ORDER).offset(offset).limit(limit)
        ).all()
        return total, rows

    def unread_count(self, unit_id):
        read = self._read_by(unit_id)
        return self.session.scalar(
            select(func.count()).select_from(Notice).where(Notice.state == "published", ~read))

    def is_read(self, notice_id, unit_id):
        if unit_id is None:
            return False
        return self.session.get(NoticeRead, (notice_id, unit_id)) is not None

    def mark_read(self, notice_id, unit_id, now):
        """Record that the unit read the notice, unless it already has.

        A single INSERT ... ON CONFLICT DO NOTHING: when another request of
        the same unit inserts the same mark at the same moment, one row wins
        and the other insert does nothing, instead of failing."""
        values = {"notice_id": notice_id, "unit_id": unit_id, "read_at": now}
        dialect = self.session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            self.session.execute(insert(NoticeRead).values(**values).on_conflict_do_nothing())
            return
        try:  # any other database: a savepoint absorbs the duplicate
            with self.session.begin_nested():
                self.session.add(NoticeRead(**values))
        except IntegrityError:
            pass
