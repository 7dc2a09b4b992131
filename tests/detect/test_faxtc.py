"""Bounces from MAILER-DAEMON@fax.tc, and no false positives on 629 bounces written by other mail servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.config import Settings
from processor.detect import classify
from processor.detect.faxtc_bounce import FaxtcBounceDetector
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.detect.trust import VENDOR_KINDS, imitates
from processor.parse import parse_mail
from processor.reasons import Kind, Outcome
from processor.run.judge import trusted

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
    # The cause is the last line of the bounce's own text, not a `*** … ***` banner in the original it returns:
    ("faxtc/bounce-07.eml", B, 2, "Cannot find password in body", "password_missing", "+81355550101",
     "<20240510093000.5678@example.co.jp>"),  # Exim, "This is a copy of the message", `*** CONFIDENTIAL ***`
    ("faxtc/bounce-08.eml", B, 1, "Cannot authenticate - signature not found", "signature_missing", "+81355550101",
     "<20240510095900.9012@example.co.jp>"),  # "Original message follows", `*** 社外秘 ***`
    ("faxtc/bounce-09.eml", B, 2, "No documents found", "no_documents", "+81355550101",
     "<CAF=estimate2@mail.example.com>"),  # cause after a `>`-quoted original that holds `> *** URGENT ***`
    ("faxtc/bounce-12.eml", B, 1, "Message contains unsupported attachments", "unsupported_attachment",
     "+81355550101", "<20261120095900.4711@example.co.jp>"),  # HTML only; the cause after the unquoted headers
]
#: (file, (recipient, E.164) of each result, original subject): quoted headers are unfolded and RFC 2047-decoded.
ORIGINALS = [
    ("faxtc/bounce-01.eml", [("0355550101@fax.tc", "+81355550101"), ("06-5555-0202@fax.tc", "+81655550202")],
     "見積書送付の件"),  # message/rfc822 part
    ("faxtc/bounce-07.eml", [("0355550101@fax.tc", "+81355550101"), ("0655550202@fax.tc", "+81655550202")],
     "注文書"),  # quoted To folded over two lines; Subject one ISO-2022-JP encoded word
    ("faxtc/bounce-09.eml", [("0355550101@fax.tc", "+81355550101"), ("06-5555-0202@fax.tc", "+81655550202")],
     "見積書第2版"),  # folded under `>`; two encoded words, the space between them not part of the text (RFC 2047 6.2)
]
#: (file, kind, (recipient, reason) of each result): other MTAs' reports that are not about a fax recipient.
NOT_FAXTC = [
    # Exim at example.net: hanako's mailbox does not exist (550 5.1.1); the returned original was also Cc'd to a
    # fax number and ends in `*** CONFIDENTIAL ***`, but the report names no …@fax.tc recipient.
    ("faxtc/bounce-10.eml", "dsn", [("hanako@example.net", "userunknown")]),
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


@pytest.mark.parametrize(("name", "recipients", "subject"), ORIGINALS, ids=[row[0] for row in ORIGINALS])
def test_every_recipient_of_the_original_gets_a_result(data_dir: Path, name: str,
                                                       recipients: list[tuple[str, str]], subject: str) -> None:
    results = classify(parse_mail((data_dir / name).read_bytes())).results
    assert [(r.recipient, r.fax_number) for r in results] == recipients
    assert {r.original_subject for r in results} == {subject}


def test_the_original_date_is_the_submission_time(data_dir: Path) -> None:
    results = classify(parse_mail((data_dir / "faxtc/bounce-01.eml").read_bytes())).results
    assert results[0].submitted_at is not None and results[0].submitted_at.isoformat() == "2024-05-06T09:00:00+09:00"


@pytest.mark.parametrize(("name", "kind", "expected"), NOT_FAXTC, ids=[row[0] for row in NOT_FAXTC])
def test_other_reports_keep_their_own_failures(data_dir: Path, name: str, kind: str,
                                               expected: list[tuple[str, str]]) -> None:
    mail = parse_mail((data_dir / name).read_bytes())
    assert FaxtcBounceDetector().detect(mail) is None
    result = classify(mail)
    assert result.kind == kind
    assert [(r.recipient, r.reason) for r in result.results] == expected
    assert all(r.fax_number is None for r in result.results)


def test_a_look_alike_sender_is_no_trusted_fax_bounce(data_dir: Path) -> None:
    """MAILER-DAEMON@fax.tc.example.com naming a fax number: the From header alone proves nothing (formats.md)."""
    mail = parse_mail((data_dir / "faxtc/bounce-11.eml").read_bytes())
    classification = classify(mail)
    assert classification.kind not in VENDOR_KINDS or trusted(mail, classification, Settings()) is False


@pytest.mark.parametrize(("domain", "expected"), [
    ("fax.tc.example.com", True), ("mail.fax-tc.com", True), ("faxtc.com", True), ("FAX-TC.co.jp.", True),
    ("fax.tc", False), ("mail1.fax.tc", False),  # the fax domain itself: checked as the vendor's anyway
    ("evilfax.tc", False), ("fax.example.tc", False), ("faxtcp.example", False), ("mail.example.com", False),
])
def test_domains_that_imitate_the_fax_domain(domain: str, expected: bool) -> None:
    assert imitates(domain, ("fax.tc",)) is expected


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


@pytest.mark.parametrize("original", ["To: someone@example.com\n", "To: someone@example.com\nCc: 0355550101@fax.tc\n"])
def test_reports_about_other_recipients_are_not_claimed(original: str) -> None:
    """Another MTA's report is about a fax only when it names a …@fax.tc failed recipient, not the original's Cc."""
    raw = bounce("Undelivered Mail", "*** No recipients found ***", original).replace(
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


@pytest.mark.parametrize("footer", ["*** eSafe scanned this email for malicious content ***",
                                    "-- \n*** CONFIDENTIAL ***"])
def test_a_gateways_star_footer_after_the_cause_is_no_cause(footer: str) -> None:
    """formats.md: the cause is the last line of the bounce's text; a scanner or a disclaimer may add its own
    `*** … ***` line below it. The last line fax.tc's catalogue knows is the cause."""
    raw = bounce("Undelivered Mail", "*** No recipients found ***\n\n" + footer)
    (result,) = classify(parse_mail(raw)).results
    assert (result.code, result.reason) == ("No recipients found", "no_recipients")
