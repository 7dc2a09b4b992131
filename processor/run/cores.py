"""The cores this process may use: what the worker count and `classify`'s processes are sized by."""

from __future__ import annotations

import os

__all__ = ["usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask, as `taskset`, cgroup CPU sets and container
    runtimes set it (a container limited to 2 of a host's 64 cores gets 2), where `os.cpu_count()` counts the
    host's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
