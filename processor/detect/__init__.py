"""Detection stage: `ParsedMail` to `Classification`, by trying each detector in one fixed order."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from functools import lru_cache

from processor.detect.base import Detection, Detector, DetectorSettings
from processor.detect.faxtc_bounce import FaxtcBounceDetector
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.mailbounce import DeliveryReportDetector
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.detect.submission import SubmissionDetector
from processor.parse import ParsedMail
from processor.parse.faxnumber import DEFAULT_COUNTRY, normalize_fax_number
from processor.reasons import Kind
from processor.records import Classification, FaxResult, FaxSubmission
from processor.text import clean_text

__all__ = ["DETECTORS", "Detection", "Detector", "DetectorSettings", "classify", "detectors_for"]

log = logging.getLogger(__name__)

#: Most specific first, heuristics last (flufl.bounce's _DETECTORS order). The first detector that
#: claims a mail wins.
DETECTORS: tuple[Detector, ...] = (
    # Submissions first: the evidence is the mail's own To/Cc/Bcc/RCPT TO naming <number>@fax.tc, which no
    # result or bounce has (a bounce carries the submission only as its embedded original, and mail from the
    # fax domain or a delivery report is never claimed). A submission whose text quotes a result or a
    # `*** … ***` line (a forwarded notification faxed again) must not become a result.
    SubmissionDetector(),
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
#: The settings DETECTORS are built for (the documented config defaults).
DEFAULT_SETTINGS = DetectorSettings()


@lru_cache(maxsize=8)
def detectors_for(fax_domains: tuple[str, ...] = DEFAULT_SETTINGS.fax_domains,
                  number_pattern: str = DEFAULT_SETTINGS.number_pattern,
                  satisfaxtion_senders: tuple[str, ...] = (),
                  submission_mailbox: str = DEFAULT_SETTINGS.submission_mailbox) -> tuple[Detector, ...]:
    """DETECTORS with the deployment's settings: fax domains, number form and copy mailbox of submissions, and
    the sender addresses of the site's NET SatisFAXtion server (its templates are editable, its sender is not)."""
    settings = DetectorSettings(tuple(fax_domains), number_pattern, tuple(satisfaxtion_senders), submission_mailbox)
    if settings == DEFAULT_SETTINGS:
        return DETECTORS
    return tuple(detector.configured(settings) for detector in DETECTORS)


def classify(mail: ParsedMail, default_country: str = DEFAULT_COUNTRY,
             detectors: Sequence[Detector] = DETECTORS) -> Classification:
    """Run the detectors in order; a mail nobody claims is `unrelated`, never dropped."""
    for detector in detectors:
        try:
            detection = detector.detect(mail)
        except Exception:
            log.exception("detector %s failed", detector.name)
            raise
        if detection is None:
            continue
        submission = detection.submission
        return Classification(
            kind=detector.kind, detected_by=detector.name,
            results=tuple(_finish(r, default_country) for r in detection.results),
            submission=_destinations_e164(submission, default_country) if submission is not None else None,
        )
    return Classification(kind=Kind.UNRELATED)


def _finish(result: FaxResult, default_country: str) -> FaxResult:
    """E.164 from the raw number, and text both databases accept: detectors that quote raw bodies (bounce
    texts) can carry NUL bytes or lone surrogates, which PostgreSQL refuses and JSON cannot carry."""
    changes: dict[str, object] = {}
    if result.fax_number_raw and not result.fax_number:
        changes["fax_number"] = normalize_fax_number(result.fax_number_raw, default_country)
    for name in _TEXT_FIELDS:
        value = getattr(result, name)
        if isinstance(value, str) and (cleaned := clean_text(value)) != value:
            changes[name] = cleaned
    return dataclasses.replace(result, **changes) if changes else result


_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(FaxResult) if "str" in str(f.type))


def _destinations_e164(submission: FaxSubmission, default_country: str) -> FaxSubmission:
    """One destination per fax number (E.164): the same number written twice is one fax."""
    seen: set[str] = set()
    destinations = []
    for destination in submission.destinations:
        number = normalize_fax_number(destination.fax_number_raw, default_country)
        key = number or destination.recipient
        if key in seen:
            continue
        seen.add(key)
        destinations.append(dataclasses.replace(destination, fax_number=number))
    return dataclasses.replace(submission, destinations=tuple(destinations))
