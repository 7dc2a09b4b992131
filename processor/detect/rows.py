"""InterFAX's machine result formats (CSV and XML) share ten fields and one reading: every text of the
mail that may hold the format is read, and each row (CSV line, XML transaction element) is one result.
A format module supplies only how to find the rows in one text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence

from processor.catalogues import labels
from processor.detect.attachments import machine_texts
from processor.detect.base import Detection
from processor.detect.codes import catalogue_entry
from processor.detect.dates import JST, parse_datetime
from processor.detect.labels import identifier, parse_int, split_code
from processor.parse import ParsedMail
from processor.parse.charset import fold_text
from processor.parse.faxnumber import find_fax_number
from processor.records import FaxResult

__all__ = ["INTERFAX_FIELDS", "Row", "field_name", "interfax_rows_detection", "row_result"]

Row = Mapping[str, str]
"""One CSV line or XML transaction element, keyed by `field_name`."""

def field_name(name: str) -> str:
    """`"\ufeffTransaction ID "` → `transactionid`: columns and elements compare loosely (also in full width)."""
    return re.sub(r"[\s_\"'\ufeff-]", "", fold_text(name)).casefold()


#: The ten fields of InterFAX's CSV and XML result formats (catalogue data), by `field_name`.
INTERFAX_FIELDS: tuple[str, ...] = tuple(field_name(name) for name in labels("interfax")["machine_fields"])


def interfax_rows_detection(mail: ParsedMail, suffix: str, types: frozenset[str],
                            rows_in: Callable[[str], Sequence[Row] | None], detected_by: str,
                            log: logging.Logger) -> Detection | None:
    """One result per row of every text `rows_in` recognises: a list send gives several. None when there is no
    row: a CSV of the header row alone, an empty list, is a notice whose results cannot be read, so it is left to
    the vendor marks (`unrecognized`: warned about, listed to look at), never claimed with no result."""
    results: list[FaxResult] = []
    seen: set[tuple[str | None, str | None]] = set()
    for text in machine_texts(mail, suffix, types):
        for row in rows_in(text) or ():
            result = row_result(row, detected_by, log)
            key = (result.transaction_id, result.code)
            if result.transaction_id and key in seen:
                continue  # the same file twice (a plain part and its HTML alternative, say): one result per row
            seen.add(key)
            results.append(result)
    return Detection.of(results) if results else None


def row_result(row: Row, detected_by: str, log: logging.Logger) -> FaxResult:
    """One row as a result; an unpublished status is recorded as a failure of unknown reason."""
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
        fax_number_raw=find_fax_number(value("destinationfax")), transaction_id=identifier(value("transactionid")),
        original_subject=value("originalsubject"), pages=parse_int(value("pagessent")),
        submitted_at=parse_datetime(value("submittime"), JST), occurred_at=parse_datetime(value("completiontime"), JST),
        action_ja=entry.action_ja, action_en=entry.action_en,
    )
