"""TODO: how this format is recognised."""

from __future__ import annotations

from typing import ClassVar

from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["SatisfaxtionDetector"]


class SatisfaxtionDetector:
    name: ClassVar[str] = "satisfaxtion"
    kind: ClassVar[Kind] = Kind.SATISFAXTION_RESULT

    def detect(self, mail: ParsedMail) -> list[FaxResult] | None:
        return None
