"""SQLAlchemy plumbing shared by the services: engines with sane SQLite
settings, a Nameko dependency that gives each worker its own session, and
the unit of work their stores share."""
import contextlib
import os
import weakref

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from common.config import ROOT


def make_engine(url, immediate=False, **kwargs):
    """Create an engine for `url`.

    SQLite files get WAL, a busy timeout and, with `immediate`, transactions
    that take the write lock when they begin (so read-decide-append cannot
    interleave with another writer). Relative SQLite paths are taken from the
    repository root, so `sqlite:///var/auth.db` works from any directory.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        if db and db != ":memory:" and not os.path.isabs(db):
            db = os.path.join(ROOT, db)
            u = u.set(database=db)
        if db and db != ":memory:":
            os.makedirs(os.path.dirname(db), exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 30}, **kwargs)
        _sqlite_tuning(engine, immediate)
        return engine
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(u, **kwargs)


def _sqlite_tuning(engine, immediate):
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Freed pages are zeroed: a deleted or replaced row (a batch's file,
        # a value before encryption) leaves no text behind in the file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin")
        if mode is None:
            mode = "IMMEDIATE" if immediate else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class UnitOfWork:
    """Transactions of a store that wraps `self.session` (cosmicpython's unit
    of work). A use case that writes does

        with store.unit_of_work():
            ...                 # reads and writes through the store
            store.commit()      # the block's writes are kept only if it commits

    and anything else (an early return, a domain error, a database error)
    rolls the block back. A use case that only reads does `with
    store.reading(): ...`, which ends its transaction (and snapshot) with
    the block. Use cases never call rollback or begin themselves, and never
    see a database exception: the store translates the ones that mean
    something (a unique key taken) into domain errors.

    Hooks a store may override: `commit` and `rollback` (to keep something
    in step with the transaction, as a metric counted on commit), and
    `begin_unit_of_work(**options)`, given the keywords of `unit_of_work`
    (to take a lock of its own, as an append lock)."""

    session: Session

    def commit(self):
        self.session.commit()

    def rollback(self):
        self.session.rollback()

    def begin_unit_of_work(self, **options):
        """Start the transaction of a unit of work unless one is open. On
        SQLite it takes the database's write lock at once (BEGIN IMMEDIATE),
        so a block that reads then writes never fails half-way on a snapshot
        another writer moved on; elsewhere it is an ordinary begin. A store
        with options of its own (`unit_of_work(append=True)`) overrides this
        and calls `begin_immediate()` for the default."""
        if options:
            raise TypeError(f"unexpected unit_of_work options: {sorted(options)}")
        self.begin_immediate()

    def begin_immediate(self):
        if not self.session.in_transaction():
            self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})

    @contextlib.contextmanager
    def unit_of_work(self, **options):
        """A write transaction: kept only if the block calls `commit()`."""
        self.begin_unit_of_work(**options)
        try:
            yield self
        finally:
            if self.session.in_transaction():
                self.rollback()

    @contextlib.contextmanager
    def reading(self):
        """A read whose transaction ends with the block (no snapshot kept)."""
        try:
            yield self
        finally:
            self.rollback()


def is_postgres(engine):
    return engine.dialect.name == "postgresql"


class Database(DependencyProvider):
    """Gives each worker a Store wrapping a fresh session; closes it after.

    `store_cls(session)` is the service's own storage API; its methods commit.
    The engine is created at container setup, never at import.
    """

    def __init__(self, store_cls, url_key="DATABASE_URL", immediate=False, protected=False):
        self.store_cls = store_cls
        self.url_key = url_key
        self.immediate = immediate
        self.protected = protected
        self.sessions = weakref.WeakKeyDictionary()

    def setup(self):
        self.engine = make_engine(self.container.config[self.url_key], immediate=self.immediate)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        if self.protected:
            # The store holds personal fields (docs/protection.md): its keys
            # are checked and its data key made now, so a missing or wrong
            # key stops the service at start-up.
            from common.protect.runtime import protection

            protection(self.engine)

    def stop(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        session = self.Session()
        self.sessions[worker_ctx] = session
        return self.store_cls(session)

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.rollback()
            session.close()
