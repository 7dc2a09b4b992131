"""NET SatisFAXtion notifications: per-site templates read by labels, caret addresses and completion strings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.catalogues import entries
from processor.detect import classify, detectors_for
from processor.detect.satisfaxtion import SatisfaxtionDetector
from processor.parse import parse_mail
from processor.reasons import Kind, Outcome

S = "satisfaxtion_result"

# (file, kind, result count, code, reason, fax number E.164 with default country US, completion string)
FIXTURES = [
    ("satisfaxtion/ndn-01.eml", S, 1, "28024", "busy", "+15035550123", "Busy"),  # MESSAGE_COMPLETION_CODE, CRLF
    ("satisfaxtion/dn-01.eml", S, 1, "0", "delivered", "+15035550199", "Ok"),  # Completion Code: 0 (Ok)
    ("satisfaxtion/sendfailure-01.eml", S, 1, "4208", "validation_failed", "+19005550100", None),  # STATUS_NUM=
    ("satisfaxtion/ndn-02.eml", S, 3, None, "delivered", "+15035550123", "Ok"),  # free wording, three receivers
    ("satisfaxtion/html-01.eml", S, 1, "28026", "no_answer", "+15035550126", "No Answer"),  # HTML table cells
]


@pytest.mark.parametrize(("name", "kind", "count", "code", "reason", "fax_number", "message"), FIXTURES,
                         ids=[row[0] for row in FIXTURES])
def test_fixture_table(data_dir: Path, name: str, kind: str, count: int, code: str | None, reason: str,
                       fax_number: str | None, message: str | None) -> None:
    result = classify(parse_mail((data_dir / name).read_bytes()), default_country="US")
    assert (result.kind, result.detected_by, len(result.results)) == (kind, "satisfaxtion", count)
    first = result.results[0]
    assert (first.code, first.reason, first.fax_number, first.vendor_message) == (code, reason, fax_number, message)
    assert first.vendor == "satisfaxtion" and first.action_ja and first.action_en


def test_receiver_fields(data_dir: Path) -> None:
    (result,) = classify(parse_mail((data_dir / "satisfaxtion/ndn-01.eml").read_bytes()), "US").results
    assert result.fax_number_raw == "5035550123"
    assert result.recipient == "5035550123^COMPANY=Acme Corp^NOCOVER@fax.company.com"
    assert (result.pages, result.transaction_id, result.original_subject) == (3, "0001A2B3", "Quarterly report")
    assert (result.outcome, result.retryable) == (Outcome.FAILED, True)
    several = classify(parse_mail((data_dir / "satisfaxtion/ndn-02.eml").read_bytes()), "US").results
    assert [(r.fax_number, r.reason, r.retryable) for r in several] == [
        ("+15035550123", "delivered", None), ("+15035550124", "no_answer", True), ("+15035550125", "line_error", True),
    ]


def mail(body: str, sender: str = "fax@company.example") -> bytes:
    return f"From: {sender}\nTo: u@company.example\nSubject: Fax status\n\n{body}\n".encode()


def test_every_cas_code_of_the_seed_is_recognised(shared_dir: Path) -> None:
    seed = next(p for p in sorted((shared_dir / "seeds").glob("*.txt")) if "STATUS_NUM" in p.read_text("utf-8"))
    codes = re.findall(r"^(4\d{3})\s+([A-Z_]+)", seed.read_text("utf-8"), re.MULTILINE)
    assert len(codes) == 21
    for code, _name in codes:
        result = classify(parse_mail(mail(f"Your fax was not accepted.\nSTATUS_NUM: {code}\n")))
        assert result.kind == Kind.SATISFAXTION_RESULT, code
        (fax,) = result.results
        assert fax.code == code and fax.reason not in ("unknown", "delivered"), code
        assert fax.outcome is Outcome.FAILED


@pytest.mark.parametrize("template", [
    "MESSAGE_COMPLETION_CODE: {key}",
    "Completion Code = {key}",
    "Fax to 5035550123^COMPANY=Acme^NOCOVER@fax.company.com: {key}",
])
def test_every_completion_code_and_string_is_recognised(template: str) -> None:
    for entry in entries("satisfaxtion"):
        if entry.key.startswith("4") and len(entry.key) == 4:
            continue  # CAS codes: STATUS_NUM, above
        if "^" in template and entry.key.isdigit():
            continue  # free wording carries strings, not numbers
        result = classify(parse_mail(mail(template.format(key=entry.key))))
        assert result.kind == Kind.SATISFAXTION_RESULT, (template, entry.key)
        (fax,) = result.results
        assert (fax.reason, fax.outcome, fax.retryable) == (entry.reason, entry.outcome, entry.retryable), entry.key


def test_configured_senders_are_claimed_even_without_labels() -> None:
    raw = mail("Your fax to Acme could not be sent: Busy", sender="FaxServer@Company.example")
    assert SatisfaxtionDetector().detect(parse_mail(raw)) is None
    detector = SatisfaxtionDetector(senders=("faxserver@company.example",))
    detection = detector.detect(parse_mail(raw))
    assert detection is not None
    (fax,) = detection.results
    assert (fax.vendor_message, fax.reason) == ("Busy", "busy")


SENDER = "faxserver@company.com"
CONFIGURED = detectors_for(satisfaxtion_senders=(SENDER,))

# Site-edited templates (wording differs per site) from the configured sender, with no code label and no
# `number^…@host` address: the completion string in the prose is all there is. Expectations are the published
# text forms' meanings: Busy and No Answer are BUSY / NO_ANSWER types, `Unsustainable connection` may succeed
# later, `Incompatible fax device` is NON_RETRYABLE, a missing dial tone is the server's own line.
# (file, outcome, reason, retryable, completion string)
EDITED = [
    ("satisfaxtion/edited-dn-01.eml", "delivered", "delivered", None, "Ok"),  # Fax.dn
    ("satisfaxtion/edited-ndn-busy.eml", "failed", "busy", True, "Busy"),  # `Reason: Busy (…)`
    ("satisfaxtion/edited-ndn-noanswer.eml", "failed", "no_answer", True, "No Answer"),
    ("satisfaxtion/edited-ndn-nodialtone.eml", "failed", "line_error", True, "No Dial Tone (phone cord disconnected)"),
    ("satisfaxtion/edited-ndn-unsustainable.eml", "failed", "communication_error", True, "Unsustainable connection"),
    ("satisfaxtion/edited-ndn-incompatible.eml", "failed", "incompatible_device", False, "Incompatible fax device"),
]


@pytest.mark.parametrize(("name", "outcome", "reason", "retryable", "message"), EDITED, ids=[r[0] for r in EDITED])
def test_edited_template_from_the_configured_sender(data_dir: Path, name: str, outcome: str, reason: str,
                                                    retryable: bool | None, message: str) -> None:
    parsed = parse_mail((data_dir / name).read_bytes())
    result = classify(parsed, "US", CONFIGURED)
    assert (result.kind, result.detected_by) == (S, "satisfaxtion")
    (fax,) = result.results
    assert (fax.outcome, fax.reason, fax.retryable, fax.vendor_message) == (outcome, reason, retryable, message)
    assert classify(parsed, "US").kind == Kind.UNRELATED  # unconfigured: prose alone is no one's notice


# From the configured sender, nothing readable: (file, the marks that keep it from passing as unrelated).
# A notice the server could not describe must be looked at; a received fax is plainly something else.
UNREAD = [
    ("satisfaxtion/edited-sendfailure-01.eml", ("NET SatisFAXtion sender faxserver@company.com",)),  # Fax.sendfailure
    ("satisfaxtion/received-01.eml", ()),
]


@pytest.mark.parametrize(("name", "marks"), UNREAD, ids=[r[0] for r in UNREAD])
def test_unread_mail_of_the_configured_sender_is_not_claimed(data_dir: Path, name: str,
                                                             marks: tuple[str, ...]) -> None:
    parsed = parse_mail((data_dir / name).read_bytes())
    detector = SatisfaxtionDetector(senders=(SENDER,))
    assert detector.detect(parsed) is None  # never a notice of zero results
    assert detector.marks(parsed) == marks
    assert classify(parsed, "US", CONFIGURED).kind != Kind.SATISFAXTION_RESULT


def test_unread_notice_of_the_configured_sender_is_unrecognized(data_dir: Path) -> None:
    parsed = parse_mail((data_dir / "satisfaxtion/edited-sendfailure-01.eml").read_bytes())
    result = classify(parsed, "US", CONFIGURED)
    assert (result.kind, result.results) == (Kind.UNRECOGNIZED, ())
    assert result.marks == ("NET SatisFAXtion sender faxserver@company.com",)


@pytest.mark.parametrize("body", [
    "Status: Busy\nThe meeting room is busy, No Answer at the desk.",
    "Please call 5035550123 and say Ok.",
    "Completion Code:",
])
def test_plain_mail_with_completion_words_is_not_claimed(body: str) -> None:
    assert classify(parse_mail(mail(body))).kind == Kind.UNRELATED


def test_unknown_completion_code_is_a_failure_of_unknown_reason() -> None:
    (fax,) = classify(parse_mail(mail("MESSAGE_COMPLETION_CODE: 31337"))).results
    assert (fax.code, fax.outcome, fax.reason) == ("31337", Outcome.FAILED, "unknown")


def test_configured_senders_reach_the_pipeline() -> None:
    """processing.satisfaxtion_senders is honoured by classify_bytes, the path the worker takes."""
    from processor.config import ProcessingSettings
    from processor.run.judge import classify_bytes

    raw = mail("Your fax to Acme could not be sent: Busy", sender="FaxServer@Company.example")
    assert classify_bytes(raw)[1].kind == Kind.UNRELATED
    configured = ProcessingSettings(satisfaxtion_senders=("faxserver@company.example",))
    classification = classify_bytes(raw, configured)[1]
    assert classification.kind == Kind.SATISFAXTION_RESULT


def test_a_table_of_recipients_gives_one_result_per_row(data_dir: Path) -> None:
    """An HTML Fax.ndn listing its recipients as a table (Receiver, Completion Code, Completion String): each
    row is a result. Read as labels, its header cell was one code and the busy and unanswered faxes were lost."""
    parsed = parse_mail((data_dir / "satisfaxtion/ndn-table-html.eml").read_bytes())
    result = classify(parsed, "US")
    assert [(r.code, r.reason, r.retryable, r.fax_number) for r in result.results] == [
        ("0", "delivered", None, "+15035550123"), ("28024", "busy", True, "+15035550124"),
        ("28026", "no_answer", True, "+15035550125")]


def test_a_received_fax_from_the_configured_sender_is_no_result(data_dir: Path) -> None:
    """The fax server also mails faxes it received (`New fax received`, `Status: Ok`): not a fax we sent."""
    parsed = parse_mail((data_dir / "satisfaxtion/received-labelled.eml").read_bytes())
    assert classify(parsed, "US", CONFIGURED).kind == Kind.UNRELATED
