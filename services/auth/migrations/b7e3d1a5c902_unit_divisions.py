"""units: division, street, contact, phone, disabled; unit_changes

Existing units take their division from characters 3-8 of their credit code
when that is one of Quanzhou's twelve county-level divisions, else 000000
(未分区); each gets a `migrated` change row, so the declarations service's
copy of the units (fed from unit_changes) sees every unit.

Revision ID: b7e3d1a5c902
Revises: 3997cb2b70aa
Create Date: 2026-12-01 07:40:00
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from common.divisions import UNASSIGNED, division_of_credit_code

revision = 'b7e3d1a5c902'
down_revision = '3997cb2b70aa'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('division', sa.String(length=6), server_default=UNASSIGNED, nullable=False))
        batch_op.add_column(sa.Column('street', sa.String(length=50), server_default='', nullable=False))
        batch_op.add_column(sa.Column('contact', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_units_division'), ['division'], unique=False)
    op.create_table('unit_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=50), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('unit', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unit_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_changes_unit_id'), ['unit_id'], unique=False)

    op.create_table('unit_imports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=50), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('succeeded', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('failures', sa.JSON(), nullable=False),
    sa.Column('credentials', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )

    conn = op.get_bind()
    units = sa.table('units', sa.column('id', sa.Integer), sa.column('name', sa.String),
                     sa.column('credit_code', sa.String), sa.column('division', sa.String))
    accounts = sa.table('accounts', sa.column('account', sa.String), sa.column('unit_id', sa.Integer))
    changes = sa.table('unit_changes', sa.column('unit_id', sa.Integer), sa.column('at', sa.DateTime(timezone=True)),
                       sa.column('actor', sa.String), sa.column('action', sa.String),
                       sa.column('changes', sa.JSON), sa.column('unit', sa.JSON))
    rows = conn.execute(
        sa.select(units.c.id, units.c.name, units.c.credit_code, accounts.c.account)
        .select_from(units.outerjoin(accounts, accounts.c.unit_id == units.c.id))
        .order_by(units.c.id)).all()
    now = datetime.now(UTC)
    for unit_id, name, credit_code, account in rows:
        division = division_of_credit_code(credit_code)
        if division != UNASSIGNED:
            conn.execute(units.update().where(units.c.id == unit_id).values(division=division))
        conn.execute(changes.insert().values(
            unit_id=unit_id, at=now, actor=None, action='migrated',
            changes={'division': [None, division]},
            unit={'name': name, 'credit_code': credit_code, 'account': account,
                  'division': division, 'street': '', 'disabled': False}))


def downgrade():
    op.drop_table('unit_imports')
    with op.batch_alter_table('unit_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_changes_unit_id'))
    op.drop_table('unit_changes')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_division'))
        batch_op.drop_column('disabled')
        batch_op.drop_column('phone')
        batch_op.drop_column('contact')
        batch_op.drop_column('street')
        batch_op.drop_column('division')
