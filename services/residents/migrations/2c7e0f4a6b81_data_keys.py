"""residents: the table of data keys (pi_data_keys) that personal fields are
encrypted with; each row is wrapped by a master key kept outside the database
(docs/protection.md)

Revision ID: 2c7e0f4a6b81
Revises: a3d9f1c7e5b4
Create Date: 2026-12-01 14:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '2c7e0f4a6b81'
down_revision = 'a3d9f1c7e5b4'
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
