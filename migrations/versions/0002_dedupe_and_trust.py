"""A mail is stored once (unique sha256); results say whether the sender was trusted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FAILURES_COLUMNS = """
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
    m.message_id AS mail_message_id"""

VIEW = """
CREATE VIEW failures AS
SELECT{columns}
FROM fax_results r
JOIN inbound_messages m ON m.id = r.inbound_message_id
WHERE r.outcome = 'failed'
"""


def upgrade() -> None:
    # Copies stored before this revision: keep the first of identical mails (their results follow).
    op.execute("DELETE FROM inbound_messages WHERE id NOT IN (SELECT min(id) FROM inbound_messages GROUP BY sha256)")
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_messages_sha256')
        batch_op.create_index('ix_inbound_messages_sha256', ['sha256'], unique=True)
    op.execute("DROP VIEW failures")
    with op.batch_alter_table('fax_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trusted', sa.Boolean(), nullable=True))
    op.execute(VIEW.format(columns=FAILURES_COLUMNS + ",\n    r.trusted"))


def downgrade() -> None:
    op.execute("DROP VIEW failures")
    with op.batch_alter_table('fax_results', schema=None) as batch_op:
        batch_op.drop_column('trusted')
    op.execute(VIEW.format(columns=FAILURES_COLUMNS))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_messages_sha256')
        batch_op.create_index('ix_inbound_messages_sha256', ['sha256'], unique=False)
