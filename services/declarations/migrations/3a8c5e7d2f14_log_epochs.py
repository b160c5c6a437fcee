"""log identity: the log's id, made with the database, and its epochs

Revision ID: 3a8c5e7d2f14
Revises: c4b8e2f6a913
Create Date: 2026-12-01 07:30:00
"""
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '3a8c5e7d2f14'
down_revision = 'c4b8e2f6a913'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'log_epochs',
        sa.Column('epoch', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('log_id', sa.String(length=36), nullable=False),
        sa.Column('fork_position', sa.BigInteger(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('epoch'),
    )
    # The identity is made with the log: a database upgraded from an earlier
    # release gets one now, at epoch 1, sharing nothing with another log.
    op.bulk_insert(table, [{
        'epoch': 1, 'log_id': str(uuid.uuid4()), 'fork_position': 0,
        'started_at': datetime.now(UTC), 'reason': 'log created',
    }])


def downgrade():
    op.drop_table('log_epochs')
