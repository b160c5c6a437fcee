"""declarations: the table of data keys (pi_data_keys) that personal fields are
encrypted with; each row is wrapped by a master key kept outside the database
(docs/protection.md)

Revision ID: 1b6d9e3f5a70
Revises: d5e1f3a7b286
Create Date: 2026-12-01 14:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '1b6d9e3f5a70'
down_revision = 'd5e1f3a7b286'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pi_data_keys',
    sa.Column('dek_id', sa.String(length=32), nullable=False),
    sa.Column('kek_id', sa.String(length=32), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('dek_id')
    )


def downgrade():
    op.drop_table('pi_data_keys')
