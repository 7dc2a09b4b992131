"""Non-standard bounce texts (qmail, Exim, sendmail, Exchange, Gmail, Yahoo, Japanese carriers, ...).

Most MTAs write the same three things in their own words: who failed (`<user@example.jp>:`,
`  user@example.jp`, `Could not be delivered to: <...>`), why (the remote server's reply), and where the
returned original starts (`--- Below this line is a copy of the message.`). So instead of one module per
MTA (Sisimai's Lhost), one line loop reads every text with two tables: `END_MARKERS` (where the report
ends and the original begins, data in `end_markers.tsv`) and `RECIPIENT_PATTERNS` (how a failed address is
introduced; a line shape may also say that it is the recipient's whole report, as sendmail's `550 <a>...`).
Reasons an MTA states in its own words, which the phrase tables would miss, and the status they imply when
the report has none, are data too (`vendor_reasons.tsv`, read into `VENDOR_REASONS`).
Amazon SES's JSON notifications are not texts and have their own reader, `ses`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache

from processor import regex_cache
from processor.detect.mailbounce.codes import ADDRESS_PATTERN, FIND_ADDRESS_PATTERN
from processor.detect.mailbounce.delivery import Delivery
from processor.detect.mailbounce.reason_match import check_reason_words
from processor.detect.mailbounce.tables import (
    VendorReason,
    WordingIndex,
    ascii_lowered,
    case_sensitive_twin_of,
    load_end_markers,
    load_vendor_reasons,
    package_table,
)
from processor.parse import ParsedMail
from processor.parse.mail import parse_header_block

__all__ = [
    "apply_vendor_reason",
    "body_text",
    "is_bounce_sender",
    "looks_like_bounce",
    "original_start",
    "quoted_original",
    "read_bounce_text",
]

_ADDR = ADDRESS_PATTERN
_ADDRESS_RE = regex_cache.compile(FIND_ADDRESS_PATTERN)
_QUOTE_RE = regex_cache.compile(r"^> ?", re.MULTILINE)
# `(?<![\d.])[245]…`, the look-behind after the first digit: re skips ahead to a [245] (as `codes` does)
_CODE_RE = regex_cache.compile(r"[245](?<![\d.][245])(?:\d\d|\.\d{1,3}\.\d{1,3})(?![\d.])")
_SENDER_INTRO_RE = regex_cache.compile(r"(?:sent by|message from|original sender)\s*:?\s*$", re.IGNORECASE)


@cache
def _end_markers() -> tuple[tuple[re.Pattern[str], bool], ...]:
    """Where the report stops and the returned original (or its headers) begins (`end_markers.tsv`), and
    whether the marker only announces the original (`END_MARKERS`, `ANNOUNCE_MARKERS`)."""
    return load_end_markers(*package_table("end_markers.tsv"))


@cache
def _any_end_marker() -> re.Pattern[str]:
    """One pattern that matches where any of `END_MARKERS` matches: a line is tried once, not once per marker."""
    return _either(pattern for pattern, _announces in _end_markers())


@cache
def _any_announce_marker() -> re.Pattern[str]:
    return _either(pattern for pattern, announces in _end_markers() if announces)


def _either(patterns: Iterable[re.Pattern[str]]) -> re.Pattern[str]:
    """The alternation of case-insensitive patterns: it matches (or is found) exactly where one of them is."""
    return regex_cache.compile("|".join(f"(?:{p.pattern})" for p in patterns) or "(?!)", re.IGNORECASE)


#: How a failed recipient is introduced; group 1 is the address (first match on a line wins). The first
#: patterns are line shapes that only a report uses; from `_WEAK_FROM` on, an address equal to the bounce's
#: own From/To (the original sender) is not taken.
_RECIPIENT_SOURCES: tuple[str, ...] = (
        rf"^\s*[*\-]?\s*[<\"]?({_ADDR})[>\"]?\s*:?\s*$",  # qmail, Yahoo `<a@b>:`, Exim `  a@b`, GMX `"a@b":`
        rf"^\s*<?({_ADDR})>?\s*(?:\(expanded from [^)]*\))?\s*:\s+\S",  # Postfix text: `<addr>: host ... said`
        rf"^\s*\d{{3}}[ -]<({_ADDR})>\.\.\.\s",  # sendmail transcript: `550 <addr>... User unknown`
        rf"^\s*<?({_ADDR})>?\s+on\s+\S",  # Exchange 2003: `user@example.jp on Thu, 29 Apr ...`
        rf"^\s*(?!(?:original )?(?:from|sender|reply-to|return-path|message-id|in-reply-to|references)\s*:)"
        rf"[A-Za-z][\w .'-]{{2,40}}:\s*<?({_ADDR})>?\s*$",
        # `Unknown user: a@b`, `Recipient address: a@b` (never `From: a@b`)
        rf"^\s*<?({_ADDR})>?[,:]?\s+\S",  # Exim variants, Notes, Zoho: `a@b Invalid Address, ...`
        rf"(?:delivering your mail to|delivered to|deliver to|could not be delivered to|recipients?|addresse?s?|"
        rf"rcpt to|failed recipient|original-recipient|to)\b[^:<@]{{0,60}}:?\s*<({_ADDR})>",  # DragonFly, KDDI
        rf"(?:recipients?|addresse?s?)\b[^:@]{{0,60}}:\s*<?({_ADDR})>?",  # `... returned permanent errors: a@b.`
)


@cache
def _recipient_patterns() -> tuple[re.Pattern[str], ...]:
    """`RECIPIENT_PATTERNS`, compiled on first use."""
    return tuple(regex_cache.compile(p, re.IGNORECASE) for p in _RECIPIENT_SOURCES)


@cache
def _recipient_twins() -> tuple[re.Pattern[str], ...]:
    """`RECIPIENT_PATTERNS` for an ASCII line in lower case: each one's case-sensitive twin, which finds there
    what the pattern finds in the line (IGNORECASE cannot skip ahead to a word; 9.6 -> 5.4 ms over the corpus),
    or the pattern itself, which finds the same in either."""
    return tuple(case_sensitive_twin_of(p) or p for p in _recipient_patterns())


_WEAK_FROM = 5
#: The sendmail transcript line `550 <addr>... User unknown` is one recipient's whole report: the session
#: lines after it (`While talking to ...`, `>>> RCPT To:`, `<<< 550 ...`) lead up to the next recipient.
_WHOLE_LINE = 2
#: The sender of a bounce, by local part or display name.
_BOUNCE_SENDER_RE = regex_cache.compile(
    r"mailer-daemon|postmaster|mail[ ._-]?delivery|mail ?administrator|mdaemon|mailer|"
    r"bounce|no-?reply@.*(?:dion|ezweb|au\.com)|root@", re.IGNORECASE
)
_BOUNCE_SUBJECT_RE = regex_cache.compile(
    r"undeliver|undelivered|not delivered|delivery (?:status|fail|notification|report|problem|error|has failed)|"
    r"returned mail|return(?:ed)? to sender|failure notice|failed mail|mail delivery|mail system error|"
    r"non.?delivery|could not (?:be )?deliver|delivery failure|warning: could not send|delayed mail|"
    r"bounce|rejected|mail error|message status|nondeliverable|unzustellbar|"
    r"不達|エラー|配信|送信|届きません|返送",
    re.IGNORECASE,
)
#: A text-only delay warning: the MTA keeps trying (Exim's "has not yet been delivered … Delivery attempts will
#: continue", Sendmail's "Warning: could not send message for past 4 hours … will keep trying", Postfix's
#: "This is a warning only", Exchange's "Delivery is delayed … will continue to try"), not a bounce.
_DELAY_WARNINGS = ("delivery attempts will continue", "will keep try", "will continue to try",
                   "this is a warning only", "this is a warning message only", "has not yet been delivered",
                   "do not need to resend")
#: Whole-line noise inside a report: greetings and boilerplate that are not the reason.
_SKIP_RE = regex_cache.compile(
    r"^\s*(?:$|this is the|this message was created|i'm sorry|i'm afraid|sorry, we were unable|"
    r"a message that you sent|for further assistance|if you do so|the mail system|hi\.|"
    r"be delivered to one or more recipients\. it's attached below|"  # Postfix bounce(5) template, 2nd line
    r"delete your own text from the attached returned message|"  # Postfix bounce(5) template, 6th line
    r"-+ ?delivery report unavailable ?-+|"  # Postfix, when it has no per-recipient report to show
    r"this is an automatically generated delivery status notification|"  # Gmail, Exchange, X3
    r"delivery to the following recipients? failed permanently|"  # Gmail (before 2011), X3
    r"---+\s*$|=+\s*$|_+\s*$)",
    re.IGNORECASE,
)


@cache
def _vendor_reasons() -> tuple[VendorReason, ...]:
    """Reasons MTAs state in their own words, which the generic phrase tables would miss or misread, and how to
    make a status for them when the report has none (`vendor_reasons.tsv`, `VENDOR_REASONS`). First match wins."""
    return load_vendor_reasons(*package_table("vendor_reasons.tsv"))


#: Recipients whose service refuses in its own words, in any language and without an SMTP code: when the
#: diagnostic carries no code, the service itself refused (a remote server's `550 5.1.1` is read as usual).
RECIPIENT_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (regex_cache.compile(r"@googlegroups\.com$"), "rejected"),  # Google Groups: no such group or no permission to post
)

check_reason_words(f"{__name__}.RECIPIENT_REASONS", [r for _p, r in RECIPIENT_REASONS])

#: The tables above by their documented names, loaded on first use (`__getattr__`): their patterns are most
#: of the start-up time of a `faxbounce classify` that meets no bounce.
_LAZY_TABLES = {
    "END_MARKERS": lambda: tuple(pattern for pattern, _announces in _end_markers()),
    "ANNOUNCE_MARKERS": lambda: tuple(pattern for pattern, announces in _end_markers() if announces),
    "RECIPIENT_PATTERNS": _recipient_patterns,
    "VENDOR_REASONS": _vendor_reasons,
}


def __getattr__(name: str) -> object:
    if (load := _LAZY_TABLES.get(name)) is not None:
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_bounce_sender(mail: ParsedMail) -> bool:
    """From a mailer daemon, postmaster or mail system rather than from a person."""
    return bool(_BOUNCE_SENDER_RE.search(mail.header("from") or "") or _BOUNCE_SENDER_RE.search(mail.from_address))


def looks_like_bounce(mail: ParsedMail) -> bool:
    """Cheap guard before the text reader: a bounce sender or Subject, X-Failed-Recipients, a report type."""
    if mail.header("x-failed-recipients") or mail.content_type == "multipart/report":
        return True
    return is_bounce_sender(mail) or bool(_BOUNCE_SUBJECT_RE.search(mail.subject))


def read_bounce_text(mail: ParsedMail) -> list[Delivery]:
    """Failed recipients and their diagnostics from the human-readable part of a bounce."""
    report = _report_text(mail)
    excluded = _excluded_addresses(mail)
    sender = _original_sender(mail)
    deliveries: list[Delivery] = []
    current: Delivery | None = None
    lines: list[str] = []
    preamble: list[str] = []
    before: list[str] = []
    previous = ""
    for line in report.split("\n"):
        address, whole_line = _recipient_on(line, excluded)
        if address and (address == sender or _SENDER_INTRO_RE.search(previous)):
            address = ""  # `A message sent by <sender>`: the original's author, not a recipient
        if line.strip():
            previous = line
        if address:
            if current is not None:
                _close(current, lines, before)
            before = preamble if current is None or preamble is not lines else []
            if whole_line:
                preamble = []  # what follows a one-line report belongs to the next recipient (sendmail)
            current = next((d for d in deliveries if d.recipient == address), None)
            if current is None:
                current = Delivery(recipient=address)
                deliveries.append(current)
            head, _, rest = line.lower().partition(address)
            rest = line[len(head) + len(address):].lstrip(">:.\" \t")
            head = line[:len(head)].strip(" \t<\"*-")
            lines = [x for x in (head if head.endswith(":") else "", rest) if x]
            if not whole_line:
                preamble = lines
            continue
        if _SKIP_RE.match(line):
            continue
        preamble.append(line.strip())
    if current is not None:
        _close(current, lines if preamble is lines else lines + preamble, before)
    if not deliveries:
        deliveries = _from_headers(mail, report, excluded)
    lowered = report.lower()  # one pass per phrase in C: an IGNORECASE alternation tried every position
    warning = any(phrase in lowered for phrase in _DELAY_WARNINGS)
    for d in deliveries:
        if not d.reason and not _CODE_RE.search(d.diagnosis):
            d.reason = next((r for p, r in RECIPIENT_REASONS if p.search(d.recipient)), "")
        if warning and not d.action:
            d.action = "delayed"  # what a delivery-status part says in `Action: delayed`
    return deliveries


def quoted_original(mail: ParsedMail) -> tuple[str | None, str | None]:
    """Message-ID and Subject of an original that the bounce quotes as text after its end marker."""
    text = mail.plain_text or mail.text
    lines = text.split("\n")
    end_marker, announce_marker = _any_end_marker(), _any_announce_marker()
    for index, line in enumerate(lines):
        if end_marker.match(line):
            headers = parse_header_block(_header_lines(lines, index + 1, announce_marker))
            message_id = (headers.get("message-id") or (None,))[0]
            subject = (headers.as_written("subject") or (None,))[0]  # stored: as the original wrote it
            if message_id or subject:
                return (message_id.strip() if message_id else None), subject
    return None, None


def _header_lines(lines: list[str], start: int, announce_marker: re.Pattern[str]) -> str:
    """The lines from `start` on without announcing lines, leading empty lines dropped, up to and with the line
    end of the last line before the first empty line: the header block, not the whole quoted original (the
    same text `parse_header_block` reads of the whole)."""
    kept: list[str] = []
    for line in lines[start:]:
        if announce_marker.match(line) or (not line and not kept):
            continue
        if not line:
            return "\n".join(kept) + "\n"
        kept.append(line)
    return "\n".join(kept)


def body_text(mail: ParsedMail) -> str:
    """The readable body; for a multipart whose boundary never occurs (a broken report), its raw text."""
    text = mail.plain_text or mail.text
    if text.strip() or mail.message.get_content_maintype() != "multipart":
        return text
    raw = mail.raw.replace(b"\r\n", b"\n")
    body = raw.split(b"\n\n", 1)[-1]
    return body.decode("utf-8", "replace")


def _report_text(mail: ParsedMail) -> str:
    """The report part of the body: the first text part, cut where the returned original begins."""
    text = body_text(mail)
    lines = text.split("\n")
    quoted = [x for x in lines if x.startswith(">") and not x.startswith(">>>")]
    if len(quoted) * 2 > len([x for x in lines if x.strip()]):
        text = _QUOTE_RE.sub("", text)  # a forwarded bounce: read it without the quoting
    lines = text.split("\n")
    return "\n".join(lines[:original_start(lines)])


def original_start(lines: Sequence[str]) -> int | None:
    """Index of the line where a returned original begins (a row of `end_markers.tsv`: a separator or its first
    header line) after some text of the report's own; None when there is none. The fax.tc reader cuts there too."""
    end_marker = _any_end_marker()
    seen_text = False
    for index, line in enumerate(lines):
        if seen_text and end_marker.match(line):
            return index
        seen_text = seen_text or bool(line.strip())
    return None


def _recipient_on(line: str, excluded: frozenset[str]) -> tuple[str, bool]:
    """The failed address a line introduces ('' if none), and whether the line is that recipient's whole report."""
    if "@" not in line or len(line) > 400:
        return "", False
    lowered = ascii_lowered(line)  # the address is taken in lower case: an ASCII line is read in lower case
    text, patterns = (line, _recipient_patterns()) if lowered is None else (lowered, _recipient_twins())
    for number, pattern in enumerate(patterns):
        match = pattern.search(text)
        if match:
            address = match.group(1).strip(".").lower()
            if number < _WEAK_FROM or address not in excluded:
                return address, number == _WHOLE_LINE
    return "", False


def _excluded_addresses(mail: ParsedMail) -> frozenset[str]:
    """The bounce's own sender and addressee (the original's sender) are never the failed recipient."""
    found = {mail.from_address}
    for name in ("to", "delivered-to", "return-path", "reply-to"):
        for value in mail.header_all(name):
            found.update(a.lower() for a in _ADDRESS_RE.findall(value))
    return frozenset(a for a in found if a)


def _original_sender(mail: ParsedMail) -> str:
    """The returned original's From, unless it also wrote to itself: a report may name it (`A message sent by`)."""
    for embedded in mail.embedded:
        sender = [a.lower() for a in _ADDRESS_RE.findall(embedded.header("from") or "")]
        to = [a.lower() for a in _ADDRESS_RE.findall(embedded.header("to") or "")]
        if sender and sender[0] not in to:
            return sender[0]
    return ""


def _close(delivery: Delivery, lines: list[str], before: list[str] | None = None) -> None:
    """Finish one recipient: its diagnostic is the text after it, else the text just before it."""
    after, ahead = " ".join(x for x in lines if x), " ".join(x for x in (before or []) if x)
    # the reason may come before the address (`... because of 550 5.1.1 User unknown. Recipients: a@b`)
    text = f"{ahead} {after}".strip() if ahead and _CODE_RE.search(ahead) and not _CODE_RE.search(after) else (
        after or ahead)
    if text and not delivery.diagnosis:
        delivery.diagnosis = text
    elif text:
        delivery.diagnosis += " " + text
    if not delivery.reason:
        apply_vendor_reason(delivery)


def apply_vendor_reason(delivery: Delivery) -> None:
    """Take the reason (and the way to make a status) that an MTA's own wording states (`VENDOR_REASONS`)."""
    rule = _vendor_reason(delivery.diagnosis)
    if rule is not None:
        delivery.pseudo = delivery.pseudo or rule.pseudo
        if rule.reason != "onhold":
            delivery.reason = rule.reason


@lru_cache(maxsize=256)
def _vendor_reason(diagnosis: str) -> VendorReason | None:
    """The first of `VENDOR_REASONS` the diagnostic names; a recipient's diagnostic is asked about twice (when
    its text is read and when its reason is decided), and the patterns are most of that time."""
    index = _vendor_reason_index().first(diagnosis, ascii_lowered(diagnosis))
    return None if index is None else _vendor_reasons()[index]


@cache
def _vendor_reason_index() -> WordingIndex:
    return WordingIndex([rule.wording for rule in _vendor_reasons()])


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
