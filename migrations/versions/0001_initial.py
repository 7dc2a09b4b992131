"""initial schema: inbound_messages, fax_results, failures view

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:40:46.397965
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


FAILURES_VIEW = """
CREATE VIEW failures AS
SELECT
    r.id AS result_id,
    r.inbound_message_id,
    m.received_at,
    COALESCE(r.occurred_at, m.received_at) AS failed_at,
    r.kind,
    r.vendor,
    r.code,
    r.vendor_message,
    r.reason,
    r.retryable,
    r.fax_number,
    r.fax_number_raw,
    r.recipient,
    r.transaction_id,
    r.original_message_id,
    r.original_subject,
    r.pages,
    r.action_ja,
    r.action_en,
    m.subject AS mail_subject,
    m.from_address AS mail_from_address,
    m.message_id AS mail_message_id
FROM fax_results r
JOIN inbound_messages m ON m.id = r.inbound_message_id
WHERE r.outcome = 'failed'
"""


def upgrade() -> None:
    op.create_table('inbound_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mail_from', sa.Text(), nullable=True),
    sa.Column('rcpt_tos', sa.JSON(), nullable=False),
    sa.Column('peer', sa.Text(), nullable=True),
    sa.Column('helo', sa.Text(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('from_address', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('detected_by', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'processed', 'unparseable', 'error')", name=op.f('ck_inbound_messages_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_status_id'), ['status', 'id'], unique=False)

    op.create_table('fax_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('inbound_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detected_by', sa.String(length=64), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('vendor_message', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('retryable', sa.Boolean(), nullable=True),
    sa.Column('fax_number', sa.String(length=32), nullable=True),
    sa.Column('fax_number_raw', sa.Text(), nullable=True),
    sa.Column('recipient', sa.Text(), nullable=True),
    sa.Column('transaction_id', sa.String(length=128), nullable=True),
    sa.Column('original_message_id', sa.Text(), nullable=True),
    sa.Column('original_subject', sa.Text(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('smtp_status', sa.String(length=16), nullable=True),
    sa.Column('smtp_reply', sa.String(length=8), nullable=True),
    sa.Column('action_ja', sa.Text(), nullable=True),
    sa.Column('action_en', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('delivered', 'failed', 'pending')", name=op.f('ck_fax_results_outcome')),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'], name=op.f('fk_fax_results_inbound_message_id_inbound_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fax_results'))
    )
    with op.batch_alter_table('fax_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fax_results_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_fax_number_occurred_at'), ['fax_number', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_inbound_message_id'), ['inbound_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_original_message_id'), ['original_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_outcome_created_at'), ['outcome', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_reason_occurred_at'), ['reason', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_results_transaction_id'), ['transaction_id'], unique=False)
    op.execute(FAILURES_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS failures")
    with op.batch_alter_table('fax_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fax_results_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_fax_results_reason_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_fax_results_outcome_created_at'))
        batch_op.drop_index(batch_op.f('ix_fax_results_original_message_id'))
        batch_op.drop_index(batch_op.f('ix_fax_results_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_fax_results_inbound_message_id'))
        batch_op.drop_index(batch_op.f('ix_fax_results_fax_number_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_fax_results_created_at'))

    op.drop_table('fax_results')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_status_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_sha256'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_received_at'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_message_id'))

    op.drop_table('inbound_messages')
