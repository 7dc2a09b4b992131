"""Notifications: webhook and mail outbox, number blocks and verdicts, the view number_stoplist.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# A manual block always wins: the view says stop for a blocked number whatever the results say.
NUMBER_STOPLIST_VIEW = """
CREATE VIEW number_stoplist AS
SELECT
    v.fax_number,
    v.national,
    CASE WHEN b.fax_number IS NOT NULL THEN 'stop' ELSE v.verdict END AS verdict,
    CASE WHEN b.fax_number IS NOT NULL THEN 'blocked' ELSE v.reason END AS reason,
    v.failures,
    v.last_failure_at,
    v.last_delivered_at,
    (b.fax_number IS NOT NULL) AS blocked,
    b.note
FROM number_verdicts v
LEFT JOIN number_blocks b ON b.fax_number = v.fax_number
"""


def upgrade() -> None:
    op.create_table('notify_outbox',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name=op.f('ck_notify_outbox_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox'))
    )
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_outbox_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notify_outbox_event_id_channel_target'),
                              ['event_id', 'channel', 'target'], unique=True)
        batch_op.create_index(batch_op.f('ix_notify_outbox_state_next_attempt_at'), ['state', 'next_attempt_at'],
                              unique=False)
    op.create_table('number_blocks',
    sa.Column('fax_number', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fax_number', name=op.f('pk_number_blocks'))
    )
    op.create_table('number_verdicts',
    sa.Column('fax_number', sa.String(length=32), nullable=False),
    sa.Column('national', sa.Text(), nullable=True),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict IN ('ok', 'check', 'stop')", name=op.f('ck_number_verdicts_verdict')),
    sa.PrimaryKeyConstraint('fax_number', name=op.f('pk_number_verdicts'))
    )
    with op.batch_alter_table('number_verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_number_verdicts_verdict_last_failure_at'),
                              ['verdict', 'last_failure_at'], unique=False)
    op.execute(NUMBER_STOPLIST_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS number_stoplist")
    with op.batch_alter_table('number_verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_number_verdicts_verdict_last_failure_at'))
    op.drop_table('number_verdicts')
    op.drop_table('number_blocks')
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_outbox_state_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_notify_outbox_event_id_channel_target'))
        batch_op.drop_index(batch_op.f('ix_notify_outbox_created_at'))
    op.drop_table('notify_outbox')
