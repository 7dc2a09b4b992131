"""Accuracy: forwarded results, fax-event keys and mail to look at (unrecognized).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00

- `fax_results.forwarded`: the result was read from a notice a person forwarded;
- `fax_results.event_key`: the fax event a row reports; rows with one key are copies of one event (a forward and
  the original, one notice delivered to two mailboxes). `failures`, `number_health` and `daily_summary` count
  each event once: by its first copy that was not forwarded, else its first copy. `failures` gains `forwarded`,
  `event_key` and `copies`;
- the view `mail_to_look_at`: mail a person should read (`unrecognized`, `unparseable`, `error`).

Rows stored before this revision get their key here (the same formula as `FaxResult.event_key`; keys longer
than 255 characters, which Python replaces by a digest, stay NULL until `faxbounce reprocess --all`).
Columns are added with plain ADD COLUMN (a batch copy of `fax_results` would break the views on SQLite).
"""
from __future__ import annotations

from types import ModuleType

import sqlalchemy as sa
from alembic import context, op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _revision(name: str) -> ModuleType:
    """An earlier revision's module: its view definitions are reused, not copied."""
    return context.script.get_revision(name).module


def first_copy(alias: str) -> str:
    """SQL: the row `alias` of fax_results stands for its fax event (no other copy comes before it)."""
    return (f"({alias}.event_key IS NULL OR NOT EXISTS (SELECT 1 FROM fax_results d WHERE d.event_key = "
            f"{alias}.event_key AND d.id <> {alias}.id AND ((NOT d.forwarded AND {alias}.forwarded) OR "
            f"(d.forwarded = {alias}.forwarded AND d.id < {alias}.id))))")


FAILURES_VIEW = """
CREATE VIEW failures AS
SELECT{columns},
    r.trusted,
    r.forwarded,
    r.event_key,
    CASE WHEN r.event_key IS NULL THEN 1
         ELSE (SELECT count(*) FROM fax_results c WHERE c.event_key = r.event_key) END AS copies
FROM fax_results r
JOIN inbound_messages m ON m.id = r.inbound_message_id
WHERE r.outcome = 'failed' AND {first}
"""

MAIL_TO_LOOK_AT_VIEW = """
CREATE VIEW mail_to_look_at AS
SELECT
    m.id AS inbound_message_id,
    m.received_at,
    CASE WHEN m.status IN ('unparseable', 'error') THEN m.status ELSE m.kind END AS problem,
    m.status,
    m.kind,
    m.from_address,
    m.subject,
    m.message_id,
    m.error
FROM inbound_messages m
WHERE m.kind = 'unrecognized' OR m.status IN ('unparseable', 'error')
"""

# The fallback key (number + code + submission time) as each backend writes an ISO UTC time.
_SUBMITTED_ISO = {
    'postgresql': "to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    'sqlite': "strftime('%Y-%m-%dT%H:%M:%SZ', submitted_at)",
}


def _part(expression: str) -> str:
    return f"substr(replace({expression}, '|', '/'), 1, 100)"


def _backfill_event_keys() -> None:
    """The keys `FaxResult.event_key` gives: vendor|t|transaction|code|number, else vendor|n|number|code|time,
    else vendor|n|number|code|Message-ID; each piece with `|` as `/` and cut at 100 characters."""
    submitted = _part(_SUBMITTED_ISO.get(op.get_bind().dialect.name, _SUBMITTED_ISO['sqlite']))
    vendor, transaction, number = _part("vendor"), _part("transaction_id"), _part("fax_number")
    code, any_number = _part("COALESCE(code, '')"), _part("COALESCE(fax_number, '')")
    message_id = _part("trim(trim(original_message_id), '<>')")
    keys = [
        ("transaction_id IS NOT NULL",
         f"{vendor} || '|t|' || {transaction} || '|' || {code} || '|' || {any_number}"),
        ("transaction_id IS NULL AND fax_number IS NOT NULL AND submitted_at IS NOT NULL",
         f"{vendor} || '|n|' || {number} || '|' || {code} || '|' || {submitted}"),
        ("transaction_id IS NULL AND fax_number IS NOT NULL AND submitted_at IS NULL AND original_message_id IS NOT NULL",
         f"{vendor} || '|n|' || {number} || '|' || {code} || '|' || {message_id}"),
    ]
    for condition, key in keys:
        op.execute(f"UPDATE fax_results SET event_key = {key} WHERE {condition} AND length({key}) <= 255")


def upgrade() -> None:
    op.add_column('fax_results', sa.Column('forwarded', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('fax_results', sa.Column('event_key', sa.String(length=255), nullable=True))
    op.create_index(op.f('ix_fax_results_event_key'), 'fax_results', ['event_key'], unique=False)
    # The metric of unrecognized mail and mail_to_look_at select by kind at every scrape and report.
    op.create_index(op.f('ix_inbound_messages_kind'), 'inbound_messages', ['kind'], unique=False)
    _backfill_event_keys()
    views = _revision('0003')
    for view in ('failures', 'number_health', 'daily_summary'):
        op.execute(f"DROP VIEW {view}")
    op.execute(FAILURES_VIEW.format(columns=_revision('0002').FAILURES_COLUMNS, first=first_copy('r')))
    op.execute(views.NUMBER_HEALTH_VIEW.replace(
        "WHERE r.fax_number IS NOT NULL AND r.kind <> 'dsn'",
        f"WHERE r.fax_number IS NOT NULL AND r.kind <> 'dsn' AND {first_copy('r')}", 1))
    op.execute(views.DAILY_SUMMARY_VIEW.replace(
        "WHERE r.kind <> 'dsn' AND", f"WHERE r.kind <> 'dsn' AND {first_copy('r')} AND", 1))
    op.execute(MAIL_TO_LOOK_AT_VIEW)


def downgrade() -> None:
    views = _revision('0003')
    # fax_status reads fax_results too: dropped and made again around the column drop (a batch copy on SQLite).
    for view in ('mail_to_look_at', 'failures', 'number_health', 'daily_summary', 'fax_status'):
        op.execute(f"DROP VIEW {view}")
    op.drop_index(op.f('ix_inbound_messages_kind'), table_name='inbound_messages')
    op.drop_index(op.f('ix_fax_results_event_key'), table_name='fax_results')
    with op.batch_alter_table('fax_results', schema=None) as batch_op:
        batch_op.drop_column('event_key')
        batch_op.drop_column('forwarded')
    previous = _revision('0002')
    op.execute(previous.VIEW.format(columns=previous.FAILURES_COLUMNS + ",\n    r.trusted"))
    op.execute(views.FAX_STATUS_VIEW)
    op.execute(views.NUMBER_HEALTH_VIEW)
    op.execute(views.DAILY_SUMMARY_VIEW)
