"""One recipient's facts as a reader found them in a report, before the reason is decided."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_DIAGNOSIS", "Delivery"]

MAX_DIAGNOSIS = 2048
"""Characters of a recipient's diagnostic that are kept and matched. The longest of the 663 in the corpus and the
test data is 1,199 (the 99th percentile 713). The bound is for hostile text: some of the reason tables'
patterns (Sisimai's `\b550\b.*phrase`) are quadratic in the length of a text that holds many of their first
word and not their phrase, and 60 KB of `550 ` took 33 s to match against one provider's wordings."""


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

    def __setattr__(self, name: str, value: object) -> None:
        # Every reader sets or extends `diagnosis` its own way: the bound holds whichever did.
        if name == "diagnosis" and isinstance(value, str) and len(value) > MAX_DIAGNOSIS:
            value = value[:MAX_DIAGNOSIS]
        object.__setattr__(self, name, value)
