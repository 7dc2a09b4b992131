"""The one contract every detector follows (after flufl.bounce's BounceDetector and Sisimai's Lhost).

A detector recognises one mail format. `detect` returns None when the mail is not of its format ("not
mine" is a value, not an exception), else a `Detection`: the results it found (possibly none) and, for a
submission, the fax submission. `classify` turns a Detection into the mail's `Classification` the same
way for every detector. Detectors fill `fax_number_raw`; `classify` makes it E.164 with the configured
default country.

Deployment settings reach a detector through `configured(settings)`, which returns the detector for those
settings (itself when its format takes none): `detectors_for` asks every detector, knowing none of them.

Two optional members, which `classify` asks for where a detector has them: `reads_attachments = True` (its
evidence is an attached file's structure, never free text, so it may read a forward's attachments) and
`marks(mail)` (why mail it could not read still bears its vendor's marks, for a sender the site configured).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol, Self, runtime_checkable

from processor.catalogues import vendor_hosts
from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult, FaxSubmission

__all__ = ["Detection", "Detector", "DetectorSettings", "NeedsNoSettings"]

_INTERFAX = vendor_hosts("interfax")


@dataclass(frozen=True, slots=True)
class Detection:
    """What a detector found in a mail it claims: its part of the mail's `Classification`."""

    results: tuple[FaxResult, ...] = ()
    """Fax results (one per fax; none when the mail is the detector's but reports nothing yet)."""
    submission: FaxSubmission | None = None
    """The fax submission, for mails sent to the fax service."""

    @classmethod
    def of(cls, results: Iterable[FaxResult]) -> Self:
        return cls(results=tuple(results))


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """The deployment settings detectors read; the defaults are the documented config defaults."""

    fax_domains: tuple[str, ...] = _INTERFAX.submission_domains
    """`tracking.fax_domains`: `<number>@<domain>` is a fax submission."""
    number_pattern: str = _INTERFAX.number_pattern
    """`tracking.number_pattern`: the submission address's local part."""
    satisfaxtion_senders: tuple[str, ...] = ()
    """`processing.satisfaxtion_senders`: the site's NET SatisFAXtion notification senders."""
    submission_mailbox: str = "fax-submissions"
    """`tracking.submission_mailbox`: copies sent to `<mailbox>+<number>@…` name a fax number (Bcc-only faxes)."""


@runtime_checkable
class Detector(Protocol):
    name: ClassVar[str]
    """Short stable name, stored as `detected_by` (`interfax_csv`)."""
    kind: ClassVar[Kind]

    def detect(self, mail: ParsedMail) -> Detection | None: ...

    def configured(self, settings: DetectorSettings) -> Detector:
        """This detector for the deployment's settings."""
        ...


class NeedsNoSettings:
    """For detectors whose format no setting changes: `configured` returns the detector itself."""

    def configured(self, settings: DetectorSettings) -> Self:
        return self
