"""Metadata read by mail-parser: what it is good at, and that its failures never escape as exceptions."""

from __future__ import annotations

import base64

import mailparser
import pytest

from processor.parse import parse_mail
from processor.parse.metadata import Attachment, ReceivedHop, read_metadata

RAW = (
    b"Received: from mx2.fax.tc (mx2.fax.tc [203.0.113.7])\n\tby mail.example.jp (Postfix) with ESMTPS id 2;"
    b" Mon, 1 Jan 2024 00:00:02 +0000\n"
    b"Received: from [192.0.2.1] (unknown [192.0.2.1]) by mx2.fax.tc with ESMTP id 1; Mon, 1 Jan 2024 00:00:01 +0000\n"
    b"Received: from sender.example.org (sender.example.org [IPv6:2001:db8::1]) by [192.0.2.1] with SMTP;"
    b" Mon, 1 Jan 2024 00:00:00 +0000\n"
    b"From: InterFAX <NoReply@InterFAX.Example>\n"
    b"To: User One <User1@Example.JP>, user2@example.jp\n"
    b"Cc: Boss@Example.JP\n"
    b"Reply-To: Support@Example.JP\n"
    b"Subject: meta\n"
    b'Content-Type: multipart/mixed; boundary="M"\n\n'
    b"--M\nContent-Type: text/plain\n\nbody\n"
    b'--M\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="fax.pdf"\n'
    b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(b"%PDF-1.4 fake") + b"--M--\n"
)


def test_received_hops_newest_first() -> None:
    assert parse_mail(RAW).metadata.received == (
        ReceivedHop(from_host="mx2.fax.tc", from_ip="203.0.113.7", by_host="mail.example.jp",
                    from_rdns="mx2.fax.tc"),
        # an address literal is no host name; "unknown" is what the server wrote when DNS had no name
        ReceivedHop(from_host=None, from_ip="192.0.2.1", by_host="mx2.fax.tc", from_rdns="unknown"),
        ReceivedHop(from_host="sender.example.org", from_ip="2001:db8::1", by_host="[192.0.2.1]",
                    from_rdns="sender.example.org"),
    )


def test_addresses_lower_cased() -> None:
    meta = parse_mail(RAW).metadata
    assert meta.from_addresses == ("noreply@interfax.example",)
    assert meta.to_addresses == ("user1@example.jp", "user2@example.jp")
    assert meta.cc_addresses == ("boss@example.jp",)
    assert meta.reply_to == ("support@example.jp",)


def test_attachments() -> None:
    assert parse_mail(RAW).metadata.attachments == (Attachment("fax.pdf", "application/pdf"),)


def test_defects_reported() -> None:
    broken = b'Subject: x\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nno end\n'
    assert "CloseBoundaryNotFoundDefect" in parse_mail(broken).metadata.defects


def test_clean_mail_has_no_defects() -> None:
    assert parse_mail(RAW).metadata.defects == ()


def test_mailparser_failure_becomes_defect(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(raw: bytes) -> None:
        raise RecursionError("deep inside mail-parser")

    monkeypatch.setattr(mailparser, "parse_from_bytes", explode)
    meta = read_metadata(RAW)
    assert meta.defects == ("mail-parser: RecursionError",)
    assert meta.received == () and meta.from_addresses == ()



def test_mailparser_failure_through_parsed_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailparser.MailParser, "received", property(lambda self: 1 / 0))
    mail = parse_mail(RAW)
    assert mail.metadata.defects == ("mail-parser: ZeroDivisionError",)
    assert mail.subject == "meta"  # the body and headers never depended on mail-parser
