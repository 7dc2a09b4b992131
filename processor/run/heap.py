"""The collector and long-lived processes: what start-up made is frozen out of its full collections.

Python's full (oldest-generation) collection walks every tracked object. After start-up the daemon and each
worker hold tens of thousands that live as long as the process (modules, SQLAlchemy's tables and compiled
statements, the detectors' tables: 69,000 in the daemon, 78,500 in a worker). Recorded under 500 msg/s on
SQLite, a full collection paused the SMTP process 30-50 ms in the middle of a load, about the p99 of its
replies, and a worker 17-35 ms, which inside a recording transaction holds SQLite's write lock. `gc.freeze`
moves every object alive now into a generation the collector never walks; garbage made later is collected
as before. The price: an object alive at the freeze that later ends in a reference cycle is never freed
(reference counting still frees the others), so what can leak is bounded by that one snapshot.
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
