"""Label-driven field reading shared by the fax detectors.

No vendor publishes verbatim samples and templates differ per site, so a field is found by its label
wherever it stands: at the start of a text line, after a TAB (HTML table cells are joined by TAB on one
line), inside 【】 brackets, with `:`/`=` or only spacing before the value. Text is NFKC-normalized by the
parse layer, so full-width colons and digits are already ASCII here.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache

from processor.catalogues import CatalogueEntry, lookup, reason_action, unknown_entry
from processor.parse import ParsedMail
from processor.parse.charset import decode_bytes, normalize_text
from processor.reasons import FaxReason, Outcome
from processor.records import FaxResult

__all__ = [
    "INTERFAX_FIELDS",
    "JST",
    "catalogue_entry",
    "field_name",
    "field_values",
    "first_field",
    "interfax_row_result",
    "machine_texts",
    "parse_datetime",
    "parse_int",
    "pick",
    "split_code",
]

JST = timezone(timedelta(hours=9), "JST")
_MAX_MACHINE_BYTES = 4 * 1024 * 1024
_DECORATION = r"[ \u3000・■□◆◇●○▼▽★☆*#>\-\[【「(<]*"
_CLOSERS = r"[\]】」)>]?"
_CODE_RE = re.compile(r"^\s*(-?\d{1,9})(?=$|[\s\-:(])\s*(?:\((.*)\)|[-:]?\s*(.*?))\s*$")
_ZONES: Mapping[str, tzinfo] = {"JST": JST, "UTC": UTC, "GMT": UTC, "Z": UTC}
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
    "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %I:%M:%S %p", "%m-%d-%Y %H:%M", "%m-%d-%Y %I:%M %p",
)


@cache
def _label_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    """`label: value` at a line start or after a TAB; ASCII labels need `:`, `=`, a TAB or a bracket."""
    ordered = sorted(labels, key=len, reverse=True)
    ascii_alts = "|".join(_label_pattern(label) for label in ordered if label.isascii())
    other_alts = "|".join(_label_pattern(label) for label in ordered if not label.isascii())
    ends = r"(?:[ \t]*[:=][ \t]*|(?<=[\]】」)>])[ \t]*|\t[ \t]*|(?=\n|$))"
    parts = []
    if ascii_alts:
        parts.append(rf"(?:{ascii_alts}){_CLOSERS}{ends}")
    if other_alts:  # Japanese labels may also be followed by plain spacing: `送信結果 3912`
        parts.append(rf"(?:{other_alts}){_CLOSERS}(?:{ends}|[ \u3000]+)")
    return re.compile(rf"(?:^|\t){_DECORATION}(?:{'|'.join(parts)})([^\t\n]*)", re.MULTILINE | re.IGNORECASE)


def _label_pattern(label: str) -> str:
    return r"[ _]?".join(re.escape(word) for word in label.split())


def field_values(text: str, labels: Sequence[str]) -> list[str]:
    """Every value written after one of `labels`, in order; a value on the next line when the label stands alone."""
    values: list[str] = []
    lines = text.split("\n")
    pattern = _label_re(tuple(labels))
    for match in pattern.finditer(text):
        value = match.group(1).strip()
        if not value:
            line_no = text.count("\n", 0, match.start(1))
            following = next((line.strip() for line in lines[line_no + 1 : line_no + 3] if line.strip()), "")
            value = following.split("\t", 1)[0].strip() if following and ":" not in following[:12] else ""
        values.append(value)
    return values


def first_field(texts: Iterable[str], labels: Sequence[str]) -> str | None:
    """The first non-empty value of a label across several texts (plain body first, then HTML)."""
    for text in texts:
        for value in field_values(text, labels):
            if value:
                return value
    return None


def pick(values: Sequence[str], index: int, count: int) -> str | None:
    """The n-th value when each of `count` results has its own (a list send), else the shared first one."""
    if not values:
        return None
    return values[index] if len(values) == count else values[0]


def split_code(value: str | None) -> tuple[str | None, str | None]:
    """`3912-FAX番号が使用不可です` → ("3912", "FAX番号が使用不可です"); no leading number → (None, None)."""
    if not value:
        return None, None
    match = _CODE_RE.match(value)
    if not match:
        return None, None
    return match.group(1), ((match.group(2) or match.group(3) or "").strip() or None)


def parse_int(value: str | None) -> int | None:
    match = re.search(r"\d{1,6}", value or "")
    return int(match.group(0)) if match else None


def parse_datetime(value: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """Dates as notification templates write them (`2024/05/01 10:23:45 JST`, `2024年5月1日 10時23分`, RFC 5322)."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        parsed = _parse_local(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None and default_tz is not None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


def _parse_local(text: str) -> datetime | None:
    text = re.sub(r"[年月/.]", "-", text)
    text = re.sub(r"日\s*", " ", text)
    text = re.sub(r"[時分]", ":", text).replace("秒", "")
    text = re.sub(r"\([^)]*\)", " ", text)  # weekday (水) or (JST)
    zone: tzinfo | None = None
    zone_match = re.search(r"\s*(?:([+-])(\d{2}):?(\d{2})|\b(JST|UTC|GMT|Z))\s*$", text)
    if zone_match:
        if zone_match.group(4):
            zone = _ZONES[zone_match.group(4)]
        else:
            sign = -1 if zone_match.group(1) == "-" else 1
            zone = timezone(sign * timedelta(hours=int(zone_match.group(2)), minutes=int(zone_match.group(3))))
        text = text[: zone_match.start()]
    text = re.sub(r"\s+", " ", text).strip().rstrip(":")
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone) if zone else parsed
    return None


def catalogue_entry(catalogue: str, key: str | None, label: str | None, log: logging.Logger) -> CatalogueEntry:
    """The catalogue row for a code, or an `unknown` failure (logged, never dropped); unknown negatives are pending."""
    if key is not None and (entry := lookup(catalogue, key)) is not None:
        return entry
    entry = unknown_entry(catalogue, key or "", label or "")
    if key and key.startswith("-") and key[1:].isdigit():  # InterFAX: negative = still in process
        action_ja, action_en = reason_action(catalogue, FaxReason.IN_PROGRESS)
        return dataclasses.replace(entry, outcome=Outcome.PENDING, reason=FaxReason.IN_PROGRESS.value,
                                   retryable=None, action_ja=action_ja, action_en=action_en)
    log.warning("unknown %s code %r (%s): recorded as a failure of unknown reason", catalogue, key, label or "")
    return entry


def machine_texts(mail: ParsedMail, suffix: str, types: frozenset[str]) -> Iterator[str]:
    """Texts that may hold CSV or XML: inline bodies, decoded text attachments, and `application/*` parts
    of the wanted type or file suffix, which the parse layer leaves undecoded."""
    seen: set[str] = set()
    for part in mail.parts:
        named = (part.filename or "").lower().endswith(suffix)
        if part.text and part.text not in seen and (part.content_type in types or named or not part.is_attachment):
            seen.add(part.text)
            yield part.text
    for part in mail.message.walk():
        if part.is_multipart() or part.get_content_maintype() == "text":
            continue
        filename = (part.get_filename() or "").lower()
        if part.get_content_type() not in types and not filename.endswith(suffix):
            continue
        try:
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - broken transfer encoding: nothing to read
            continue
        if isinstance(data, bytes) and data:
            yield normalize_text(decode_bytes(data[:_MAX_MACHINE_BYTES], part.get_content_charset() or "utf-8"))


#: The ten fields of InterFAX's CSV and XML result formats, by casefolded name.
INTERFAX_FIELDS: tuple[str, ...] = (
    "transactionid", "csid", "pagessent", "status", "originalsubject", "destinationfax", "duration", "submittime",
    "completiontime", "contact",
)


def field_name(name: str) -> str:
    """`"\ufeffTransaction ID "` → `transactionid`: columns and elements compare loosely."""
    return re.sub(r"[\s_\"'\ufeff-]", "", name).casefold()


def interfax_row_result(row: Mapping[str, str], detected_by: str, log: logging.Logger) -> FaxResult:
    """One CSV line or XML transaction element (keys already `field_name`d) as a result."""
    code, label = split_code(row.get("status"))
    if code is None and row.get("status"):
        label = row["status"].strip()
    entry = catalogue_entry("interfax", code, label, log)

    def value(name: str) -> str | None:
        text = (row.get(name) or "").strip()
        return text or None

    return FaxResult(
        vendor="interfax", outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
        detected_by=detected_by, code=code, vendor_message=label,
        fax_number_raw=value("destinationfax"), transaction_id=value("transactionid"),
        original_subject=value("originalsubject"), pages=parse_int(value("pagessent")),
        submitted_at=parse_datetime(value("submittime"), JST), occurred_at=parse_datetime(value("completiontime"), JST),
        action_ja=entry.action_ja, action_en=entry.action_en,
    )
