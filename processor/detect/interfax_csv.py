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

from processor.detect.base import Detection, NeedsNoSettings
from processor.detect.rows import INTERFAX_FIELDS, Row, field_name, interfax_rows_detection
from processor.parse import ParsedMail
from processor.reasons import Kind

__all__ = ["InterfaxCsvDetector"]

log = logging.getLogger(__name__)

CSV_TYPES = frozenset({"text/csv", "text/comma-separated-values", "application/csv", "application/vnd.ms-excel",
                       "text/x-csv", "application/x-csv"})
MAX_ROWS = 10_000


class InterfaxCsvDetector(NeedsNoSettings):
    name: ClassVar[str] = "interfax_csv"
    kind: ClassVar[Kind] = Kind.INTERFAX_RESULT
    reads_attachments: ClassVar[bool] = True
    """Its evidence is a file's header row or elements, never free text: safe to run on a forward's attachments."""

    def detect(self, mail: ParsedMail) -> Detection | None:
        return interfax_rows_detection(mail, ".csv", CSV_TYPES, _rows, self.name, log)


def _rows(text: str) -> list[Row] | None:
    """Data rows below the InterFAX header row, keyed by field name; None when there is no such header."""
    if "status" not in text.casefold() or "destinationfax" not in text.casefold().replace(" ", ""):
        return None
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
