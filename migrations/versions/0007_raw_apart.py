"""A mail's raw bytes in a table of their own: `inbound_messages.raw` becomes `inbound_raw.raw`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:00:00

SQLite rewrites a whole row on any UPDATE, so each status change of a large mail (claim, lease, outcome,
retention) rewrote its bytes under the one write lock. `inbound_raw` is written once, with the row, and never
updated; retention deletes its row. `raw` is its last column (SQLite copies a blob that is not twice).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('inbound_raw',
    sa.Column('inbound_message_id', BigId, nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'],
                            name=op.f('fk_inbound_raw_inbound_message_id_inbound_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('inbound_message_id', name=op.f('pk_inbound_raw'))
    )
    op.execute("INSERT INTO inbound_raw (inbound_message_id, raw) "
               "SELECT id, raw FROM inbound_messages WHERE raw IS NOT NULL ORDER BY id")
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite >= 3.35), as in 0005: a SQLite batch copy
    # would break the views over this table, and its DROP TABLE would cascade to every row that references it.
    with op.batch_alter_table('inbound_messages', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('raw')


def downgrade() -> None:
    # The column comes back last (ALTER TABLE ADD COLUMN), not where 0001 put it: nothing reads it by position.
    with op.batch_alter_table('inbound_messages', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))
    op.execute("UPDATE inbound_messages SET raw = "
               "(SELECT r.raw FROM inbound_raw r WHERE r.inbound_message_id = inbound_messages.id)")
    op.drop_table('inbound_raw')
