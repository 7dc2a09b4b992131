"""Generic delivery reports: RFC 3464 `multipart/report` DSNs and the MTAs' own bounce texts.

Recognised by a `message/delivery-status` part (or its `Final-Recipient:`/`Status:` fields quoted in the
body), else, for mails that look like bounces (sender `MAILER-DAEMON`/`postmaster`, a bounce Subject,
`X-Failed-Recipients`), by the free-text reader in `bounce_text`, or Amazon SES's JSON by `ses`. Abuse
feedback reports (ARF) and RFC 3834 auto-replies are not bounces and are left alone. The reason words are
Sisimai's, decided in `reason_match`, so that a person who knows Sisimai reads our rows the same way.
Whether a failure is worth another try is `processor.reasons.retryable_for`, plus RFC 3463's rule that a
class 4 status is transient.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime

from processor import regex_cache
from processor.catalogues import reason_action
from processor.detect.base import Detection
from processor.detect.mailbounce import DeliveryReportDetector, bounce_text, rhost, ses
from processor.detect.mailbounce.codes import find_command, find_reply, find_status, prefer_status
from processor.detect.mailbounce.delivery import Delivery
from processor.detect.mailbounce.reason_match import decide_reason, pseudo_status
from processor.parse import ParsedMail
from processor.reasons import Outcome, retryable_for
from processor.records import FaxResult

__all__ = ["is_auto_reply", "is_feedback_report", "read_reports"]

_STATUS_FIELD_TYPES = ("message/delivery-status", "message/global-delivery-status")
_FIELD_RE = regex_cache.compile(
    r"^(final-recipient|original-recipient|x-actual-recipient|action|status|diagnostic-code|remote-mta|"
    r"last-attempt-date|arrival-date|x-original-message-id|reporting-mta)\s*:\s*(.*)$",
    re.IGNORECASE,
)
_CONTINUATION_RE = regex_cache.compile(r"^[ \t]+\S")
_BLANK_RE = regex_cache.compile(r"\n[ \t]*\n")
_RECIPIENT_FIELDS = ("final-recipient", "x-actual-recipient", "original-recipient")
# Begins where a run of the local part's characters begins: linear in the text (see codes.FIND_ADDRESS_PATTERN).
_ADDRESS_RE = regex_cache.compile(r"(?<![^\s<>\"'(),;:\[\]])[^\s<>\"'(),;:\[\]]+@[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]")
_AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-vacation", "x-mail-autoreply")
_CONTINUED_RE = regex_cache.compile(r"^([245]\d\d)-")
_IN_REPLY_RE = regex_cache.compile(r"\(in reply to [^()]{1,40} command\)\s*$", re.IGNORECASE)
_MAX_MESSAGE = 1000


def read_reports(mail: ParsedMail) -> Detection | None:
    """`DeliveryReportDetector.detect`: the mail's delivery reports, or None when it is none."""
    if is_feedback_report(mail):
        return None
    groups = _status_groups(mail)
    # A recipient `Action: relayed` or `expanded` was handed on: no outcome yet, no result.
    deliveries = [d for d in groups if d.action not in ("relayed", "expanded")]
    if groups and not deliveries:
        return None  # every recipient relayed or expanded (a success DSN): nothing failed, nothing to read
    from_text = _read_text(mail, deliveries)
    if deliveries:
        _fill_from_text(deliveries, from_text)
    elif is_auto_reply(mail) and not bounce_text.is_bounce_sender(mail):
        return None
    else:
        deliveries = from_text
    if not deliveries:
        return None
    message_id, subject = _original(mail)
    received = rhost.received_host(mail.header_all("received"))
    for d in deliveries:
        d.local_host = d.local_host or received
    return Detection.of(_result(d, message_id, subject) for d in deliveries)


def _read_text(mail: ParsedMail, deliveries: list[Delivery]) -> list[Delivery]:
    """The human-readable side: an SES notification, else the bounce text when the mail looks like one."""
    if notification := ses.notification_text(mail):
        return ses.read_notification(notification)
    if deliveries or bounce_text.looks_like_bounce(mail):
        return bounce_text.read_bounce_text(mail)
    return []


def is_feedback_report(mail: ParsedMail) -> bool:
    """ARF (RFC 5965) abuse reports: `multipart/report; report-type=feedback-report`."""
    # the stdlib finds the parameter by its lower-cased name: no `report-type` in the header, no parameter parse
    if mail.content_type == "multipart/report" and "report-type" in str(
            mail.message.get("content-type", "")).lower():
        report_type = str(mail.message.get_param("report-type") or "").lower()
        if report_type == "feedback-report":
            return True
    return any(p.content_type == "message/feedback-report" for p in mail.parts)


def is_auto_reply(mail: ParsedMail) -> bool:
    """RFC 3834 auto-replies (vacation notices) and their common non-standard markers."""
    submitted = (mail.header("auto-submitted") or "").strip().lower()
    if submitted.startswith("auto-replied"):
        return True
    if any(mail.header(name) for name in _AUTO_REPLY_HEADERS):
        return True
    precedence = (mail.header("precedence") or "").strip().lower()
    return precedence == "auto_reply"


def _status_groups(mail: ParsedMail) -> list[Delivery]:
    """Every recipient group of the RFC 3464 report(s) in the mail, in order."""
    texts = [p.text for p in mail.parts if p.content_type in _STATUS_FIELD_TYPES and p.text]
    if not texts:
        bodies = [p.text for p in mail.parts if p.content_type.startswith("text/") and p.text]
        bodies = bodies or [bounce_text.body_text(mail)]
        texts = [t for t in bodies if "final-recipient:" in t.lower() and "status:" in t.lower()][:1]
    deliveries: list[Delivery] = []
    for text in texts:
        deliveries.extend(_read_fields(text))
    return deliveries


def _read_fields(text: str) -> list[Delivery]:
    """The per-recipient groups of one delivery-status text (fields may be folded, groups may run together)."""
    deliveries: list[Delivery] = []
    arrival = reporting = ""
    for block in _BLANK_RE.split(text):
        group: dict[str, str] = {}
        groups = [group]
        last = ""
        for line in block.split("\n"):
            if last and _CONTINUATION_RE.match(line):
                group[last] += " " + line.strip()
                continue
            match = _FIELD_RE.match(line.strip())
            if not match:
                last = ""
                continue
            last = match.group(1).lower()
            if last in group and last in ("final-recipient", "original-recipient"):
                group = {}
                groups.append(group)
            group.setdefault(last, match.group(2).strip())
        for fields in groups:
            arrival = fields.get("arrival-date", arrival)
            reporting = fields.get("reporting-mta", reporting)
            recipient = next((a for a in (_address(fields.get(k, "")) for k in _RECIPIENT_FIELDS) if a), "")
            if recipient:
                deliveries.append(_delivery(recipient, fields, arrival, reporting))
    return deliveries


def _delivery(recipient: str, fields: dict[str, str], arrival: str, reporting: str) -> Delivery:
    kind, _, rest = fields.get("diagnostic-code", "").partition(";")
    diagnostic_type, diagnosis = (kind.strip().upper(), rest.strip()) if rest else ("", kind.strip())
    action = fields.get("action", "").split()
    return Delivery(
        recipient=recipient,
        action=action[0].lower() if action else "",
        status=find_status(fields.get("status", "")),
        diagnosis=diagnosis,
        diagnostic_type=diagnostic_type,
        date=fields.get("last-attempt-date") or arrival,
        remote_host=_mta_name(fields.get("remote-mta", "")),
        local_host=_mta_name(reporting),
    )


def _mta_name(value: str) -> str:
    """`dns; mx.example.jp` -> `mx.example.jp` (an MTA-name field names a host when its type is DNS)."""
    kind, _, name = value.partition(";")
    if not name:
        name = kind
    elif kind.strip().lower() != "dns":
        return ""
    words = name.split()  # `dns;mx.example.jp (TCP|192.0.2.1|25) (au mail)`: the host is the first word
    return words[0].strip("<>[]").rstrip(".").lower() if words else ""


def _address(value: str) -> str:
    _kind, _, rest = value.partition(";")
    found = _ADDRESS_RE.search(rest or value)
    return found.group(0).strip(".").lower() if found else ""


def _fill_from_text(deliveries: list[Delivery], from_text: list[Delivery]) -> None:
    """Reports without a Diagnostic-Code often say it in the human part: borrow it, recipient by recipient."""
    by_recipient = {d.recipient: d for d in from_text}
    for d in deliveries:
        other = by_recipient.get(d.recipient) or (from_text[0] if len(from_text) == 1 and len(deliveries) == 1
                                                  else None)
        if other is None:
            continue
        if not d.diagnosis:
            d.diagnosis = other.diagnosis
        else:
            d.diagnosis = _whole_reply(d.diagnosis, other.diagnosis)
            stage = _IN_REPLY_RE.search(other.diagnosis)
            if stage and d.diagnosis in other.diagnosis and stage.group(0) not in d.diagnosis:
                # Postfix's text adds `(in reply to MAIL FROM command)` to the reply its Diagnostic-Code quotes
                d.diagnosis = f"{d.diagnosis} {stage.group(0)}"
        if not d.command:
            d.command = other.command or find_command(other.diagnosis)
        if not d.reason:
            d.reason = other.reason
        if not d.pseudo:
            d.pseudo = other.pseudo


def _whole_reply(first: str, text: str) -> str:
    """sendmail keeps only the first line of a multi-line reply in Diagnostic-Code (`550-5.7.1 ...`, the `-`
    says more lines follow, RFC 5321 4.2.1); its transcript has them all, up to `<<< 550 5.7.1 ...`."""
    continued = _CONTINUED_RE.match(first)
    quoted = text.find(f"<<< {first}")  # the transcript's copy, not the `(reason: 550-...)` summary line
    start = quoted + 4 if quoted >= 0 else text.find(first)
    if continued is None or start < 0:
        return first
    # re.compile, not regex_cache: the pattern holds the mail's own reply code, which no cache should keep
    last = re.compile(rf"(?:<<< )?{continued.group(1)} \S.*?(?= (?:<<< |>>> )?\d{{3}}[ -]|$)").search(
        text, start + len(first))
    return text[start:last.end()].replace("<<< ", "") if last else first


def _finish(d: Delivery) -> tuple[str, str, str]:
    """(status, reply code, reason) for one recipient, after Sisimai's order of preference."""
    diagnosis = d.diagnosis
    in_text = find_status(diagnosis)
    reply = d.reply or find_reply(diagnosis)
    if reply and f"{reply}-" in diagnosis:
        # `550-5.7.1 ... 550-5.7.1 ... 550 5.7.1 ...`: one reply over several lines; read it as one sentence
        for prefix in (f"{reply}-{in_text} ", f"{reply} {in_text} ", f"{reply}-"):
            diagnosis = diagnosis.replace(prefix, "")
        diagnosis = f"{reply} {in_text} {diagnosis}".strip()
        d.diagnosis = " ".join(diagnosis.split())  # white space runs as one space (`\s+`), in C
    if not d.reason:
        bounce_text.apply_vendor_reason(d)
    d.remote_host = d.remote_host or rhost.host_named_in(d.diagnosis)
    status = prefer_status(d.status, in_text, reply)
    d.status = status
    if not d.reply:
        d.reply = reply
    if not d.command:
        d.command = find_command(diagnosis)
    reason = decide_reason(d)
    if not status:
        # Sisimai's order: the MTA's own wording may fix the pseudo status before the reason is final
        temporary = _is_temporary(reply, diagnosis)
        if d.pseudo == "onhold":
            status = pseudo_status("onhold", temporary)
        else:
            status = pseudo_status(reason, temporary or d.pseudo == "temporary")
    if reply and status and reply[0] != status[0]:
        reply = find_reply(diagnosis, status[0])
    return status, reply, reason


def _is_temporary(reply: str, diagnosis: str) -> bool:
    """A 4xx code, or words such as "temporary failure" (Sisimai's `failure.IsTemporary`)."""
    text = f"{reply} {diagnosis}"
    code = find_status(text) or find_reply(text)
    lowered = text.lower()
    return code.startswith("4") or " temporar" in lowered or " persistent" in lowered


def _result(d: Delivery, message_id: str | None, subject: str | None) -> FaxResult:
    status, reply, reason = _finish(d)
    delivered = reason == "delivered"
    # `Action: delayed` (RFC 3464; Exim's "not yet been delivered"): a warning, the MTA keeps trying. No failure
    # yet: a fax still queued, listed among faxes to resend, would be sent twice. The reason stays Sisimai's.
    outcome = Outcome.DELIVERED if delivered else Outcome.PENDING if d.action == "delayed" else Outcome.FAILED
    retryable = retryable_for(reason, outcome)
    if retryable is False and status.startswith("4") and outcome is Outcome.FAILED:
        retryable = True  # RFC 3463 class 4: a persistent transient failure, by definition worth another try
    action_ja, action_en = reason_action("mail", reason)
    message = " ".join(d.diagnosis.split())[:_MAX_MESSAGE] or None
    return FaxResult(
        vendor="mail",
        outcome=outcome,
        reason=reason,
        retryable=retryable,
        detected_by=DeliveryReportDetector.name,
        code=status or None,
        vendor_message=message,
        recipient=d.recipient,
        original_message_id=message_id,
        original_subject=subject,
        occurred_at=_date(d.date),
        smtp_status=status or None,
        smtp_reply=reply or None,
        action_ja=action_ja or None,
        action_en=action_en or None,
    )


def _original(mail: ParsedMail) -> tuple[str | None, str | None]:
    """Message-ID and Subject of the returned original: the embedded part, else headers quoted in the text."""
    for embedded in mail.embedded:
        message_id, subject = embedded.header("message-id"), embedded.header_as_written("subject")
        if message_id or subject:
            return (message_id.strip() if message_id else None), subject
    return bounce_text.quoted_original(mail)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value.split(";")[-1].strip())
    except (TypeError, ValueError, IndexError):
        return None
