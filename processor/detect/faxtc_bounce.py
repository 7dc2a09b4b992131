"""Bounces of submission mails refused by InterFAX (fax.tc): the mail never became a fax.

Recognised by the sender MAILER-DAEMON@fax.tc (the subject depends on the customer's mail server and is
not used), or by a delivery report about a …@fax.tc recipient that carries a `*** … ***` line: one whose failed
recipients (Final-Recipient, X-Failed-Recipients, the addresses its own text lists) include a …@fax.tc address;
a fax address only in the returned original's To/Cc is not the report's. The cause is the last `*** … ***` line
of the bounce's own text (never of the original it quotes, whose body may hold `*** CONFIDENTIAL ***`), else
of the delivery-status part (Diagnostic-Code).
A delivery report about `<number>@fax.tc` without such a line, from any MTA, is read by the generic report
reader and turned into InterFAX bounces here (`bounces_from_report`): number from the local part, reason from
the status.
There is no transaction id: the original's Message-ID, subject and fax recipients (…@fax.tc in To/Cc) are
recovered from the returned message (message/rfc822 or text/rfc822-headers) or from quoted header lines
(unfolded and RFC 2047-decoded, as the part's headers are).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar

from processor import regex_cache
from processor.catalogues import lookup, reason_action, vendor_hosts
from processor.detect.base import Detection, NeedsNoSettings
from processor.detect.codes import catalogue_entry
from processor.detect.dates import parse_datetime
from processor.detect.replies import DAEMON_LOCALPARTS, is_delivery_report
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail
from processor.parse.charset import decode_header_value
from processor.parse.mail import address_pairs
from processor.reasons import FaxReason, Kind, Outcome
from processor.records import FaxResult

__all__ = ["CAUSE_RE", "FaxtcBounceDetector", "bounces_from_report"]

log = logging.getLogger(__name__)

FAXTC_DOMAINS = vendor_hosts("interfax").submission_domains
NUMBER_RE = regex_cache.compile(vendor_hosts("interfax").number_pattern)
"""The service refuses a submission from its MAILER-DAEMON at the domain the submission went to."""
CAUSE_RE = regex_cache.compile(r"\*{3}([^*\n]+)\*{3}")  # one plain run: linear on hostile long lines
FAXTC_ADDRESS_RE = regex_cache.compile(r"(?<![\w.+\-=^])[\w.+\-=^]+@(?:[\w-]+\.)*(?:"
                                       + "|".join(re.escape(d) for d in FAXTC_DOMAINS) + r")\b", re.IGNORECASE)
QUOTED_HEADER_RE = regex_cache.compile(r"([ \t>]*)(To|Cc|Subject|Message-ID|Date)[ \t]*:[ \t]*(.+)", re.I)
"""One quoted header line (`> To: 0355550101@fax.tc,`): quote prefix, name, value; its continuation lines follow."""
QUOTE_PREFIX_RE = regex_cache.compile(r"[ \t>]*")
REPORT_RECIPIENT_RE = regex_cache.compile(r"^(?:Final|Original)-Recipient:\s*(?:rfc822;)?\s*<?([^>\s]+)", re.I | re.M)


class FaxtcBounceDetector(NeedsNoSettings):
    name: ClassVar[str] = "faxtc_bounce"
    kind: ClassVar[Kind] = Kind.INTERFAX_BOUNCE

    def detect(self, mail: ParsedMail) -> Detection | None:
        local, _, domain = mail.from_address.partition("@")
        from_faxtc = local in DAEMON_LOCALPARTS and is_domain_or_subdomain(domain, FAXTC_DOMAINS)
        if not from_faxtc and not _is_report(mail):
            return None
        status_text = "\n".join(p.text or "" for p in mail.parts if "delivery-status" in p.content_type)
        cause = _own_cause(mail, mail.text) or _own_cause(mail, mail.all_text) or _last_cause(status_text)
        if not from_faxtc and (cause is None or not _failed_fax_recipients(mail, status_text)):
            return None  # another MTA's report, but not about a fax recipient
        if cause is None and REPORT_RECIPIENT_RE.search(status_text):
            return None  # no `***` line: the delivery report's status says why (`bounces_from_report`)
        headers = _original_headers(mail)
        recipients = _fax_recipients(mail, headers, status_text)
        if not from_faxtc and not recipients:
            return None
        code, line = cause if cause else (None, None)
        entry = catalogue_entry("faxtc", code, line, log)
        subject = _first(headers, "subject")
        message_id = _first(headers, "message-id")
        submitted = parse_datetime(_first(headers, "date"))
        return Detection.of(
            FaxResult(
                vendor=entry.vendor, outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
                detected_by=self.name, code=code, vendor_message=line,
                fax_number_raw=recipient, recipient=recipient,
                original_message_id=message_id, original_subject=subject,
                submitted_at=submitted, occurred_at=mail.date,
                action_ja=entry.action_ja, action_en=entry.action_en,
            )
            for recipient in (recipients or [None])
        )


def bounces_from_report(mail: ParsedMail, results: Sequence[FaxResult]) -> tuple[FaxResult, ...] | None:
    """A delivery report's results (any MTA's: fax.tc's, a relay's, the sender's own Postfix), as InterFAX bounces
    when one is about a `<number>@fax.tc` recipient; None when none is; empty when the report only says that mail
    reached fax.tc. The fax number is the recipient's local
    part; the reason is the catalogue's for the status (an address status: `no_recipients`), else the report's."""
    if not any(_fax_number_of(r.recipient) for r in results):
        return None
    headers = _original_headers(mail)
    submitted = parse_datetime(_first(headers, "date"))
    # A mail delivered or relayed to fax.tc (a success DSN) is no fax sent: InterFAX only accepted it, and its
    # result mail says the rest (a false delivery would hide the missing result of an unregistered sender).
    return tuple(_as_bounce(result, number, submitted) if (number := _fax_number_of(result.recipient)) else result
                 for result in results
                 if not (result.outcome is Outcome.DELIVERED and _fax_number_of(result.recipient)))


def _as_bounce(result: FaxResult, number: str, submitted: datetime | None) -> FaxResult:
    entry = lookup("faxtc", result.smtp_status or result.code or "")
    changes: dict[str, object] = {"vendor": "interfax", "detected_by": FaxtcBounceDetector.name,
                                  "fax_number_raw": number, "fax_number": None,
                                  "submitted_at": result.submitted_at or submitted}
    if result.outcome is Outcome.PENDING:  # a delay warning: the submission is still queued, nothing failed
        action_ja, action_en = reason_action("faxtc", FaxReason.IN_PROGRESS)
        changes.update(reason=FaxReason.IN_PROGRESS, retryable=None, action_ja=action_ja, action_en=action_en)
    elif entry is not None:
        changes.update(outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
                       action_ja=entry.action_ja, action_en=entry.action_en)
    return dataclasses.replace(result, **changes)  # type: ignore[arg-type]


def _fax_number_of(address: str | None) -> str | None:
    """The number of a `<number>@fax.tc` address (`tracking.number_pattern`'s default form), else None."""
    local, at, domain = (address or "").strip().strip("<>").rpartition("@")
    if not at or not is_domain_or_subdomain(domain, FAXTC_DOMAINS):
        return None
    match = NUMBER_RE.fullmatch(local)
    return match.group("number") if match else None


def _is_report(mail: ParsedMail) -> bool:
    """A delivery report, or a mail returning an original."""
    return is_delivery_report(mail) or bool(mail.embedded)


def _last_cause(text: str) -> tuple[str, str] | None:
    """(text inside the asterisks, the whole `*** … ***`) of the last such line that fax.tc's catalogue knows, else
    of the last one: a virus scanner's or a gateway's footer (`*** eSafe scanned this email … ***`, a
    `*** CONFIDENTIAL ***` disclaimer) may follow the cause, and an unknown cause is still kept."""
    if "***" not in text:  # most texts: no pattern scan
        return None
    matches = [m for m in CAUSE_RE.finditer(text) if m.group(1).strip()]
    if not matches:
        return None
    known = [m for m in matches if lookup("faxtc", m.group(1).strip()) is not None]
    last = (known or matches)[-1]
    return last.group(1).strip(), last.group(0).strip()


def _own_cause(mail: ParsedMail, text: str) -> tuple[str, str] | None:
    """`_last_cause` of the bounce's own words in `text` (`_own_text`), cut only when there is a `***` to find;
    when they hold none, of the whole text. Some servers write the original's headers unquoted and the cause
    after them (`Original message headers:`, the headers, `*** Message contains unsupported attachments ***`),
    so the cut, made for the banners of an original's body, must not lose the cause itself."""
    if "***" not in text:
        return None
    return _last_cause(_own_text(mail, text)) or _last_cause(text)


def _own_text(mail: ParsedMail, text: str) -> str:
    """The bounce's own words in `text`: without the original it quotes after a separator (`------ This is a copy of
    the message`, `----- Original message -----`: mailbounce's `end_markers.tsv`), whose body may hold `*** … ***`
    banners of its own. The original runs to the end of the text, unless it is quoted with `>`: then it ends with
    its quoted lines and what follows is the bounce's again (a cause written after the quoted headers). Without a
    separator the whole text is the bounce's. A returned original in a MIME part is not in the text at all: then
    the table is not even loaded (it belongs to the delivery-report readers, loaded on first use)."""
    if mail.embedded or not text:
        return text
    lines = text.split("\n")
    # Imported here, not at the top: `faxbounce classify` of a vendor notice must not load the delivery-report
    # tables (tests/test_startup.py).
    from processor.detect.mailbounce.bounce_text import original_start

    start = original_start(lines)
    if start is None:
        return text
    end = len(lines)
    following = next((i for i in range(start + 1, len(lines)) if lines[i].strip()), None)
    if following is not None and lines[following].lstrip().startswith(">"):
        end = next((i for i in range(following, len(lines)) if lines[i].strip()
                    and not lines[i].lstrip().startswith(">")), len(lines))
    return "\n".join(lines[:start] + lines[end:])


def _original_headers(mail: ParsedMail) -> dict[str, list[str]]:
    """To/Cc/Subject/Message-ID/Date of the returned original: embedded part first, quoted lines second."""
    headers: dict[str, list[str]] = {}
    for embedded in mail.embedded:
        for name in ("to", "cc", "message-id", "date"):
            headers.setdefault(name, []).extend(embedded.headers.get(name, ()))
        # stored: as the original wrote it (`①`), not folded for matching
        headers.setdefault("subject", []).extend(embedded.headers.as_written("subject"))
    if not any(headers.values()):
        for name, value in _quoted_headers(mail.text.split("\n")):
            headers.setdefault(name, []).append(value)
    return headers


def _quoted_headers(lines: Sequence[str]) -> Iterable[tuple[str, str]]:
    """(lower-case name, value) of header lines quoted in a text, read as the embedded part's are: a folded value
    joined with its continuation lines (more indented than the header line, under as many `>`), RFC 2047 words
    decoded (`=?iso-2022-jp?b?…?=`). Each line is looked at once or twice: linear on hostile texts."""
    index = 0
    while index < len(lines):
        match = QUOTED_HEADER_RE.fullmatch(lines[index])
        index += 1
        if match is None:
            continue
        prefix, name, value = match.groups()
        parts = [value]
        while index < len(lines) and _continues(prefix, lines[index]):
            parts.append(lines[index][len(_quote_prefix(lines[index])):])
            index += 1
        name = name.lower()  # a subject is stored, so decoded as written (`①`); the others are matched
        yield name, decode_header_value(" ".join(p.strip() for p in parts), fold=name != "subject")


def _continues(prefix: str, line: str) -> bool:
    """Whether `line` continues a header quoted after `prefix`: same quoting, more white space, some text."""
    own = _quote_prefix(line)
    return (len(own) > len(prefix) and own.count(">") == prefix.count(">") and own[-1] in " \t"
            and bool(line[len(own):].strip()))


def _quote_prefix(line: str) -> str:
    match = QUOTE_PREFIX_RE.match(line)
    return match.group(0) if match else ""


def _failed_fax_recipients(mail: ParsedMail, status_text: str) -> list[str]:
    """The …@fax.tc addresses among a report's failed recipients: its delivery-status part's, X-Failed-Recipients,
    and those its own text names. The README's "report about a …@fax.tc recipient": an address that is only in
    the returned original (Cc'd to a fax number besides the person whose mailbox refused it) is no failure."""
    named = (REPORT_RECIPIENT_RE.findall(status_text)
             + [a for value in mail.header_all("x-failed-recipients") for a in value.split(",")]
             + FAXTC_ADDRESS_RE.findall(_own_text(mail, mail.text)))
    return _fax_addresses(named)


def _fax_recipients(mail: ParsedMail, headers: dict[str, list[str]], status_text: str) -> list[str]:
    """…@fax.tc addresses of the original (To, Cc), else the report's recipients, else any in the body."""
    sources = (
        [address for _name, address in address_pairs(headers.get("to", []) + headers.get("cc", []))],
        REPORT_RECIPIENT_RE.findall(status_text)
        + [a for value in mail.header_all("x-failed-recipients") for a in value.split(",")],
        FAXTC_ADDRESS_RE.findall(mail.text),
    )
    for candidates in sources:
        if found := _fax_addresses(candidates):
            return found
    return []


def _fax_addresses(candidates: Iterable[str]) -> list[str]:
    """The …@fax.tc addresses among `candidates`, once each in order, not the service's own MAILER-DAEMON."""
    found = [a.strip().strip("<>") for a in candidates if FAXTC_ADDRESS_RE.fullmatch(a.strip().strip("<>"))]
    return list(dict.fromkeys(a for a in found if a.lower().partition("@")[0] not in DAEMON_LOCALPARTS))


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = [v.strip() for v in headers.get(name, []) if v.strip()]
    return values[0] if values else None
