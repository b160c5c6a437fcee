"""common.db.UnitOfWork, the transactions of the auth and notices stores:
a block's writes are kept only if it commits; a read ends its transaction;
a unique key taken meanwhile comes out of a store as a domain error."""
import os
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from common.config import ROOT
from common.db import UnitOfWork, make_engine
from common.errors import Conflict, NotFound
from services.auth import accounts
from services.auth.models import Base as AuthBase, Unit
from services.auth.store import AuthStore
from services.notices import notices
from services.notices.models import Base as NoticesBase
from services.notices.store import NoticesStore

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
CREDIT = "91110000600037341L"


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    AuthBase.metadata.create_all(engine)
    NoticesBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield AuthStore(session)


def units(engine):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Unit))


def test_the_stores_share_one_unit_of_work():
    assert issubclass(AuthStore, UnitOfWork) and issubclass(NoticesStore, UnitOfWork)
    for store in (AuthStore, NoticesStore):
        assert not hasattr(store, "begin_write"), "use cases begin with unit_of_work()"


def test_writes_are_kept_only_when_the_block_commits(store, engine):
    with store.unit_of_work():
        store.add_unit("甲社区居民委员会", CREDIT)
    assert units(engine) == 0
    with store.unit_of_work():
        store.add_unit("甲社区居民委员会", CREDIT)
        store.commit()
    assert units(engine) == 1


def test_an_error_in_the_block_rolls_it_back(store, engine):
    with pytest.raises(RuntimeError), store.unit_of_work():
        store.add_unit("甲社区居民委员会", CREDIT)
        raise RuntimeError("boom")
    assert not store.session.in_transaction()
    assert units(engine) == 0


def test_a_unit_of_work_takes_sqlites_write_lock_at_once(store, sqlite_url):
    path = make_url(sqlite_url).database
    with store.unit_of_work():
        other = sqlite3.connect(os.path.join(ROOT, path), timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_reading_ends_its_transaction(store):
    with store.reading():
        store.unit_by_credit_code(CREDIT)
        assert store.session.in_transaction()
    assert not store.session.in_transaction()


def test_unknown_options_are_refused(store):
    with pytest.raises(TypeError):
        with store.unit_of_work(append=True):
            pass


def test_a_taken_credit_code_is_a_conflict_from_the_store(store, engine):
    # as when another request commits between the use case's look and its insert
    accounts.create_unit(store, "甲社区居民委员会", "jia", CREDIT, "Quan#2026pw")
    with pytest.raises(Conflict) as exc, store.unit_of_work():
        store.add_unit("乙社区居民委员会", CREDIT)
    assert exc.value.details == {"credit_code": ["该统一社会信用代码已登记"]}
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    assert units(engine) == 1


def test_a_taken_account_is_a_conflict_and_the_transaction_goes_on(store, engine):
    accounts.create_unit(store, "甲社区居民委员会", "jia", CREDIT, "Quan#2026pw")
    with store.unit_of_work():
        with pytest.raises(Conflict) as exc:
            store.add_account("jia", "hash", "admin")
        assert exc.value.details == {"account": ["该账号已被使用"]}
        store.add_account("yi", "hash", "admin")  # the savepoint kept the transaction usable
        store.commit()
    assert store.account("yi") is not None


def test_notice_use_cases_leave_no_transaction_open(engine):
    with Session(engine) as session:
        store = NoticesStore(session)
        notice = notices.publish(store, "缴费期通知", "正文", False, T0, "admin", "k1")
        assert not session.in_transaction()
        assert notices.publish(store, "缴费期通知", "正文", False, T0, "admin", "k1") == notice
        assert not session.in_transaction()
        notices.read_notice(store, notice["id"], 7, T0)
        assert notices.unread_count(store, 7) == {"unread": 0}
        assert not session.in_transaction()
        with pytest.raises(NotFound):
            notices.edit(store, 999, {"pinned": True}, T0)
        assert not session.in_transaction()
        assert notices.withdraw(store, notice["id"], T0)["state"] == "withdrawn"
        assert notices.withdraw(store, notice["id"], T0)["state"] == "withdrawn"
        assert not session.in_transaction()


class AppendingStore(UnitOfWork):
    """The shape DeclarationsStore has (unit_of_work(append=...), commit and
    rollback that keep a count in step): it can adopt the shared helper by
    overriding the hooks."""

    def __init__(self, session):
        self.session = session
        self.locks, self.committed, self.pending = [], 0, 0

    def begin_unit_of_work(self, append=False):
        if append and not self.session.in_transaction():
            self.locks.append("append")  # (the advisory lock, in DeclarationsStore)
        self.begin_immediate()

    def commit(self):
        super().commit()
        self.committed += self.pending
        self.pending = 0

    def rollback(self):
        super().rollback()
        self.pending = 0


def test_a_store_with_options_and_hooks_can_adopt_the_unit_of_work(engine):
    with Session(engine) as session:
        store = AppendingStore(session)
        with store.unit_of_work(append=True):
            store.pending = 2
        assert (store.locks, store.committed, store.pending) == (["append"], 0, 0)
        with store.unit_of_work():
            store.pending = 3
            store.commit()
        assert (store.locks, store.committed) == (["append"], 3)
        with store.reading():
            store.pending = 1
        assert store.pending == 0
