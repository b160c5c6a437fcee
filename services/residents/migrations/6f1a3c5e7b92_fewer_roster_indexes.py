"""Fewer index writes per applied event: a roster search by 证件号码 goes
through the primary key (cert_type, cert_no) instead of its own
(unit_id, cert_no) index, and history rows are keyed by (position,
unit_id), which was already unique, instead of a serial id and its index.

Revision ID: 6f1a3c5e7b92
Revises: 8e4f2a6c1d35
Create Date: 2026-12-01 07:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '6f1a3c5e7b92'
down_revision = '8e4f2a6c1d35'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_residents_unit_cert_no', table_name='residents')
    with op.batch_alter_table('resident_history', recreate='auto') as batch:
        batch.drop_constraint('uq_resident_history_position_unit', type_='unique')
        if op.get_bind().dialect.name == 'postgresql':
            batch.drop_constraint('resident_history_pkey', type_='primary')
        batch.drop_column('id')
        batch.create_primary_key('pk_resident_history', ['position', 'unit_id'])


def downgrade():
    with op.batch_alter_table('resident_history', recreate='auto') as batch:
        batch.drop_constraint('pk_resident_history', type_='primary')
        batch.add_column(sa.Column('id', sa.Integer(), autoincrement=True, nullable=True))
        batch.create_unique_constraint('uq_resident_history_position_unit', ['position', 'unit_id'])
    op.create_index('ix_residents_unit_cert_no', 'residents', ['unit_id', 'cert_no'])
