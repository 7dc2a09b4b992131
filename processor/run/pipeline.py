"""The one module that joins the stages: a claimed mail → ParsedMail → Classification → rows.

`Pipeline` judges a batch of mails taken from the work queue (parse, classify, trust: `processor.run.judge`)
and records their outcomes in one transaction; a crash half-way leaves them `received`, leased to a dead
worker until the lease runs out, for another attempt.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

# `faxbounce classify` loads the delivery-report readers on its first report (start-up time); a worker loads them
# now, so that a bad shipped table stops it when it starts, not on the first report it reads.
import processor.detect.mailbounce.detector  # noqa: F401
from processor.config import Settings
from processor.detect.subjects import normalize_message_id
from processor.errors import ParseError
from processor.reasons import Kind
from processor.run.giveway import GiveWay
from processor.run.judge import classify_bytes, trusted
from processor.store.db import session_scope
from processor.store.inbound import QueuedMail, WorkQueue
from processor.store.locks import lock_keys
from processor.store.models import MessageStatus
from processor.store.results import Recording, record_outcomes

__all__ = ["Pipeline", "ProcessOutcome", "ProcessingTimeout", "classify_bytes", "process_message", "trusted"]

log = logging.getLogger(__name__)


class ProcessingTimeout(Exception):
    """A mail took longer than `processing.max_seconds_per_message`."""


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    message_id: int
    status: str
    kind: str | None
    results: int


class Pipeline:
    """Judges claimed mails one by one, then records a batch's outcomes in one transaction (one transaction per
    mail while SQLite's give-way says the SMTP side is active).

    A batch is recorded only by the worker that still holds its lease (`record_outcomes` checks), so a
    mail whose lease ran out and was taken over is recorded once. Recording serialises only with other
    recorders of the same fax numbers or Message-IDs (`lock_keys`)."""

    def __init__(self, engine: Engine, settings: Settings, queue: WorkQueue, node: str,
                 give_way: GiveWay | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.queue = queue
        self.node = node
        self.give_way = give_way

    def run(self, mails: Sequence[QueuedMail]) -> list[ProcessOutcome]:
        return self.run_and_claim(mails, 0)[0]

    def run_and_claim(self, mails: Sequence[QueuedMail],
                      next_batch: int) -> tuple[list[ProcessOutcome], list[QueuedMail]]:
        """Judge and record these mails, and claim the next `next_batch` (0: none) in the transaction that
        records them: one write transaction a batch, where a claim of its own was a second one, which on
        SQLite waits its turn for the write lock with the SMTP side's commits."""
        started = time.monotonic()
        recordings = []
        for index, mail in enumerate(mails):
            if time.monotonic() - started > self.queue.lease.total_seconds() / 2:
                self.queue.extend(mails[index:])  # a slow batch must not lose its lease half-way
                started = time.monotonic()
            recordings.append(self._judge(mail))
        kept: set[int] = set()
        claimed: list[QueuedMail] = []
        done = 0
        while done < len(recordings):
            # SQLite's give-way: while the SMTP side is active, one mail per transaction (a short hold of the one
            # write lock), the batch judged already; the last transaction claims the next batch for all of them.
            part = recordings[done:done + self.give_way.batch_size(len(recordings))] if self.give_way else recordings
            done += len(part)
            if self.give_way is not None:
                self.give_way.wait_for_new_mail()
            try:
                part_kept, claimed = self._record_part(part, next_batch if done == len(recordings) else 0)
            except SQLAlchemyError:
                # The mails after this part were judged and are not to blame: their attempt is not counted, so
                # they are taken again as a batch, not one at a time as mails whose attempt did not finish.
                with suppress(SQLAlchemyError):
                    self.queue.hand_back([recording.mail for recording in recordings[done:]])
                raise
            kept |= part_kept
        return [_logged(recording) for recording in recordings if recording.mail.id in kept], claimed

    def _record_part(self, recordings: Sequence[Recording],
                     next_batch: int) -> tuple[set[int], list[QueuedMail]]:
        try:
            return self._record(recordings, next_batch)
        except SQLAlchemyError:
            if len(recordings) == 1:
                raise
            # One row the database refused must not keep the others from being recorded: one at a time.
            log.warning("recording a batch of %d failed; recording one by one", len(recordings))
            kept = {mail_id for recording in recordings for mail_id in self._record([recording], 0)[0]}
            return kept, self.queue.claim(next_batch) if next_batch else []

    def _record(self, recordings: Sequence[Recording], next_batch: int) -> tuple[set[int], list[QueuedMail]]:
        with session_scope(self.engine) as session:
            lock_keys(session, (key for recording in recordings for key in _tracking_keys(recording)))
            kept = record_outcomes(session, recordings, self.queue.worker, self.node, self.settings)
            return kept, self.queue.claim(next_batch, session.connection()) if next_batch else []

    def _judge(self, mail: QueuedMail) -> Recording:
        settings = self.settings.processing
        if mail.attempt > settings.max_attempts:
            return Recording(mail, MessageStatus.ERROR,
                             f"skipped after {mail.attempt - 1} attempts that did not finish (crash or kill)")
        raw = self.queue.raw(mail)
        if raw is None:
            return Recording(mail, MessageStatus.ERROR, "raw bytes no longer stored")
        extra = {"mail_id": mail.id}
        try:
            with _time_limit(settings.max_seconds_per_message):
                parsed, classification = classify_bytes(raw, settings, self.settings.tracking,
                                                        mail.envelope.rcpt_tos)
                trust = trusted(parsed, classification, self.settings, mail.envelope.peer)
        except ParseError as exc:
            log.warning("message %s unparseable: %s", mail.id, exc, extra=extra)
            return Recording(mail, MessageStatus.UNPARSEABLE, str(exc))
        except ProcessingTimeout:
            log.warning("message %s skipped: over %ss", mail.id, settings.max_seconds_per_message, extra=extra)
            limit = settings.max_seconds_per_message
            return Recording(mail, MessageStatus.ERROR, f"processing took longer than {limit}s")
        except Exception as exc:
            log.exception("message %s failed in classification", mail.id, extra=extra)
            return Recording(mail, MessageStatus.ERROR, f"{type(exc).__name__}: {exc}")
        return Recording(mail, MessageStatus.PROCESSED, None, classification, trust,
                         message_id_header=parsed.message_id, subject=parsed.subject,
                         from_address=parsed.from_address or None)


def _tracking_keys(recording: Recording) -> Iterator[str]:
    """What a recording may correlate by: its fax numbers and Message-IDs (see processor.store.locks)."""
    classification = recording.classification
    if classification is None:
        return
    if classification.submission is not None:
        yield from (f"n:{d.fax_number}" for d in classification.submission.destinations if d.fax_number)
        if (message_id := normalize_message_id(classification.submission.message_id)) is not None:
            yield f"m:{message_id}"
    for result in classification.results:
        if result.fax_number:
            yield f"n:{result.fax_number}"
        if (message_id := normalize_message_id(result.original_message_id)) is not None:
            yield f"m:{message_id}"


def process_message(engine: Engine, message_id: int, settings: Settings,
                    worker: str | None = None) -> ProcessOutcome | None:
    """Classify one stored mail now, whatever its status, and replace its results (`faxbounce reprocess`,
    tests). None if the id does not exist or another worker holds it. The default holder, `cli/<pid>`, keeps
    two reprocess runs from recording each other's mails."""
    worker = worker or f"cli/{os.getpid()}"
    queue = WorkQueue(engine, worker, lease_seconds=max(60.0, settings.processing.max_seconds_per_message * 2))
    claimed = queue.claim_ids([message_id])
    if not claimed:
        return None
    outcomes = Pipeline(engine, settings, queue, node=worker.split("/", 1)[0]).run(claimed)
    return outcomes[0] if outcomes else None


def _logged(recording: Recording) -> ProcessOutcome:
    message_id, classification = recording.mail.id, recording.classification
    if classification is None:
        return ProcessOutcome(message_id, recording.status, None, 0)
    extra = {"mail_id": message_id}
    unknown = [result.code for result in classification.results if result.reason in ("unknown", "undefined")]
    if unknown:  # one line per mail, however many of its results carry codes nobody knows
        log.warning("message %s: %s result(s) with unknown code(s) %s", message_id, classification.kind,
                    ", ".join(repr(code) for code in dict.fromkeys(unknown)), extra=extra)
    if classification.kind == Kind.UNRECOGNIZED:
        log.warning("message %s bears a fax service's marks (%s) but no result could be read from it: kept as "
                    "unrecognized; look at it (view mail_to_look_at, faxbounce report)", message_id,
                    ", ".join(classification.marks), extra=extra)
    if recording.trust is False:
        log.warning("message %s claims to be %s but came through no trusted relay or vendor host",
                    message_id, classification.kind, extra=extra)
    log.info("message %s processed: %s, %d result(s)", message_id, classification.kind, len(classification.results),
             extra=extra)
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
