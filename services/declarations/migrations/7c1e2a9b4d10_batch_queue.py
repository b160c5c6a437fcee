"""batch queue: a batch's status, progress and worker lease; the uploaded
file kept until its batch is finished; one number counter per business day

Revision ID: 7c1e2a9b4d10
Revises: 51dd4b311d51
Create Date: 2026-12-01 04:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '7c1e2a9b4d10'
down_revision = '51dd4b311d51'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('batches', schema=None) as batch_op:
        # Every batch recorded before the queue was finished when answered.
        batch_op.add_column(sa.Column('status', sa.String(length=10), server_default='done', nullable=False))
        batch_op.add_column(sa.Column('rows_read', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('rows_decided', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('message', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('worker', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('origin', sa.JSON(), nullable=True))
        batch_op.create_index('ix_batches_open', ['status', 'submitted_at'], unique=False)
    op.create_table('batch_files',
    sa.Column('batch_no', sa.String(length=24), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('batch_no')
    )
    op.create_table('batch_counters',
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )


def downgrade():
    op.drop_table('batch_counters')
    op.drop_table('batch_files')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('ix_batches_open')
        for column in ('origin', 'finished_at', 'attempts', 'lease_until', 'worker', 'reason', 'error',
                       'message', 'rows_decided', 'rows_read', 'status'):
            batch_op.drop_column(column)
