"""Frozen result records: what classification produces and what the store writes.

`FaxResult.to_json()` is the `classify --json` contract: keys are only ever added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from processor.reasons import Kind, Outcome

__all__ = ["EVENT_KEY_LENGTH", "Classification", "FaxDestination", "FaxResult", "FaxSubmission"]


@dataclass(frozen=True, slots=True)
class FaxResult:
    """One outcome for one destination (fax number or mail recipient) reported by one mail."""

    vendor: str
    """`interfax`, `satisfaxtion`, or `mail` for generic delivery reports."""
    outcome: Outcome
    reason: str
    retryable: bool | None
    detected_by: str
    code: str | None = None
    """Vendor code as written (`3912`, `4134`), the bounce line for fax.tc, or the RFC 3463 status for DSNs."""
    vendor_message: str | None = None
    """The vendor's own words: label after the code, the `*** … ***` line, or the diagnostic text."""
    fax_number: str | None = None
    """E.164 (`+81355550101`) when the destination is a fax number."""
    fax_number_raw: str | None = None
    recipient: str | None = None
    transaction_id: str | None = None
    original_message_id: str | None = None
    original_subject: str | None = None
    pages: int | None = None
    submitted_at: datetime | None = None
    occurred_at: datetime | None = None
    smtp_status: str | None = None
    """RFC 3463 status (`5.1.1`) for mail-level results."""
    smtp_reply: str | None = None
    """SMTP reply code (`550`) for mail-level results."""
    action_ja: str | None = None
    action_en: str | None = None
    forwarded: bool = False
    """Read from a notice that a person forwarded (inline or attached), not from the vendor's own mail."""

    @property
    def event_key(self) -> str | None:
        """The fax event this result reports, the same in every copy of the notice (a forward and the original,
        one notice delivered to two mailboxes), so that the event counts once.

        Vendor + transaction id + code (+ number); without a transaction id, number + code + submission time
        (or the original's Message-ID). None when the result names neither: it is then an event of its own.
        """
        code = (self.code or "")[:_KEY_PART]
        if self.transaction_id:
            return _key(self.vendor, "t", self.transaction_id, code, self.fax_number or "")
        if not self.fax_number:
            return None
        if self.submitted_at is not None:
            when = self.submitted_at.astimezone(UTC) if self.submitted_at.tzinfo else self.submitted_at
            return _key(self.vendor, "n", self.fax_number, code, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if self.original_message_id:
            return _key(self.vendor, "n", self.fax_number, code, self.original_message_id.strip().strip("<>"))
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "code": self.code,
            "vendor_message": self.vendor_message,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "retryable": self.retryable,
            "fax_number": self.fax_number,
            "fax_number_raw": self.fax_number_raw,
            "recipient": self.recipient,
            "transaction_id": self.transaction_id,
            "original_message_id": self.original_message_id,
            "original_subject": self.original_subject,
            "pages": self.pages,
            "submitted_at": _iso(self.submitted_at),
            "occurred_at": _iso(self.occurred_at),
            "smtp_status": self.smtp_status,
            "smtp_reply": self.smtp_reply,
            "action_ja": self.action_ja,
            "action_en": self.action_en,
            "detected_by": self.detected_by,
            "forwarded": self.forwarded,
            "event_key": self.event_key,
        }


_KEY_PART = 100
"""Longest piece of a key taken from the mail (codes of bounces are whole lines)."""
EVENT_KEY_LENGTH = 255
"""`fax_results.event_key` is varchar(255); a longer key is replaced by its digest."""


def _key(*parts: str) -> str:
    key = "|".join(part.replace("|", "/")[:_KEY_PART] for part in parts)
    if len(key) <= EVENT_KEY_LENGTH:
        return key
    import hashlib  # rarely needed: the import is 4 ms of a command's start-up

    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class FaxDestination:
    """One fax recipient of a submission mail (`0355550101@fax.tc`)."""

    recipient: str
    """The address as written, lower-cased (`03-5555-0101@fax.tc`)."""
    fax_number_raw: str
    """The number part of the address as written (`03-5555-0101`)."""
    fax_number: str | None = None
    """E.164, filled by `classify` with the configured default country."""
    source: str = "to"
    """Where the address was found: `to`, `cc`, `bcc` or `envelope` (RCPT TO of a BCC copy)."""

    def to_json(self) -> dict[str, Any]:
        return {"fax_number": self.fax_number, "fax_number_raw": self.fax_number_raw,
                "recipient": self.recipient, "source": self.source}


@dataclass(frozen=True, slots=True)
class FaxSubmission:
    """A mail sent to an e-mail-to-fax service: one fax per destination (a list send has several)."""

    destinations: tuple[FaxDestination, ...]
    message_id: str | None = None
    sender: str | None = None
    """From address, lower-cased."""
    return_path: str | None = None
    """Return-Path address (the service authenticates the sender by it, else by From)."""
    subject: str | None = None
    """Subject as sent, options included."""
    subject_base: str | None = None
    """Subject with the service's trailing options (`/b`, `/h text`, `/d 2026-11-20 10:00`, …) removed."""
    submitted_at: datetime | None = None
    """The mail's Date header."""

    def to_json(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "sender": self.sender, "return_path": self.return_path,
                "subject": self.subject, "subject_base": self.subject_base,
                "submitted_at": _iso(self.submitted_at)}


@dataclass(frozen=True, slots=True)
class Classification:
    """What one mail is, and the results it carries (none for `unrelated`)."""

    kind: Kind
    detected_by: str | None = None
    results: tuple[FaxResult, ...] = field(default_factory=tuple)
    submission: FaxSubmission | None = None
    """For `fax_submission` mails: the destinations and the headers that tie results to them."""
    marks: tuple[str, ...] = ()
    """For `unrecognized` mails: the vendor marks it bears (why it was not filed `unrelated`)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
