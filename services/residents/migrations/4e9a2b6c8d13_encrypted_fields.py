"""residents: personal fields encrypted at rest (issue 17, docs/protection.md).

`residents` keeps the 证件号码 as a blind index (`cert_no_bidx`, the primary
key with cert_type) and a token (`cert_no_enc`), and 联系电话 and the two
addresses as tokens (`*_enc`); `resident_history` names the person by blind
index, and a change's before/after in `detail` become one token; the
checkpoint records the blind-index key id. Existing rows are encrypted in
chunks, then the plaintext columns are dropped.

The migration needs the master keys and the index key, as the service does
(EDT_PI_KEYS / EDT_PI_KEYS_FILE and EDT_PI_INDEX_KEY, or the development key
file). Afterwards, freed space may still hold the old text: run `VACUUM` on
the SQLite file (secure_delete zeroes the pages freed here already) or
`VACUUM FULL residents, resident_history` on PostgreSQL.

Revision ID: 4e9a2b6c8d13
Revises: 2c7e0f4a6b81
Create Date: 2026-12-01 15:00:00
"""
import warnings

import orjson
import sqlalchemy as sa
from alembic import op

from common.protect.sql import SqlDekStore

revision = '4e9a2b6c8d13'
down_revision = '2c7e0f4a6b81'
branch_labels = None
depends_on = None

CHUNK = 5000
PROTECTED = {"cert_no": "cert_no_enc", "phone": "phone_enc", "hukou_address": "hukou_address_enc",
             "address": "address_enc"}
SEALED = "sealed"
DETAIL_FIELD = "resident_history.detail"  # as services/residents/store.py

_residents = sa.table(
    'residents', sa.column('cert_type', sa.String), sa.column('cert_no', sa.String),
    sa.column('phone', sa.String), sa.column('hukou_address', sa.String), sa.column('address', sa.String),
    sa.column('cert_no_bidx', sa.String), sa.column('cert_no_enc', sa.String), sa.column('phone_enc', sa.String),
    sa.column('hukou_address_enc', sa.String), sa.column('address_enc', sa.String))
_history = sa.table(
    'resident_history', sa.column('position', sa.BigInteger), sa.column('unit_id', sa.Integer),
    sa.column('cert_type', sa.String), sa.column('cert_no', sa.String), sa.column('cert_no_bidx', sa.String),
    sa.column('detail', sa.JSON))



def _protection(bind):
    """(FieldProtector, BlindIndex) of this database under the configured keys."""
    from common.protect import BlindIndex, FieldProtector, KeyConfigError, require_keys

    ring = require_keys()
    try:
        fields = FieldProtector(ring, SqlDekStore(bind))
    except KeyConfigError as e:
        raise SystemExit(f"refusing to migrate: personal-information keys: {e}") from None
    return fields, BlindIndex.from_ring(ring)


def _encrypted(fields, field, value):
    return None if value is None else fields.encrypt(field, value)


def _decrypted(fields, field, token):
    return None if token is None else fields.decrypt(field, token)


def _sealed(fields, detail):
    if isinstance(detail, dict) and ({"before", "after"} & detail.keys() or PROTECTED.keys() & detail.keys()):
        return {SEALED: fields.encrypt_bytes(DETAIL_FIELD, orjson.dumps(detail))}
    return detail


def _opened(fields, detail):
    if isinstance(detail, dict) and SEALED in detail:
        return orjson.loads(fields.decrypt_bytes(DETAIL_FIELD, detail[SEALED]))
    return detail


def _chunks(bind, table, key, columns):
    """Rows of `table` (`columns`) in chunks of CHUNK, in the order of the
    two key columns `key`."""
    a, b = (table.c[k] for k in key)
    last = None
    while True:
        query = sa.select(*(table.c[c] for c in columns)).order_by(a, b).limit(CHUNK)
        if last is not None:
            query = query.where(sa.or_(a > last[0], sa.and_(a == last[0], b > last[1])))
        rows = bind.execute(query).all()
        if not rows:
            return
        yield rows
        last = (getattr(rows[-1], key[0]), getattr(rows[-1], key[1]))


def _encrypt_rows(bind, fields, index):
    r = _residents.c
    update = (sa.update(_residents)
              .where(r.cert_type == sa.bindparam('k_type'), r.cert_no == sa.bindparam('k_no'))
              .values(cert_no_bidx=sa.bindparam('bidx'), cert_no_enc=sa.bindparam('cert_enc'),
                      phone_enc=sa.bindparam('phone_e'), hukou_address_enc=sa.bindparam('hukou_e'),
                      address_enc=sa.bindparam('address_e')))
    for rows in _chunks(bind, _residents, ('cert_type', 'cert_no'),
                        ('cert_type', 'cert_no', 'phone', 'hukou_address', 'address')):
        bind.execute(update, [{
            'k_type': row.cert_type, 'k_no': row.cert_no, 'bidx': index.cert_no(row.cert_type, row.cert_no),
            'cert_enc': fields.encrypt('cert_no', row.cert_no),
            'phone_e': _encrypted(fields, 'phone', row.phone),
            'hukou_e': _encrypted(fields, 'hukou_address', row.hukou_address),
            'address_e': _encrypted(fields, 'address', row.address),
        } for row in rows])
    h = _history.c
    update = (sa.update(_history)
              .where(h.position == sa.bindparam('k_position'), h.unit_id == sa.bindparam('k_unit'))
              .values(cert_no_bidx=sa.bindparam('bidx'), detail=sa.bindparam('new_detail', type_=sa.JSON)))
    for rows in _chunks(bind, _history, ('position', 'unit_id'),
                        ('position', 'unit_id', 'cert_type', 'cert_no', 'detail')):
        bind.execute(update, [{
            'k_position': row.position, 'k_unit': row.unit_id, 'bidx': index.cert_no(row.cert_type, row.cert_no),
            'new_detail': _sealed(fields, row.detail),
        } for row in rows])


def upgrade():
    bind = op.get_bind()
    op.add_column('residents', sa.Column('cert_no_bidx', sa.String(length=32), nullable=True))
    op.add_column('residents', sa.Column('phone_enc', sa.String(length=120), nullable=True))
    op.add_column('residents', sa.Column('hukou_address_enc', sa.String(length=1000), nullable=True))
    op.add_column('residents', sa.Column('address_enc', sa.String(length=1000), nullable=True))
    op.add_column('residents', sa.Column('cert_no_enc', sa.String(length=200), nullable=True))
    op.add_column('resident_history', sa.Column('cert_no_bidx', sa.String(length=32), nullable=True))
    op.add_column('residents_checkpoint', sa.Column('index_key_id', sa.String(length=32), nullable=True))

    fields, index = _protection(bind)
    _encrypt_rows(bind, fields, index)
    bind.execute(sa.text("UPDATE residents_checkpoint SET index_key_id = :k"), {"k": index.key_id})

    op.drop_index('ix_resident_history_person', table_name='resident_history')
    with op.batch_alter_table('resident_history') as batch:
        batch.drop_column('cert_no')
        batch.alter_column('cert_no_bidx', existing_type=sa.String(length=32), nullable=False)
    op.create_index('ix_resident_history_person', 'resident_history',
                    ['unit_id', 'cert_type', 'cert_no_bidx', 'position'])

    postgres = bind.dialect.name == 'postgresql'
    with warnings.catch_warnings(), op.batch_alter_table('residents', recreate='auto') as batch:
        # SQLite's copy of the table is made from columns reflected with the
        # old key (cert_type, cert_no): SQLAlchemy warns that the new key
        # differs, which is the point.
        warnings.filterwarnings('ignore', r".*specifies columns 'cert_type' as primary_key=True", sa.exc.SAWarning)
        if postgres:
            batch.drop_constraint('residents_pkey', type_='primary')
        batch.alter_column('cert_no_bidx', existing_type=sa.String(length=32), nullable=False)
        batch.alter_column('cert_no_enc', existing_type=sa.String(length=200), nullable=False)
        batch.create_primary_key('pk_residents', ['cert_type', 'cert_no_bidx'])
        for column in ('cert_no', 'phone', 'hukou_address', 'address'):
            batch.drop_column(column)


def downgrade():
    """Back to plaintext columns (needs the same keys)."""
    bind = op.get_bind()
    op.add_column('residents', sa.Column('cert_no', sa.String(length=30), nullable=True))
    op.add_column('residents', sa.Column('phone', sa.String(length=30), nullable=True))
    op.add_column('residents', sa.Column('hukou_address', sa.String(length=200), nullable=True))
    op.add_column('residents', sa.Column('address', sa.String(length=200), nullable=True))
    op.add_column('resident_history', sa.Column('cert_no', sa.String(length=30), nullable=True))
    fields, _index = _protection(bind)
    r = _residents.c
    update = (sa.update(_residents)
              .where(r.cert_type == sa.bindparam('k_type'), r.cert_no_bidx == sa.bindparam('k_bidx'))
              .values(cert_no=sa.bindparam('no'), phone=sa.bindparam('phone_p'),
                      hukou_address=sa.bindparam('hukou_p'), address=sa.bindparam('address_p')))
    numbers = {}
    for rows in _chunks(bind, _residents, ('cert_type', 'cert_no_bidx'),
                        ('cert_type', 'cert_no_bidx', 'cert_no_enc', 'phone_enc', 'hukou_address_enc',
                         'address_enc')):
        values = []
        for row in rows:
            number = fields.decrypt('cert_no', row.cert_no_enc)
            numbers[(row.cert_type, row.cert_no_bidx)] = number
            values.append({'k_type': row.cert_type, 'k_bidx': row.cert_no_bidx, 'no': number,
                           'phone_p': _decrypted(fields, 'phone', row.phone_enc),
                           'hukou_p': _decrypted(fields, 'hukou_address', row.hukou_address_enc),
                           'address_p': _decrypted(fields, 'address', row.address_enc)})
        bind.execute(update, values)
    h = _history.c
    update = (sa.update(_history)
              .where(h.position == sa.bindparam('k_position'), h.unit_id == sa.bindparam('k_unit'))
              .values(cert_no=sa.bindparam('no'), detail=sa.bindparam('new_detail', type_=sa.JSON)))
    for rows in _chunks(bind, _history, ('position', 'unit_id'),
                        ('position', 'unit_id', 'cert_type', 'cert_no_bidx', 'detail')):
        # A person's history outlives nobody in the roster (the row stays when
        # the person leaves); an unknown index keeps its value, as a marker.
        bind.execute(update, [{
            'k_position': row.position, 'k_unit': row.unit_id,
            'no': numbers.get((row.cert_type, row.cert_no_bidx), row.cert_no_bidx)[:30],
            'new_detail': _opened(fields, row.detail),
        } for row in rows])

    op.drop_index('ix_resident_history_person', table_name='resident_history')
    with op.batch_alter_table('resident_history') as batch:
        batch.drop_column('cert_no_bidx')
        batch.alter_column('cert_no', existing_type=sa.String(length=30), nullable=False)
    op.create_index('ix_resident_history_person', 'resident_history', ['unit_id', 'cert_type', 'cert_no', 'position'])
    with op.batch_alter_table('residents', recreate='auto') as batch:
        batch.drop_constraint('pk_residents', type_='primary')
        for column in ('cert_no_bidx', 'cert_no_enc', 'phone_enc', 'hukou_address_enc', 'address_enc'):
            batch.drop_column(column)
        batch.alter_column('cert_no', existing_type=sa.String(length=30), nullable=False)
        batch.create_primary_key('residents_pkey', ['cert_type', 'cert_no'])
    with op.batch_alter_table('residents_checkpoint') as batch:
        batch.drop_column('index_key_id')
