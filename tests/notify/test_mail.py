"""Mail to people through a real SMTP receiver (aiosmtpd on 127.0.0.1): the digest and sender alerts."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from submissionfactory import result, submission

from processor.cli import main
from processor.config import AlertSettings, OutboundSettings, Settings
from processor.notify.digest import DigestScheduler, compose_digest
from processor.notify.dispatch import Dispatcher
from processor.notify.mailer import MailError, send_mail
from processor.run.pipeline import process_message
from processor.store.db import create_db_engine
from processor.store.inbound import Envelope, RawStore


@dataclass
class Inbox:
    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK queued"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def relay() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"127.0.0.1:{port}"
    finally:
        controller.stop()


def settings_for(relay_address: str, **alerts: object) -> Settings:
    return Settings(outbound=OutboundSettings(relay=relay_address, sender="faxbounce@example.co.jp", timeout=5),
                    alerts=AlertSettings(**alerts))  # type: ignore[arg-type]


def store(engine: Engine, raw: bytes, settings: Settings, mail_from: str = "") -> int:
    stored = RawStore(engine).put(raw, Envelope(mail_from, ("copy@faxbounce.test",)))
    process_message(engine, stored.id, settings)
    return stored.id


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_nothing_to_do_is_one_line(engine: Engine) -> None:
    digest = compose_digest(engine, Settings(), datetime.now(UTC) - timedelta(hours=24), ["ops@example.co.jp"], "en")
    assert digest.body == "nothing to do\n" and digest.actions == 0
    assert compose_digest(engine, Settings(), datetime.now(UTC) - timedelta(hours=24), ["a@b"], "ja").body == (
        "対応が必要なものはありません\n")


def _scenario(engine: Engine, settings: Settings) -> None:
    now = datetime.now(UTC)
    store(engine, submission(["045-555-0303"], "請求書 /b", when=now - timedelta(hours=2)), settings)
    store(engine, result("045-555-0303", "6017", "話中", subject="請求書", when=now - timedelta(hours=2)), settings)
    for hours in (5, 4):
        store(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です", when=now - timedelta(hours=hours)),
              settings)
    store(engine, submission(["011-555-0404"], "納品書", when=now - timedelta(hours=3)), settings)
    store(engine, b"Subject: \x1b]52;c;ZXZpbA==\x07broken\r\n\r\n", settings)  # no From, no Date: still a mail


def test_digest_lists_what_to_do_and_goes_through_the_relay(engine: Engine, relay: tuple[Inbox, str]) -> None:
    inbox, address = relay
    settings = settings_for(address, digest_to=("ops@example.co.jp", "boss@example.co.jp"), digest_at="00:00")
    _scenario(engine, settings)
    digest = compose_digest(engine, settings, datetime.now(UTC) - timedelta(hours=24), ["ops@example.co.jp"], "ja")
    text = digest.body
    assert "■ 再送が必要なFAX (1)" in text and "045-555-0303" in text and "話中" not in text.split("■")[0]
    assert "■ 番号の確認・送信停止 (1)" in text and "送信停止    06-5555-0202    invalid_number  2" in text
    assert "■ 結果が届いていないFAX・アカウントの問題 (1)" in text and "011-555-0404" in text
    assert "■ 確認が必要なメール (3)" in text and "なりすましの可能性" in text  # results not via the vendor
    assert "\x1b" not in text and "+81" not in text
    scheduler = DigestScheduler(settings)
    assert scheduler.run_once(engine) == 2  # one outbox row per address
    assert scheduler.run_once(engine) == 0  # once a day, restarts included
    assert Dispatcher(settings).run_once(engine) == 2
    assert sorted(rcpt[0] for _, rcpt, _ in inbox.mails) == ["boss@example.co.jp", "ops@example.co.jp"]
    sender, _, message = inbox.mails[0]
    assert sender == "faxbounce@example.co.jp"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "FAX日次レポート" in message["Subject"]
    assert "■ 再送が必要なFAX (1)" in body(message)


def test_digest_waits_for_its_time(engine: Engine, relay: tuple[Inbox, str]) -> None:
    _, address = relay
    settings = settings_for(address, digest_to=("ops@example.co.jp",), digest_at="08:30")
    before = datetime(2026, 11, 29, 8, 29, tzinfo=UTC).replace(hour=23, day=28)  # 08:29 in Tokyo
    assert DigestScheduler(settings).run_once(engine, before) == 0
    assert DigestScheduler(settings).run_once(engine, before + timedelta(minutes=1)) == 1
    assert DigestScheduler(settings).run_once(engine, before + timedelta(hours=5)) == 0
    assert DigestScheduler(settings).run_once(engine, before + timedelta(days=1, minutes=1)) == 1


def test_sender_is_told_when_the_fax_fails(engine: Engine, relay: tuple[Inbox, str]) -> None:
    inbox, address = relay
    settings = settings_for(address, notify_sender=True, lang="en")
    now = datetime.now(UTC)
    store(engine, submission(["06-5555-0202"], "見積書送付の件 /b", when=now - timedelta(minutes=10),
                             sender="hanako@example.co.jp"), settings)
    store(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です", when=now - timedelta(minutes=9)), settings)
    store(engine, result("03-5555-0101", "3912", "FAX番号が使用不可です"), settings)  # no submission seen: no mail
    assert Dispatcher(settings).run_once(engine) == 1
    ((mail_from, rcpt, message),) = inbox.mails
    assert (mail_from, rcpt) == ("faxbounce@example.co.jp", ["hanako@example.co.jp"])
    assert message["Subject"] == "Fax not delivered: 06-5555-0202"
    text = body(message)
    assert "見積書送付の件" in text and "invalid_number (3912)" in text and "Asia/Tokyo" in text


def test_relay_refusals_are_one_line(relay: tuple[Inbox, str]) -> None:
    inbox, address = relay
    inbox.refuse = "550 5.1.1 no such user"
    settings = OutboundSettings(relay=address, sender="faxbounce@example.co.jp", timeout=5)
    with pytest.raises(MailError, match=r"refused every recipient: x@example.co.jp \(550 5.1.1 no such user\)"):
        send_mail(settings, ["x@example.co.jp"], b"Subject: t\r\n\r\nx\r\n")
    closed = f"127.0.0.1:{_free_port()}"
    with pytest.raises(MailError, match=r"not reachable"):
        send_mail(OutboundSettings(relay=closed, sender="f@example.co.jp", timeout=2), ["x@y.example"], b"x")
    starttls = OutboundSettings(relay=address, sender="f@example.co.jp", starttls=True, timeout=5)
    inbox.refuse = None
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send_mail(starttls, ["x@example.co.jp"], b"Subject: t\r\n\r\nx\r\n")
    assert inbox.mails == []


def test_digest_command_prints_then_sends(db_url: str, relay: tuple[Inbox, str], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    inbox, address = relay
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    engine = create_db_engine(db_url)
    store(engine, result("045-555-0303", "6017", "話中"), Settings())
    engine.dispose()
    capsys.readouterr()
    assert main(["digest", "--lang", "en", "--to", "ops@example.co.jp"]) == 0
    printed = capsys.readouterr().out
    assert "Subject: [faxbounce] Fax digest" in printed and "Faxes to resend (1)" in printed
    assert inbox.mails == []  # without --send nothing is sent
    assert main(["digest", "--send", "--to", "ops@example.co.jp"]) == 2  # no relay configured
    assert "outbound.relay" in capsys.readouterr().err
    monkeypatch.setenv("FAXBOUNCE_OUTBOUND_RELAY", address)
    monkeypatch.setenv("FAXBOUNCE_OUTBOUND_FROM", "faxbounce@example.co.jp")
    monkeypatch.setenv("FAXBOUNCE_ALERTS_DIGEST_TO", "ops@example.co.jp,boss@example.co.jp")
    assert main(["digest", "--send"]) == 0
    assert "digest sent to ops@example.co.jp, boss@example.co.jp" in capsys.readouterr().out
    ((_, rcpt, message),) = inbox.mails
    assert rcpt == ["ops@example.co.jp", "boss@example.co.jp"]
    assert "再送が必要なFAX (1)" in body(message)
    with engine.connect() as connection:  # --send sends at once; the outbox is for the daemon's digest
        assert connection.scalar(sa.text("SELECT count(*) FROM notify_outbox")) == 0
