"""Judging a hostile mail takes time in proportion to its size: no pattern scans a long run of one character
class again from each of its characters.

Found by feeding every header and body place runs of 60 KB of one short unit (`a`, `a.`, `1.`, `=?`, …): the
address patterns of the delivery-report readers scanned a run with no `@` after it once per character, so
ten `To:` headers of 60 KB letters held a worker for 19 s (a mail of a few MB: many minutes, again for each
worker whose lease on it ran out), NET SatisFAXtion's `number^name@host` pattern did the same with a run of
`1-` (4 s for 60 KB), and so did some of the reason tables' wordings over a long diagnostic (`MAX_DIAGNOSIS`)
and the provider lookup over a host name of 30,000 labels (3 s). Worst was a number field of `0 0 0 …`: every
span of its pieces was a candidate number, 112 million for 30 KB, which filled the memory.
Each case below took seconds before its fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from processor.config import Settings
from processor.run.judge import classify_bytes, trusted

BOUNCE = b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\n"
RESULT = b"From: fax@fax.tc\nSubject: =?UTF-8?B?6YCB5L+h57WQ5p6c?=\n"
BODY = b"\n<x@example.net>: 550 5.1.1 user unknown\n"


DATA = Path(__file__).resolve().parents[1] / "data"


def _body_run(fixture: str, unit: bytes, size: int = 60_000) -> bytes:
    """A notice from the test data with a run of `unit` at the start of its body."""
    head, _, body = (DATA / fixture).read_bytes().replace(b"\r\n", b"\n").partition(b"\n\n")
    return head + b"\n\n" + unit * (size // len(unit)) + b"\n" + body


def _report(diagnosis: str, recipients: int = 1) -> bytes:
    """A delivery report from a provider with its own wordings (Mimecast), each recipient with `diagnosis`."""
    fields = "".join(f"Final-Recipient: rfc822; r{i}@example.net\nAction: failed\nStatus: 5.0.0\n"
                     f"Remote-MTA: dns; eu-smtp-inbound-1.mimecast.com\nDiagnostic-Code: smtp; {diagnosis}\n\n"
                     for i in range(recipients))
    return (BOUNCE + b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\n"
            b"Content-Type: text/plain\n\nfailed\n--B\nContent-Type: message/delivery-status\n\n"
            b"Reporting-MTA: dns; mx.example.com\n\n" + fields.encode() + b"--B--\n")


def _headers(name: bytes, unit: bytes, count: int = 10, size: int = 60_000) -> bytes:
    return (name + b": " + unit * (size // len(unit)) + b"\n") * count


CASES = [
    ("to-letters", BOUNCE + _headers(b"To", b"a") + BODY),
    ("to-dotted", BOUNCE + _headers(b"To", b"a.") + BODY),
    ("reply-to-digits", BOUNCE + _headers(b"Reply-To", b"1.") + BODY),
    ("return-path-encoded-word-starts", RESULT + _headers(b"Return-Path", b"=?") + BODY),
    ("delivered-to-carets", RESULT + _headers(b"Delivered-To", b"a^") + BODY),
    ("failed-recipients-plus", BOUNCE + _headers(b"X-Failed-Recipients", b"+1") + b"\nNo recipient line.\n"),
    ("status-field-values", BOUNCE + b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
     b"--B\nContent-Type: message/delivery-status\n\n"
     + b"Final-Recipient: rfc822; " + b"a" * 60_000 + b"\nAction: failed\nStatus: 5.1.1\n\n" * 10 + b"--B--\n"),
    ("satisfaxtion-number-run", _body_run("satisfaxtion/html-01.eml", b"1-")),
    ("satisfaxtion-parenthesis-run", _body_run("satisfaxtion/html-01.eml", b"1(")),
    # Sisimai's `\b550\b.*phrase` wordings over a diagnostic of many `550`s and no phrase after them; a letter
    # outside ASCII once made every wording run (33 s for this one), and a long diagnostic any of them.
    ("remote-mta-of-many-labels", _report("550 5.1.1 user unknown", recipients=10).replace(
        b"eu-smtp-inbound-1.mimecast.com", b"a." * 30_000 + b"mimecast.com")),
    ("reporting-mta-of-many-labels", _report("550 5.1.1 user unknown", recipients=10).replace(
        b"mx.example.com", b"1." * 30_000 + b"example.com").replace(b"eu-smtp-inbound-1.mimecast.com",
                                                                    b"mx.example.net")),
    ("fax-number-of-many-pieces", b"From: InterFAX <support@interfax.co.jp>\nSubject: x\nContent-Type: text/plain; "
     b"charset=utf-8\n\n" + "送信結果:3912-FAX番号が使用不可です\n送信先FAX番号:".encode() + b"0 " * 15_000 + b"\n"),
    ("provider-diagnostic-not-ascii", _report("é " + "550 " * 15_000)),
    ("provider-diagnostics-many", _report("é invalid recipient " + "550 " * 500, recipients=500)),
    ("provider-diagnostics-long", _report("invalid recipient " + "550 " * 15_000, recipients=20)),
]


@pytest.mark.parametrize("raw", [pytest.param(c[1], id=c[0]) for c in CASES])
def test_hostile_mail_is_judged_in_linear_time(raw: bytes) -> None:
    started = time.monotonic()
    mail, classification = classify_bytes(raw)
    trusted(mail, classification, Settings())
    assert time.monotonic() - started < 3.0


def test_a_diagnosis_is_bounded_however_a_reader_sets_it() -> None:
    from processor.detect.mailbounce.delivery import MAX_DIAGNOSIS, Delivery

    delivery = Delivery("a@example.net", diagnosis="x" * (MAX_DIAGNOSIS + 10))
    assert len(delivery.diagnosis) == MAX_DIAGNOSIS
    delivery.diagnosis = "short"
    delivery.diagnosis += " y" * MAX_DIAGNOSIS
    assert delivery.diagnosis.startswith("short y") and len(delivery.diagnosis) == MAX_DIAGNOSIS


NESTED = b"(" * 5_000
ADDRESS_CASES = [
    ("from-of-an-auto-reply", (b"From: " + NESTED + b"\nAuto-Submitted: auto-replied\nSubject: x\n\nbody\n",
                               "unrelated")),
    ("from-of-a-reply", (b"From: " + NESTED + b"\nSubject: Re: x\n\nbody\n", "unrelated")),
    ("return-path-of-a-submission", (b"From: a@example.jp\nTo: 0355550101@fax.tc\nReturn-Path: " + NESTED
                                     + b"\nSubject: x\n\nbody\n", "fax_submission")),
    ("cc-of-a-submission", (b"From: a@example.jp\nTo: 0355550101@fax.tc\nCc: " + NESTED + b"\nSubject: x\n\nbody\n",
                            "fax_submission")),
]


@pytest.mark.parametrize(("raw", "kind"), [pytest.param(*c[1], id=c[0]) for c in ADDRESS_CASES])
def test_an_address_header_the_stdlib_cannot_read_is_left_out(raw: bytes, kind: str) -> None:
    """The stdlib's address parser recurses once per nested comment: thousands of `(` raised RecursionError out
    of the detectors (found by `make fuzz`); such a header now holds no address, and the rest is read."""
    _mail, classification = classify_bytes(raw)
    assert str(classification.kind) == kind


def test_address_pairs_keep_the_values_the_stdlib_can_read() -> None:
    from processor.parse.mail import address_of, address_pairs

    assert address_pairs(["a@example.jp", "(" * 5_000, "B <b@example.jp>"]) == [("", "a@example.jp"),
                                                                                  ("B", "b@example.jp")]
    assert address_of("(" * 5_000) == ("", "")
    assert address_of("Taro <taro@example.jp>") == ("Taro", "taro@example.jp")
