"""The one module that joins the stages: raw bytes → ParsedMail → Classification → rows.

`classify_bytes` is pure (no database: `faxbounce classify`); `process_messages` runs it for a batch of stored
mails and records the outcomes in one transaction, so a crash half-way leaves them `received` for a retry.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from processor.config import ProcessingSettings, Settings, TrackingSettings
from processor.detect import classify, detectors_for
from processor.detect.trust import received_through_vendor
from processor.errors import ParseError
from processor.parse import ParsedMail, parse_mail
from processor.reasons import Kind
from processor.records import Classification
from processor.store.db import session_scope
from processor.store.models import InboundMessage, MessageStatus
from processor.store.notify import enqueue_events
from processor.store.results import claim_attempts, record_classification, record_failure
from processor.store.tracking import submissions_decided_by, track_classification

__all__ = ["ProcessOutcome", "ProcessingTimeout", "classify_bytes", "process_message", "process_messages", "trusted"]

#: Kinds that claim to come from a vendor, so whose Received chain is checked (phishing look-alikes exist).
VENDOR_KINDS = frozenset({Kind.INTERFAX_RESULT, Kind.INTERFAX_BOUNCE})

log = logging.getLogger(__name__)


class ProcessingTimeout(Exception):
    """A mail took longer than `processing.max_seconds_per_message`."""


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    message_id: int
    status: str
    kind: str | None
    results: int


def classify_bytes(raw: bytes, settings: ProcessingSettings | None = None, tracking: TrackingSettings | None = None,
                   envelope_recipients: tuple[str, ...] = ()) -> tuple[ParsedMail, Classification]:
    """Parse and classify one mail. Raises ParseError when the bytes are not a mail at all.

    `envelope_recipients` (RCPT TO of the stored copy) let a BCC copy of a fax submission be recognised."""
    settings = settings or ProcessingSettings()
    tracking = tracking or TrackingSettings()
    mail = parse_mail(raw)
    if envelope_recipients:
        mail = dataclasses.replace(mail, envelope_recipients=tuple(str(r) for r in envelope_recipients))
    detectors = detectors_for(tuple(tracking.fax_domains), tracking.number_pattern,
                              tuple(settings.satisfaxtion_senders))
    return mail, classify(mail, default_country=settings.default_country, detectors=detectors)


def trusted(mail: ParsedMail, classification: Classification, settings: Settings,
            peer: str | None = None) -> bool | None:
    """For vendor notifications: did the mail pass through the vendor's servers? None for other kinds."""
    if classification.kind not in VENDOR_KINDS:
        return None
    peer_ip = peer.rsplit(":", 1)[0].strip("[]") if peer and not peer.startswith("ingest:") else None
    return received_through_vendor(mail.metadata.received, settings.trust.vendor_hosts, settings.trust.relays,
                                   peer_ip)


def process_message(engine: Engine, message_id: int, full_settings: Settings) -> ProcessOutcome | None:
    """Classify one stored mail and replace its results. Returns None if the id does not exist."""
    outcomes = process_messages(engine, [message_id], full_settings)
    return outcomes[0] if outcomes else None


@dataclass(slots=True)
class _Verdict:
    """What processing concluded for one claimed mail, before it is written."""

    message_id: int
    status: str
    error: str | None = None
    mail: ParsedMail | None = None
    classification: Classification | None = None
    trust: bool | None = None


def process_messages(engine: Engine, message_ids: Sequence[int], full_settings: Settings,
                     before_write: Callable[[], None] | None = None) -> list[ProcessOutcome]:
    """Classify stored mails and replace their results: one transaction to claim them, one to record them.

    The claim (attempts + 1) is committed before the work starts, so a mail that kills the process is
    counted; the worker processes a mail that was claimed before on its own, so one poisonous mail cannot
    take its batch with it. Ids that do not exist are left out of the outcomes. `before_write` is called
    before the recording transaction (the worker uses it to let new mail be committed first).
    """
    settings = full_settings.processing
    claimed = [(m.id, m.attempts, m.raw, m.peer, m.rcpt_tos) for m in claim_attempts(engine, message_ids)]
    verdicts = []
    for message_id, attempts, raw, peer, rcpt_tos in claimed:
        if attempts > settings.max_attempts:
            verdicts.append(_Verdict(message_id, MessageStatus.ERROR,
                                     f"skipped after {attempts - 1} attempts that did not finish (crash or kill)"))
        elif raw is None:
            verdicts.append(_Verdict(message_id, MessageStatus.ERROR, "raw bytes no longer stored"))
        else:
            verdicts.append(_judge(message_id, raw, peer, rcpt_tos, full_settings))
    if before_write is not None:
        before_write()
    try:
        with session_scope(engine) as session:
            _one_recorder_at_a_time(session)
            for verdict in verdicts:
                _record(session, verdict, full_settings)
    except SQLAlchemyError:
        if len(verdicts) == 1:
            raise
        # One row the database refused must not keep the others from being recorded: one at a time.
        log.warning("recording a batch of %d failed; recording one by one", len(verdicts))
        for verdict in verdicts:
            with session_scope(engine) as session:
                _one_recorder_at_a_time(session)
                _record(session, verdict, full_settings)
    return [_logged(verdict) for verdict in verdicts]


#: Any constant: the key of the PostgreSQL advisory lock that orders the workers' record transactions.
_RECORD_LOCK = 0x6661786200  # "faxb"


def _one_recorder_at_a_time(session: Session) -> None:
    """Several workers classify in parallel but must record one at a time: a submission and its result
    recorded in two overlapping transactions would each miss the other, and never be matched. SQLite
    already serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RECORD_LOCK})


def _judge(message_id: int, raw: bytes, peer: str | None, rcpt_tos: tuple[str, ...],
           full_settings: Settings) -> _Verdict:
    settings = full_settings.processing
    try:
        with _time_limit(settings.max_seconds_per_message):
            mail, classification = classify_bytes(raw, settings, full_settings.tracking, rcpt_tos)
            trust = trusted(mail, classification, full_settings, peer)
    except ParseError as exc:
        log.warning("message %s unparseable: %s", message_id, exc, extra={"mail_id": message_id})
        return _Verdict(message_id, MessageStatus.UNPARSEABLE, str(exc))
    except ProcessingTimeout:
        log.warning("message %s skipped: over %ss", message_id, settings.max_seconds_per_message,
                    extra={"mail_id": message_id})
        return _Verdict(message_id, MessageStatus.ERROR,
                        f"processing took longer than {settings.max_seconds_per_message}s")
    except Exception as exc:
        log.exception("message %s failed in classification", message_id, extra={"mail_id": message_id})
        return _Verdict(message_id, MessageStatus.ERROR, f"{type(exc).__name__}: {exc}")
    return _Verdict(message_id, MessageStatus.PROCESSED, None, mail, classification, trust)


def _record(session: Session, verdict: _Verdict, full_settings: Settings) -> None:
    message = session.get_one(InboundMessage, verdict.message_id)
    if verdict.classification is None or verdict.mail is None:
        record_failure(session, message, verdict.status, verdict.error or "")
        return
    mail, classification = verdict.mail, verdict.classification
    first_time = message.processed_at is None
    affected = [] if first_time else submissions_decided_by(session, verdict.message_id)
    record_classification(
        session, message, message_id_header=mail.message_id, subject=mail.subject,
        from_address=mail.from_address or None, classification=classification, trusted=verdict.trust,
    )
    # Submissions and their correlation with results, in the same transaction (issue #5).
    track_classification(session, message, classification, full_settings.tracking, affected, first_time=first_time)
    # The stop list and the outbox's events, in the same transaction again: never lost, never invented (#13).
    enqueue_events(session, message, full_settings)


def _logged(verdict: _Verdict) -> ProcessOutcome:
    message_id, classification = verdict.message_id, verdict.classification
    if classification is None:
        return ProcessOutcome(message_id, verdict.status, None, 0)
    for result in classification.results:
        if result.reason in ("unknown", "undefined"):
            log.warning("message %s: %s result with unknown code %r", message_id, classification.kind, result.code,
                        extra={"mail_id": message_id})
    if verdict.trust is False:
        log.warning("message %s claims to be %s but came through no trusted relay or vendor host",
                    message_id, classification.kind, extra={"mail_id": message_id})
    log.info("message %s processed: %s, %d result(s)", message_id, classification.kind, len(classification.results),
             extra={"mail_id": message_id})
    return ProcessOutcome(message_id, MessageStatus.PROCESSED, str(classification.kind), len(classification.results))


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM-based limit; only in the main thread of a process (the worker), else no limit."""
    try:
        previous = signal.signal(signal.SIGALRM, _raise_timeout)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raise_timeout(_signum: int, _frame: object) -> None:
    raise ProcessingTimeout
