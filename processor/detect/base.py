"""The one protocol every detector follows (after flufl.bounce's BounceDetector and Sisimai's Lhost).

A detector recognises one mail format. `detect` returns None when the mail is not of its format ("not
mine" is a value, not an exception), else the results it found (possibly none). Detectors fill
`fax_number_raw`; `classify` turns it into E.164 with the configured default country.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["Detector"]


@runtime_checkable
class Detector(Protocol):
    name: ClassVar[str]
    """Short stable name, stored as `detected_by` (`interfax_csv`)."""
    kind: ClassVar[Kind]

    def detect(self, mail: ParsedMail) -> list[FaxResult] | None: ...
