"""`fax_results.happened_at`: when the result happened, one indexed column for dated and undated results.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 07:00:00

A result's time is `occurred_at` when the service gave one, else the arrival of its mail
(`inbound_messages.received_at`), the rule every view and the stop list apply. The stop list reads each
number's latest delivery and failure, and the failures that can still count, after every batch of results
about the number (store/numbers.py). Undated results had no index to read that from: each read joined every
undated result of the number to its mail, so a number with years of undated results cost more with each one.
`happened_at` holds the rule's answer, written with the row, and the index `(fax_number, outcome, happened_at)`
replaces 0008's `(fax_number, outcome, occurred_at)`, which only the stop list used.

Existing rows are filled here. The column is added with plain ADD COLUMN and left nullable in the schema
(SQLite adds a NOT NULL column only with a constant default, and a batch copy of `fax_results` would break the
views); faxbounce writes it on every row.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('fax_results', sa.Column('happened_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE fax_results SET happened_at = COALESCE(occurred_at, "
               "(SELECT m.received_at FROM inbound_messages m WHERE m.id = fax_results.inbound_message_id))")
    op.create_index(op.f('ix_fax_results_fax_number_outcome_happened_at'), 'fax_results',
                    ['fax_number', 'outcome', 'happened_at'], unique=False)
    op.drop_index(op.f('ix_fax_results_fax_number_outcome_occurred_at'), table_name='fax_results')


def downgrade() -> None:
    op.create_index(op.f('ix_fax_results_fax_number_outcome_occurred_at'), 'fax_results',
                    ['fax_number', 'outcome', 'occurred_at'], unique=False)
    op.drop_index(op.f('ix_fax_results_fax_number_outcome_happened_at'), table_name='fax_results')
    with op.batch_alter_table('fax_results', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('happened_at')
