"""Received hops read from the parsed headers (the trust check's input), without mail-parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.parse import parse_mail
from processor.parse.received import ReceivedHop, received_hops

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
