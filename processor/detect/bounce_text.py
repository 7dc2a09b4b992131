"""Non-standard bounce texts (qmail, Exim, sendmail, Exchange, Gmail, Yahoo, Japanese carriers, ...).

Most MTAs write the same three things in their own words: who failed (`<user@example.jp>:`,
`  user@example.jp`, `Could not be delivered to: <...>`), why (the remote server's reply), and where the
returned original starts (`--- Below this line is a copy of the message.`). So instead of one module per
MTA (Sisimai's Lhost), one line loop reads every text with two tables kept as data: `END_MARKERS` (where
the report ends and the original begins) and `RECIPIENT_PATTERNS` (how a failed address is introduced).
Reasons a vendor states in its own words, which the phrase tables would miss, are in `VENDOR_REASONS`.
"""

from __future__ import annotations

import re

from processor.detect._dsn_reasons import Delivery
from processor.parse import ParsedMail
from processor.parse.mail import parse_header_block

__all__ = ["is_bounce_sender", "looks_like_bounce", "quoted_original", "read_bounce_text"]

_ADDR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)+"
_ADDRESS_RE = re.compile(_ADDR)

#: Where the report stops and the returned original (or its headers) begins, one pattern per line family.
END_MARKERS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^-+ ?(?:this is a copy of|below this line is a copy|original message|the original message|"
        r"returned message|unsent message|message text follows|original mail|headers? of the original)",  # qmail,
        # Exim, Gmail, sendmail
        r"^\s*-+\s*(?:original message|message header|returned mail|undelivered message)",  # Yahoo, mail.ru
        r"^(?:message headers follow|original message headers?|the original message was|"
        r"original message follows|--- original message)",  # DragonFly, Domino, X-series
        r"^\s*-+ ?The header of the original message is following",  # Biglobe
        r"^content-type: (?:message/rfc822|text/rfc822-headers)",  # MIME left in the text
        r"^(?:received|return-path|x-original-to|delivered-to): ",  # headers quoted without a marker
    )
)
#: How a failed recipient is introduced; group 1 is the address (first match on a line wins).
RECIPIENT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^\s*<({_ADDR})>\s*:?\s*$",  # qmail, Yahoo, Postfix text: `<user@example.jp>:`
        rf"^\s*({_ADDR})\s*:?\s*$",  # Exim: `  user@example.jp`
        rf"^\s*<?({_ADDR})>?\s*(?:\(expanded from [^)]*\))?\s*:\s+\S",  # Postfix text: `<addr>: host ... said`
        rf"^\s*<?({_ADDR})>?\s+on\s+\w{{3}},",  # Exchange 2003: `user@example.jp on Thu, 29 Apr ...`
        rf"^\s*({_ADDR})\s+(?:[<(\[]|SMTP error|\w+ \w+:|mailbox|user)",  # Exim variants, Notes
        rf"(?:delivering your mail to|delivered to|deliver to|could not be delivered to|recipient|address(?:es)?|"
        rf"rcpt to|failed recipient|original-recipient|to)\s*:?\s*<({_ADDR})>",  # DragonFly, KDDI, sendmail
        rf"^\s*(?:to|recipient|address)\s*:\s*<?({_ADDR})>?",  # `To: user@...` in a report
        rf"^\s*\"?({_ADDR})\"?\s*$",
    )
)
#: The sender of a bounce, by local part or display name.
_BOUNCE_SENDER_RE = re.compile(
    r"mailer-daemon|postmaster|mail[ ._-]?delivery|mail ?administrator|mdaemon|mailer|"
    r"bounce|no-?reply@.*(?:dion|ezweb|au\.com)|root@", re.IGNORECASE
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|not delivered|delivery (?:status|fail|notification|report|problem|error|has failed)|"
    r"returned mail|return(?:ed)? to sender|failure notice|failed mail|mail delivery|mail system error|"
    r"non.?delivery|could not (?:be )?deliver|delivery failure|warning: could not send|delayed mail|"
    r"bounce|rejected|mail error|message status|nondeliverable|unzustellbar|"
    r"不達|エラー|配信|送信|届きません|返送",
    re.IGNORECASE,
)
#: Whole-line noise inside a report: greetings and boilerplate that are not the reason.
_SKIP_RE = re.compile(
    r"^\s*(?:$|this is the|this message was created|i'm sorry|i'm afraid|sorry, we were unable|"
    r"a message that you sent|for further assistance|if you do so|the mail system|hi\.|"
    r"---+\s*$|=+\s*$|_+\s*$)",
    re.IGNORECASE,
)
#: Reasons some vendors state only in their own words (the phrase tables would not find them).
VENDOR_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), reason)
    for p, reason in (
        (r"as their mailbox is full|mailbox is full|quota", "mailboxfull"),  # KDDI, au
        (r"message rejected by the domain filter|rejected by the domain filter", "filtered"),  # ezweb
        (r"the following recipient\(s\) could not be reached.*user unknown", "userunknown"),
        (r"retry timeout exceeded|message (?:has been )?(?:delayed|expired)|giving up", "expired"),
        (r"all relevant mx records point to non-existent hosts|unrouteable address", "hostunknown"),
    )
)


def is_bounce_sender(mail: ParsedMail) -> bool:
    """From a mailer daemon, postmaster or mail system rather than from a person."""
    return bool(_BOUNCE_SENDER_RE.search(mail.header("from") or "") or _BOUNCE_SENDER_RE.search(mail.from_address))


def looks_like_bounce(mail: ParsedMail) -> bool:
    """Cheap guard before the text reader: a bounce sender, a bounce Subject, or X-Failed-Recipients."""
    if mail.header("x-failed-recipients"):
        return True
    if mail.message.get_content_type() == "multipart/report":
        return True
    return is_bounce_sender(mail) or bool(_BOUNCE_SUBJECT_RE.search(mail.subject))


def read_bounce_text(mail: ParsedMail) -> list[Delivery]:
    """Failed recipients and their diagnostics from the human-readable part of a bounce."""
    report = _report_text(mail)
    excluded = _excluded_addresses(mail)
    deliveries: list[Delivery] = []
    current: Delivery | None = None
    lines: list[str] = []
    for line in report.split("\n"):
        address = _recipient_on(line)
        if address and address not in excluded:
            if current is not None:
                _close(current, lines)
            current = next((d for d in deliveries if d.recipient == address), None)
            if current is None:
                current = Delivery(recipient=address)
                deliveries.append(current)
            rest = line.split(address, 1)[-1].lstrip(">:. \t")
            lines = [rest] if rest else []
            continue
        if current is not None and not _SKIP_RE.match(line):
            lines.append(line.strip())
    if current is not None:
        _close(current, lines)
    if not deliveries:
        deliveries = _from_headers(mail, report, excluded)
    return deliveries


def quoted_original(mail: ParsedMail) -> tuple[str | None, str | None]:
    """Message-ID and Subject of an original that the bounce quotes as text after its end marker."""
    text = mail.plain_text or mail.text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if any(m.match(line) for m in END_MARKERS):
            block = "\n".join(x for x in lines[index + 1 :] if not any(m.match(x) for m in END_MARKERS[:4]))
            headers = parse_header_block(block.lstrip("\n"))
            message_id = (headers.get("message-id") or (None,))[0]
            subject = (headers.get("subject") or (None,))[0]
            if message_id or subject:
                return (message_id.strip() if message_id else None), subject
    return None, None


def _report_text(mail: ParsedMail) -> str:
    """The report part of the body: the first text part, cut where the returned original begins."""
    text = mail.plain_text or mail.text
    kept: list[str] = []
    seen_text = False
    for line in text.split("\n"):
        if seen_text and any(m.match(line) for m in END_MARKERS):
            break
        seen_text = seen_text or bool(line.strip())
        kept.append(line)
    return "\n".join(kept)


def _recipient_on(line: str) -> str:
    if "@" not in line or len(line) > 400:
        return ""
    for pattern in RECIPIENT_PATTERNS:
        match = pattern.search(line)
        if match:
            return match.group(1).strip(".").lower()
    return ""


def _excluded_addresses(mail: ParsedMail) -> frozenset[str]:
    """The bounce's own sender and addressee (the original's sender) are never the failed recipient."""
    found = {mail.from_address}
    for name in ("to", "delivered-to", "return-path", "reply-to"):
        for value in mail.header_all(name):
            found.update(a.lower() for a in _ADDRESS_RE.findall(value))
    return frozenset(a for a in found if a)


def _close(delivery: Delivery, lines: list[str]) -> None:
    text = " ".join(x for x in lines if x)
    if text and not delivery.diagnosis:
        delivery.diagnosis = text
    elif text:
        delivery.diagnosis += " " + text
    for pattern, reason in VENDOR_REASONS:
        if pattern.search(delivery.diagnosis):
            delivery.reason = reason
            break


def _from_headers(mail: ParsedMail, report: str, excluded: frozenset[str]) -> list[Delivery]:
    """No recipient line: X-Failed-Recipients, else the original's To, with the whole report as diagnostic."""
    addresses = [a.lower() for value in mail.header_all("x-failed-recipients") for a in _ADDRESS_RE.findall(value)]
    if not addresses:
        for embedded in mail.embedded:
            addresses = [a.lower() for a in _ADDRESS_RE.findall(embedded.header("to") or "")]
            if addresses:
                break
    diagnosis = " ".join(x.strip() for x in report.split("\n") if x.strip() and not _SKIP_RE.match(x))
    deliveries = []
    for address in dict.fromkeys(addresses):
        if address not in excluded:
            d = Delivery(recipient=address)
            _close(d, [diagnosis])
            deliveries.append(d)
    return deliveries
