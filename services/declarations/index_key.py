"""Which blind-index key the projections' `cert_no_bidx` columns were built
with (table projection_keys, one row).

The index key cannot be rotated in place: with another key every index
changes. The log does not depend on it (its tokens name data keys, its
stream ids are never recomputed), so a new index key means rebuilding the
projections (`python -m services.declarations.cli rebuild`), which records
the new key's id. A process started with a key other than the recorded one
refuses to start (`check`), rather than answering searches and decisions
that would find nobody.
"""
from sqlalchemy import delete, insert, select

from common.protect.runtime import protection
from services.declarations.eventlog import recorder
from services.declarations.models import ProjectionKey

NAME = "blind_index"


def record(conn, key_id=None):
    """Record the configured index key (or `key_id`) as the projections'
    key, in the caller's transaction."""
    key_id = key_id or protection(conn).index.key_id
    conn.execute(delete(ProjectionKey).where(ProjectionKey.name == NAME))
    conn.execute(insert(ProjectionKey).values(name=NAME, key_id=key_id))


def check(engine):
    """At start-up: SystemExit when the projections were built with another
    index key. A database without the row gets the configured key's: a
    new one (created by create_all: `make run`, the tests), whose
    projections are written by processes of this key from the start. A
    migrated database has the row (migration 5f0b3c7d9e24 records the key
    it indexed with). Several processes start at once (the service, its
    batch workers): the first to write the row wins, the others read it."""
    key_id = protection(engine).index.key_id
    built = _built(engine)
    if built is None:
        # IMMEDIATE on SQLite: a read turned write would fail at once
        # ("database is locked") when another process wrote meanwhile.
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            conn.execute(recorder(conn).insert(ProjectionKey.__table__)
                         .values(name=NAME, key_id=key_id).on_conflict_do_nothing())
        built = _built(engine)
    if built != key_id:
        raise SystemExit(
            f"refusing to start: the declarations projections were built with blind-index key "
            f"{built!r}, the configured key is {key_id!r}: run python -m services.declarations.cli rebuild")


def _built(engine):
    with engine.connect() as conn:
        return conn.scalar(select(ProjectionKey.key_id).where(ProjectionKey.name == NAME))
