"""Received hops read from the parsed headers (the trust check's input), without mail-parser."""

from __future__ import annotations

import email
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.parse import parse_mail
from processor.parse.received import ReceivedHop, _clauses, received_hops

CASES = [
    # Postfix: looked-up name and address in the comment
    ("from mail1.fax.tc (mail1.fax.tc [203.0.113.25]) by mx.example.jp (Postfix) with ESMTPS id 4Xy; "
     "Mon, 23 Nov 2026 10:00:00 +0900",
     ReceivedHop("mail1.fax.tc", "203.0.113.25", "mx.example.jp", "mail1.fax.tc")),
    # no reverse name: Postfix writes `unknown`; the HELO name is the client's claim only
    ("from mail1.fax.tc (unknown [198.51.100.9]) by mx.example.jp (Postfix) with ESMTP id 1; Mon, 1 Jan 2026",
     ReceivedHop("mail1.fax.tc", "198.51.100.9", "mx.example.jp", "unknown")),
    # an address literal is no host name; IPv6 literal
    ("from [IPv6:2001:db8::1] (sender.example.org [IPv6:2001:db8::1]) by [192.0.2.1] with SMTP; Tue, 2 Jan 2026",
     ReceivedHop(None, "2001:db8::1", "[192.0.2.1]", "sender.example.org")),
    # `by` and `with` inside a comment do not end the from clause; folded value
    ("from relay.example.com (relay.example.com [192.0.2.7] (may be forged by someone with a HELO))\r\n\t"
     "by inbound.example.jp with ESMTP id 9; Wed, 3 Jan 2026",
     ReceivedHop("relay.example.com", "192.0.2.7", "inbound.example.jp", "relay.example.com")),
    # OpenSMTPD's semicolons between clauses
    ("from localhost (localhost [local]); by localhost (OpenSMTPD) with ESMTPA id 1e2a9eaa; for <a@b>; Thu, 1 Jan 2026",
     ReceivedHop("localhost", None, "localhost", "localhost")),
    # only a `by` clause (a local submission)
    ("by mx.example.jp (Postfix, from userid 1000) id 77; Fri, 4 Jan 2026",
     ReceivedHop(None, None, "mx.example.jp", None)),
]


@pytest.mark.parametrize(("value", "hop"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_received_value_to_hop(value: str, hop: ReceivedHop) -> None:
    assert received_hops([value]) == (hop,)


def test_hops_stand_newest_first_as_in_the_mail() -> None:
    raw = (b"Received: from b.example (b.example [192.0.2.2]) by c.example; Mon, 1 Jan 2026\n"
           b"Received: from a.example (a.example [192.0.2.1]) by b.example; Mon, 1 Jan 2026\n"
           b"Subject: x\n\nbody\n")
    assert [hop.by_host for hop in parse_mail(raw).received] == ["c.example", "b.example"]


def test_agrees_with_mail_parser_wherever_mail_parser_reads_a_hop(corpus_dir: Path, data_dir: Path) -> None:
    """Same hops as mail-parser (which the trust check used to read) on real mails; where mail-parser read
    nothing from a hop (OpenSMTPD's semicolons, some sendmail forms) ours reads more, never less."""
    compared = 0
    for path in [*sorted((corpus_dir / "bsd").glob("*.eml")), *sorted(data_dir.rglob("*.eml"))]:
        mail = parse_mail(path.read_bytes())
        ours, theirs = mail.received, mail.metadata.received
        for mine, reference in zip(ours, theirs, strict=False):
            if reference.from_host and not reference.from_host.startswith("("):  # mail-parser read this hop
                assert mine == reference, path.name
                compared += 1
        assert len(ours) >= len(theirs), path.name
    assert compared > 500


def _clauses_by_characters(value: str) -> dict[str, str]:
    """The reference: the clause split walked one character at a time (the reader before it skipped to
    parentheses and keywords), kept here so that the two are held to the same clauses."""
    text = " ".join(value.split())
    if ";" in text:
        text = text[: text.rindex(";")]
    clauses: dict[str, str] = {}
    depth, start, key, index = 0, 0, None, 0
    while index < len(text):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and (index == 0 or text[index - 1] == " "):
            word = re.match(r"[A-Za-z]+", text[index:])
            if word and word.group(0).lower() in ("from", "by", "via", "with", "id", "for") and text[
                    index + word.end():index + word.end() + 1] in (" ", ""):
                if key is not None and key not in clauses:
                    clauses[key] = text[start:index].strip()
                key, start = word.group(0).lower(), index + word.end()
                index += word.end()
                continue
        index += 1
    if key is not None and key not in clauses:
        clauses[key] = text[start:].strip()
    return clauses


def test_clauses_of_every_received_header_we_have(corpus_dir: Path, data_dir: Path) -> None:
    values = [value for path in [*sorted(corpus_dir.rglob("*.eml")), *sorted(data_dir.rglob("*.eml"))]
              for value in email.message_from_bytes(path.read_bytes()).get_all("received", [])]
    assert len(values) > 1000
    for value in values:
        assert _clauses(str(value)) == _clauses_by_characters(str(value)), value


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["from", "FROM", "By", "via", "with", "id", "for", "fromage", "(", ")", " ", "  ",
                                 "\t", ";", "x", "[1.2.3.4]", "host.example", "\u0131d", "w\u0131th", "\n "]),
                max_size=25).map("".join))
def test_clauses_of_generated_values(value: str) -> None:
    assert _clauses(value) == _clauses_by_characters(value)
