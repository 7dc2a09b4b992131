"""NET SatisFAXtion (FaxBack) notifications: delivered (Fax.dn), failed (Fax.ndn), not accepted (Fax.sendfailure).

The templates are edited per site, so there is no fixed wording to match. Recognised by a configured sender
address, or by the labels `MESSAGE_COMPLETION_CODE` / `Completion Code` / `STATUS_NUM` holding a value, or by
the receiver address form `5035550123^COMPANY=Name^NOCOVER@fax.company.com` together with one of the
completion strings (`Busy`, `No Answer`, ...). Codes and strings are looked up in the catalogue; the
completion strings to scan for are the catalogue's own non-numeric keys. A mail in which neither a code nor a
string can be read is not claimed, even from a configured sender: `marks` says why it is still vendor mail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cache
from typing import ClassVar

from processor import regex_cache
from processor.catalogues import CatalogueEntry, entries, labels, lookup
from processor.detect.base import Detection, DetectorSettings
from processor.detect.codes import catalogue_entry
from processor.detect.dates import parse_datetime
from processor.detect.labels import (
    field_values,
    identifier,
    may_hold_labels,
    parse_int,
    pick,
    split_code,
    table_rows,
)
from processor.detect.marks import NOT_A_RESULT_SUBJECT_RE, PLAIN_OTHER_SUBJECT_RE, SUBJECT_SCAN
from processor.parse import ParsedMail
from processor.parse.faxnumber import find_fax_number
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["SatisfaxtionDetector"]

log = logging.getLogger(__name__)

LABELS = labels("satisfaxtion")
COMPLETION_CODE, STATUS_NUM, COMPLETION_STRING = (LABELS["completion_code"], LABELS["status_num"],
                                                  LABELS["completion_string"])
CODE_LABELS = COMPLETION_CODE + STATUS_NUM
RECEIVER, PAGES, HANDLE = LABELS["receiver"], LABELS["pages"], LABELS["handle"]
SUBMITTED, COMPLETED, SUBJECT = LABELS["submitted"], LABELS["completed"], LABELS["subject"]
# The number's run and the name are bounded (a fax number is short, so is a name before `@`): unbounded, every
# digit after a `-` or `(` began a scan to the run's end, and 60 KB of `1-` in a body took 4 s.
ADDRESS_RE = regex_cache.compile(r"(?<![\w^])\+?\d[\d\-().]{0,40}\^[^@\n\t<>\"]{0,256}@[\w.-]*\w")


class SatisfaxtionDetector:
    name: ClassVar[str] = "satisfaxtion"
    kind: ClassVar[Kind] = Kind.SATISFAXTION_RESULT

    def __init__(self, senders: tuple[str, ...] = ()) -> None:
        self.senders = frozenset(sender.strip().lower() for sender in senders)

    def configured(self, settings: DetectorSettings) -> SatisfaxtionDetector:
        return SatisfaxtionDetector(senders=settings.satisfaxtion_senders)

    def detect(self, mail: ParsedMail) -> Detection | None:
        text = mail.plain_source if mail.plain_text.strip() else mail.html_source  # unfolded: values as written
        configured = mail.from_address in self.senders
        if not configured and not ("^" in text and "@" in text) and not may_hold_labels(text, CODE_LABELS):
            return None  # not its sender, no code label and no address form: nothing below could claim it
        if configured and NOT_A_RESULT_SUBJECT_RE.search(mail.subject[:SUBJECT_SCAN]):
            return None  # the fax server's notice of a fax *received* (`New fax received`): no result of ours
        if rows := table_rows(text, TABLE_FIELDS, "code"):  # a table of recipients: one result per row
            return Detection.of(self._result(_row_fields(rows, index), None) for index in range(len(rows)))
        codes = _values(text, COMPLETION_CODE) or _values(text, STATUS_NUM)
        strings = [v for v in field_values(text, COMPLETION_STRING) if lookup("satisfaxtion", v)]
        # `503-555-0123^Acme@fax`: no `^` and `@` in the text, no such address (most texts: no pattern scan)
        addresses = [m.group(0) for m in ADDRESS_RE.finditer(text)] if "^" in text and "@" in text else []
        # Free wording (`Your fax to … failed: Busy`, a site's own `Reason: Busy`): only beside other evidence,
        # since anyone may write `Busy`; the configured sender is such evidence, its templates being editable.
        if not strings and (codes or addresses or configured):
            strings = [m.group(0) for m in _strings_re().finditer(text)]
        if not codes and not strings:
            # Nothing read (even from the configured sender): no claim. Unread mail is classify's to file by its
            # marks as `unrecognized`; a claim of zero results would be a notice that vanished unseen.
            return None
        if not configured and not codes and not addresses:
            return None
        # `Receiver: Acme Corp` beside `Fax number: 503-555-0123`: only values that hold a number or an address
        receivers = addresses or [v for v in field_values(text, RECEIVER) if "@" in v or _number(v)]
        count = len(codes) or len(strings)
        pages, handles = field_values(text, PAGES), field_values(text, HANDLE)
        submitted, completed = field_values(text, SUBMITTED), field_values(text, COMPLETED)
        subject = pick([v for v in field_values(text, SUBJECT) if v], 0, 1)
        return Detection.of(self._result({
            "code": pick(codes, index, count), "string": pick(strings, index, count),
            "receiver": pick(receivers, index, count, own=True), "handle": pick(handles, index, count, own=True),
            "pages": pick(pages, index, count), "submitted": pick(submitted, index, count),
            "completed": pick(completed, index, count)}, subject) for index in range(count))

    def _result(self, fields: Mapping[str, str | None], subject: str | None) -> FaxResult:
        """One recipient's result from its fields (`code`, `string`, `receiver`, `handle`, `pages`, times)."""
        code, message, entry = _entry(fields.get("code"), fields.get("string"))
        receiver = fields.get("receiver")
        return FaxResult(
            vendor="satisfaxtion", outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
            detected_by=self.name, code=code, vendor_message=message,
            fax_number_raw=_number(receiver), recipient=receiver if receiver and "@" in receiver else None,
            transaction_id=identifier(fields.get("handle")), original_subject=subject,
            pages=parse_int(fields.get("pages")), submitted_at=parse_datetime(fields.get("submitted")),
            occurred_at=parse_datetime(fields.get("completed")), action_ja=entry.action_ja, action_en=entry.action_en,
        )

    def marks(self, mail: ParsedMail) -> tuple[str, ...]:
        """The vendor mark a mail this detector could not read may bear: a configured sender. `vendor_marks`
        knows only fixed vendor domains, and a site's fax server sends from the site's own address. Mail that
        is plainly something else (a received fax, a newsletter) bears none, as in `vendor_marks`."""
        if mail.from_address not in self.senders or mail.header("list-unsubscribe") or mail.header("list-id"):
            return ()
        if PLAIN_OTHER_SUBJECT_RE.search(mail.subject[:SUBJECT_SCAN]):
            return ()
        return (f"NET SatisFAXtion sender {mail.from_address}",)


#: A table of recipients by its header row (an HTML notice lists them so): field → the labels of its column.
TABLE_FIELDS = {"code": COMPLETION_CODE + STATUS_NUM, "string": COMPLETION_STRING, "receiver": RECEIVER,
                "pages": PAGES, "handle": HANDLE, "submitted": SUBMITTED, "completed": COMPLETED}


def _row_fields(rows: list[dict[str, str]], index: int) -> dict[str, str | None]:
    """One table row's fields; a completion string is kept only when the catalogue knows it."""
    row = rows[index]
    string = row.get("string")
    return {**row, "string": string if string and lookup("satisfaxtion", string) else None}


def _values(text: str, labels: tuple[str, ...]) -> list[str]:
    return [value for value in field_values(text, labels) if value]


def _entry(code_value: str | None, string: str | None) -> tuple[str | None, str | None, CatalogueEntry]:
    """(code as written, completion string, entry): a known number first, then a known string."""
    code, label = split_code(code_value)
    if code is None and code_value:  # `Completion Code: Busy`
        label = code_value.strip()
    message = string or label
    for key in (code, message):
        if key and (entry := lookup("satisfaxtion", key)) is not None:
            return code, message, entry
    return code, message, catalogue_entry("satisfaxtion", code, message, log)


def _number(receiver: str | None) -> str | None:
    """The destination as written: the number before the first `^` of the address form, or in a
    `Fax number:` value (US templates write national numbers without a trunk prefix)."""
    if not receiver:
        return None
    if "^" in receiver:  # the address form is itself the evidence: its dial string as written
        return receiver.split("^", 1)[0].strip() or None
    return find_fax_number(receiver, trunk_optional=True)


@cache
def _strings_re() -> re.Pattern[str]:
    """The catalogue's completion strings (its non-numeric keys), longest first, as whole words."""
    words = sorted((e.key for e in entries("satisfaxtion") if not e.key.lstrip("-").isdigit()), key=len, reverse=True)
    return regex_cache.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")
