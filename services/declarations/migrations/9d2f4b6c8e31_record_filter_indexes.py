"""record filter indexes: a unit's records by name, certificate number and
batch number

Revision ID: 9d2f4b6c8e31
Revises: 7c1e2a9b4d10
Create Date: 2026-12-01 05:55:00
"""
from alembic import op

revision = '9d2f4b6c8e31'
down_revision = '7c1e2a9b4d10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_unit_name', ['unit_id', 'name'], unique=False)
        batch_op.create_index('ix_records_unit_cert_no', ['unit_id', 'cert_no'], unique=False)
        batch_op.create_index('ix_records_unit_batch', ['unit_id', 'batch_no'], unique=False)


def downgrade():
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_unit_batch')
        batch_op.drop_index('ix_records_unit_cert_no')
        batch_op.drop_index('ix_records_unit_name')
