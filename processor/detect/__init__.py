"""Detection stage: `ParsedMail` to `Classification`, by trying each detector in one fixed order."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from functools import lru_cache

from processor.detect.base import Detector
from processor.detect.dsn import DeliveryReportDetector
from processor.detect.faxtc_bounce import FaxtcBounceDetector
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.detect.submission import (
    DEFAULT_FAX_DOMAINS,
    DEFAULT_NUMBER_PATTERN,
    DEFAULT_SUBMISSION_MAILBOX,
    SubmissionDetector,
)
from processor.parse import ParsedMail
from processor.parse.faxnumber import DEFAULT_COUNTRY, normalize_fax_number
from processor.reasons import Kind
from processor.records import Classification, FaxResult

__all__ = ["DETECTORS", "Detector", "classify", "detectors_for"]

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


@lru_cache(maxsize=8)
def detectors_for(fax_domains: tuple[str, ...] = DEFAULT_FAX_DOMAINS,
                  number_pattern: str = DEFAULT_NUMBER_PATTERN,
                  satisfaxtion_senders: tuple[str, ...] = (),
                  submission_mailbox: str = DEFAULT_SUBMISSION_MAILBOX) -> tuple[Detector, ...]:
    """DETECTORS with the deployment's settings: fax domains and number form of submissions, and the sender
    addresses of the site's NET SatisFAXtion server (its templates are editable, its sender is not)."""
    if (fax_domains, number_pattern, satisfaxtion_senders, submission_mailbox) == (
            DEFAULT_FAX_DOMAINS, DEFAULT_NUMBER_PATTERN, (), DEFAULT_SUBMISSION_MAILBOX):
        return DETECTORS
    submission = SubmissionDetector(fax_domains, number_pattern, submission_mailbox)
    satisfaxtion = SatisfaxtionDetector(senders=satisfaxtion_senders)
    return tuple(submission if isinstance(d, SubmissionDetector)
                 else satisfaxtion if isinstance(d, SatisfaxtionDetector) else d for d in DETECTORS)


def classify(mail: ParsedMail, default_country: str = DEFAULT_COUNTRY,
             detectors: Sequence[Detector] = DETECTORS) -> Classification:
    """Run the detectors in order; a mail nobody claims is `unrelated`, never dropped."""
    for detector in detectors:
        try:
            results = detector.detect(mail)
        except Exception:
            log.exception("detector %s failed", detector.name)
            raise
        if results is None:
            continue
        normalized = tuple(_finish(r, default_country) for r in results)
        if isinstance(detector, SubmissionDetector):
            return _submission(detector, mail, default_country)
        return Classification(kind=detector.kind, detected_by=detector.name, results=normalized)
    return Classification(kind=Kind.UNRELATED)


def _finish(result: FaxResult, default_country: str) -> FaxResult:
    """E.164 from the raw number, and text both databases accept: detectors that quote raw bodies (bounce
    texts) can carry NUL bytes or lone surrogates, which PostgreSQL refuses and JSON cannot carry."""
    changes: dict[str, object] = {}
    if result.fax_number_raw and not result.fax_number:
        changes["fax_number"] = normalize_fax_number(result.fax_number_raw, default_country)
    for name in _TEXT_FIELDS:
        value = getattr(result, name)
        if isinstance(value, str) and (cleaned := _clean_text(value)) != value:
            changes[name] = cleaned
    return dataclasses.replace(result, **changes) if changes else result


def _clean_text(value: str) -> str:
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(FaxResult) if "str" in str(f.type))


def _submission(detector: SubmissionDetector, mail: ParsedMail, default_country: str) -> Classification:
    """One destination per fax number (E.164): the same number written twice is one fax."""
    submission = detector.read(mail)
    if submission is None:  # pragma: no cover - detect() has just claimed the mail
        return Classification(kind=Kind.UNRELATED)
    seen: set[str] = set()
    destinations = []
    for destination in submission.destinations:
        number = normalize_fax_number(destination.fax_number_raw, default_country)
        key = number or destination.recipient
        if key in seen:
            continue
        seen.add(key)
        destinations.append(dataclasses.replace(destination, fax_number=number))
    return Classification(kind=detector.kind, detected_by=detector.name,
                          submission=dataclasses.replace(submission, destinations=tuple(destinations)))
