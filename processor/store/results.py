"""Reading work and writing outcomes: the queries the worker and the CLI run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from processor.records import Classification, FaxResult
from processor.store.columns import fit
from processor.store.models import FaxResultRow, InboundMessage, MessageStatus

__all__ = [
    "ClaimedMail",
    "claim_attempts",
    "message_ids",
    "record_classification",
    "record_failure",
]

def message_ids(
    session: Session, *, statuses: Sequence[str] | None = None, since: datetime | None = None,
    after_id: int = 0, limit: int = 100,
) -> list[int]:
    """Ids of stored mails in arrival order, filtered by status and receive time."""
    query = sa.select(InboundMessage.id).where(InboundMessage.id > after_id).order_by(InboundMessage.id).limit(limit)
    if statuses is not None:
        query = query.where(InboundMessage.status.in_(list(statuses)))
    if since is not None:
        query = query.where(InboundMessage.received_at >= since)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class ClaimedMail:
    id: int
    attempts: int
    raw: bytes | None
    peer: str | None
    rcpt_tos: tuple[str, ...]


def claim_attempts(engine: Engine, message_ids: Sequence[int]) -> list[ClaimedMail]:
    """Count one processing attempt for each mail before the work starts (so a mail that kills the worker
    is noticed), and read them, in one short transaction."""
    ids = list(message_ids)
    if not ids:
        return []
    with engine.begin() as connection:  # one short transaction: the write, then the read of what it claimed
        connection.execute(sa.update(InboundMessage).where(InboundMessage.id.in_(ids))
                           .values(attempts=InboundMessage.attempts + 1))
        rows = connection.execute(
            sa.select(InboundMessage.id, InboundMessage.attempts, InboundMessage.raw, InboundMessage.peer,
                      InboundMessage.rcpt_tos).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)).all()
    return [ClaimedMail(r.id, r.attempts, r.raw, r.peer, tuple(r.rcpt_tos or ())) for r in rows]


def record_classification(
    session: Session, message: InboundMessage, *, message_id_header: str | None, subject: str | None,
    from_address: str | None, classification: Classification, trusted: bool | None = None,
) -> None:
    """Replace the mail's results with these (idempotent: reprocessing gives the same rows)."""
    now = datetime.now(UTC)
    session.execute(sa.delete(FaxResultRow).where(FaxResultRow.inbound_message_id == message.id))
    message.message_id = fit(InboundMessage.message_id, message_id_header)
    message.subject = fit(InboundMessage.subject, subject)
    message.from_address = fit(InboundMessage.from_address, from_address)
    message.kind = str(classification.kind)
    message.detected_by = classification.detected_by
    message.status = MessageStatus.PROCESSED
    message.error = None
    message.processed_at = now
    session.add_all(_result_row(message.id, classification, result, now, trusted)
                    for result in classification.results)


def record_failure(session: Session, message: InboundMessage, status: str, error: str) -> None:
    """Mark a mail unparseable or in error; its raw bytes stay, its old results go."""
    session.execute(sa.delete(FaxResultRow).where(FaxResultRow.inbound_message_id == message.id))
    message.status = status
    message.error = fit(InboundMessage.error, error)
    message.kind = None
    message.detected_by = None
    message.processed_at = datetime.now(UTC)


def _result_row(
    message_id: int, classification: Classification, r: FaxResult, now: datetime, trusted: bool | None
) -> FaxResultRow:
    return FaxResultRow(
        inbound_message_id=message_id,
        kind=str(classification.kind),
        detected_by=r.detected_by,
        vendor=r.vendor,
        code=fit(FaxResultRow.code, r.code),
        vendor_message=fit(FaxResultRow.vendor_message, r.vendor_message),
        outcome=str(r.outcome),
        reason=r.reason,
        retryable=r.retryable,
        fax_number=r.fax_number,
        fax_number_raw=fit(FaxResultRow.fax_number_raw, r.fax_number_raw),
        recipient=fit(FaxResultRow.recipient, r.recipient),
        transaction_id=fit(FaxResultRow.transaction_id, r.transaction_id),
        original_message_id=fit(FaxResultRow.original_message_id, r.original_message_id),
        original_subject=fit(FaxResultRow.original_subject, r.original_subject),
        pages=r.pages,
        submitted_at=r.submitted_at,
        occurred_at=r.occurred_at,
        smtp_status=fit(FaxResultRow.smtp_status, r.smtp_status),
        smtp_reply=fit(FaxResultRow.smtp_reply, r.smtp_reply),
        action_ja=r.action_ja,
        action_en=r.action_en,
        trusted=trusted,
        created_at=now,
    )

