"""The collector and long-lived processes: what start-up made is frozen out of its full collections.

Python's full (oldest-generation) collection walks every tracked object. After start-up a daemon holds
hundreds of thousands of them that live as long as the process (modules, SQLAlchemy's tables and compiled
statements, the detectors' tables), and a full collection came every few thousand mails: measured under 500
msg/s on SQLite, the SMTP process paused 27-31 ms twice in 5,000 mails, about the p99 of its replies, and a
worker 14 ms, inside its recording transaction, holding SQLite's write lock. `gc.freeze` moves every object
alive now into a generation the collector never walks; garbage made later is collected as before.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_long_lived"]


def freeze_long_lived() -> int:
    """Collect what start-up left as garbage, then freeze the rest; returns the number of objects frozen.
    Called once the process has made what it keeps (the daemon when it listens; a worker after its first
    mail, which imports the parsers and detectors)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
