"""The queries of `faxbounce report` and of the daily digest: read from the public views only, so neither
says anything that a plain SQL query could not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from processor.store.models import UTCDateTime

__all__ = ["MailToLookAt", "action_rows", "deliveries_by_number", "mail_to_look_at", "untracked_failures"]

_STATUS = sa.text(
    "SELECT s.submission_id, s.result_id, s.state, s.state_at, s.reason, s.code, s.fax_number, "
    "s.subject_base AS subject, s.sender, s.action, s.action_ja, s.action_en, r.trusted "
    "FROM fax_status s LEFT JOIN fax_results r ON r.id = s.result_id "
    "WHERE s.state IN ('failed', 'no_result', 'pending') AND s.state_at >= :since"
).bindparams(sa.bindparam("since", type_=UTCDateTime())).columns(state_at=UTCDateTime(), trusted=sa.Boolean())
_UNTRACKED = sa.text(
    "SELECT f.result_id, f.reason, f.code, f.fax_number, f.original_subject AS subject, f.failed_at, "
    "f.action_ja, f.action_en, f.trusted FROM failures f "
    "WHERE f.kind <> 'dsn' AND f.failed_at >= :since "
    "AND NOT EXISTS (SELECT 1 FROM fax_matches x WHERE x.result_id = f.result_id)"
).bindparams(sa.bindparam("since", type_=UTCDateTime())).columns(failed_at=UTCDateTime(), trusted=sa.Boolean())
_NUMBERS_PER_QUERY = 1000
"""Twice this many bound values per statement: far below SQLite's limit (32,766)."""
# Only the numbers asked about, each read from its own index entries (`fax_results (fax_number, outcome,
# happened_at)`, `fax_submissions (fax_number, submitted_at)`): not every delivery ever stored.
_DELIVERIES = sa.text(
    "SELECT fax_number, max(at) AS at FROM ("
    " SELECT s.fax_number, s.state_at AS at FROM fax_submissions s"
    " WHERE s.fax_number IN :numbers AND s.state = 'delivered'"
    " UNION ALL"
    " SELECT r.fax_number, r.happened_at AS at FROM fax_results r"
    " WHERE r.fax_number IN :numbers AND r.outcome = 'delivered'"
    ") d GROUP BY fax_number"
).bindparams(sa.bindparam("numbers", expanding=True)).columns(at=UTCDateTime())
_LOOK_AT = sa.text(
    "SELECT m.id, m.received_at, m.status, m.kind, m.subject, m.from_address, m.error FROM inbound_messages m "
    "WHERE m.received_at >= :since AND (m.kind = 'unrecognized' OR m.status IN ('unparseable', 'error') "
    " OR EXISTS (SELECT 1 FROM fax_results r WHERE r.inbound_message_id = m.id AND r.trusted = :untrusted)) "
    "ORDER BY m.received_at, m.id"
).bindparams(sa.bindparam("since", type_=UTCDateTime()),
             sa.bindparam("untrusted", type_=sa.Boolean())).columns(received_at=UTCDateTime())


def action_rows(connection: Connection, since: datetime) -> list[sa.Row]:
    """Submitted faxes that failed, are held or never got a result, whose state began since `since`."""
    return list(connection.execute(_STATUS, {"since": since}))


def untracked_failures(connection: Connection, since: datetime) -> list[sa.Row]:
    """Fax failures (not mail-level reports) that matched no submission, by when the fax failed."""
    return list(connection.execute(_UNTRACKED, {"since": since}))


def deliveries_by_number(connection: Connection, numbers: Iterable[str]) -> dict[str, datetime]:
    """The latest delivery of each of these fax numbers that had one (`happened_at` is the views' time:
    `occurred_at`, else the mail's arrival)."""
    wanted = sorted(set(numbers))
    latest: dict[str, datetime] = {}
    for start in range(0, len(wanted), _NUMBERS_PER_QUERY):
        chunk = wanted[start:start + _NUMBERS_PER_QUERY]
        latest.update((row.fax_number, row.at) for row in connection.execute(_DELIVERIES, {"numbers": chunk}))
    return latest


@dataclass(frozen=True, slots=True)
class MailToLookAt:
    mail_id: int
    received_at: datetime
    why: str
    """`unrecognized`, `unparseable`, `error` or `untrusted`."""
    subject: str | None
    from_address: str | None
    error: str | None


def mail_to_look_at(connection: Connection, since: datetime) -> list[MailToLookAt]:
    """Mail a person should read: not understood, not parseable, failed, or a result from an untrusted path."""
    found = []
    for row in connection.execute(_LOOK_AT, {"since": since, "untrusted": False}):
        why = ("unrecognized" if row.kind == "unrecognized" else
               row.status if row.status in ("unparseable", "error") else "untrusted")
        found.append(MailToLookAt(row.id, row.received_at, why, row.subject, row.from_address, row.error))
    return found
