"""What shares the SMTP daemon's process and logs: the metrics server's bounds, and log lines nobody can forge."""

from __future__ import annotations

import configparser
import io
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from processor.config import MetricsSettings, SmtpSettings
from processor.logsetup import TEXT_FORMAT, JsonFormatter, TextFormatter
from processor.ops.metrics import MetricsServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics_server(sqlite_engine: Engine) -> Iterator[object]:
    servers: list[MetricsServer] = []

    def start(read_timeout: float = 5.0) -> MetricsServer:
        server = MetricsServer(MetricsSettings(port=0, cache_seconds=3.0), sqlite_engine, CollectorRegistry(),
                               lambda: True)
        server.read_timeout = read_timeout
        server.max_connections = 8
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _get(server: MetricsServer, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
        return response.status


def test_connections_are_capped(metrics_server: object) -> None:
    """1,010 idle `GET /` connections took every file descriptor, and SMTP stopped accepting."""
    server = metrics_server()  # type: ignore[operator]
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(30)]
    try:
        deadline = time.monotonic() + 5
        while server.refused_connections < 30 - server.max_connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.refused_connections == 30 - server.max_connections
        assert threading.active_count() - threads_before <= server.max_connections
    finally:
        for sock in idle:
            sock.close()


def test_idle_connections_are_closed(metrics_server: object) -> None:
    server = metrics_server(read_timeout=0.5)  # type: ignore[operator]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server, without a request
        assert time.monotonic() - started < 3
    assert _get(server, "/metrics") == 200


def test_a_healthz_flood_costs_the_database_one_check(metrics_server: object, sqlite_engine: Engine) -> None:
    """Eight clients flooding /healthz cut mail throughput tenfold: each request ran the database checks."""
    server = metrics_server()  # type: ignore[operator]
    statements: list[str] = []
    sa.event.listen(sqlite_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert _get(server, "/healthz") == 200
    one_check = len(statements)
    assert one_check > 0
    for _ in range(30):
        assert _get(server, "/healthz") == 200
    assert len(statements) == one_check


def test_the_service_allows_more_descriptors_than_the_limits_use() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "config" / "faxbounce.service")
    limit = int(unit["Service"]["LimitNOFILE"])
    smtp = SmtpSettings()
    # every SMTP session, every metrics connection, the database pool, workers' pipes, with room for accepts
    assert limit >= 4 * (smtp.max_sessions + MetricsServer.max_connections + 64)


def _text_log(message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter(TEXT_FORMAT))
    logger = logging.getLogger("faxbounce.test.forging")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("forged", [
    "a@example.com\r\n2026-01-01 00:00:00,000 INFO MainProcess processor.receive.smtp: all fine",
    "a@example.com\r2026-01-01 00:00:00,000 INFO fake",
    "a@example.com\x1b[2K\x1b[1Gerased",
    "a@example.com\u2028fake\x85fake",
])
def test_client_text_cannot_forge_a_log_line(forged: str) -> None:
    line = _text_log("sender refused: %s from %s", forged, "127.0.0.1:1")
    assert line.count("\n") == 1 and line.endswith("\n")
    assert not any(c in line[:-1] for c in "\r\n\x1b\u2028\x85")
    assert "a@example.com\\" in line  # shown, escaped, not dropped


def test_json_logs_stay_one_object_per_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "helo %s", ("a\r\nb\x1b",), None)
    assert "\n" not in JsonFormatter().format(record)
