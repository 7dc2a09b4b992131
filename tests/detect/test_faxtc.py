"""Bounces from MAILER-DAEMON@fax.tc, and no false positives on 629 bounces written by other mail servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.detect import classify
from processor.detect.faxtc_bounce import FaxtcBounceDetector
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.parse import parse_mail
from processor.reasons import Kind, Outcome

B = "interfax_bounce"
MESSAGE_ID = "<20240506090000.1234@example.co.jp>"

# (file, kind, result count, code, reason, fax number E.164 of the first result, original Message-ID)
FIXTURES = [
    ("faxtc/bounce-01.eml", B, 2, "No recipients found", "no_recipients", "+81355550101", MESSAGE_ID),  # Postfix
    ("faxtc/bounce-02.eml", B, 2, "Cannot find password in body", "password_missing", "+81355550101", MESSAGE_ID),
    ("faxtc/bounce-03.eml", B, 1, "Message contains unsupported attachments", "unsupported_attachment",
     "+12139999999", "<CAF=drawings@mail.example.com>"),  # not MIME, quoted headers
    ("faxtc/bounce-04.eml", B, 1, "Could not authenticate with password from body", "password_invalid",
     "+81355550101", None),  # cause only in Diagnostic-Code
    ("faxtc/bounce-05.eml", B, 2, "Attachment count exceeds the limit", "unknown", "+81355550101", MESSAGE_ID),
    ("faxtc/bounce-06.eml", B, 2, "Failed ticket authentication - FaxInfo.XML not found", "ticket_auth_enabled",
     "+81355550101", MESSAGE_ID),  # the customer's own MTA reports fax.tc's refusal
]
SUBJECTS = [
    "Undelivered Mail Returned to Sender", "Mail Delivery Subsystem", "Error sending message from mx.example.jp",
    "Delivery Status Notification (Failure)", "Returned mail: see transcript for details",
]
MY_DETECTORS = (FaxtcBounceDetector(), InterfaxXmlDetector(), InterfaxCsvDetector(), InterfaxResultDetector(),
                SatisfaxtionDetector())


@pytest.mark.parametrize(("name", "kind", "count", "code", "reason", "fax_number", "message_id"), FIXTURES,
                         ids=[row[0] for row in FIXTURES])
def test_fixture_table(data_dir: Path, name: str, kind: str, count: int, code: str, reason: str,
                       fax_number: str, message_id: str | None) -> None:
    result = classify(parse_mail((data_dir / name).read_bytes()))
    assert (result.kind, result.detected_by, len(result.results)) == (kind, "faxtc_bounce", count)
    first = result.results[0]
    assert (first.code, first.reason, first.fax_number, first.original_message_id) == (code, reason, fax_number,
                                                                                     message_id)
    assert (first.vendor, first.outcome, first.retryable) == ("interfax", Outcome.FAILED, False)
    assert first.vendor_message == f"*** {code} ***"
    assert first.recipient and first.recipient.lower().endswith("@fax.tc")
    assert first.transaction_id is None and first.action_ja and first.action_en


def test_every_recipient_of_the_original_gets_a_result(data_dir: Path) -> None:
    results = classify(parse_mail((data_dir / "faxtc/bounce-01.eml").read_bytes())).results
    assert [(r.recipient, r.fax_number) for r in results] == [
        ("0355550101@fax.tc", "+81355550101"), ("06-5555-0202@fax.tc", "+81655550202"),
    ]
    assert {r.original_subject for r in results} == {"見積書送付の件"}
    assert results[0].submitted_at is not None and results[0].submitted_at.isoformat() == "2024-05-06T09:00:00+09:00"


def bounce(subject: str, line: str, original: str = "To: 0355550101@fax.tc\nSubject: Order\n") -> bytes:
    return (f"From: Mail Delivery System <MAILER-DAEMON@fax.tc>\nTo: taro@example.co.jp\nSubject: {subject}\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=Z\n\n"
            f"--Z\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n{line}\n"
            f"--Z\nContent-Type: text/rfc822-headers\n\n{original}\n--Z--\n").encode()


def seed_lines(shared_dir: Path) -> list[str]:
    for path in sorted((shared_dir / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if "MAILER-DAEMON@fax.tc" in text:
            return re.findall(r"\*\*\* .+? \*\*\*", text)
    pytest.fail("guide seed not found")


@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_seed_line_under_every_subject(shared_dir: Path, subject: str) -> None:
    lines = seed_lines(shared_dir)
    assert len(lines) == 8
    for line in lines:
        result = classify(parse_mail(bounce(subject, line)))
        assert result.kind == Kind.INTERFAX_BOUNCE
        (fax,) = result.results
        assert fax.vendor_message == line and fax.reason != "unknown", line
        assert (fax.recipient, fax.fax_number, fax.original_subject) == ("0355550101@fax.tc", "+81355550101", "Order")


def test_the_last_line_wins_and_unknown_lines_are_kept() -> None:
    raw = bounce("Undelivered Mail", "*** No documents found ***\n\n*** Cannot authenticate - signature not found ***")
    (result,) = classify(parse_mail(raw)).results
    assert result.reason == "signature_missing"
    (unknown,) = classify(parse_mail(bounce("x", "***   Something new happened ***"))).results
    assert (unknown.code, unknown.outcome, unknown.reason) == ("Something new happened", Outcome.FAILED, "unknown")


def test_bounce_without_a_recoverable_recipient_gives_one_result() -> None:
    raw = b"From: MAILER-DAEMON@fax.tc\nSubject: Returned mail\n\nSorry.\n\n*** No documents found ***\n"
    (result,) = classify(parse_mail(raw)).results
    assert (result.reason, result.recipient, result.fax_number) == ("no_documents", None, None)


def test_reports_about_other_recipients_are_not_claimed() -> None:
    raw = bounce("Undelivered Mail", "*** No recipients found ***", "To: someone@example.com\n").replace(
        b"MAILER-DAEMON@fax.tc", b"MAILER-DAEMON@example.com")
    assert FaxtcBounceDetector().detect(parse_mail(raw)) is None


def test_no_false_positives_on_the_shared_bounce_corpus(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "bsd").glob("*.eml"))
    assert len(files) == 629
    claimed = []
    for path in files:
        mail = parse_mail(path.read_bytes())
        claimed += [(path.name, d.name) for d in MY_DETECTORS if d.detect(mail) is not None]
    assert claimed == []


HOSTILE = ["*** " + "a b " * 50000, "送信結果\t" * 20000, "5" * 100000 + "^" * 500, "1^" * 50000, "*** x ***" * 20000,
           "Status: " * 20000, "5035550123^" + "a" * 100000, "\t\t■■" * 20000]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_long_lines_stay_linear(body: str) -> None:
    mail = parse_mail(f"From: MAILER-DAEMON@fax.tc\nSubject: x\n\n{body}\n".encode())
    for detector in MY_DETECTORS:
        detector.detect(mail)
