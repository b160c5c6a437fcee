"""A store's data keys in its own database: the table `pi_data_keys`.

Each service adds the table to its metadata (`data_keys_table(metadata)`) and an
Alembic migration, and builds its FieldProtector over `SqlDekStore(engine)`.
The rows hold only wrapped keys: useless without the master keys, which never
enter the database.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, select, update
from sqlalchemy.engine import Connection, Engine

from common.protect.envelope import WrappedDek

TABLE = "pi_data_keys"


def data_keys_table(metadata: MetaData) -> Table:
    return Table(
        TABLE, metadata,
        Column("dek_id", String(32), primary_key=True),
        Column("kek_id", String(32), nullable=False),
        Column("wrapped", LargeBinary, nullable=False),
        Column("created", Integer, nullable=False),
    )


class SqlDekStore:
    """The data keys of one database. Given an Engine, each read and write
    is a transaction of its own (a service at start-up, the key commands);
    given a Connection, they run in that connection's transaction (a
    migration, whose transaction may have created the table: another
    connection would not see it on PostgreSQL, and would wait on the write
    lock on SQLite)."""

    def __init__(self, bind: Engine | Connection, table: Table | None = None):
        self.bind = bind
        self.table = table if table is not None else data_keys_table(MetaData())

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        if isinstance(self.bind, Connection):
            yield self.bind
        else:
            with self.bind.connect() as conn:
                yield conn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        if isinstance(self.bind, Connection):
            yield self.bind
        else:
            with self.bind.begin() as conn:
                yield conn

    def load(self) -> list[WrappedDek]:
        t = self.table
        with self._reading() as conn:
            rows = conn.execute(select(t.c.dek_id, t.c.kek_id, t.c.wrapped, t.c.created)).all()
        return [WrappedDek(r.dek_id, r.kek_id, bytes(r.wrapped), r.created) for r in rows]

    def add(self, dek: WrappedDek) -> None:
        with self._writing() as conn:
            conn.execute(self.table.insert().values(
                dek_id=dek.dek_id, kek_id=dek.kek_id, wrapped=dek.wrapped, created=dek.created))

    def replace(self, deks: Iterable[WrappedDek]) -> None:
        t = self.table
        with self._writing() as conn:
            for dek in deks:
                conn.execute(update(t).where(t.c.dek_id == dek.dek_id).values(kek_id=dek.kek_id, wrapped=dek.wrapped))
