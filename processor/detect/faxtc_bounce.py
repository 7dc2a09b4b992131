"""TODO: how this format is recognised."""

from __future__ import annotations

from typing import ClassVar

from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["FaxtcBounceDetector"]


class FaxtcBounceDetector:
    name: ClassVar[str] = "faxtc_bounce"
    kind: ClassVar[Kind] = Kind.INTERFAX_BOUNCE

    def detect(self, mail: ParsedMail) -> list[FaxResult] | None:
        return None
