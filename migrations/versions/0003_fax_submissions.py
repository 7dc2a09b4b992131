"""Fax submissions and their correlation with results; views fax_status, number_health, daily_summary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Reason groups, frozen here as the views' definition (processor/tracking/rules.py holds the same sets; a test
# checks that they agree).
NUMBER_REASONS = "('invalid_number', 'voice_answer', 'call_rejected', 'incompatible_device', 'no_recipients')"
ACCOUNT_REASONS = ("('credit_limit', 'account_locked', 'credit_hold', 'password_missing', 'password_invalid', "
                   "'ticket_auth_enabled', 'signature_missing', 'invalid_login', 'access_denied', "
                   "'user_not_found', 'server_suspended', 'no_result')")
CHECK_NUMBER_AFTER = 2
"""number_health.verdict is check_number after this many number failures since the last delivery."""

FAX_STATUS_VIEW = f"""
CREATE VIEW fax_status AS
SELECT
    s.id AS submission_id,
    s.inbound_message_id,
    s.submitted_at,
    m.received_at,
    s.sender,
    s.return_path,
    s.message_id,
    s.subject,
    s.subject_base,
    s.fax_number,
    s.fax_number_raw,
    s.recipient,
    s.state,
    s.state_at,
    s.reason,
    r.code,
    CASE WHEN s.state = 'failed' THEN r.retryable END AS retryable,
    CASE
        WHEN s.state NOT IN ('failed', 'no_result', 'pending') THEN NULL
        WHEN s.reason IN {NUMBER_REASONS} THEN 'verify_number'
        WHEN s.state IN ('no_result', 'pending') OR s.reason IN {ACCOUNT_REASONS} THEN 'account'
        ELSE 'resend'
    END AS action,
    COALESCE(s.note_ja, r.action_ja) AS action_ja,
    COALESCE(s.note_en, r.action_en) AS action_en,
    s.result_id,
    s.match_method,
    s.match_confidence,
    s.transaction_id
FROM fax_submissions s
JOIN inbound_messages m ON m.id = s.inbound_message_id
LEFT JOIN fax_results r ON r.id = s.result_id
"""

NUMBER_HEALTH_VIEW = f"""
CREATE VIEW number_health AS
WITH results AS (
    SELECT r.id, r.fax_number, r.outcome, r.reason, r.retryable, COALESCE(r.occurred_at, m.received_at) AS at
    FROM fax_results r
    JOIN inbound_messages m ON m.id = r.inbound_message_id
    WHERE r.fax_number IS NOT NULL AND r.kind <> 'dsn'
),
last_delivery AS (
    SELECT fax_number, max(at) AS at FROM results WHERE outcome = 'delivered' GROUP BY fax_number
),
counts AS (
    SELECT
        x.fax_number,
        count(*) AS results,
        sum(CASE WHEN x.outcome = 'delivered' THEN 1 ELSE 0 END) AS deliveries,
        sum(CASE WHEN x.outcome = 'failed' THEN 1 ELSE 0 END) AS failures,
        sum(CASE WHEN x.outcome = 'failed' AND x.reason IN {NUMBER_REASONS} THEN 1 ELSE 0 END) AS number_failures,
        sum(CASE WHEN x.outcome = 'failed' AND x.retryable THEN 1 ELSE 0 END) AS retryable_failures,
        sum(CASE WHEN x.outcome = 'failed' AND x.reason IN {NUMBER_REASONS}
                  AND (d.at IS NULL OR x.at > d.at) THEN 1 ELSE 0 END) AS number_failures_since_delivery
    FROM results x
    LEFT JOIN last_delivery d ON d.fax_number = x.fax_number
    GROUP BY x.fax_number
),
latest AS (
    SELECT x.fax_number, x.outcome, x.reason, x.retryable, x.at
    FROM results x
    WHERE x.id = (SELECT y.id FROM results y WHERE y.fax_number = x.fax_number ORDER BY y.at DESC, y.id DESC LIMIT 1)
),
submitted AS (
    SELECT fax_number, count(*) AS submissions,
           sum(CASE WHEN state = 'no_result' THEN 1 ELSE 0 END) AS no_results,
           max(submitted_at) AS last_submitted_at
    FROM fax_submissions WHERE fax_number IS NOT NULL GROUP BY fax_number
),
numbers AS (
    SELECT fax_number FROM results
    UNION
    SELECT fax_number FROM submitted
)
SELECT
    n.fax_number,
    COALESCE(s.submissions, 0) AS submissions,
    COALESCE(c.results, 0) AS results,
    COALESCE(c.deliveries, 0) AS deliveries,
    COALESCE(c.failures, 0) AS failures,
    COALESCE(c.number_failures, 0) AS number_failures,
    COALESCE(c.retryable_failures, 0) AS retryable_failures,
    COALESCE(c.failures, 0) - COALESCE(c.number_failures, 0) - COALESCE(c.retryable_failures, 0) AS other_failures,
    COALESCE(s.no_results, 0) AS no_results,
    l.outcome AS last_outcome,
    l.reason AS last_reason,
    l.at AS last_result_at,
    s.last_submitted_at,
    CASE
        WHEN COALESCE(c.number_failures_since_delivery, 0) >= {CHECK_NUMBER_AFTER} THEN 'check_number'
        WHEN l.outcome = 'failed' AND l.retryable THEN 'retry_later'
        ELSE 'ok'
    END AS verdict
FROM numbers n
LEFT JOIN counts c ON c.fax_number = n.fax_number
LEFT JOIN latest l ON l.fax_number = n.fax_number
LEFT JOIN submitted s ON s.fax_number = n.fax_number
"""

DAILY_SUMMARY_VIEW = """
CREATE VIEW daily_summary AS
SELECT date(t.at) AS day, t.state, t.reason, count(*) AS faxes, count(DISTINCT t.fax_number) AS numbers
FROM (
    SELECT s.submitted_at AS at, s.state, s.reason, s.fax_number
    FROM fax_submissions s
    UNION ALL
    SELECT COALESCE(r.occurred_at, m.received_at) AS at, r.outcome AS state, r.reason, r.fax_number
    FROM fax_results r
    JOIN inbound_messages m ON m.id = r.inbound_message_id
    WHERE r.kind <> 'dsn' AND NOT EXISTS (SELECT 1 FROM fax_matches x WHERE x.result_id = r.id)
) t
GROUP BY date(t.at), t.state, t.reason
"""


def upgrade() -> None:
    op.create_table('fax_submissions',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('inbound_message_id', BigId, nullable=False),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('sender', sa.Text(), nullable=True),
    sa.Column('return_path', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('subject_base', sa.Text(), nullable=True),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('fax_number', sa.String(length=32), nullable=True),
    sa.Column('fax_number_raw', sa.Text(), nullable=True),
    sa.Column('found_in', sa.String(length=16), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('result_id', BigId, nullable=True),
    sa.Column('match_method', sa.String(length=16), nullable=True),
    sa.Column('match_confidence', sa.String(length=8), nullable=True),
    sa.Column('transaction_id', sa.String(length=128), nullable=True),
    sa.Column('note_ja', sa.Text(), nullable=True),
    sa.Column('note_en', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('submitted', 'delivered', 'failed', 'pending', 'no_result')",
                       name=op.f('ck_fax_submissions_state')),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'],
                            name=op.f('fk_fax_submissions_inbound_message_id_inbound_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['result_id'], ['fax_results.id'],
                            name=op.f('fk_fax_submissions_result_id_fax_results'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fax_submissions'))
    )
    with op.batch_alter_table('fax_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fax_submissions_fax_number_submitted_at'), ['fax_number', 'submitted_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_fax_submissions_inbound_message_id_recipient'),
                              ['inbound_message_id', 'recipient'], unique=True)
        batch_op.create_index(batch_op.f('ix_fax_submissions_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_submissions_result_id'), ['result_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fax_submissions_state_submitted_at'), ['state', 'submitted_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_fax_submissions_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('fax_matches',
    sa.Column('result_id', BigId, nullable=False),
    sa.Column('submission_id', BigId, nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('confidence', sa.String(length=8), nullable=False),
    sa.Column('matched_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['result_id'], ['fax_results.id'], name=op.f('fk_fax_matches_result_id_fax_results'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['fax_submissions.id'],
                            name=op.f('fk_fax_matches_submission_id_fax_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('result_id', 'submission_id', name=op.f('pk_fax_matches'))
    )
    with op.batch_alter_table('fax_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fax_matches_submission_id'), ['submission_id'], unique=False)
    op.execute(FAX_STATUS_VIEW)
    op.execute(NUMBER_HEALTH_VIEW)
    op.execute(DAILY_SUMMARY_VIEW)


def downgrade() -> None:
    for view in ('daily_summary', 'number_health', 'fax_status'):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    with op.batch_alter_table('fax_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fax_matches_submission_id'))
    op.drop_table('fax_matches')
    with op.batch_alter_table('fax_submissions', schema=None) as batch_op:
        for name in ('ix_fax_submissions_transaction_id', 'ix_fax_submissions_state_submitted_at',
                     'ix_fax_submissions_result_id', 'ix_fax_submissions_message_id',
                     'ix_fax_submissions_inbound_message_id_recipient', 'ix_fax_submissions_fax_number_submitted_at'):
            batch_op.drop_index(batch_op.f(name))
    op.drop_table('fax_submissions')
