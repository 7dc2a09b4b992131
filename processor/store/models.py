"""SQLAlchemy models: the public SQL interface (tables `inbound_messages`, `inbound_raw`, `fax_results`).

Views (`failures`, `fax_status`, `number_health`, `daily_summary`, `mail_to_look_at`) are created by the Alembic
revisions, which are their only definition.

These models and the Alembic revisions are kept identical by a test (autogenerate must find nothing).
Times are stored in UTC: `timestamp with time zone` on PostgreSQL, ISO text on SQLite.
`info["max_chars"]` on a text column is the most characters faxbounce writes there (store/columns.py cuts
to it); it is not a database constraint, so changing it needs no migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum, nonmember, unique
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from processor.reasons import SubmissionState

__all__ = ["Base", "DeliveryState", "FaxMatchRow", "FaxResultRow", "FaxSubmissionRow", "InboundMessage", "InboundRaw",
           "JobLease", "MessageStatus", "NotifyOutboxRow", "NumberBlockRow", "NumberVerdictRow", "SubmissionState",
           "UTCDateTime"]

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both backends (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@unique
class MessageStatus(StrEnum):
    """Values of `inbound_messages.status`."""

    RECEIVED = "received"
    """Stored, not yet processed (the worker picks these up, also after a restart)."""
    PROCESSED = "processed"
    UNPARSEABLE = "unparseable"
    """The bytes could not be parsed as a mail at all; raw bytes kept, `error` says why."""
    ERROR = "error"
    """Parsed, but classification failed, crashed the worker, or took too long; `error` says why."""

    ALL = nonmember((RECEIVED, PROCESSED, UNPARSEABLE, ERROR))
    """The four words as plain strings, in this order (metrics list them)."""


def _one_of(column: str, values: Iterable[str]) -> str:
    """`status IN ('received', …)`: the CHECK constraint that keeps a column to its vocabulary."""
    return f"{column} IN {tuple(str(value) for value in values)!r}"


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


UNFINISHED = "status = 'received' AND attempts > 0"
"""The condition of `ix_inbound_messages_unfinished` (`processor.store.inbound`'s first claim names it)."""


class InboundMessage(Base):
    """Every mail accepted over SMTP (or ingested), raw, with its envelope: committed before the 250."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    mail_from: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    """Envelope sender (MAIL FROM); empty string for bounces (`<>`)."""
    rcpt_tos: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, info={"max_chars": 2000})
    """Envelope recipients (RCPT TO), a JSON array."""
    peer: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    """Client address `ip:port`, or `ingest:<path>` for backfilled mail."""
    helo: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    message_id: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    subject: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    from_address: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=MessageStatus.RECEIVED)
    kind: Mapped[str | None] = mapped_column(sa.String(32))
    detected_by: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    """The worker (`node/pid`) that holds or last held this mail's processing lease."""
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """While a worker processes the mail: until when no other worker may take it (NULL when not leased)."""
    processed_by: Mapped[str | None] = mapped_column(sa.String(128))
    """The node that recorded the outcome."""

    results: Mapped[list[FaxResultRow]] = relationship(
        back_populates="message", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint(_one_of("status", MessageStatus), name="status"),
        sa.Index(None, "received_at"),
        sa.Index(None, "status", "id"),
        # the mails being processed or whose attempt did not finish, which a claim looks for first (0010)
        sa.Index("ix_inbound_messages_unfinished", "id", sqlite_where=sa.text(UNFINISHED),
                 postgresql_where=sa.text(UNFINISHED)),
        sa.Index(None, "sha256", unique=True),
        sa.Index(None, "message_id"),
        sa.Index(None, "kind"),
    )


class InboundRaw(Base):
    """A mail's bytes, apart from its `inbound_messages` row: written once in the transaction that inserts
    the row, never updated, deleted by retention (no row: purged). The row's status changes (claim, lease,
    outcome) then never rewrite the bytes (SQLite rewrites a whole row on any UPDATE)."""

    __tablename__ = "inbound_raw"

    inbound_message_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("inbound_messages.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    """Last column: SQLite reads and writes a blob that ends its row without copying it twice."""


class JobLease(Base):
    """Singleton jobs (tracking sweep, retention, dispatchers): which worker runs each, until when.

    A holder renews its lease while it lives; a lease that runs out lets a worker on another node take over."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FaxResultRow(Base):
    """One result (one destination of one mail): what happened, why, and what to do."""

    __tablename__ = "fax_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbound_message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inbound_messages.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    detected_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    vendor: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    code: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 10000})
    vendor_message: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 10000})
    outcome: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    retryable: Mapped[bool | None] = mapped_column(sa.Boolean)
    fax_number: Mapped[str | None] = mapped_column(sa.String(32))
    fax_number_raw: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 200})
    recipient: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    transaction_id: Mapped[str | None] = mapped_column(sa.String(128))
    original_message_id: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    original_subject: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    pages: Mapped[int | None] = mapped_column(sa.Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    smtp_status: Mapped[str | None] = mapped_column(sa.String(16))
    smtp_reply: Mapped[str | None] = mapped_column(sa.String(8))
    action_ja: Mapped[str | None] = mapped_column(sa.Text)
    action_en: Mapped[str | None] = mapped_column(sa.Text)
    trusted: Mapped[bool | None] = mapped_column(sa.Boolean)
    """False when a vendor notification did not pass through a trusted relay or the vendor's hosts
    (possible phishing); None for kinds where no vendor is claimed (generic delivery reports) and for
    forwarded notices (a person's mail: the vendor's servers cannot be checked)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    forwarded: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
    """Read from a notice a person forwarded (inline or attached), not from the vendor's own mail (revision 0004)."""
    event_key: Mapped[str | None] = mapped_column(sa.String(255))
    """The fax event the row reports (`FaxResult.event_key`): rows with the same key are copies of one event
    (a forward and the original, one notice in two mailboxes), counted once by the views (revision 0004)."""
    happened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the result happened: `occurred_at`, else its mail's `received_at` (revision 0009). Written with every
    row; nullable only because SQLite adds a NOT NULL column only with a constant default."""

    message: Mapped[InboundMessage] = relationship(back_populates="results")

    __table_args__ = (
        sa.CheckConstraint("outcome IN ('delivered', 'failed', 'pending')", name="outcome"),
        sa.Index(None, "inbound_message_id"),
        sa.Index(None, "occurred_at"),
        sa.Index(None, "created_at"),
        sa.Index(None, "fax_number", "occurred_at"),
        # a number's latest delivery and failure, and its recent failures, without reading its history
        # (store/numbers.py; 0008 indexed occurred_at, which left undated results out, 0009)
        sa.Index(None, "fax_number", "outcome", "happened_at"),
        sa.Index(None, "reason", "occurred_at"),
        # a period's failures: `failures.failed_at` is `happened_at` (0012, replacing `(outcome, created_at)`)
        sa.Index(None, "outcome", "happened_at"),
        sa.Index(None, "transaction_id"),
        sa.Index(None, "original_message_id"),
        sa.Index(None, "event_key"),
    )


class FaxSubmissionRow(Base):
    """One destination of a fax submission mail (a BCC copy of a mail to `<number>@fax.tc`) and its state."""

    __tablename__ = "fax_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbound_message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inbound_messages.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    """The submission's Message-ID, as `<id@host>` (bounces return it)."""
    sender: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    return_path: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 998})
    subject: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    """As sent, options included."""
    subject_base: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 2000})
    """Without InterFAX's trailing options (`/b`, `/h …`, `/d …`): what results call the original subject."""
    recipient: Mapped[str] = mapped_column(sa.Text, nullable=False, info={"max_chars": 998})
    fax_number: Mapped[str | None] = mapped_column(sa.String(32))
    fax_number_raw: Mapped[str | None] = mapped_column(sa.Text, info={"max_chars": 200})
    found_in: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    """`to`, `cc`, `bcc` or `envelope`."""
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    """The Date header (never later than the copy's arrival), else when the copy arrived."""
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=SubmissionState.SUBMITTED)
    state_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    """The deciding result's reason, `no_result`, or NULL while `submitted`."""
    result_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fax_results.id", ondelete="SET NULL"))
    """The result that decided the state."""
    match_method: Mapped[str | None] = mapped_column(sa.String(16))
    match_confidence: Mapped[str | None] = mapped_column(sa.String(8))
    transaction_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The service's transaction id, once a result has told it."""
    note_ja: Mapped[str | None] = mapped_column(sa.Text)
    """Why the state is what it is when no result says so (likely causes of `no_result`)."""
    note_en: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        sa.CheckConstraint(_one_of("state", SubmissionState), name="state"),
        sa.Index(None, "inbound_message_id", "recipient", unique=True),
        sa.Index(None, "state", "submitted_at"),
        # held faxes past their deadline (the sweep), faxes that changed state in a period (the report) (0012)
        sa.Index(None, "state", "state_at"),
        sa.Index(None, "fax_number", "submitted_at"),
        sa.Index(None, "message_id"),
        sa.Index(None, "transaction_id"),
        sa.Index(None, "result_id"),
    )


class FaxMatchRow(Base):
    """A result tied to a submission destination, with how (`method`) and how surely (`confidence`)."""

    __tablename__ = "fax_matches"

    result_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fax_results.id", ondelete="CASCADE"), primary_key=True
    )
    submission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fax_submissions.id", ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    confidence: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (sa.Index(None, "submission_id"),)


class DeliveryState:
    """Values of `notify_outbox.state`."""

    PENDING = "pending"
    """Not yet delivered; the dispatcher tries it at `next_attempt_at`."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Never delivered within `delivery.give_up_after`; `faxbounce webhooks retry` puts it back."""

    ALL = (PENDING, DELIVERED, FAILED)


class NotifyOutboxRow(Base):
    """One delivery of one event to one webhook endpoint or one mail address (the transactional outbox).

    Written in the transaction that stores the result it tells of, so an event is never lost or invented;
    `event_id` is derived from the event itself, so a reprocessed mail enqueues nothing twice."""

    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    """The `webhook-id` header: the same for every attempt and every endpoint of one event."""
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    """`webhook` or `mail`."""
    target: Mapped[str] = mapped_column(sa.Text, nullable=False)
    """The endpoint URL or the mail address."""
    event_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    """The JSON body of a webhook, or the whole mail (RFC 5322 text)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(f"state IN {DeliveryState.ALL!r}", name="state"),
        sa.Index(None, "event_id", "channel", "target", unique=True),
        sa.Index(None, "state", "next_attempt_at"),
        sa.Index(None, "created_at"),
    )


class NumberBlockRow(Base):
    """A fax number an operator blocked by hand (`faxbounce numbers block`): its verdict is `stop`, always."""

    __tablename__ = "number_blocks"

    fax_number: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    note: Mapped[str | None] = mapped_column(sa.Text)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class NumberVerdictRow(Base):
    """The stop list's verdict per fax number, recomputed from the results whenever one arrives (and
    when failures age out), by the rules in `[numbers]`; read it through the view `number_stoplist`."""

    __tablename__ = "number_verdicts"

    fax_number: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    national: Mapped[str | None] = mapped_column(sa.Text)
    """The number as people write it (`03-5555-0101`)."""
    verdict: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        sa.CheckConstraint("verdict IN ('ok', 'check', 'stop')", name="verdict"),
        sa.Index(None, "verdict", "last_failure_at"),
    )
