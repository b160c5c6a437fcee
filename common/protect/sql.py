"""A store's data keys in its own database: the table `pi_data_keys`.

Each service adds the table to its metadata (`data_keys_table(metadata)`) and an
Alembic migration, and builds its FieldProtector over `SqlDekStore(engine)`.
The rows hold only wrapped keys: useless without the master keys, which never
enter the database.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

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
    def __init__(self, engine: Engine, table: Table | None = None):
        self.engine = engine
        self.table = table if table is not None else data_keys_table(MetaData())

    def load(self) -> list[WrappedDek]:
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.dek_id, t.c.kek_id, t.c.wrapped, t.c.created)).all()
        return [WrappedDek(r.dek_id, r.kek_id, bytes(r.wrapped), r.created) for r in rows]

    def add(self, dek: WrappedDek) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert().values(
                dek_id=dek.dek_id, kek_id=dek.kek_id, wrapped=dek.wrapped, created=dek.created))

    def replace(self, deks: Iterable[WrappedDek]) -> None:
        t = self.table
        with self.engine.begin() as conn:
            for dek in deks:
                conn.execute(update(t).where(t.c.dek_id == dek.dek_id).values(kek_id=dek.kek_id, wrapped=dek.wrapped))
