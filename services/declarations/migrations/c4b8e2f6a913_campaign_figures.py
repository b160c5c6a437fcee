"""campaign figures: unit references, placements, targets and the campaign projections

The projections start empty: run `python -m services.declarations.cli rebuild`
once after this upgrade (docs/workbench.md) so that they hold the log's past;
the unit references fill themselves from auth's unit feed.

Revision ID: c4b8e2f6a913
Revises: 9d2f4b6c8e31
Create Date: 2026-12-01 08:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c4b8e2f6a913'
down_revision = '9d2f4b6c8e31'
branch_labels = None
depends_on = None

FIGURES = ('increase', 'decrease', 'new_enrolments', 'transfers_in', 'transfers_out', 'suspensions',
           'declarations')


def _figures():
    return [sa.Column(name, sa.Integer(), nullable=False) for name in FIGURES]


def upgrade():
    op.create_table('unit_refs',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('account', sa.String(length=50), nullable=True),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id')
    )
    with op.batch_alter_table('unit_refs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_refs_account'), ['account'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_refs_credit_code'), ['credit_code'], unique=False)
    op.create_table('unit_placements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('after_position', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    with op.batch_alter_table('unit_placements', schema=None) as batch_op:
        batch_op.create_index('ix_unit_placements_unit', ['unit_id', 'after_position'], unique=False)
    op.create_table('unit_targets',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('target', sa.Integer(), nullable=False),
    sa.Column('set_by', sa.String(length=50), nullable=True),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('year', 'unit_id')
    )
    op.create_table('campaign_days',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    *_figures(),
    sa.PrimaryKeyConstraint('unit_id', 'day', 'division', 'street')
    )
    with op.batch_alter_table('campaign_days', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_days_day', ['day', 'division', 'increase'], unique=False)
    op.create_table('campaign_months',
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    *_figures(),
    sa.Column('last_day', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('unit_id', 'month', 'division', 'street')
    )
    with op.batch_alter_table('campaign_months', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_months_month', ['month'], unique=False)
    op.create_table('campaign_batches',
    sa.Column('batch_no', sa.String(length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('batch_no')
    )
    with op.batch_alter_table('campaign_batches', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_batches_day', ['day'], unique=False)
    op.create_table('campaign_reasons',
    sa.Column('batch_no', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('division', sa.String(length=6), nullable=False),
    sa.Column('street', sa.String(length=50), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('batch_no', 'reason')
    )
    with op.batch_alter_table('campaign_reasons', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_reasons_day', ['day'], unique=False)


def downgrade():
    for table in ('campaign_reasons', 'campaign_batches', 'campaign_months', 'campaign_days', 'unit_targets',
                  'unit_placements', 'unit_refs'):
        op.drop_table(table)
