"""One recipient's facts as a reader found them in a report, before the reason is decided."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Delivery"]


@dataclass(slots=True)
class Delivery:
    """Mutable on purpose: the readers fill it in steps (fields, then the human text, then the matcher)."""

    recipient: str
    action: str = ""
    status: str = ""
    diagnosis: str = ""
    diagnostic_type: str = ""
    reply: str = ""
    command: str = ""
    date: str = ""
    reason: str = ""
    """Set by a reader that knows better than the phrase tables (e.g. a vendor's own wording)."""
