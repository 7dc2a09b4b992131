"""`failures.failed_at` read from the indexed `fax_results.happened_at`; `number_health` without a quadratic read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:00:00

`failures.failed_at` was `COALESCE(r.occurred_at, m.received_at)`, an expression over two tables that no index
can serve: "today's failures" (`WHERE failed_at >= …`, the README's first query, and `faxbounce report` and the
digest) read every failed result ever stored and joined each to its mail. With a million results that took
2.3 s on PostgreSQL and 1.2 s on SQLite (`bench/scale.py`), and it grows with every result kept. Revision 0009
stores the same rule's answer in `fax_results.happened_at` on every row; the view now reads that column, and the
index `(outcome, happened_at)` finds a period's failures directly. It replaces `(outcome, created_at)`, which no
query of faxbounce uses (a result's `created_at` is when it was written; `happened_at` when the fax failed or
its mail came, the time every view goes by), so each result still updates eleven indexes. Rows whose
`happened_at` is missing (none that faxbounce wrote) are filled first. Column names, types and rows of the view
are unchanged.

`number_health` found each number's latest result with a subquery per result over the view's own list of
results, which has no index: quadratic in a number's history. At a million results (3,019 numbers) it took
4.9 s on SQLite and did not finish in 20 minutes on PostgreSQL. It now ranks each number's results once
(`row_number()`) and reads their time from `happened_at` instead of joining every result to its mail. Same
columns and rows.

`fax_submissions (state, state_at)`: the report's faxes that failed, are held or got no result since a time, and
the tracking sweep's held faxes past their deadline, read every submission ever stored without it (65 ms for
the report and 40 ms a sweep at 125,000 submissions, growing with each).
"""
from __future__ import annotations

from types import ModuleType

from alembic import context, op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_RULE = "COALESCE(r.occurred_at, m.received_at) AS failed_at"


def _revision(name: str) -> ModuleType:
    """An earlier revision's module: its view definitions are reused, not copied."""
    return context.script.get_revision(name).module


def _failures_view(failed_at: str) -> str:
    columns = _revision('0002').FAILURES_COLUMNS
    assert _RULE in columns
    accuracy = _revision('0004')
    return accuracy.FAILURES_VIEW.format(columns=columns.replace(_RULE, failed_at), first=accuracy.first_copy('r'))


_RESULTS_JOINED = """    SELECT r.id, r.fax_number, r.outcome, r.reason, r.retryable, COALESCE(r.occurred_at, m.received_at) AS at
    FROM fax_results r
    JOIN inbound_messages m ON m.id = r.inbound_message_id
"""
_RESULTS_OWN = """    SELECT r.id, r.fax_number, r.outcome, r.reason, r.retryable, r.happened_at AS at
    FROM fax_results r
"""
_LATEST_CORRELATED = """    SELECT x.fax_number, x.outcome, x.reason, x.retryable, x.at
    FROM results x
    WHERE x.id = (SELECT y.id FROM results y WHERE y.fax_number = x.fax_number ORDER BY y.at DESC, y.id DESC LIMIT 1)
"""
_LATEST_RANKED = """    SELECT fax_number, outcome, reason, retryable, at FROM (
        SELECT x.fax_number, x.outcome, x.reason, x.retryable, x.at,
               row_number() OVER (PARTITION BY x.fax_number ORDER BY x.at DESC, x.id DESC) AS place
        FROM results x
    ) ranked
    WHERE place = 1
"""


def _number_health_view() -> str:
    """0004's `number_health`, as 0004 made it from 0003's."""
    return _revision('0003').NUMBER_HEALTH_VIEW.replace(
        "WHERE r.fax_number IS NOT NULL AND r.kind <> 'dsn'",
        f"WHERE r.fax_number IS NOT NULL AND r.kind <> 'dsn' AND {_revision('0004').first_copy('r')}", 1)


def _number_health_by_rank() -> str:
    view = _number_health_view()
    assert _RESULTS_JOINED in view and _LATEST_CORRELATED in view
    return view.replace(_RESULTS_JOINED, _RESULTS_OWN).replace(_LATEST_CORRELATED, _LATEST_RANKED)


def upgrade() -> None:
    op.execute("UPDATE fax_results SET happened_at = COALESCE(occurred_at, "
               "(SELECT m.received_at FROM inbound_messages m WHERE m.id = fax_results.inbound_message_id)) "
               "WHERE happened_at IS NULL")
    op.create_index(op.f('ix_fax_results_outcome_happened_at'), 'fax_results', ['outcome', 'happened_at'],
                    unique=False)
    op.drop_index(op.f('ix_fax_results_outcome_created_at'), table_name='fax_results')
    op.create_index(op.f('ix_fax_submissions_state_state_at'), 'fax_submissions', ['state', 'state_at'],
                    unique=False)
    op.execute("DROP VIEW failures")
    op.execute(_failures_view("r.happened_at AS failed_at"))
    op.execute("DROP VIEW number_health")
    op.execute(_number_health_by_rank())


def downgrade() -> None:
    op.execute("DROP VIEW number_health")
    op.execute(_number_health_view())
    op.execute("DROP VIEW failures")
    op.execute(_failures_view(_RULE))
    op.create_index(op.f('ix_fax_results_outcome_created_at'), 'fax_results', ['outcome', 'created_at'],
                    unique=False)
    op.drop_index(op.f('ix_fax_results_outcome_happened_at'), table_name='fax_results')
    op.drop_index(op.f('ix_fax_submissions_state_state_at'), table_name='fax_submissions')
