"""residents.person_id: the opaque id list answers give to open a person
(issue 17 point 3, docs/protection.md). An HMAC-SM3 of (cert_type, cert_no)
under the index key, so the migration needs that key (EDT_PI_INDEX_KEY, the
key ring, or the development key file, as the service itself) to fill the
column of an existing roster; then the column is NOT NULL and unique.

Revision ID: a3d9f1c7e5b4
Revises: 6f1a3c5e7b92
Create Date: 2026-12-01 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'a3d9f1c7e5b4'
down_revision = '6f1a3c5e7b92'
branch_labels = None
depends_on = None

CHUNK = 5000
_PG_FILL = (
    "UPDATE residents r SET person_id = v.person_id FROM "
    "(SELECT unnest(%(types)s::varchar[]) AS cert_type, unnest(%(nos)s::varchar[]) AS cert_no, "
    "unnest(%(ids)s::varchar[]) AS person_id) v "
    "WHERE r.cert_type = v.cert_type AND r.cert_no = v.cert_no"
)


def _fill(bind):
    """Every row's person_id, CHUNK rows at a time in primary-key order."""
    from common.protect import require_index

    index = require_index()
    last = ("", "")
    while True:
        rows = bind.execute(sa.text(
            "SELECT cert_type, cert_no FROM residents WHERE (cert_type > :t) OR (cert_type = :t AND cert_no > :n) "
            "ORDER BY cert_type, cert_no LIMIT :limit"), {"t": last[0], "n": last[1], "limit": CHUNK}).all()
        if not rows:
            return
        ids = [index.person_id(t, n) for t, n in rows]
        if bind.dialect.name == "postgresql":
            bind.exec_driver_sql(_PG_FILL, {"types": [r[0] for r in rows], "nos": [r[1] for r in rows], "ids": ids})
        else:
            bind.execute(sa.text("UPDATE residents SET person_id = :p WHERE cert_type = :t AND cert_no = :n"),
                         [{"p": p, "t": t, "n": n} for (t, n), p in zip(rows, ids, strict=True)])
        last = tuple(rows[-1])


def upgrade():
    op.add_column('residents', sa.Column('person_id', sa.String(length=22), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table('residents') as batch:
        batch.alter_column('person_id', existing_type=sa.String(length=22), nullable=False)
    op.create_index('ux_residents_person_id', 'residents', ['person_id'], unique=True)


def downgrade():
    op.drop_index('ux_residents_person_id', table_name='residents')
    with op.batch_alter_table('residents') as batch:
        batch.drop_column('person_id')
