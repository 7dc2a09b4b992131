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
    remote_host: str = ""
    """The MTA that answered (Remote-MTA, or the host the diagnostic names), for provider rules."""
    local_host: str = ""
    """The MTA that wrote the report (Reporting-MTA, else the bounce's Received: hops)."""
    reason: str = ""
    pseudo: str = ""
    """How to make a status when the report has none: '' or `-` (from the reason), `temporary`, `onhold`."""
    """Set by a reader that knows better than the phrase tables (e.g. a vendor's own wording)."""
