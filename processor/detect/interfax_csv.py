"""InterFAX result notifications in the CSV format, as the body or a CSV attachment.

Recognised by a header row naming InterFAX's ten columns (`TransactionID, CSID, PagesSent, Status,
OriginalSubject, DestinationFax, Duration, SubmitTime, CompletionTime, Contact`) in any order, with spaces,
quotes or a BOM. Read with the csv module because OriginalSubject may contain commas. One result per line,
so a list send gives several.
"""

from __future__ import annotations

import csv
import logging
from typing import ClassVar

from processor.detect._labels import INTERFAX_FIELDS, field_name, interfax_row_result, machine_texts
from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["InterfaxCsvDetector"]

log = logging.getLogger(__name__)

CSV_TYPES = frozenset({"text/csv", "text/comma-separated-values", "application/csv", "application/vnd.ms-excel",
                       "text/x-csv", "application/x-csv"})
MAX_ROWS = 10_000


class InterfaxCsvDetector:
    name: ClassVar[str] = "interfax_csv"
    kind: ClassVar[Kind] = Kind.INTERFAX_RESULT

    def detect(self, mail: ParsedMail) -> list[FaxResult] | None:
        found = False
        results: list[FaxResult] = []
        for text in machine_texts(mail, ".csv", CSV_TYPES):
            if "status" not in text.casefold() or "destinationfax" not in text.casefold().replace(" ", ""):
                continue
            rows = _rows(text)
            if rows is None:
                continue
            found = True
            results.extend(interfax_row_result(row, self.name, log) for row in rows)
        return results if found else None


def _rows(text: str) -> list[dict[str, str]] | None:
    """Data rows below the InterFAX header row, keyed by field name; None when there is no such header."""
    lines = text.lstrip("\ufeff").splitlines()
    header = next((i for i, line in enumerate(lines[:50]) if set(INTERFAX_FIELDS) <= set(_names(line))), None)
    if header is None:
        return None
    names = _names(lines[header])
    rows = []
    for cells in csv.reader(lines[header + 1 : header + 1 + MAX_ROWS], skipinitialspace=True):
        if not any(cell.strip() for cell in cells):
            continue
        rows.append({name: cell.strip() for name, cell in zip(names, cells, strict=False)})
    return rows


def _names(line: str) -> list[str]:
    return [field_name(cell) for cell in next(csv.reader([line], skipinitialspace=True), [])]
