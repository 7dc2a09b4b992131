"""Phishing look-alikes: InterFAX notifications that never passed through the vendor are not trusted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from mailfactory import interfax_failure
from sqlalchemy.engine import Engine

from processor.config import Settings, TrustSettings
from processor.detect.trust import received_through_vendor
from processor.parse.received import ReceivedHop
from processor.run.pipeline import process_message
from processor.store.inbound import Envelope, RawStore

GENUINE_HOP = (b"Received: from mail1.fax.tc (mail1.fax.tc [203.0.113.25])\r\n"
               b"\tby mx.example.co.jp (Postfix) with ESMTPS id 4XyZ\r\n"
               b"\tfor <sender@example.co.jp>; Fri, 20 Nov 2026 10:20:00 +0900 (JST)\r\n")
PHISHING_HOP = (b"Received: from mail.fax.tc (unknown [198.51.100.9])\r\n"
                b"\tby mx.example.co.jp (Postfix) with ESMTP id 5AbC;\r\n"
                b"\tFri, 20 Nov 2026 10:20:00 +0900 (JST)\r\n")


def hop(from_host: str | None, by_host: str | None = "mx.example.co.jp", from_ip: str | None = None,
        rdns: str | None = None) -> ReceivedHop:
    return ReceivedHop(from_host=from_host, from_ip=from_ip, by_host=by_host, from_rdns=rdns)


@pytest.mark.parametrize(
    ("hops", "relays", "peer", "expected"),
    [
        ([hop("mail1.fax.tc")], (), None, True),
        ([hop("fax.tc")], (), None, True),
        ([hop("evilfax.tc")], (), None, False),  # a suffix is not a subdomain
        ([hop("mail.interfax-secure.example")], (), None, False),
        ([hop("mail1.fax.tc", rdns="unknown")], (), None, False),  # HELO claims fax.tc, DNS does not
        ([hop("whatever", rdns="mail1.fax.tc")], (), None, True),
        ([], (), None, False),
        # With relays configured, only lines our relays wrote count:
        ([hop("mail1.fax.tc", by_host="mx.example.co.jp")], ("example.co.jp",), None, True),
        ([hop("mail1.fax.tc", by_host="attacker.example")], ("mx.example.co.jp",), None, False),
        ([hop("mail1.fax.tc", by_host=None)], ("192.0.2.0/24",), "192.0.2.10", True),
        ([hop("mx.example.co.jp", from_ip="192.0.2.10"), hop("mail1.fax.tc", by_host="x")], ("192.0.2.0/24",),
         "10.9.9.9", True),
        ([hop("mail1.fax.tc", by_host="x")], ("192.0.2.0/24",), "10.9.9.9", False),
        # By name: an older line was written by the client the newer line recorded, never by its own `by`:
        ([hop("mx.example.co.jp", by_host="mailbox.example.co.jp", rdns="mx.example.co.jp"),
          hop("mail1.fax.tc", by_host="mx.example.co.jp")], ("mx.example.co.jp", "mailbox.example.co.jp"), None, True),
        ([hop("mail.bulk.example", rdns="mail.bulk.example", from_ip="198.51.100.7"),  # our mx, the real sender
          hop("mail1.fax.tc", by_host="mx.example.co.jp")],  # the sender's forgery below it names our mx
         ("mx.example.co.jp",), None, False),
    ],
)
def test_received_through_vendor(hops: list[ReceivedHop], relays: tuple[str, ...], peer: str | None,
                                 expected: bool) -> None:
    assert received_through_vendor(hops, ("fax.tc", "interfax.net"), relays, peer) is expected


def test_trusted_flag_in_failures_view(engine: Engine) -> None:
    store = RawStore(engine)
    genuine = store.put(GENUINE_HOP + interfax_failure(transaction_id="1"), Envelope("", ("r@x",), peer="127.0.0.1:1"))
    phishing = store.put(PHISHING_HOP + interfax_failure(transaction_id="2"), Envelope("", ("r@x",)))
    for stored in (genuine, phishing):
        process_message(engine, stored.id, Settings())
    with engine.connect() as connection:
        rows = {r.transaction_id: r.trusted for r in connection.execute(
            sa.text("SELECT transaction_id, trusted FROM failures"))}
    assert {k: bool(v) for k, v in rows.items()} == {"1": True, "2": False}


def test_relays_setting_is_applied(engine: Engine) -> None:
    stored = RawStore(engine).put(GENUINE_HOP + interfax_failure(), Envelope("", ("r@x",), peer="127.0.0.1:1"))
    process_message(engine, stored.id, Settings(trust=TrustSettings(relays=("relay.other.example",))))
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT trusted FROM failures")) in (False, 0)
