"""Amazon SES notifications (JSON, often inside an SNS envelope) sent to a mailbox instead of a web hook.

SES says in JSON what an MTA says in a report: `notificationType` Bounce (with each bounced recipient's
`action`, `status` and `diagnosticCode`), Delivery (with the `smtpResponse`) or Complaint. The JSON is
often line-wrapped by the mailer, or escaped inside the SNS `Message` string, so it is read with patterns,
not parsed as a whole. Complaints are abuse feedback, not bounces, and give nothing.
"""

from __future__ import annotations

from processor import regex_cache
from processor.detect.mailbounce.codes import ADDRESS_PATTERN, FIND_ADDRESS_PATTERN
from processor.detect.mailbounce.delivery import Delivery
from processor.parse import ParsedMail

__all__ = ["notification_text", "read_notification"]

_ADDR = ADDRESS_PATTERN
_ADDRESS_RE = regex_cache.compile(FIND_ADDRESS_PATTERN)
_TYPE_RE = regex_cache.compile(r'\{\s*"notificationType"\s*:\s*"(Bounce|Delivery|Complaint)"')
_BOUNCED_RE = regex_cache.compile(
    rf'"emailAddress"\s*:\s*"({_ADDR})"\s*,\s*"action"\s*:\s*"(\w+)"\s*,\s*"status"\s*:\s*"([\d.]+)"'
    r'\s*,\s*"diagnosticCode"\s*:\s*"([^"]*)"'
)
_RESPONSE_RE = regex_cache.compile(r'"smtpResponse"\s*:\s*"([^"]*)"')
_RECIPIENTS_RE = regex_cache.compile(r'"delivery"\s*:\s*\{[^}]*?"recipients"\s*:\s*\[([^\]]*)\]')
#: The notification type must show near the top; a longer look would only find quoted JSON.
_HEAD = 3000


def notification_text(mail: ParsedMail) -> str:
    """The JSON of an Amazon SES notification, unwrapped from its SNS envelope when it has one; else ''."""
    head = mail.text[:_HEAD]
    if "notificationType" not in head:
        return ""
    text = mail.text.replace('\\"', '"') if '\\"notificationType' in head else mail.text
    return text if _TYPE_RE.search(text[:_HEAD]) else ""


def read_notification(text: str) -> list[Delivery]:
    """One delivery per bounced or delivered recipient of a Bounce or Delivery notification."""
    kind = _TYPE_RE.search(text)
    text = text.replace("!\n ", "").replace("\n", "")
    if kind is None or kind.group(1) == "Complaint":
        return []
    if kind.group(1) == "Delivery":
        response = _RESPONSE_RE.search(text)
        recipients = _RECIPIENTS_RE.search(text)
        addresses = _ADDRESS_RE.findall(recipients.group(1)) if recipients else []
        diagnosis = response.group(1) if response else ""
        return [Delivery(recipient=a.lower(), action="delivered", diagnosis=diagnosis) for a in addresses]
    return [
        Delivery(recipient=m.group(1).lower(), action=m.group(2).lower(), status=m.group(3),
                 diagnosis=m.group(4).partition(";")[2].strip() or m.group(4))
        for m in _BOUNCED_RE.finditer(text)
    ]
