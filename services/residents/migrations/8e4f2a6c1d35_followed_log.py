"""residents_followed_log: the identity and epoch of the declaration log the
roster follows (an existing roster follows none until it first hears the log)

Revision ID: 8e4f2a6c1d35
Revises: 5b7d3e1f9a20
Create Date: 2026-12-01 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '8e4f2a6c1d35'
down_revision = '5b7d3e1f9a20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'residents_followed_log',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('log_id', sa.String(length=36), nullable=False),
        sa.Column('epoch', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('residents_followed_log')
