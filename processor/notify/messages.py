"""Mails to people, the pure part: the words of the sender alert and of the daily digest, in ja or en.

Every text taken from received mail (subjects, vendor messages) goes through `display.printable`; the mails
are `Auto-Submitted: auto-generated` (RFC 3834) so that no auto-responder answers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from processor.notify.display import local_time, printable

__all__ = ["SenderAlert", "build_mail", "sender_alert_text"]


@dataclass(frozen=True, slots=True)
class SenderAlert:
    """What the mailbox that sent a fax is told when it failed."""

    national: str | None
    subject: str | None
    submitted_at: datetime | None
    failed_at: datetime
    reason: str
    code: str | None
    advice_ja: str | None
    advice_en: str | None


_ALERT = {
    "ja": ("FAX送信に失敗しました: {number}", [
        "次のFAXは届きませんでした。",
        "",
        "  送信先: {number}",
        "  件名:   {subject}",
        "  送信:   {submitted}",
        "  失敗:   {failed}",
        "  理由:   {reason}{code}",
        "",
        "対処: {advice}",
        "",
        "-- faxbounce (自動送信: このメールには返信しないでください)",
    ]),
    "en": ("Fax not delivered: {number}", [
        "The following fax was not delivered.",
        "",
        "  to:        {number}",
        "  subject:   {subject}",
        "  sent:      {submitted}",
        "  failed:    {failed}",
        "  reason:    {reason}{code}",
        "",
        "What to do: {advice}",
        "",
        "-- faxbounce (sent automatically: please do not reply)",
    ]),
}


def sender_alert_text(alert: SenderAlert, lang: str, timezone: str) -> tuple[str, str]:
    """(subject, body) of the mail to the submitting mailbox."""
    title, lines = _ALERT[lang]
    values = {
        "number": printable(alert.national or "-", keep_newlines=False),
        "subject": printable(alert.subject or "-", keep_newlines=False),
        "submitted": local_time(alert.submitted_at, timezone) + f" ({timezone})",
        "failed": local_time(alert.failed_at, timezone) + f" ({timezone})",
        "reason": alert.reason,
        "code": f" ({printable(alert.code, keep_newlines=False)})" if alert.code else "",
        "advice": printable((alert.advice_ja if lang == "ja" else alert.advice_en) or "-"),
    }
    return title.format(**values), "\n".join(lines).format(**values) + "\n"


def build_mail(sender: str, to: Sequence[str], subject: str, body: str, now: datetime) -> EmailMessage:
    """A plain-text UTF-8 mail that identifies itself as automatic."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(body, charset="utf-8", cte="base64")  # 7-bit safe: any relay takes it
    return message
