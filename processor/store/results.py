"""Reading work and writing outcomes: the queries the worker and the CLI run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.config import Settings
from processor.records import Classification, FaxResult
from processor.store.columns import fit
from processor.store.inbound import QueuedMail
from processor.store.models import FaxResultRow, InboundMessage, MessageStatus
from processor.store.notify import enqueue_events
from processor.store.tracking import submissions_decided_by, track_classification

__all__ = [
    "Recording",
    "record_classification",
    "record_failure",
    "record_outcomes",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recording:
    """What one processing attempt concluded for one claimed mail, ready to be written."""

    mail: QueuedMail
    status: str
    error: str | None = None
    classification: Classification | None = None
    trust: bool | None = None
    message_id_header: str | None = None
    subject: str | None = None
    from_address: str | None = None


def record_outcomes(session: Session, recordings: Sequence[Recording], worker: str, node: str,
                    settings: Settings) -> set[int]:
    """Write each mail's outcome (results, status, tracking) if `worker` still holds its lease for this very
    attempt; a mail whose lease ran out and was taken over by another worker is left to that worker.
    Releases the leases. Returns the ids recorded."""
    wanted = {recording.mail.id: recording for recording in recordings}
    held = session.scalars(
        sa.select(InboundMessage).where(InboundMessage.id.in_(list(wanted)), InboundMessage.claimed_by == worker)
        .order_by(InboundMessage.id).with_for_update().execution_options(populate_existing=True)).all()
    recorded: set[int] = set()
    for message in held:
        recording = wanted[message.id]
        if message.attempts != recording.mail.attempt:
            continue
        _record_one(session, message, recording, settings)
        message.lease_until = None
        message.processed_by = node[:128]
        recorded.add(message.id)
    for lost in wanted.keys() - recorded:
        log.warning("message %s: lease lost to another worker; its outcome is theirs to record", lost,
                    extra={"mail_id": lost})
    return recorded


def _record_one(session: Session, message: InboundMessage, recording: Recording, settings: Settings) -> None:
    classification = recording.classification
    if classification is None:
        record_failure(session, message, recording.status, recording.error or "")
        return
    first_time = message.processed_at is None
    affected = [] if first_time else submissions_decided_by(session, message.id)
    record_classification(session, message, message_id_header=recording.message_id_header,
                          subject=recording.subject, from_address=recording.from_address,
                          classification=classification, trusted=recording.trust)
    # Submissions and their correlation with results, in the same transaction.
    track_classification(session, message, classification, settings.tracking, affected, first_time=first_time)
    # The stop list and the outbox's events, in the same transaction again: never lost, never invented.
    enqueue_events(session, message, settings)


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
        forwarded=r.forwarded,
        event_key=r.event_key,
    )

