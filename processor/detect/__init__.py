"""Detection stage: `ParsedMail` to `Classification`, by trying each detector in one fixed order."""

from __future__ import annotations

import dataclasses
import logging

from processor.detect.base import Detector
from processor.detect.dsn import DeliveryReportDetector
from processor.detect.faxtc_bounce import FaxtcBounceDetector
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.faxnumber import DEFAULT_COUNTRY, normalize_fax_number
from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import Classification

__all__ = ["DETECTORS", "Detector", "classify"]

log = logging.getLogger(__name__)

#: Most specific first, heuristics last (flufl.bounce's _DETECTORS order). The first detector that
#: claims a mail wins.
DETECTORS: tuple[Detector, ...] = (
    # From MAILER-DAEMON@fax.tc, or a report about a …@fax.tc recipient: the submission mail was refused.
    FaxtcBounceDetector(),
    # InterFAX result mails: machine formats first (one result per row or element), then labelled text.
    InterfaxXmlDetector(),
    InterfaxCsvDetector(),
    InterfaxResultDetector(),
    # NET SatisFAXtion templates: configured senders or its labels.
    SatisfaxtionDetector(),
    # Any other delivery report (RFC 3464 and the common non-standard bounce texts).
    DeliveryReportDetector(),
)


def classify(mail: ParsedMail, default_country: str = DEFAULT_COUNTRY) -> Classification:
    """Run the detectors in order; a mail nobody claims is `unrelated`, never dropped."""
    for detector in DETECTORS:
        try:
            results = detector.detect(mail)
        except Exception:
            log.exception("detector %s failed", detector.name)
            raise
        if results is None:
            continue
        normalized = tuple(
            dataclasses.replace(r, fax_number=normalize_fax_number(r.fax_number_raw, default_country))
            if r.fax_number_raw and not r.fax_number
            else r
            for r in results
        )
        return Classification(kind=detector.kind, detected_by=detector.name, results=normalized)
    return Classification(kind=Kind.UNRELATED)
