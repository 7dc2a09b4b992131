"""TODO: how this format is recognised."""

from __future__ import annotations

from typing import ClassVar

from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["DeliveryReportDetector"]


class DeliveryReportDetector:
    name: ClassVar[str] = "dsn"
    kind: ClassVar[Kind] = Kind.DSN

    def detect(self, mail: ParsedMail) -> list[FaxResult] | None:
        return None
