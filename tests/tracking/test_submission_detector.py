"""Submissions are recognised by their own recipients; subjects lose InterFAX's trailing options."""

from __future__ import annotations

import base64
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from submissionfactory import submission

from processor.detect import DETECTORS, classify, detectors_for
from processor.detect.submission import SubmissionDetector, _addresses
from processor.domains import is_domain_or_subdomain
from processor.parse import parse_mail
from processor.reasons import Kind
from processor.run.judge import classify_bytes
from processor.tracking.rules import strip_subject_options, subject_key


@pytest.mark.parametrize(("subject", "base"), [
    ("見積書送付の件 /b", "見積書送付の件"),
    ("見積書送付の件 /bn", "見積書送付の件"),
    ("見積書 /bb /ib", "見積書"),
    ("見積書 /d 2026-11-20 10:30", "見積書"),
    ("見積書 /d 2026-11-20 10:30 /b", "見積書"),
    ("見積書 /h 山田商事 御中", "見積書"),
    ("見積書 /hn /rs /rf", "見積書"),
    ("見積書 /fonttype Mincho /fontsize 12", "見積書"),
    ("注文書/fontsize 12 /rs", "注文書"),  # no space after Japanese text
    ("Invoice 2026/11 /b", "Invoice 2026/11"),
    ("A/B test results", "A/B test results"),  # a slash inside words is not an option
    ("TCP/IP /b", "TCP/IP"),
    ("Report /x", "Report /x"),  # unknown option: kept
    ("Report /d tomorrow", "Report /d tomorrow"),  # /d needs yyyy-mm-dd hh:mm
    ("Price /bold", "Price /bold"),
    ("/b", ""),
    ("", ""),
])
def test_strip_subject_options(subject: str, base: str) -> None:
    assert strip_subject_options(subject) == base


def test_subject_key_is_width_space_and_case_insensitive_and_60_chars() -> None:
    assert subject_key("ＦＡＸ　見積書  /b") == subject_key("fax 見積書")
    assert subject_key("①見積書") == subject_key("1見積書")
    assert len(subject_key("あ" * 100)) == 60
    assert subject_key("あ" * 100) == subject_key("あ" * 61 + " /b")


@pytest.mark.parametrize(("name", "numbers", "sources", "subject_base"), [
    ("submissions/single-01.eml", ["+81355550101"], ["to"], "見積書送付の件"),
    ("submissions/list-01.eml",
     ["+81344772288", "+81344772289", "+81344772290", "+81344772291", "+81344772292", "+12139999999",
      "+12139999998"], ["to"] * 7, "請求書"),
    ("submissions/cc-01.eml", ["+81655550202"], ["cc"], "注文書"),
    ("submissions/bcc-01.eml", ["+81455550303"], ["bcc"], "納品書"),
    ("not/submission-copy-01.eml", ["+81355550101", "+81655550202"], ["to", "to"], "見積書送付の件"),
])
def test_sample_submissions(data_dir: Path, name: str, numbers: list[str], sources: list[str],
                            subject_base: str) -> None:
    classification = classify(parse_mail((data_dir / name).read_bytes()))
    assert (classification.kind, classification.detected_by) == (Kind.FAX_SUBMISSION, "fax_submission")
    assert classification.results == ()
    submission_ = classification.submission
    assert submission_ is not None
    assert [d.fax_number for d in submission_.destinations] == numbers
    assert [d.source for d in submission_.destinations] == sources
    assert submission_.subject_base == subject_base
    assert submission_.sender == "taro@example.co.jp"
    assert submission_.message_id and submission_.message_id.startswith("<")
    assert submission_.submitted_at is not None


def test_copy_keeps_raw_number_return_path_and_subject(data_dir: Path) -> None:
    classification = classify(parse_mail((data_dir / "not/submission-copy-01.eml").read_bytes()))
    submission_ = classification.submission
    assert submission_ is not None
    assert submission_.return_path == "taro@example.co.jp"
    assert submission_.message_id == "<20240506090000.1234@example.co.jp>"
    assert [(d.fax_number_raw, d.recipient) for d in submission_.destinations] == [
        ("0355550101", "0355550101@fax.tc"), ("06-5555-0202", "06-5555-0202@fax.tc")]


def test_envelope_recipients_of_a_bcc_copy_count() -> None:
    raw = submission(["03-5555-0101"], header="")
    assert classify_bytes(raw)[1].kind == Kind.UNRELATED
    mail, classification = classify_bytes(raw, envelope_recipients=("<0355550101@FAX.TC>", "faxbounce@x.test"))
    assert classification.kind == Kind.FAX_SUBMISSION
    assert classification.submission is not None
    assert [(d.fax_number, d.source) for d in classification.submission.destinations] == [("+81355550101",
                                                                                            "envelope")]
    assert mail.envelope_recipients


def utf8_submission(subject: str, to: str = "0355550101@fax.tc") -> bytes:
    encoded = base64.b64encode(subject.encode()).decode()
    return (f"From: taro@example.co.jp\r\nTo: {to}\r\nSubject: =?UTF-8?B?{encoded}?=\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n\r\nfax\r\n").encode()


# (subject as sent, subject_base as sent): stored and shown as the sender wrote it (README "Stored text is what the
# mail says"); matching folds both sides (`subject_key`), so a result echoing it folded still finds it.
SUBJECTS_AS_SENT = [
    ("①見積書（㈱山田商事） /b", "①見積書（㈱山田商事）"),
    ("注文書 ０３－５５５５－０１０１宛", "注文書 ０３－５５５５－０１０１宛"),
    ("見積書\u3000/b", "見積書"),  # an ideographic space before the option
]


@pytest.mark.parametrize(("subject", "base"), SUBJECTS_AS_SENT)
def test_the_subject_is_kept_as_sent(subject: str, base: str) -> None:
    found = classify_bytes(utf8_submission(subject))[1].submission
    assert found is not None
    assert (found.subject, found.subject_base) == (subject, base)
    assert subject_key(found.subject_base) == subject_key(unicodedata.normalize("NFKC", base))


def test_a_quoted_local_part_is_the_same_fax_address() -> None:
    found = classify_bytes(utf8_submission("見積書", to='"03-5555-0101"@fax.tc'))[1].submission
    assert found is not None
    assert [(d.fax_number, d.fax_number_raw) for d in found.destinations] == [("+81355550101", "03-5555-0101")]


def test_same_number_twice_is_one_destination() -> None:
    classification = classify_bytes(submission(["03-5555-0101", "0355550101", "0081355550101"]))[1]
    assert classification.submission is not None
    assert [d.fax_number for d in classification.submission.destinations] == ["+81355550101"]


def test_results_and_bounces_are_not_submissions(data_dir: Path) -> None:
    """fax.tc bounces carry the submission as their original; they stay bounces (and results stay results; a
    report another MTA wrote about a person, its original Cc'd to a fax number, stays that report)."""
    for path in sorted((data_dir / "faxtc").glob("*.eml")) + sorted((data_dir / "interfax").glob("*.eml")):
        classification = classify(parse_mail(path.read_bytes()))
        assert classification.kind in (Kind.INTERFAX_BOUNCE, Kind.INTERFAX_RESULT, Kind.DSN), path.name
        assert classification.submission is None


def test_mail_from_the_fax_domain_and_reports_are_never_submissions() -> None:
    raw = submission(["03-5555-0101"], sender="mailer-daemon@example.co.jp")
    assert classify_bytes(raw)[1].kind != Kind.FAX_SUBMISSION
    raw = submission(["03-5555-0101"], sender="noreply@fax.tc")
    assert classify_bytes(raw)[1].kind != Kind.FAX_SUBMISSION


def test_non_numbers_at_the_fax_domain_are_not_destinations() -> None:
    raw = submission(["support", "info-desk"])
    assert classify_bytes(raw)[1].kind == Kind.UNRELATED


def test_a_forwarded_notification_faxed_again_is_a_submission(data_dir: Path) -> None:
    """A result mail's text sent to a fax number: the mail's own recipients win over the quoted text."""
    body = (data_dir / "interfax/text-ja-01.eml").read_bytes().replace(
        b"To: taro@example.co.jp", b"To: 0355550101@fax.tc").replace(b"From: InterFAX <support@interfax.co.jp>",
                                                                     b"From: taro@example.co.jp")
    classification = classify_bytes(body)[1]
    assert classification.kind == Kind.FAX_SUBMISSION
    assert classification.results == ()


def test_configured_domains_and_number_form() -> None:
    detectors = detectors_for(("efax.example",), r"fax=(?P<number>\d+)")
    assert detectors is not DETECTORS and isinstance(detectors[0], SubmissionDetector)
    assert detectors_for() is DETECTORS
    mail = parse_mail(submission(["fax=0355550101"], domain="efax.example"))
    classification = classify(mail, detectors=detectors)
    assert classification.kind == Kind.FAX_SUBMISSION
    assert classification.submission is not None
    assert [d.fax_number for d in classification.submission.destinations] == ["+81355550101"]
    assert classify(mail).kind == Kind.UNRELATED
    assert classify(parse_mail(submission(["0355550101"])), detectors=detectors).kind == Kind.UNRELATED


ADDRESS_LISTS = [
    ["0355550101@fax.tc"],
    ["<0355550101@FAX.TC>"],
    ['"山田" <0355550101@fax.tc>, other@example.com'],
    ["0355550101@mail1.fax.tc"],
    ["0355550101@fax . tc"],  # obsolete spacing inside a domain: the parser joins it
    ["0355550101@fax(comment).tc"],
    ['"0355 550101"@fax.tc'],
    ["a@example.com", "0355550101@Fax.Tc"],
    ["0355550101@ＦＡＸ.tc"],
    ["x@fax.tc.example.com"],  # the domain's labels, but no fax address: may pass, must find nothing
]


@pytest.mark.parametrize("values", ADDRESS_LISTS)
def test_the_quick_test_passes_every_header_the_parser_finds_a_fax_address_in(values: list[str]) -> None:
    """`may_name_fax_domain` only spares the address parser: whenever the parser finds an address at a fax
    domain, the quick test must have said yes."""
    detector = SubmissionDetector()
    found = [a for a in _addresses(values) if is_domain_or_subdomain(a.rpartition("@")[2], detector.domains)]
    assert not found or detector.may_name_fax_domain(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from('0123456789faxtcFAXTC.@ <>"(),;:-\u3000ａ'), max_size=40),
                max_size=3))
def test_the_quick_test_never_hides_a_fax_address(values: list[str]) -> None:
    detector = SubmissionDetector()
    found = [a for a in _addresses(values) if is_domain_or_subdomain(a.rpartition("@")[2], detector.domains)]
    assert not found or detector.may_name_fax_domain(values)


def test_the_quick_test_says_no_to_mail_without_the_domain() -> None:
    detector = SubmissionDetector()
    assert not detector.may_name_fax_domain(["Taro <taro@example.com>", "sales@example.co.jp"])
    assert not detector.may_name_fax_domain([])
    assert SubmissionDetector(("fax.example.org",)).may_name_fax_domain(["0355550101@FAX.example.org"])
