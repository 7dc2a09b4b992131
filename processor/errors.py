"""The exceptions faxbounce raises on purpose; everything derives from FaxbounceError.

Outcomes ("not my format", "no result") are values, not exceptions: these are for real faults.
"""

from __future__ import annotations

__all__ = [
    "CatalogueError",
    "ConfigError",
    "DatabaseBusy",
    "FaxbounceError",
    "ParseError",
    "ProcessDied",
    "RawStoreError",
]


class FaxbounceError(Exception):
    """Base of every error faxbounce raises itself."""


class ConfigError(FaxbounceError):
    """A configuration file or variable is wrong; the message names the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}")
        self.key = key
        self.problem = problem


class RawStoreError(FaxbounceError):
    """The raw message could not be made durable; the SMTP side answers 4xx."""


class ParseError(FaxbounceError):
    """A message could not be parsed at all; it stays stored raw and is marked unparseable."""


class CatalogueError(FaxbounceError):
    """A catalogue data file is malformed (caught at load time, never at classification time)."""


class DatabaseBusy(FaxbounceError):
    """Another session held what a change of the schema needed; nothing was changed and retrying may help."""


class ProcessDied(FaxbounceError):
    """A process doing part of a command's work died (killed, out of memory); running it again may help."""
