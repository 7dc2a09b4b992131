"""Reading work and writing outcomes: the queries the worker and the CLI run."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.config import Settings
from processor.records import Classification, FaxResult
from processor.store.bulk import insert_returning_ids
from processor.store.columns import fit
from processor.store.inbound import QueuedMail
from processor.store.mailrow import MailRow, held, write_back
from processor.store.models import FaxResultRow, InboundMessage, MessageStatus
from processor.store.notify import enqueue_events, tells_anyone
from processor.store.numbers import refresh_numbers
from processor.store.tracking import (
    Lookahead,
    StoredResult,
    may_match,
    submissions_decided_by,
    track_classification,
)
from processor.tracking.rules import ResultFacts

__all__ = [
    "Recording",
    "record_classification",
    "record_failure",
    "record_outcomes",
]

log = logging.getLogger(__name__)
_RESULTS = FaxResultRow.__table__
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSERT_RESULTS_ANY_ORDER = sa.insert(_RESULTS).returning(_RESULTS.c.id)


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
    Releases the leases. Returns the ids recorded.

    The rows are the same as recording the mails one by one, in id order, each in its own call: what one mail
    writes is visible to the next (a submission and its result in one batch find each other). Only the stop
    list's refresh is shared when nobody is told of its changes (no webhooks, no sender alerts): its rows are
    a function of the stored results, so refreshing a number once after the last mail that touched it gives
    the rows one refresh per mail gives (see `_StopListRefresh`)."""
    wanted = {recording.mail.id: recording for recording in recordings}
    recorded: set[int] = set()
    stoplist = _StopListRefresh(session, settings)
    mine = [(message, wanted[message.id]) for message in held(session, list(wanted), worker)
            if message.attempts == wanted[message.id].mail.attempt]
    lookahead: Lookahead | None = None
    early: dict[int, list[StoredResult]] = {}
    # Every query below either reads what is already written (results, matches and submission rows are
    # written by statements, or flushed where an ORM row is made) or is about other tables than the mails'
    # (or reads their arrival times, which recording does not change): the mails' own columns are written
    # last (`write_back`), and ORM rows wait for the next flush (at the latest the commit), not each query.
    with session.no_autoflush:
        for index, (message, recording) in enumerate(mine):
            if not _plain(message, recording):
                lookahead = None
            elif lookahead is None:  # a run of result mails begins: what can its results find?
                run = list(itertools.takewhile(lambda mr: _plain(*mr), mine[index:]))
                if stoplist.tells:  # each mail's events see the stop list after that mail: one at a time
                    planned = [p for m, r in run for p in _planned(m, r, settings)]
                else:
                    early = _insert_run(session, run)
                    planned = [p for m, r in run if _may_match(r, settings) for p in early[m.id]]
                lookahead = Lookahead(session, planned, settings.tracking)
            message.lease_until = None
            message.processed_by = node[:128]
            _record_one(session, message, recording, settings, stoplist, lookahead, early.pop(message.id, None))
            recorded.add(message.id)
        stoplist.settle()
    write_back(session, [message for message, _recording in mine])
    for lost in wanted.keys() - recorded:
        log.warning("message %s: lease lost to another worker; its outcome is theirs to record", lost,
                    extra={"mail_id": lost})
    return recorded


class _StopListRefresh:
    """The numbers whose stop-list rows wait for their refresh, when no one is told of the changes.

    A number's row is recomputed from its stored results and their matches (`refresh_numbers`). One mail after
    another, it was recomputed after each mail with results about it; here, once, before anything that could
    change what the last of those recomputes saw: a submission (it may tie earlier results to itself), a mail
    processed again (its old results go), and the end of the batch. A first-time result mail in between
    writes only its own results and their matches, which are about its own numbers: those wait too.
    When webhooks or sender alerts are configured, each mail's events need the rows as they are after that
    very mail, so every mail refreshes its own numbers at once (`enqueue_events`), as before."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.tells = tells_anyone(settings)
        self.pending: set[str] = set()

    def touch(self, numbers: Iterable[str]) -> None:
        self.pending.update(numbers)

    def settle(self) -> None:
        if self.pending:
            settings = self.settings
            refresh_numbers(self.session, self.pending, settings.numbers, settings.processing.default_country,
                            flush=False)
            self.pending.clear()


def _plain(message: MailRow, recording: Recording) -> bool:
    """A mail never processed before whose classification is no submission: it adds results and their matches,
    and nothing else (no submission rows, nothing deleted)."""
    classification = recording.classification
    return message.processed_at is None and classification is not None and classification.submission is None


def _may_match(recording: Recording, settings: Settings) -> bool:
    return recording.classification is not None and may_match(recording.classification, settings.tracking)


def _planned(message: MailRow, recording: Recording, settings: Settings) -> list[StoredResult]:
    """The results a plain mail will store, before they have ids (for `Lookahead`)."""
    classification = recording.classification
    if classification is None or not _may_match(recording, settings):
        return []
    rows = [_result_values(message, classification, result, _EPOCH, recording.trust)
            for result in classification.results]
    return _stored([0] * len(rows), rows)


def _insert_run(session: Session, run: Sequence[tuple[MailRow, Recording]]) -> dict[int, list[StoredResult]]:
    """The results of a run of plain mails, in one statement, in the order one mail after another gives them.

    Written before the first of them is correlated: nothing correlation reads can tell them apart from
    results not yet written (it reads submissions, and results only through their matches; these have none
    yet). Only the stop list reads results as such, and it is refreshed after the run. Not when each mail's
    events must see the stop list as that mail leaves it (`_StopListRefresh.tells`)."""
    now = datetime.now(UTC)
    rows = [[_result_values(message, recording.classification, result, now, recording.trust)
             for result in recording.classification.results] if recording.classification is not None else []
            for message, recording in run]
    flat = [row for mail_rows in rows for row in mail_rows]
    ids = _insert_results(session, flat) if flat else []
    stored: dict[int, list[StoredResult]] = {}
    for (message, _), mail_rows in zip(run, rows, strict=True):
        stored[message.id] = _stored(ids[:len(mail_rows)], mail_rows)
        del ids[:len(mail_rows)]
    return stored


def _record_one(session: Session, message: MailRow, recording: Recording, settings: Settings,
                stoplist: _StopListRefresh, lookahead: Lookahead | None = None,
                stored: list[StoredResult] | None = None) -> None:
    """One mail's outcome; `stored`: its results, when they are written already (`_insert_run`)."""
    classification = recording.classification
    first_time = message.processed_at is None
    if not first_time or stoplist.tells or (classification is not None and classification.submission is not None):
        stoplist.settle()
    if classification is None:
        record_failure(session, message, recording.status, recording.error or "")
        return
    affected = [] if first_time else submissions_decided_by(session, message.id)
    stored = _replace_results(session, message, recording, classification, first_time, stored)
    # Submissions and their correlation with results, in the same transaction.
    track_classification(session, message, classification, settings.tracking, affected, first_time=first_time,
                         stored=stored, lookahead=lookahead)
    # The stop list and the outbox's events, in the same transaction again: never lost, never invented.
    if stoplist.tells:
        enqueue_events(session, message, settings)
    else:
        stoplist.touch(number for s in stored if (number := _number_of(s)))


def _number_of(stored: StoredResult) -> str | None:
    """The number a stored result counts for in the stop list (generic delivery reports count for none)."""
    return stored.facts.fax_number if stored.kind != "dsn" else None


def _replace_results(session: Session, message: MailRow, recording: Recording,
                     classification: Classification, first_time: bool,
                     stored: list[StoredResult] | None = None) -> list[StoredResult]:
    """`record_classification`, written as one INSERT of the mail's rows (a mail never processed has none to
    delete), unless `stored` says they are written; returns the rows as stored, for correlation."""
    now = datetime.now(UTC)
    if not first_time:
        session.execute(sa.delete(_RESULTS).where(_RESULTS.c.inbound_message_id == message.id))
    _mark_processed(message, recording.message_id_header, recording.subject, recording.from_address,
                    classification, now)
    if stored is not None:
        return stored
    if not classification.results:
        return []
    rows = [_result_values(message, classification, result, now, recording.trust)
            for result in classification.results]
    return _stored(_insert_results(session, rows), rows)


def _insert_results(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert result rows; their ids in the order of `rows`.

    SQLite, which does not promise RETURNING's order, is asked for no order: SQLAlchemy would otherwise send
    one INSERT per row. Its rows take ids one above the largest in VALUES order, and the worker holds the
    write lock, so the ids sorted are in the order of `rows`. PostgreSQL takes one array per column
    (`processor.store.bulk`)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return sorted(connection.execute(_INSERT_RESULTS_ANY_ORDER, rows).scalars())
    return insert_returning_ids(connection, _RESULTS, rows)


def _stored(ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> list[StoredResult]:
    return [StoredResult(ResultFacts(
        id=result_id, outcome=row["outcome"], reason=row["reason"], at=_aware(row["happened_at"]),
        fax_number=row["fax_number"], recipient=row["recipient"], transaction_id=row["transaction_id"],
        original_message_id=row["original_message_id"], original_subject=row["original_subject"],
        submitted_at=_aware(row["submitted_at"])), row["kind"], row["event_key"])
        for result_id, row in zip(ids, rows, strict=True)]


def record_classification(
    session: Session, message: InboundMessage, *, message_id_header: str | None, subject: str | None,
    from_address: str | None, classification: Classification, trusted: bool | None = None,
) -> None:
    """Replace the mail's results with these (idempotent: reprocessing gives the same rows)."""
    now = datetime.now(UTC)
    session.execute(sa.delete(FaxResultRow).where(FaxResultRow.inbound_message_id == message.id))
    _mark_processed(message, message_id_header, subject, from_address, classification, now)
    session.add_all(FaxResultRow(**_result_values(message, classification, result, now, trusted))
                    for result in classification.results)


def _mark_processed(message: InboundMessage | MailRow, message_id_header: str | None, subject: str | None,
                    from_address: str | None, classification: Classification, now: datetime) -> None:
    message.message_id = fit(InboundMessage.message_id, message_id_header)
    message.subject = fit(InboundMessage.subject, subject)
    message.from_address = fit(InboundMessage.from_address, from_address)
    message.kind = str(classification.kind)
    message.detected_by = classification.detected_by
    message.status = MessageStatus.PROCESSED
    message.error = None
    message.processed_at = now


def record_failure(session: Session, message: InboundMessage | MailRow, status: str, error: str) -> None:
    """Mark a mail unparseable or in error; its raw bytes stay, its old results go."""
    session.execute(sa.delete(FaxResultRow).where(FaxResultRow.inbound_message_id == message.id))
    message.status = status
    message.error = fit(InboundMessage.error, error)
    message.kind = None
    message.detected_by = None
    message.processed_at = datetime.now(UTC)


def _result_values(
    message: MailRow | InboundMessage, classification: Classification, r: FaxResult, now: datetime,
    trusted: bool | None,
) -> dict[str, Any]:
    return dict(
        inbound_message_id=message.id,
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
        happened_at=r.occurred_at or message.received_at,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
