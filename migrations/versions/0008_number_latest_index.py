"""An index for a number's latest delivery and failure: `(fax_number, outcome, occurred_at)` on fax_results.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:00:00

The stop list recomputes a number's row after every batch of results about it (store/numbers.py). It read the
number's latest delivery and failure by aggregating over all its results, so a number faxed every day for
years cost more with every result. With this index each latest is read from the end of a range. Adding it
changes no table, view or query result.
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_fax_results_fax_number_outcome_occurred_at'), 'fax_results',
                    ['fax_number', 'outcome', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_fax_results_fax_number_outcome_occurred_at'), table_name='fax_results')
