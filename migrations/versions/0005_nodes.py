"""Several nodes: work-queue leases, node names and singleton-job leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:00:00

Any number of workers on any number of nodes share the queue by leasing mails (`claimed_by`, `lease_until`);
singleton jobs (the tracking sweep, retention, dispatchers) run where `job_leases` says.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE on both backends (a SQLite batch copy would break the views over this table).
    op.add_column('inbound_messages', sa.Column('claimed_by', sa.String(128), nullable=True))
    op.add_column('inbound_messages', sa.Column('lease_until', UTC_TIME, nullable=True))
    op.add_column('inbound_messages', sa.Column('processed_by', sa.String(128), nullable=True))
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('holder', sa.String(128), nullable=False),
        sa.Column('lease_until', UTC_TIME, nullable=False),
        sa.Column('last_run_at', UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint('name', name='pk_job_leases'),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    for column in ('processed_by', 'lease_until', 'claimed_by'):
        op.drop_column('inbound_messages', column)
