"""Several nodes: work-queue leases, node names and singleton-job leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:00:00

A placeholder laid down so that work on separate issues can each fill in its own revision without
re-ordering the chain; a revision that is still empty changes nothing.
"""
from __future__ import annotations

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
