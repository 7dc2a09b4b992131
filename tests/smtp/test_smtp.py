"""The SMTP side over a real socket: 250 only after the store, 451 on any failure, long lines accepted."""

from __future__ import annotations

import logging
import smtplib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from processor.errors import RawStoreError
from processor.receive.smtp import (
    S421_SHUTTING_DOWN,
    S421_TOO_MANY_SESSIONS,
    S451_STORE_FAILED,
    S451_TEMPORARY,
    S554_ACCESS_DENIED,
    AddressPolicy,
    FaxbounceSMTP,
    GroupCommitter,
    SessionGate,
    SinkHandler,
)
from processor.store.inbound import RawStore, StoredMail
from processor.store.models import InboundMessage, InboundRaw

MAIL = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: t\r\n\r\nbody\r\n"


class _Controller(Controller):
    def __init__(self, handler: SinkHandler, **kwargs: object) -> None:
        self.line_length_limit = kwargs.pop("line_length_limit", 64 * 1024)
        self.data_size_limit = kwargs.pop("data_size_limit", 1024 * 1024)
        self.gate = kwargs.pop("gate", None) or SessionGate()
        super().__init__(handler, hostname="127.0.0.1", port=_free_port(), **kwargs)

    def factory(self) -> FaxbounceSMTP:
        return FaxbounceSMTP(self.handler, line_length_limit=self.line_length_limit, gate=self.gate,
                             data_size_limit=self.data_size_limit, hostname="faxbounce.test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FailingStore(RawStore):
    def __init__(self) -> None:
        pass

    def put_many(self, mails: object, **options: object) -> list[StoredMail]:
        raise RawStoreError("OperationalError: database is locked")


class CrashingHandler(SinkHandler):
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raise RuntimeError("unexpected")


class CountingStore(RawStore):
    """Counts transactions, to show that concurrent sessions share commits."""

    calls = 0

    def put_many(self, mails, **options):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().put_many(mails, **options)


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


def _deliver(handler: SinkHandler, mail: bytes = MAIL, **controller_options: object) -> tuple[int, bytes]:
    """One transaction (EHLO, MAIL, RCPT, DATA) against a fresh server; the DATA reply."""
    controller = _serve(handler, **controller_options)
    try:
        with _client(controller) as client:
            client.ehlo()
            client.mail("a@example.com")
            client.rcpt("b@example.com")
            return client.data(mail)
    finally:
        controller.stop()


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


def test_250_means_stored(engine: Engine, executor: ThreadPoolExecutor) -> None:
    stored: list[int] = []
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor), on_stored=stored.append))
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
        row = connection.execute(sa.select(InboundMessage.__table__)).one()
        raw = connection.execute(sa.select(InboundRaw.__table__)).one()
    assert (raw.inbound_message_id, raw.raw) == (row.id, MAIL)
    assert row.mail_from == "bounce@example.com"
    assert row.rcpt_tos == ["fax@faxbounce.test", "other@elsewhere.example"]
    assert row.helo == "mx.example.com"
    assert row.peer.startswith("127.0.0.1:")


def test_store_failure_answers_451_not_500(executor: ThreadPoolExecutor) -> None:
    code, reply = _deliver(SinkHandler(GroupCommitter(FailingStore(), executor)))
    assert f"{code} {reply.decode()}" == S451_STORE_FAILED


def test_unexpected_exception_answers_451_without_traceback(executor: ThreadPoolExecutor) -> None:
    code, reply = _deliver(CrashingHandler(GroupCommitter(FailingStore(), executor)))
    assert f"{code} {reply.decode()}" == S451_TEMPORARY
    assert b"unexpected" not in reply and b"Traceback" not in reply


def test_long_html_lines_are_accepted(engine: Engine, executor: ThreadPoolExecutor) -> None:
    long_line = b"<td>" + b"x" * 20_000 + b"</td>"
    mail = b"Subject: wide\r\nContent-Type: text/html\r\n\r\n" + long_line + b"\r\n"
    code, _ = _deliver(SinkHandler(GroupCommitter(RawStore(engine), executor)), mail)
    assert code == 250
    with engine.connect() as connection:
        assert long_line in connection.scalar(sa.select(InboundRaw.raw))


def test_recipient_policy_and_limit(engine: Engine, executor: ThreadPoolExecutor) -> None:
    handler = SinkHandler(GroupCommitter(RawStore(engine), executor),
                          recipients=AddressPolicy(("*@faxbounce.test",)), max_recipients=2)
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
    big = b"Subject: big\r\n\r\n" + (b"y" * 100 + b"\r\n") * 200
    code, _ = _deliver(SinkHandler(GroupCommitter(RawStore(engine), executor)), big, data_size_limit=10_000)
    assert code == 552
    assert _count(engine) == 0


def test_it_never_relays(engine: Engine, executor: ThreadPoolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail for foreign domains is stored like any other, and no outbound connection is ever attempted."""
    outbound: list[object] = []
    real_connect = socket.socket.connect

    def record(sock: socket.socket, address: object) -> None:
        outbound.append(address)
        return real_connect(sock, address)

    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)))
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


def _greeting(controller: _Controller) -> bytes:
    with socket.create_connection((controller.hostname, controller.port), timeout=5) as sock:
        return sock.recv(1024)


def test_clients_outside_allowed_networks_get_554(engine: Engine, executor: ThreadPoolExecutor) -> None:
    import ipaddress

    gate = SessionGate(allowed_clients=(ipaddress.ip_network("10.0.0.0/8"),))
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)), gate=gate)
    try:
        assert _greeting(controller).decode().strip() == S554_ACCESS_DENIED
    finally:
        controller.stop()


def test_loopback_is_the_default_allowed_network() -> None:
    gate = SessionGate()
    assert gate.refusal(("127.0.0.1", 1)) is None
    assert gate.refusal(("::1", 1, 0, 0)) is None
    assert gate.refusal(("::ffff:127.0.0.1", 1, 0, 0)) is None
    assert gate.refusal(("192.0.2.7", 1)) == S554_ACCESS_DENIED


def test_session_limit_and_shutdown_answer_421(engine: Engine, executor: ThreadPoolExecutor) -> None:
    gate = SessionGate(max_sessions=1)
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)), gate=gate)
    try:
        with _client(controller) as first:
            first.noop()
            assert _greeting(controller).decode().strip() == S421_TOO_MANY_SESSIONS
            gate.closing = True
        assert _greeting(controller).decode().strip() == S421_SHUTTING_DOWN
    finally:
        controller.stop()


def test_sender_policy_always_accepts_bounces(engine: Engine, executor: ThreadPoolExecutor) -> None:
    handler = SinkHandler(GroupCommitter(RawStore(engine), executor), senders=AddressPolicy(("*@fax.tc",)))
    controller = _serve(handler)
    try:
        with _client(controller) as client:
            client.ehlo()
            assert client.mail("spoof@example.net")[0] == 550
            assert client.mail("")[0] == 250  # the null sender of bounces
            client.rset()
            assert client.mail("noreply@fax.tc")[0] == 250
    finally:
        controller.stop()


def test_a_path_that_crashes_the_stdlib_parser_gets_553_not_451(
        engine: Engine, executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    """`MAIL FROM:<a@[>` made Python 3.11's address parser raise inside aiosmtpd: 451, an ERROR line and a
    temp-failure count for what is the client's syntax error."""
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)))
    try:
        with caplog.at_level(logging.ERROR), _client(controller) as client:
            client.ehlo()
            assert client.docmd("MAIL FROM:<a@[>") == (553, b"5.1.3 Error: malformed address")
            assert client.mail("a@example.com")[0] == 250  # the session goes on
            assert client.docmd("RCPT TO:<b@[>") == (553, b"5.1.3 Error: malformed address")
    finally:
        controller.stop()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_duplicate_delivery_is_stored_once(engine: Engine, executor: ThreadPoolExecutor) -> None:
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)))
    replies = []
    try:
        for _ in range(2):
            with _client(controller) as client:
                client.ehlo()
                client.mail("a@example.com")
                client.rcpt("b@example.com")
                replies.append(client.data(MAIL))
    finally:
        controller.stop()
    assert [code for code, _ in replies] == [250, 250]
    assert replies[0][1] == replies[1][1]  # same "stored as N"
    assert _count(engine) == 1


def test_concurrent_sessions_share_commits(engine: Engine, executor: ThreadPoolExecutor) -> None:
    import threading

    CountingStore.calls = 0
    controller = _serve(SinkHandler(GroupCommitter(CountingStore(engine), executor)))
    codes: list[int] = []

    def send(n: int) -> None:
        with _client(controller) as client:
            for i in range(5):
                refused = client.sendmail("a@example.com", ["b@example.com"], MAIL + f"n={n}-{i}\r\n".encode())
                codes.append(250 if not refused else 550)

    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        controller.stop()
    assert codes == [250] * 100
    assert _count(engine) == 100
    assert CountingStore.calls < 100  # some sessions shared a transaction


def test_smuggled_commands_stay_inside_one_message(engine: Engine, executor: ThreadPoolExecutor) -> None:
    """Bare LF and CR around a dot (CVE-2023-51764 family) do not end DATA: one message, one 250."""
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)))
    smuggled = (b"Subject: outer\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.net>\r\n"
                b"RCPT TO:<victim@example.com>\r\nDATA\r\nSubject: inner\r\n\r\n\r.\r\nmore\r\n.\n"
                b"still inside\r\n.\r\n")
    try:
        with socket.create_connection((controller.hostname, controller.port), timeout=5) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            for command in (b"HELO t\r\n", b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n",
                            b"DATA\r\n"):
                sock.sendall(command)
                reader.readline()
            sock.sendall(smuggled)
            reply = reader.readline()
            sock.sendall(b"QUIT\r\n")
            reader.readline()
    finally:
        controller.stop()
    assert reply.startswith(b"250 ")
    with engine.connect() as connection:
        raws = list(connection.scalars(sa.select(InboundRaw.raw)))
    assert len(raws) == 1
    assert b"MAIL FROM:<evil@example.net>" in raws[0] and b"still inside" in raws[0]


def test_bytes_in_flight_budget(engine: Engine, executor: ThreadPoolExecutor) -> None:
    """A slow sender holding a large booking makes the next DATA wait, then get 452; memory stays bounded."""
    gate = SessionGate(max_bytes_in_flight=100_000)
    gate.reserve_wait = 0.3
    controller = _serve(SinkHandler(GroupCommitter(RawStore(engine), executor)), gate=gate)
    try:
        with _client(controller) as slow, _client(controller) as other:
            slow.ehlo()
            slow.mail("a@example.com", ["SIZE=90000"])
            slow.rcpt("b@example.com")
            assert slow.docmd("DATA")[0] == 354  # now sending slowly: 90,000 bytes booked
            slow.send(b"Subject: slow\r\n\r\n")
            other.ehlo()
            other.mail("a@example.com", ["SIZE=50000"])
            other.rcpt("b@example.com")
            code, reply = other.docmd("DATA")
            assert (code, reply.decode()) == (452, "4.3.1 Too much mail in flight, try again later")
            slow.send(b"done\r\n.\r\n")
            assert slow.getreply()[0] == 250
            # The booking is released when aiosmtpd's DATA handler returns, just after it sent the 250.
            deadline = time.monotonic() + 2
            while gate.bytes_in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            assert gate.bytes_in_flight == 0
            other.rset()
            other.mail("a@example.com", ["SIZE=50000"])
            other.rcpt("b@example.com")
            assert other.data(MAIL)[0] == 250  # room again
    finally:
        controller.stop()
