"""The outbox, the SQL part: events written with the results they tell of, and their deliveries.

`enqueue_events` runs inside the transaction that records a mail's results (`processor.run.pipeline._record`),
so an event exists exactly when its result does: a crash before the commit loses both (the mail is processed
again and gives the same event ids), a commit keeps both. The tracking sweep does the same for `fax.no_result`
(`enqueue_no_result`). One row per event and endpoint (or mail address): each has its own attempts.
Events older than `delivery.give_up_after` are not enqueued: a backfill or a `reprocess --all` of old mail
tells no one of old news.
"""

from __future__ import annotations

import email.policy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.config import Settings
from processor.notify.events import (
    FAX_DELIVERED,
    FAX_FAILED,
    FAX_NO_RESULT,
    FAX_UNRECOGNIZED,
    NUMBER_STOPPED,
    UNRECOGNIZED_KIND,
    event_id,
    wants,
    webhook_body,
)
from processor.notify.messages import SenderAlert, build_mail, sender_alert_text
from processor.notify.stoplist import Verdict
from processor.reasons import Outcome
from processor.records import FaxResult
from processor.store.mailrow import MailRow
from processor.store.models import (
    DeliveryState,
    FaxMatchRow,
    FaxResultRow,
    FaxSubmissionRow,
    InboundMessage,
    NotifyOutboxRow,
    NumberBlockRow,
    NumberVerdictRow,
)
from processor.store.numbers import VerdictChange, dialect_insert, fax_event_key, refresh_numbers

__all__ = [
    "Delivery",
    "Event",
    "begin_attempt",
    "delivery_counts",
    "due_deliveries",
    "enqueue",
    "enqueue_events",
    "enqueue_mail",
    "enqueue_no_result",
    "enqueue_number_changes",
    "finish_attempt",
    "has_event",
    "list_deliveries",
    "prune_delivered",
    "retry_deliveries",
    "tells_anyone",
]

WEBHOOK, MAIL = "webhook", "mail"


@dataclass(frozen=True, slots=True)
class Event:
    """An event before it is written: `key` says what it is about (its id is derived from it)."""

    type: str
    key: str
    at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event_id: str
    channel: str
    target: str
    event_type: str
    body: str
    created_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None


def enqueue_events(session: Session, message: InboundMessage | MailRow, settings: Settings,
                   now: datetime | None = None) -> int:
    """After a mail's results are recorded (and tied to submissions): refresh the stop list of their numbers
    and write the events they make (webhooks, sender alerts). Idempotent. Returns the rows written."""
    now = now or datetime.now(UTC)
    session.flush()
    results = list(session.scalars(sa.select(FaxResultRow).where(FaxResultRow.inbound_message_id == message.id)
                                   .order_by(FaxResultRow.id)))
    numbers = {r.fax_number for r in results if r.fax_number and r.kind != "dsn"}
    changes = refresh_numbers(session, numbers, settings.numbers, settings.processing.default_country, now)
    if not tells_anyone(settings):
        return 0  # nobody to tell: the stop list is all there is to keep (the common, cheap case)
    events: list[Event] = []
    received = _aware(message.received_at)
    if message.kind == UNRECOGNIZED_KIND:
        events.append(Event(FAX_UNRECOGNIZED, f"{FAX_UNRECOGNIZED}:{message.sha256}", received, {
            "mail_id": message.id, "subject": message.subject, "from": message.from_address,
            "message_id": message.message_id, "received_at": _iso(received)}))
    submissions = _submissions_of(session, [r.id for r in results])
    verdicts = _verdicts(session, numbers)
    alerts: list[tuple[str, str, SenderAlert]] = []
    for index, row in enumerate(results):
        if row.outcome not in (Outcome.FAILED, Outcome.DELIVERED):
            continue
        submission = submissions.get(row.id)
        if row.kind == "dsn" and submission is None:
            continue  # a report about an ordinary mailbox, not about a fax
        event_type = FAX_FAILED if row.outcome == Outcome.FAILED else FAX_DELIVERED
        at = _aware(row.occurred_at) or received
        fax_key = fax_event_key(row.id, row.fax_number, submission.id if submission else None, row.vendor,
                                row.transaction_id, row.original_message_id)
        if row.event_key:  # the fax event, the same in every copy of the notice (a forward, a second mailbox)
            fax_key = f"event:{row.event_key}"
        elif fax_key.startswith("result:"):  # result ids change when a mail is processed again; its place does not
            fax_key = f"mail:{message.sha256}:{index}"
        data = {**_result_json(row), "mail_id": message.id, "trusted": row.trusted, "forwarded": bool(row.forwarded),
                "state": submission.state if submission else None,
                "submission": _submission_json(submission), "number": verdicts.get(row.fax_number or "")}
        events.append(Event(event_type, f"{event_type}:{fax_key}", at, data))
        if event_type == FAX_FAILED and submission is not None and submission.sender:
            alerts.append((f"sender:{fax_key}", submission.sender, SenderAlert(
                national=_national(verdicts, row.fax_number) or row.fax_number_raw, subject=submission.subject_base,
                submitted_at=_aware(submission.submitted_at), failed_at=at, reason=row.reason, code=row.code,
                advice_ja=row.action_ja, advice_en=row.action_en)))
    written = enqueue(session, events, settings, now)
    written += enqueue_number_changes(session, changes, settings, now)
    if message.kind == "fax_submission":  # a copy that arrives after its timeout is `no_result` at once
        written += enqueue_no_result(session, list(session.scalars(
            sa.select(FaxSubmissionRow.id).where(FaxSubmissionRow.inbound_message_id == message.id))), settings, now)
    if settings.alerts.notify_sender and settings.outbound.relay:
        written += _enqueue_alerts(session, alerts, settings, now)
    return written


def tells_anyone(settings: Settings) -> bool:
    """Whether recording a result may write events: webhooks, or sender alerts with a relay to send them."""
    return bool(settings.webhooks) or bool(settings.alerts.notify_sender and settings.outbound.relay)


def enqueue_no_result(session: Session, submission_ids: Sequence[int], settings: Settings,
                      now: datetime | None = None) -> int:
    """`fax.no_result` for those of these submissions that are `no_result` now (the sweep's hook)."""
    if not submission_ids or not settings.webhooks:
        return 0
    now = now or datetime.now(UTC)
    rows = list(session.scalars(sa.select(FaxSubmissionRow).where(FaxSubmissionRow.id.in_(list(submission_ids)),
                                                                  FaxSubmissionRow.state == "no_result")))
    verdicts = _verdicts(session, {r.fax_number for r in rows if r.fax_number})
    events = [Event(FAX_NO_RESULT, f"{FAX_NO_RESULT}:submission:{row.id}", _aware(row.state_at), {
        "outcome": None, "reason": "no_result", "fax_number": row.fax_number, "fax_number_raw": row.fax_number_raw,
        "recipient": row.recipient, "transaction_id": row.transaction_id, "original_message_id": row.message_id,
        "original_subject": row.subject_base, "action_ja": row.note_ja, "action_en": row.note_en,
        "mail_id": row.inbound_message_id, "trusted": None, "forwarded": False, "state": row.state,
        "submission": _submission_json(row), "number": verdicts.get(row.fax_number or "")}) for row in rows]
    return enqueue(session, events, settings, now)


def enqueue_number_changes(session: Session, changes: Iterable[VerdictChange], settings: Settings,
                           now: datetime | None = None) -> int:
    """`number.stopped` for every number that has just become `stop`."""
    now = now or datetime.now(UTC)
    events = []
    for change in changes:
        verdict = change.after
        if verdict.verdict != Verdict.STOP or change.before == Verdict.STOP:
            continue
        since = verdict.last_failure_at if verdict.reason != "blocked" else now
        events.append(Event(NUMBER_STOPPED, f"{NUMBER_STOPPED}:{change.fax_number}:{_iso(since)}", now, {
            "fax_number": change.fax_number, "verdict": str(verdict.verdict), "reason": verdict.reason,
            "failures": verdict.failures, "last_failure_at": _iso(verdict.last_failure_at),
            "last_delivered_at": _iso(verdict.last_delivered_at), "blocked": verdict.reason == "blocked"}))
    return enqueue(session, events, settings, now)


def enqueue(session: Session, events: Iterable[Event], settings: Settings, now: datetime) -> int:
    """One outbox row per event and interested endpoint; an event already written is left as it is."""
    horizon = now - timedelta(seconds=settings.delivery.give_up_after)
    rows = [{"event_id": event_id(event.key), "channel": WEBHOOK, "target": endpoint.url, "event_type": event.type,
             "body": webhook_body(event.type, event.at, event.data)}
            for event in events if event.at >= horizon
            for endpoint in settings.webhooks if wants(endpoint, event.type)]
    return _insert(session, rows, now)


def _enqueue_alerts(session: Session, alerts: Sequence[tuple[str, str, SenderAlert]], settings: Settings,
                    now: datetime) -> int:
    horizon = now - timedelta(seconds=settings.delivery.give_up_after)
    rows = []
    for key, address, alert in alerts:
        if alert.failed_at < horizon:
            continue
        subject, body = sender_alert_text(alert, settings.alerts.lang, settings.display.timezone)
        mail = build_mail(settings.outbound.sender, [address], subject, body, now)
        rows.append({"event_id": event_id(key), "channel": MAIL, "target": address, "event_type": "sender_alert",
                     "body": mail.as_bytes(policy=email.policy.SMTP).decode("ascii")})
    return _insert(session, rows, now)


def enqueue_mail(session: Session, key: str, to: Sequence[str], event_type: str, mail_text: str,
                 now: datetime) -> int:
    """A mail to people through the outbox (the digest): once per key and address."""
    return _insert(session, [{"event_id": event_id(f"{key}:{address}"), "channel": MAIL, "target": address,
                              "event_type": event_type, "body": mail_text} for address in to], now)


def has_event(session: Session, event_id: str) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(NotifyOutboxRow)
                          .where(NotifyOutboxRow.event_id == event_id)) > 0


def _insert(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    if not rows:
        return 0
    written = 0
    for row in rows:
        statement = dialect_insert(session, NotifyOutboxRow.__table__).values(
            **row, created_at=now, state=DeliveryState.PENDING, attempts=0, next_attempt_at=now)
        inserted = session.execute(statement.on_conflict_do_nothing(index_elements=["event_id", "channel", "target"])
                                   .returning(NotifyOutboxRow.id)).first()
        written += inserted is not None  # rowcount is -1 on psycopg for INSERT … ON CONFLICT
    return written


# --- delivery ----------------------------------------------------------------------------------------------------


def due_deliveries(session: Session, now: datetime, limit: int = 100) -> list[Delivery]:
    rows = session.scalars(sa.select(NotifyOutboxRow)
                           .where(NotifyOutboxRow.state == DeliveryState.PENDING,
                                  NotifyOutboxRow.next_attempt_at <= now)
                           .order_by(NotifyOutboxRow.next_attempt_at, NotifyOutboxRow.id).limit(limit))
    return [_delivery(row) for row in rows]


def begin_attempt(session: Session, delivery_id: int, now: datetime, retry_at: datetime) -> None:
    """Count the attempt and book the next one before sending: a kill mid-send leaves it due again later."""
    session.execute(sa.update(NotifyOutboxRow).where(NotifyOutboxRow.id == delivery_id)
                    .values(attempts=NotifyOutboxRow.attempts + 1, last_attempt_at=now, next_attempt_at=retry_at))


def finish_attempt(session: Session, delivery_id: int, now: datetime, error: str | None, give_up: bool) -> str:
    """Record the outcome; returns the new state."""
    if error is None:
        values: dict[str, Any] = {"state": DeliveryState.DELIVERED, "delivered_at": now, "last_error": None}
    else:
        values = {"state": DeliveryState.FAILED if give_up else DeliveryState.PENDING, "last_error": error[:2000]}
    session.execute(sa.update(NotifyOutboxRow).where(NotifyOutboxRow.id == delivery_id).values(**values))
    return str(values["state"])


def list_deliveries(session: Session, state: str | None = None, limit: int = 100) -> list[Delivery]:
    query = sa.select(NotifyOutboxRow).order_by(NotifyOutboxRow.id.desc()).limit(limit)
    if state is not None:
        query = query.where(NotifyOutboxRow.state == state)
    return [_delivery(row) for row in session.scalars(query)]


def retry_deliveries(session: Session, now: datetime, ids: Sequence[int] = (), failed: bool = False) -> int:
    """Make these deliveries (or every failed one) due now, with a fresh retry horizon."""
    query = sa.update(NotifyOutboxRow).values(state=DeliveryState.PENDING, next_attempt_at=now, created_at=now)
    if failed:
        query = query.where(NotifyOutboxRow.state == DeliveryState.FAILED)
    else:
        query = query.where(NotifyOutboxRow.id.in_(list(ids)), NotifyOutboxRow.state != DeliveryState.DELIVERED)
    return int(session.execute(query).rowcount or 0)


def prune_delivered(session: Session, before: datetime) -> int:
    """Drop delivered rows older than `before` (failed ones stay until retried or looked at). Safe for the
    deduplication: an event older than `delivery.give_up_after` is never enqueued again anyway."""
    return int(session.execute(sa.delete(NotifyOutboxRow).where(NotifyOutboxRow.state == DeliveryState.DELIVERED,
                                                                NotifyOutboxRow.delivered_at < before)).rowcount or 0)


def delivery_counts(session: Session) -> dict[tuple[str, str], int]:
    """(channel, state) → rows, for the metrics."""
    return {(str(c), str(s)): int(n) for c, s, n in session.execute(
        sa.select(NotifyOutboxRow.channel, NotifyOutboxRow.state, sa.func.count())
        .group_by(NotifyOutboxRow.channel, NotifyOutboxRow.state))}


# --- helpers -----------------------------------------------------------------------------------------------------


def _submissions_of(session: Session, result_ids: Sequence[int]) -> dict[int, FaxSubmissionRow]:
    """The submission each result is tied to (the earliest, when a bounce failed a whole list send)."""
    if not result_ids:
        return {}
    pairs = session.execute(sa.select(FaxMatchRow.result_id, FaxSubmissionRow)
                            .join(FaxSubmissionRow, FaxSubmissionRow.id == FaxMatchRow.submission_id)
                            .where(FaxMatchRow.result_id.in_(list(result_ids)))
                            .order_by(FaxMatchRow.result_id, FaxSubmissionRow.id)).all()
    found: dict[int, FaxSubmissionRow] = {}
    for result_id, submission in pairs:
        found.setdefault(result_id, submission)
    return found


def _verdicts(session: Session, numbers: Iterable[str | None]) -> dict[str, dict[str, Any]]:
    wanted = [n for n in numbers if n]
    if not wanted:
        return {}
    rows = session.scalars(sa.select(NumberVerdictRow).where(NumberVerdictRow.fax_number.in_(wanted)))
    blocked = set(session.scalars(sa.select(NumberBlockRow.fax_number).where(NumberBlockRow.fax_number.in_(wanted))))
    return {row.fax_number: {"verdict": row.verdict, "reason": row.reason, "failures": row.failures,
                             "national": row.national, "blocked": row.fax_number in blocked} for row in rows}


def _national(verdicts: dict[str, dict[str, Any]], number: str | None) -> str | None:
    return verdicts.get(number or "", {}).get("national")


def _result_json(row: FaxResultRow) -> dict[str, Any]:
    """The row under the keys of `classify --json` (the same function makes both)."""
    return FaxResult(
        vendor=row.vendor, outcome=Outcome(row.outcome), reason=row.reason, retryable=row.retryable,
        detected_by=row.detected_by, code=row.code, vendor_message=row.vendor_message, fax_number=row.fax_number,
        fax_number_raw=row.fax_number_raw, recipient=row.recipient, transaction_id=row.transaction_id,
        original_message_id=row.original_message_id, original_subject=row.original_subject, pages=row.pages,
        submitted_at=_aware(row.submitted_at), occurred_at=_aware(row.occurred_at), smtp_status=row.smtp_status,
        smtp_reply=row.smtp_reply, action_ja=row.action_ja, action_en=row.action_en,
        forwarded=bool(row.forwarded)).to_json()


def _submission_json(row: FaxSubmissionRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row.id, "mailbox": row.sender or row.return_path, "subject": row.subject,
            "submitted_at": _iso(_aware(row.submitted_at))}


def _delivery(row: NotifyOutboxRow) -> Delivery:
    return Delivery(row.id, row.event_id, row.channel, row.target, row.event_type, row.body, _aware(row.created_at),
                    row.state, row.attempts, _aware(row.next_attempt_at), _aware(row.last_attempt_at),
                    row.last_error, _aware(row.delivered_at))


def _aware(value: datetime | None) -> Any:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
