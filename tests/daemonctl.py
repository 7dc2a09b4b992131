"""A real `faxbounce serve` for end-to-end tests: started on free ports, driven over SMTP and HTTP, read with SQL."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from processor.store.db import create_db_engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 10) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET, 4xx/5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def wait_until(predicate: Callable[[], Any], seconds: float = 20, step: float = 0.1) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    smtp_port: int
    metrics_port: int
    url: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def send(self, raw: bytes, mail_from: str = "",
             rcpt: str | tuple[str, ...] = "fax-results@faxbounce.test") -> tuple[int, bytes]:
        """One transaction; the first reply that is not 250, else the DATA reply."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as client:
            client.ehlo("mx.example.com")
            code, reply = client.mail(mail_from)
            if code != 250:
                return code, reply
            for address in (rcpt,) if isinstance(rcpt, str) else rcpt:
                code, reply = client.rcpt(address)
                if code != 250:
                    return code, reply
            return client.data(raw)

    def wait_for(self, query: str, expected: list[tuple[object, ...]], seconds: float = 20) -> list[tuple[object, ...]]:
        """Rows of `query` once they equal `expected`, or what they are when `seconds` have passed."""
        engine = create_db_engine(self.url)
        deadline = time.monotonic() + seconds
        try:
            while True:
                with engine.connect() as connection:
                    rows = [tuple(r) for r in connection.execute(sa.text(query))]
                if rows == expected or time.monotonic() > deadline:
                    return rows
                time.sleep(0.1)
        finally:
            engine.dispose()

    def metrics(self) -> str:
        status, _type, body = http_get(self.base + "/metrics")
        assert status == 200
        return body.decode()

    def health(self) -> tuple[int, dict[str, Any]]:
        status, content_type, body = http_get(self.base + "/healthz")
        assert content_type == "application/json"
        return status, json.loads(body)

    def stop(self) -> int:
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_daemon(db_url: str, tmp_path: Path, args: tuple[str, ...] = (), metrics: bool = True,
                 smtp_port: int | None = None, **env_extra: str) -> Daemon:
    """Start the daemon on free ports (no metrics endpoint unless `metrics`; `smtp_port` to start again where a
    stopped one listened) and wait until it listens."""
    smtp_port, metrics_port = smtp_port or free_port(), (free_port() if metrics else 0)
    log = tmp_path / f"daemon-{smtp_port}.log"
    env = dict(os.environ, FAXBOUNCE_DATABASE_URL=db_url, FAXBOUNCE_SMTP_HOST="127.0.0.1",
               FAXBOUNCE_SMTP_PORT=str(smtp_port), FAXBOUNCE_METRICS_PORT=str(metrics_port),
               FAXBOUNCE_PROCESSING_POLL_INTERVAL="0.2", FAXBOUNCE_METRICS_CACHE_SECONDS="0")
    env.update(env_extra)
    env.pop("FAXBOUNCE_CONFIG", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "processor", *args, "serve"],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    daemon = Daemon(process, smtp_port, metrics_port, db_url, log)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"daemon exited with {process.returncode}:\n{log.read_text()}")
        ports = [smtp_port, metrics_port] if metrics else [smtp_port]
        for port in ports:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    return False
        return True

    def workers_started() -> bool:
        # The port opens as the workers are spawned; under load their start takes seconds, and a test that
        # times its mail's processing must not count that.
        started = re.findall(r"worker \d+ of (\d+) started", log.read_text(errors="replace"))
        return bool(started) and len(started) >= int(started[0])

    if not wait_until(listening, 20, 0.05) or not wait_until(workers_started, 30, 0.05):
        daemon.stop()
        raise AssertionError(f"daemon did not listen and start its workers within 50s:\n{log.read_text()}")
    return daemon
