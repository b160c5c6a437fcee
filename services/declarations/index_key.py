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
from sqlalchemy import delete, func, insert, select

from services.declarations import sealing
from services.declarations.models import Person, ProjectionKey

NAME = "blind_index"


def record(conn, key_id=None):
    """Record the configured index key (or `key_id`) as the projections'
    key, in the caller's transaction."""
    key_id = key_id or sealing.of(conn).index.key_id
    conn.execute(delete(ProjectionKey).where(ProjectionKey.name == NAME))
    conn.execute(insert(ProjectionKey).values(name=NAME, key_id=key_id))


def check(engine):
    """At start-up: SystemExit when the projections were built with another
    index key. A database without the row gets it: one with no persons
    yet (a new database), or one that predates the record (its projections
    were built by this key's processes, the migration records the key)."""
    key_id = sealing.of(engine).index.key_id
    with engine.begin() as conn:
        built = conn.scalar(select(ProjectionKey.key_id).where(ProjectionKey.name == NAME))
        if built is None:
            if conn.scalar(select(func.count()).select_from(Person)) == 0:
                record(conn, key_id)
            return
    if built != key_id:
        raise SystemExit(
            f"refusing to start: the declarations projections were built with blind-index key "
            f"{built!r}, the configured key is {key_id!r}: run python -m services.declarations.cli rebuild")
