"""declarations: whole documents that hold personal fields are stored
encrypted, one token each (docs/protection.md, services/declarations/sealed.py):
idempotency.response and batches.failures become Text columns holding the
token of their JSON, batch_files.content holds the token's bytes. Existing
rows are converted in chunks with the store's data key (made here if the
store has none yet), under the configured master keys.

On PostgreSQL the replaced row versions stay in the table files until
vacuumed: run `VACUUM FULL idempotency, batches, batch_files` after the
upgrade (docs/protection.md, "Wiring", step 4). On SQLite the connections
run with secure_delete, so freed pages are zeroed.

Revision ID: 6a1c4d8e0f35
Revises: 1b6d9e3f5a70
Create Date: 2026-12-01 15:00:00
"""
import sqlalchemy as sa
from alembic import op

from common.protect.sql import SqlDekStore

revision = '6a1c4d8e0f35'
down_revision = '1b6d9e3f5a70'
branch_labels = None
depends_on = None

CHUNK = 500
TOKEN = "v1:"
DOCUMENTS = (("idempotency", "response", ("account", "key")), ("batches", "failures", ("batch_no",)))



def _protector(conn):
    from common.protect.envelope import FieldProtector
    from common.protect.keys import require_keys

    return FieldProtector(require_keys(), SqlDekStore(conn))


def _retype(table, column, new_type, old_type, using):
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(table, column, type_=new_type, existing_type=old_type, existing_nullable=False,
                        postgresql_using=using)
    else:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, type_=new_type, existing_type=old_type, existing_nullable=False)


def _convert_text(conn, fields, table, column, keys, seal):
    """Rewrite `table.column` row by row with `seal(field, text)`, in chunks,
    for the rows not converted yet (the migration may have been stopped)."""
    t = sa.table(table, *(sa.column(k) for k in keys), sa.column(column, sa.Text()))
    field = f"{table}.{column}"
    pending = t.c[column].like(TOKEN + "%") if seal is None else ~t.c[column].like(TOKEN + "%")
    while True:
        rows = conn.execute(sa.select(*(t.c[k] for k in keys), t.c[column]).where(pending)
                            .limit(CHUNK)).all()
        if not rows:
            return
        for row in rows:
            value = row[-1]
            new = fields.decrypt(field, value) if seal is None else seal(field, value)
            conn.execute(sa.update(t).where(*(t.c[k] == row[i] for i, k in enumerate(keys)))
                         .values({column: new}))


def _files(conn, sealed):
    """(table, batch_no, content) of the files stored sealed (or not)."""
    t = sa.table("batch_files", sa.column("batch_no"), sa.column("content", sa.LargeBinary()))
    names = conn.execute(sa.select(t.c.batch_no).order_by(t.c.batch_no)).scalars().all()
    for name in names:
        content = bytes(conn.execute(sa.select(t.c.content).where(t.c.batch_no == name)).scalar_one())
        if content.startswith(TOKEN.encode()) == sealed:
            yield t, name, content


def upgrade():
    conn = op.get_bind()
    _retype("idempotency", "response", sa.Text(), sa.JSON(), "response::text")
    _retype("batches", "failures", sa.Text(), sa.JSON(), "failures::text")
    fields = None
    for table, column, keys in DOCUMENTS:
        t = sa.table(table, sa.column(column, sa.Text()))
        if conn.scalar(sa.select(sa.func.count()).select_from(t).where(~t.c[column].like(TOKEN + "%"))):
            fields = fields or _protector(conn)
            # The stored JSON text is encrypted as it is (sealed.unseal parses it).
            _convert_text(conn, fields, table, column, keys,
                          lambda field, text, f=fields: f.encrypt_bytes(field, text.encode("utf-8")))
    for t, name, content in _files(conn, sealed=False):
        fields = fields or _protector(conn)
        token = fields.encrypt_bytes("batch_files.content", content).encode("ascii")
        conn.execute(sa.update(t).where(t.c.batch_no == name).values(content=token))


def downgrade():
    conn = op.get_bind()
    fields = None
    for t, name, content in _files(conn, sealed=True):
        fields = fields or _protector(conn)
        plain = fields.decrypt_bytes("batch_files.content", content.decode("ascii"))
        conn.execute(sa.update(t).where(t.c.batch_no == name).values(content=plain))
    for table, column, keys in DOCUMENTS:
        t = sa.table(table, sa.column(column, sa.Text()))
        if conn.scalar(sa.select(sa.func.count()).select_from(t).where(t.c[column].like(TOKEN + "%"))):
            fields = fields or _protector(conn)
            _convert_text(conn, fields, table, column, keys, None)
    _retype("batches", "failures", sa.JSON(), sa.Text(), "failures::json")
    _retype("idempotency", "response", sa.JSON(), sa.Text(), "response::json")
