"""audit: a record's object and person (the 证件号码 read) are stored
encrypted with the audit database's data keys, and `person_bidx`, the number's
blind index, answers the auditor's search (docs/protection.md,
services/audit/store.py). Existing records are converted in chunks of seq; no
hash changes, since the chain hashes the plain record (services/audit/chain.py).

Archive files written before this revision keep their plain lines (verify
still reads them); they are outside the database: encrypt them with
`python -m services.audit.cli archive-seal`.
On PostgreSQL run `VACUUM FULL audit_records` after the upgrade, so the old
row versions leave the table files; on SQLite the connections run with
secure_delete.

Revision ID: 7b2d5e9f1a46
Revises: 3d8f1a5b7c92
Create Date: 2026-12-01 15:10:00
"""
import sqlalchemy as sa
from alembic import op

from common.protect.sql import SqlDekStore

revision = '7b2d5e9f1a46'
down_revision = '3d8f1a5b7c92'
branch_labels = None
depends_on = None

CHUNK = 1000
TOKEN = "v1:"
OBJECT = "audit_records.object"
PERSON = "audit_records.person"



def _keys(conn):
    from common.protect.blind import BlindIndex
    from common.protect.envelope import FieldProtector
    from common.protect.keys import require_keys

    ring = require_keys()
    return FieldProtector(ring, SqlDekStore(conn)), BlindIndex.from_ring(ring)


RECORDS = sa.table("audit_records", sa.column("seq"), sa.column("object", sa.Text()),
                   sa.column("person", sa.String()), sa.column("person_enc", sa.String()),
                   sa.column("person_bidx", sa.String()))


def _chunks(conn, *columns):
    last = None
    while True:
        query = sa.select(RECORDS.c.seq, *columns).order_by(RECORDS.c.seq).limit(CHUNK)
        if last is not None:
            query = query.where(RECORDS.c.seq > last)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1].seq


def upgrade():
    conn = op.get_bind()
    with op.batch_alter_table('audit_records') as batch_op:
        batch_op.add_column(sa.Column('person_enc', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('person_bidx', sa.String(length=32), nullable=True))
    keys = None
    t = RECORDS
    for rows in _chunks(conn, t.c.object, t.c.person):
        keys = keys or _keys(conn)
        fields, index = keys
        for row in rows:
            values = {"person_enc": fields.encrypt_optional(PERSON, row.person),
                      "person_bidx": index.cert_no("99", row.person) if row.person else None}
            if not str(row.object).startswith(TOKEN):
                values["object"] = fields.encrypt(OBJECT, row.object)
            conn.execute(sa.update(t).where(t.c.seq == row.seq).values(values))
    with op.batch_alter_table('audit_records') as batch_op:
        batch_op.drop_index('ix_audit_records_person')
        batch_op.drop_column('person')
        batch_op.create_index('ix_audit_records_person', ['person_bidx', 'seq'], unique=False)


def downgrade():
    conn = op.get_bind()
    with op.batch_alter_table('audit_records') as batch_op:
        batch_op.add_column(sa.Column('person', sa.String(length=64), nullable=True))
    keys = None
    t = RECORDS
    for rows in _chunks(conn, t.c.object, t.c.person_enc):
        keys = keys or _keys(conn)
        fields, _index = keys
        for row in rows:
            values = {"person": fields.decrypt_optional(PERSON, row.person_enc)}
            if str(row.object).startswith(TOKEN):
                values["object"] = fields.decrypt(OBJECT, row.object)
            conn.execute(sa.update(t).where(t.c.seq == row.seq).values(values))
    with op.batch_alter_table('audit_records') as batch_op:
        batch_op.drop_index('ix_audit_records_person')
        batch_op.drop_column('person_bidx')
        batch_op.drop_column('person_enc')
        batch_op.create_index('ix_audit_records_person', ['person', 'seq'], unique=False)
