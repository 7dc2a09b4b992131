"""Judging one mail without a database: parse, classify, and whether a vendor notice came through the vendor.

Kept apart from the pipeline so that `faxbounce classify` and `explain` import no SQLAlchemy (start-up time).
"""

from __future__ import annotations

from processor.config import ProcessingSettings, Settings, TrackingSettings
from processor.detect import classify, detectors_for
from processor.detect.trust import claims_vendor, received_through_vendor
from processor.parse import ParsedMail, parse_mail
from processor.reasons import Kind
from processor.records import Classification

__all__ = ["VENDOR_KINDS", "classify_bytes", "trusted"]

#: Kinds that claim to come from a vendor, so whose Received chain is checked (phishing look-alikes exist).
VENDOR_KINDS = frozenset({Kind.INTERFAX_RESULT, Kind.INTERFAX_BOUNCE})


def classify_bytes(raw: bytes, settings: ProcessingSettings | None = None, tracking: TrackingSettings | None = None,
                   envelope_recipients: tuple[str, ...] = ()) -> tuple[ParsedMail, Classification]:
    """Parse and classify one mail. Raises ParseError when the bytes are not a mail at all.

    `envelope_recipients` (RCPT TO of the stored copy) let a BCC copy of a fax submission be recognised."""
    settings = settings or ProcessingSettings()
    tracking = tracking or TrackingSettings()
    mail = parse_mail(raw, envelope_recipients)
    detectors = detectors_for(tuple(tracking.fax_domains), tracking.number_pattern,
                              tuple(settings.satisfaxtion_senders), tracking.submission_mailbox)
    return mail, classify(mail, default_country=settings.default_country, detectors=detectors)


def trusted(mail: ParsedMail, classification: Classification, settings: Settings,
            peer: str | None = None) -> bool | None:
    """For vendor notifications: did the mail pass through the vendor's servers? None for mail that does not
    present itself as the vendor's (`claims_vendor`: other kinds, forwards, other MTAs' reports)."""
    if not claims_vendor(mail, classification):
        return None
    peer_ip = peer.rsplit(":", 1)[0].strip("[]") if peer and not peer.startswith("ingest:") else None
    return received_through_vendor(mail.received, settings.trust.vendor_hosts, settings.trust.relays,
                                   peer_ip)
