"""Issue #15, held up as an attacker would probe it over loopback: each test fails without its fix."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import LoginPassword
from prometheus_client import CollectorRegistry

from processor.ops.metrics import SmtpMetrics
from processor.receive.auth import CredentialAuthenticator, hash_password
from processor.receive.smtp import (
    S421_IDLE,
    S421_TOO_MANY_FROM_CLIENT,
    FaxbounceSMTP,
    GroupCommitter,
    SessionGate,
    SinkHandler,
)
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import RawStore


class Server(Controller):
    """A FaxbounceSMTP on a free loopback port, over a real SQLite raw store."""

    def __init__(self, tmp_path: Path, gate: SessionGate | None = None, **smtp: object) -> None:
        self.gate = gate or SessionGate()
        self.smtp = smtp
        self.metrics = SmtpMetrics(CollectorRegistry())
        engine = create_db_engine(f"sqlite:///{tmp_path / 'abuse.sqlite3'}")
        migrate(engine)
        self.pool = ThreadPoolExecutor(2)
        handler = SinkHandler(GroupCommitter(RawStore(engine), self.pool), observer=self.metrics)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        super().__init__(handler, hostname="127.0.0.1", port=port)

    def factory(self) -> FaxbounceSMTP:
        options = {"data_size_limit": 1024 * 1024, "hostname": "faxbounce.test", **self.smtp}
        return FaxbounceSMTP(self.handler, gate=self.gate, **options)

    def count(self, counter: str, **labels: str) -> float:
        return self.metrics.limits.labels(**labels)._value.get() if counter == "limits" else \
            self.metrics.tls_failures._value.get()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    servers: list[Server] = []

    def start(gate: SessionGate | None = None, **smtp: object) -> Server:
        server = Server(tmp_path, gate, **smtp)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        server.pool.shutdown()


class Client:
    """A raw SMTP client: sends bytes, reads replies, times them (smtplib hides too much here)."""

    def __init__(self, server: Server, source: str = "127.0.0.1", tls: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> bytes:
        lines = [self.file.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.file.readline())
        return lines[-1].rstrip(b"\r\n")

    def cmd(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        assert self.cmd("STARTTLS").startswith(b"220")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def open_data(self, size: int | None = None) -> bytes:
        self.cmd("EHLO client.test")
        self.cmd("MAIL FROM:<a@example.com>" + (f" SIZE={size}" if size else ""))
        self.cmd("RCPT TO:<b@example.com>")
        return self.cmd("DATA")

    def close(self) -> None:
        self.file.close()  # the socket closes once its file is closed too
        self.sock.close()


def _wait(predicate: object, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    return bool(predicate())  # type: ignore[operator]


def test_idle_data_gets_421_and_gives_its_booking_back(serve: object) -> None:
    gate = SessionGate(max_bytes_in_flight=100_000)
    server = serve(gate, timeout=0.5)  # type: ignore[operator]
    idle = Client(server)
    assert idle.open_data(90_000).startswith(b"354")
    assert gate.bytes_in_flight == 90_000
    started = time.monotonic()
    assert idle.reply().decode() == S421_IDLE  # said, not just a closed socket
    assert time.monotonic() - started < 3
    assert _wait(lambda: gate.bytes_in_flight == 0)
    other = Client(server)
    assert other.open_data(90_000).startswith(b"354")
    other.sock.sendall(b"Subject: t\r\n\r\nroom again\r\n.\r\n")
    assert other.reply().startswith(b"250")
    assert server.count("limits", limit="idle") == 1


def test_a_steady_slow_upload_is_not_cut(serve: object) -> None:
    server = serve(timeout=0.6)  # type: ignore[operator]
    client = Client(server)
    assert client.open_data().startswith(b"354")
    client.sock.sendall(b"Subject: slow\r\n\r\n")
    for _ in range(8):  # 2.4 s in all, four times the timeout, never 0.6 s silent
        time.sleep(0.3)
        client.sock.sendall(b"a line\r\n")
    client.sock.sendall(b".\r\n")
    assert client.reply().startswith(b"250")


def test_a_client_that_declares_no_size_is_booked_the_largest_mail(serve: object) -> None:
    gate = SessionGate(max_bytes_in_flight=4 * 1024 * 1024)
    gate.reserve_wait = 0.3
    server = serve(gate, data_size_limit=3 * 1024 * 1024)  # type: ignore[operator]
    first, second = Client(server), Client(server)
    assert first.open_data().startswith(b"354")
    assert gate.bytes_in_flight == 3 * 1024 * 1024
    assert second.open_data().startswith(b"452")  # booked at 1 MiB before: both were let in
    assert server.count("limits", limit="bytes_in_flight") == 1


def test_a_transfer_past_its_booking_needs_room_in_the_budget(serve: object) -> None:
    gate = SessionGate(max_bytes_in_flight=2 * 1024 * 1024)
    server = serve(gate, data_size_limit=8 * 1024 * 1024)  # type: ignore[operator]
    liar = Client(server)
    assert liar.open_data(size=1000).startswith(b"354")
    liar.sock.sendall(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 3000 + b".\r\n")  # 3 MB
    assert liar.reply().startswith(b"452 4.3.1")
    assert _wait(lambda: gate.bytes_in_flight == 0)
    honest = Client(server)
    assert honest.open_data(size=40_000).startswith(b"354")
    honest.sock.sendall(b"Subject: small\r\n\r\n" + (b"z" * 998 + b"\r\n") * 30 + b".\r\n")
    assert honest.reply().startswith(b"250")  # a little over its SIZE, which the budget has room for


def test_one_client_address_books_at_most_half_the_budget(serve: object) -> None:
    """Sixteen sessions sitting in DATA held the whole budget: every other client got 452 for up to 300 s."""
    gate = SessionGate(max_bytes_in_flight=1_000_000)
    gate.reserve_wait = 0.3
    server = serve(gate)  # type: ignore[operator]
    stalled = [Client(server) for _ in range(5)]
    replies = [c.open_data(200_000)[:3] for c in stalled]
    assert replies == [b"354", b"354", b"452", b"452", b"452"]
    other = Client(server, source="127.0.0.2")
    assert other.open_data(400_000).startswith(b"354")
    other.sock.sendall(b"Subject: t\r\n\r\nserved\r\n.\r\n")
    assert other.reply().startswith(b"250")


def test_one_client_address_gets_only_its_share_of_sessions(serve: object) -> None:
    server = serve(SessionGate(max_sessions=10, max_sessions_per_client=3))  # type: ignore[operator]
    hogs = [Client(server) for _ in range(3)]
    assert all(h.greeting.startswith(b"220") for h in hogs)
    assert Client(server).greeting.decode() == S421_TOO_MANY_FROM_CLIENT
    assert Client(server, source="127.0.0.2").greeting.startswith(b"220")  # everyone else is still served
    hogs[0].close()
    assert _wait(lambda: server.gate.per_client.get("127.0.0.1") == 2)
    assert Client(server).greeting.startswith(b"220")


def test_commands_per_session_are_limited(serve: object) -> None:
    server = serve(command_call_limit={"*": 50})  # type: ignore[operator]
    client = Client(server)
    replies = [client.cmd("RSET") for _ in range(51)]
    assert replies[:50] == [b"250 OK"] * 50
    assert replies[50].startswith(b"421")
    assert client.file.readline() == b""  # and closed


# --- AUTH -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def _plain(user: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def _auth_server(serve: object, context: ssl.SSLContext, **limits: float) -> Server:
    authenticator = CredentialAuthenticator([f"fax:{hash_password('s3cret')}"], **limits)  # type: ignore[arg-type]
    return serve(tls_context=context, auth_required=True, authenticator=authenticator)  # type: ignore[operator]


def test_password_checks_do_not_stall_other_sessions(serve: object, certificate: ssl.SSLContext) -> None:
    server = _auth_server(serve, certificate, max_failures=1000)
    flooder, bystander = Client(server), Client(server)
    flooder.cmd("EHLO flood.test")
    flooder.starttls()
    flooder.cmd("EHLO flood.test")
    bystander.cmd("EHLO by.test")
    lines = 40  # about 30 ms of scrypt each
    flooder.sock.sendall(("\r\n".join([_plain("fax", "wrong")] * lines) + "\r\n").encode())
    latencies, started = [], time.monotonic()
    done = threading.Event()
    replies: list[bytes] = []

    def read_all() -> None:
        replies.extend(flooder.reply() for _ in range(lines))
        done.set()

    threading.Thread(target=read_all, daemon=True).start()
    while not done.is_set():
        sent = time.monotonic()
        assert bystander.cmd("NOOP").startswith(b"250")
        latencies.append(time.monotonic() - sent)
        time.sleep(0.01)
    flood_seconds = time.monotonic() - started
    assert replies == [b"535 5.7.8 Authentication credentials invalid"] * lines
    assert flood_seconds > 0.4  # the checks did cost their time ...
    assert max(latencies) < min(0.25, flood_seconds / 3)  # ... but not to anyone else


def test_an_unknown_user_costs_as_much_as_a_known_one() -> None:
    authenticator = CredentialAuthenticator([f"fax:{hash_password('s3cret')}"])

    def seconds(user: bytes) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            result = authenticator(None, None, None, "PLAIN", LoginPassword(user, b"wrong"))
            runs.append(time.perf_counter() - started)
            assert not result.success
        return statistics.median(runs)

    known, unknown = seconds(b"fax"), seconds(b"nobody")
    assert 0.5 < unknown / known < 2, (known, unknown)


def test_repeated_failures_pause_that_client(serve: object, certificate: ssl.SSLContext) -> None:
    server = _auth_server(serve, certificate, max_failures=3, pause=1.0)

    def session(source: str = "127.0.0.1") -> Client:
        client = Client(server, source=source)
        client.cmd("EHLO c.test")
        client.starttls()
        client.cmd("EHLO c.test")
        return client

    attacker = session()
    assert [attacker.cmd(_plain("fax", f"guess{i}"))[:3] for i in range(3)] == [b"535"] * 3
    assert attacker.cmd(_plain("fax", "s3cret")).startswith(b"454 4.7.0")  # right, but not checked now
    assert session().cmd(_plain("fax", "s3cret")).startswith(b"454")  # a new session from the same address
    assert session("127.0.0.2").cmd(_plain("fax", "s3cret")).startswith(b"235")  # other clients are not
    time.sleep(1.1)
    assert attacker.cmd(_plain("fax", "s3cret")).startswith(b"235")
    assert server.count("limits", limit="auth_failures") == 2


def test_tls_garbage_is_the_clients_problem_not_lost_mail(serve: object, certificate: ssl.SSLContext,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    server = serve(tls_context=certificate)  # type: ignore[operator]
    client = Client(server)
    client.cmd("EHLO c.test")
    with caplog.at_level(logging.INFO, logger="processor.receive.smtp"):
        assert client.cmd("STARTTLS").startswith(b"220")
        client.sock.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\x16\x03\x01garbage" * 10)
        assert client.file.read() == b""  # closed
        assert _wait(lambda: server.count("tls") == 1)
    failed = [r for r in caplog.records if "STARTTLS handshake failed" in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.INFO]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert server.metrics.tempfailed_total.labels("error")._value.get() == 0  # the documented alert stays quiet


def test_event_loop_answers_while_auth_runs() -> None:
    """Sanity of the premise above: scrypt releases the GIL, so checks in threads run beside the loop."""
    authenticator = CredentialAuthenticator([f"fax:{hash_password('s3cret')}"])

    async def main() -> float:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        for _ in range(5):
            await authenticator.check("192.0.2.1", "PLAIN", LoginPassword(b"fax", b"wrong"))
        elapsed = time.monotonic() - started
        ticker.cancel()
        return ticks / (elapsed / 0.005)

    assert asyncio.run(main()) > 0.3


def test_a_client_waiting_for_the_store_is_not_idle(serve: object, tmp_path: Path) -> None:
    """The idle timeout counts the client's silence, not ours: a commit that waits for SQLite's write lock
    longer than `timeout` still ends in 250, and the session's next command still gets its idle window."""
    import sqlite3

    server = serve(timeout=0.5)  # type: ignore[operator]
    client = Client(server)
    assert client.open_data().startswith(b"354")
    holder = sqlite3.connect(tmp_path / "abuse.sqlite3", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 1.2 s
    release = threading.Timer(1.2, lambda: (holder.execute("COMMIT"), holder.close()))
    release.start()
    try:
        started = time.monotonic()
        client.sock.sendall(b"Subject: waited\r\n\r\nbody\r\n.\r\n")
        assert client.reply().startswith(b"250")
        assert time.monotonic() - started >= 1.0  # it did wait for the lock, longer than the timeout
    finally:
        release.join()
    assert server.count("limits", limit="idle") == 0
    assert client.reply().decode() == S421_IDLE  # idle after the 250: the timeout applies again
    assert _wait(lambda: server.count("limits", limit="idle") == 1)  # counted just after the 421 is written
