"""Every detector keeps one contract: `detect(mail) -> Detection | None`, built for settings by `configured`."""

from __future__ import annotations

from pathlib import Path

import pytest
from submissionfactory import submission

from processor.detect import DETECTORS, Detection, Detector, DetectorSettings, classify, detectors_for
from processor.parse import parse_mail
from processor.reasons import Kind

SAMPLES = ("interfax/csv-01.eml", "interfax/xml-01.eml", "interfax/text-ja-01.eml", "submissions/bcc-01.eml")


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_every_detector_conforms_to_the_protocol(detector: Detector) -> None:
    assert isinstance(detector, Detector)
    rebuilt = detector.configured(DetectorSettings(("efax.example",), r"\d+", ("fax@site.example",)))
    assert isinstance(rebuilt, Detector)
    assert (rebuilt.name, rebuilt.kind) == (detector.name, detector.kind)


def test_detector_names_are_unique() -> None:
    names = [d.name for d in DETECTORS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", SAMPLES)
def test_detect_returns_a_detection_or_none(data_dir: Path, name: str) -> None:
    mail = parse_mail((data_dir / name).read_bytes())
    answers = [detector.detect(mail) for detector in DETECTORS]
    assert all(answer is None or isinstance(answer, Detection) for answer in answers)
    assert any(isinstance(answer, Detection) for answer in answers), name


def test_a_submission_is_a_detection_like_any_other() -> None:
    """The submission detector's Detection carries the submission; classify adds E.164 and merges duplicates."""
    mail = parse_mail(submission(["03-5555-0101", "0355550101", "06-5555-0202"]))
    detection = DETECTORS[0].detect(mail)
    assert detection is not None and detection.results == ()
    assert detection.submission is not None and len(detection.submission.destinations) == 3
    classification = classify(mail)
    assert classification.kind == Kind.FAX_SUBMISSION and classification.results == ()
    assert classification.submission is not None
    assert [d.fax_number for d in classification.submission.destinations] == ["+81355550101", "+81655550202"]


def test_settings_reach_only_the_detectors_that_read_them() -> None:
    default = detectors_for()
    assert default is DETECTORS
    configured = detectors_for(("efax.example",), r"fax=(?P<number>\d+)", ("fax@site.example",))
    changed = [d.name for d, before in zip(configured, DETECTORS, strict=True) if d is not before]
    assert changed == ["fax_submission", "satisfaxtion"]
    assert [d.name for d in configured] == [d.name for d in DETECTORS]
