"""Detection stage: `ParsedMail` to `Classification`, by trying each detector in one fixed order."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache

from processor.detect.base import Detection, Detector, DetectorSettings
from processor.detect.faxtc_bounce import FaxtcBounceDetector, bounces_from_report
from processor.detect.forwards import Forward, forwarded_mails
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.mailbounce import DeliveryReportDetector
from processor.detect.marks import plainly_other, vendor_marks
from processor.detect.replies import conversation
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
#: A forward of a forward of a forward is read; deeper nesting is no notice a person forwarded.
MAX_FORWARD_DEPTH = 3
UNRELATED = Classification(kind=Kind.UNRELATED)


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
    """What `mail` is and the results it reports; a mail nobody claims is `unrecognized` when it bears a
    vendor's marks and `unrelated` otherwise, never dropped."""
    found = _classify(mail, detectors, depth=0)
    return dataclasses.replace(
        found, results=_one_per_event(_finish(r, default_country) for r in found.results),
        submission=_destinations_e164(found.submission, default_country) if found.submission is not None else None)


def _one_per_event(results: Iterable[FaxResult]) -> tuple[FaxResult, ...]:
    """A forward that carries one notice twice (inline and attached, or quoted twice) reports it once; so does
    a notice that writes the same result twice, alike in every field (a responsive template's desktop table
    and its mobile cards, one hidden by a style sheet's class, which a text reading cannot see)."""
    seen: set[str] = set()
    same: set[FaxResult] = set()
    kept: list[FaxResult] = []
    for result in results:
        key = result.event_key
        if key is not None:
            if result in same or (result.forwarded and key in seen):
                continue
            seen.add(key)
            same.add(result)
        kept.append(result)
    return tuple(kept)


def _classify(mail: ParsedMail, detectors: Sequence[Detector], depth: int) -> Classification:
    """Who may make a result, in this order:

    1. the mail's own recipients make it a fax submission (never for a forwarded mail);
    2. replies and auto-replies make none (people write them; the notice they answer was read already);
    3. a forward makes the results of the notices inside it, marked `forwarded`; the forwarder's own text
       (its quoted header block, its note) is never read as a notice;
    4. the vendor notices and delivery reports themselves, each detector in turn.
    """
    readers = [d for d in detectors if d.kind is not Kind.FAX_SUBMISSION]
    if depth == 0:
        for detector in detectors:
            if detector.kind is Kind.FAX_SUBMISSION and (found := _run(detector, mail)) is not None:
                return found
    if conversation(mail) is not None or plainly_other(mail):
        return UNRELATED
    forward = forwarded_mails(mail) if depth < MAX_FORWARD_DEPTH else Forward((), False)
    inner = [_classify(m, readers, depth + 1) for m in forward.mails]
    if reported := [c for c in inner if c.results]:
        return Classification(kind=reported[0].kind, detected_by=reported[0].detected_by,
                              results=tuple(dataclasses.replace(r, forwarded=True) for c in reported
                                            for r in c.results))
    if forward.explicit:
        # A notice's CSV or XML file rides along when a person forwards it inline (Outlook and Thunderbird keep
        # the attachments): read by the detectors of attached files, never from the forwarder's own text.
        for detector in readers:
            if getattr(detector, "reads_attachments", False) and (found := _run(detector, mail)) is not None:
                return dataclasses.replace(found, results=tuple(
                    dataclasses.replace(r, forwarded=True) for r in found.results))
        marks = tuple(mark for c in inner for mark in c.marks)
        return Classification(kind=Kind.UNRECOGNIZED, marks=marks) if marks else UNRELATED
    for detector in readers:
        if (found := _run(detector, mail)) is not None:
            return found
    # A detector configured with a site's own sender (NET SatisFAXtion's fax server) knows marks that the fixed
    # vendor list does not: its optional `marks(mail)`.
    marks = vendor_marks(mail) + tuple(mark for d in readers if (own := getattr(d, "marks", None))
                                       for mark in own(mail))
    return Classification(kind=Kind.UNRECOGNIZED, marks=marks) if marks else UNRELATED


def _run(detector: Detector, mail: ParsedMail) -> Classification | None:
    try:
        detection = detector.detect(mail)
    except Exception:
        log.exception("detector %s failed", detector.name)
        raise
    if detection is None:
        return None
    if detector.kind is Kind.DSN and (bounces := bounces_from_report(mail, detection.results)) is not None:
        if not bounces:  # only success about fax addresses: mail reached fax.tc, which reports nothing
            return UNRELATED
        return Classification(kind=Kind.INTERFAX_BOUNCE, detected_by=FaxtcBounceDetector.name, results=bounces)
    return Classification(kind=detector.kind, detected_by=detector.name, results=detection.results,
                          submission=detection.submission)


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
