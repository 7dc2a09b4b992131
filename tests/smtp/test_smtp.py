"""The SMTP side over a real socket: 250 only after the store, 451 on any failure, long lines accepted."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from processor.errors import RawStoreError
from processor.rawstore import Envelope, RawStore
from processor.smtp import S451_STORE_FAILED, S451_TEMPORARY, FaxbounceSMTP, RecipientPolicy, SinkHandler
from processor.store.models import InboundMessage

MAIL = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\n\r\nbody\r\n"


class _Controller(Controller):
    def __init__(self, handler: SinkHandler, **kwargs: object) -> None:
        self.line_length_limit = kwargs.pop("line_length_limit", 64 * 1024)
        self.data_size_limit = kwargs.pop("data_size_limit", 1024 * 1024)
        super().__init__(handler, hostname="127.0.0.1", port=_free_port(), **kwargs)

    def factory(self) -> FaxbounceSMTP:
        return FaxbounceSMTP(self.handler, line_length_limit=self.line_length_limit,
                             data_size_limit=self.data_size_limit, hostname="faxbounce.test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FailingStore(RawStore):
    def __init__(self) -> None:
        pass

    def put(self, raw: bytes, envelope: Envelope) -> int:
        raise RawStoreError("OperationalError: database is locked")


class CrashingStore(RawStore):
    def __init__(self) -> None:
        pass

    def put(self, raw: bytes, envelope: Envelope) -> int:
        raise RuntimeError("unexpected")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def _serve(handler: SinkHandler, **kwargs: object) -> _Controller:
    controller = _Controller(handler, **kwargs)
    controller.start()
    return controller


def _client(controller: _Controller) -> smtplib.SMTP:
    return smtplib.SMTP(controller.hostname, controller.port, timeout=10)


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


def test_250_means_stored(engine: Engine, executor: ThreadPoolExecutor) -> None:
    stored: list[int] = []
    controller = _serve(SinkHandler(RawStore(engine), executor, on_stored=stored.append))
    try:
        with _client(controller) as client:
            code, reply = client.ehlo("mx.example.com")
            client.mail("bounce@example.com")
            client.rcpt("fax@faxbounce.test")
            client.rcpt("other@elsewhere.example")
            code, reply = client.data(MAIL)
    finally:
        controller.stop()
    assert code == 250 and b"stored as" in reply
    assert len(stored) == 1
    with engine.connect() as connection:
        row = connection.execute(sa.select(InboundMessage)).one()
    assert row.raw == MAIL
    assert row.mail_from == "bounce@example.com"
    assert row.rcpt_tos == ["fax@faxbounce.test", "other@elsewhere.example"]
    assert row.helo == "mx.example.com"
    assert row.peer.startswith("127.0.0.1:")


def test_store_failure_answers_451_not_500(executor: ThreadPoolExecutor) -> None:
    controller = _serve(SinkHandler(FailingStore(), executor))
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rcpt("b@example.com")
            code, reply = client.data(MAIL)
    finally:
        controller.stop()
    assert f"{code} {reply.decode()}" == S451_STORE_FAILED


def test_unexpected_exception_answers_451_without_traceback(executor: ThreadPoolExecutor) -> None:
    controller = _serve(SinkHandler(CrashingStore(), executor))
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rcpt("b@example.com")
            code, reply = client.data(MAIL)
    finally:
        controller.stop()
    assert f"{code} {reply.decode()}" == S451_TEMPORARY
    assert b"unexpected" not in reply and b"Traceback" not in reply


def test_long_html_lines_are_accepted(engine: Engine, executor: ThreadPoolExecutor) -> None:
    long_line = b"<td>" + b"x" * 20_000 + b"</td>"
    mail = b"Subject: wide\r\nContent-Type: text/html\r\n\r\n" + long_line + b"\r\n"
    controller = _serve(SinkHandler(RawStore(engine), executor))
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rcpt("b@example.com")
            code, _ = client.data(mail)
    finally:
        controller.stop()
    assert code == 250
    with engine.connect() as connection:
        assert long_line in connection.scalar(sa.select(InboundMessage.raw))


def test_recipient_policy_and_limit(engine: Engine, executor: ThreadPoolExecutor) -> None:
    handler = SinkHandler(RawStore(engine), executor, recipients=RecipientPolicy(("*@faxbounce.test",)),
                          max_recipients=2)
    controller = _serve(handler)
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            assert client.rcpt("someone@elsewhere.example")[0] == 550
            assert client.rcpt("one@FAXBOUNCE.test")[0] == 250
            assert client.rcpt("two@faxbounce.test")[0] == 250
            assert client.rcpt("three@faxbounce.test")[0] == 452
            assert client.data(MAIL)[0] == 250
    finally:
        controller.stop()
    assert _count(engine) == 1


def test_oversized_mail_is_refused_with_552(engine: Engine, executor: ThreadPoolExecutor) -> None:
    controller = _serve(SinkHandler(RawStore(engine), executor), data_size_limit=10_000)
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rcpt("b@example.com")
            code, _ = client.data(b"Subject: big\r\n\r\n" + (b"y" * 100 + b"\r\n") * 200)
    finally:
        controller.stop()
    assert code == 552
    assert _count(engine) == 0


def test_it_never_relays(engine: Engine, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail for foreign domains is stored like any other, and no outbound connection is ever attempted."""
    outbound: list[object] = []
    real_connect = socket.socket.connect

    def record(sock: socket.socket, address: object) -> None:
        outbound.append(address)
        return real_connect(sock, address)

    controller = _serve(SinkHandler(RawStore(engine), executor))
    port = controller.port
    monkeypatch.setattr(socket.socket, "connect", record)
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("spammer@example.net")
            client.rcpt("victim@gmail.com")
            client.rcpt("postmaster@[192.0.2.1]")
            code, _ = client.data(MAIL)
    finally:
        monkeypatch.undo()
        controller.stop()
    assert code == 250
    assert all(address == ("127.0.0.1", port) for address in outbound), outbound
    assert _count(engine) == 1
