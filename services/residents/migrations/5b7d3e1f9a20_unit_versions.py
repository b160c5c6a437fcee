"""residents_unit_versions: the last position that changed each unit's roster

Roster totals are cached per unit while its version stays (instead of while
the whole checkpoint stays), so a catch-up does not make every roster page
count its unit again. Filled from resident_history for an existing roster.

Revision ID: 5b7d3e1f9a20
Revises: 2dc55453f7e9
Create Date: 2026-12-01 04:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '5b7d3e1f9a20'
down_revision = '2dc55453f7e9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('residents_unit_versions',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('unit_id')
    )
    op.execute("INSERT INTO residents_unit_versions (unit_id, position) "
               "SELECT unit_id, max(position) FROM resident_history GROUP BY unit_id")


def downgrade():
    op.drop_table('residents_unit_versions')
