"""campaign figures: sums per unit, year and placement (campaign_years,
campaign_year_reasons), read by the dashboard

Empty after the upgrade: run `python -m services.declarations.cli rebuild`
once (docs/workbench.md).

Revision ID: d5e1f3a7b286
Revises: 3a8c5e7d2f14
Create Date: 2026-12-01 08:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'd5e1f3a7b286'
down_revision = '3a8c5e7d2f14'
branch_labels = None
depends_on = None

FIGURES = ('increase', 'decrease', 'new_enrolments', 'transfers_in', 'transfers_out', 'suspensions',
           'declarations')


def upgrade():
    op.create_table('campaign_years',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES],
    sa.Column('last_day', sa.String(length=10), nullable=False),
    sa.Column('batches', sa.Integer(), nullable=False),
    sa.Column('batch_rows', sa.Integer(), nullable=False),
    sa.Column('batch_failed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id', 'year', 'division', 'street')
    )
    with op.batch_alter_table('campaign_years', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_years_year', ['year', 'division'], unique=False)
    op.create_table('campaign_year_reasons',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id', 'year', 'division', 'street', 'reason')
    )
    with op.batch_alter_table('campaign_year_reasons', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_year_reasons_year', ['year', 'division'], unique=False)


def downgrade():
    op.drop_table('campaign_year_reasons')
    op.drop_table('campaign_years')
