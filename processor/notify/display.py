"""Human output made safe and readable: local times, numbers as people write them, no terminal escapes,
no spreadsheet formulas.

Text that faxbounce prints comes from mail it received: anyone can put ESC sequences (OSC 52 writes the
clipboard, OSC 8 hides links) or a `=HYPERLINK(…)` formula in a subject. Every human output goes through
`printable`, every CSV cell through `csv_cell`.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers

from processor import regex_cache

__all__ = ["CSV_BOM", "csv_cell", "csv_text", "local_time", "national", "printable"]

CSV_BOM = "\ufeff"
"""Excel on Japanese Windows reads a CSV as Shift_JIS unless it starts with a UTF-8 byte order mark."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""OWASP's list: a cell starting with one of these is taken as a formula by spreadsheet programs."""
_PLAIN_NUMBER = regex_cache.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
"""A signed number alone (`+81355550101`, `-3`) is a value, not a formula: it is left as it is."""
_CONTROL = regex_cache.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: object, *, keep_newlines: bool = True) -> str:
    """`text` with every control character (C0 but TAB and LF, DEL, C1, bidi overrides) replaced by U+FFFD,
    so no ESC/CSI/OSC sequence, no C1 CSI (0x9b) and no carriage-return overwrite reaches a terminal."""
    value = "" if text is None else str(text)
    value = _CONTROL.sub("\ufffd", value)
    return value if keep_newlines else value.replace("\n", " ").replace("\t", " ")


def csv_cell(value: object) -> str:
    """One CSV cell: None as empty, control characters replaced, and a leading `= + - @ TAB CR` made inert
    with a `'` in front (OWASP's rule), so no spreadsheet runs it as a formula. A signed number alone is
    left as it is (an E.164 number is no formula, and a quote would spoil every one of them)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        text = "'" + text
    return printable(text)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV document: BOM, CRLF line ends (what Excel writes), every cell through `csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return CSV_BOM + out.getvalue()


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(value: datetime | None, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as people read it (display.timezone), or `-`."""
    if value is None:
        return "-"
    return value.astimezone(_zone(timezone)).strftime(fmt)


@cache
def national(e164: str | None, country: str = "JP") -> str | None:
    """`+81355550101` as people in `country` write it (`03-5555-0101`); a number of another country in the
    international form (`+1 212-555-0100`); None for None, and unparsable text comes back as it was."""
    if not e164:
        return None
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_possible_number(number):
        return e164
    local = phonenumbers.region_code_for_number(number) == country
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if local
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def width(text: str) -> int:
    """Columns a string takes on a terminal (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))
