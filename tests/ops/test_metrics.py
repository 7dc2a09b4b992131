"""Metrics and health over real HTTP: the daemon's endpoint, and the server's failure answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import Daemon, free_port, http_get, metric, wait_until
from mailfactory import interfax_failure, plain
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine

from processor.config import MetricsSettings
from processor.ops.metrics import DatabaseCollector, MetricsServer, SmtpMetrics
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore


def _worker_pid(daemon_pid: int) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == daemon_pid and b"processor.run.worker" in cmdline:
            return int(stat.parent.name)
    return None


def test_daemon_counts_mail_and_serves_health(db_url: str, daemon_factory: Callable[..., Daemon]) -> None:
    # Totals read again every second, in the background as with the default 300: the scrapes below see them move.
    daemon = daemon_factory(db_url, FAXBOUNCE_SMTP_ACCEPTED_RECIPIENTS="fax-results@faxbounce.test",
                            FAXBOUNCE_METRICS_TOTALS_SECONDS="1")
    status, document = daemon.health()
    assert status == 200, document
    assert document["status"] == "ok" and document["failing"] == []
    assert set(document["checks"]) == {"database", "backlog", "worker"}
    assert document["checks"]["backlog"]["data"] == {"messages": 0, "max": 1000}

    sessions_before = metric(daemon.metrics(), "faxbounce_smtp_sessions_total")  # start-up probes connected
    failure = interfax_failure(number="03-5555-0101", code="3912")
    assert daemon.send(failure)[0] == 250
    assert daemon.send(failure)[0] == 250  # the same bytes again: a duplicate, stored once
    assert daemon.send(plain())[0] == 250
    assert daemon.send(plain("other"), rcpt="someone@elsewhere.test")[0] == 550

    def classified() -> str | None:
        text = daemon.metrics()
        found = metric(text, "faxbounce_results", kind="interfax_result", outcome="failed", reason="invalid_number")
        processed = metric(text, "faxbounce_messages", status="processed")
        return text if found == 1 and processed == 2 and metric(text, "faxbounce_backlog_messages") == 0 else None

    text = wait_until(classified)
    assert text, daemon.log.read_text()
    assert metric(text, "faxbounce_messages_accepted_total") == 3
    assert metric(text, "faxbounce_messages_duplicate_total") == 1
    assert metric(text, "faxbounce_messages_rejected_total", stage="recipient") == 1
    assert metric(text, "faxbounce_messages_tempfailed_total", reason="store_failed") == 0
    engine = create_db_engine(db_url)
    with engine.connect() as connection:
        sizes = dict(connection.execute(sa.text("SELECT coalesce(kind, status), size FROM inbound_messages")).all())
    engine.dispose()
    assert metric(text, "faxbounce_received_bytes_total") == 2 * sizes["interfax_result"] + sizes["unrelated"]
    assert metric(text, "faxbounce_commit_seconds_count") == 3
    assert metric(text, "faxbounce_smtp_sessions_total") - sessions_before == 4
    assert metric(text, "faxbounce_database_errors_total", source="smtp") == 0
    assert metric(text, "faxbounce_worker_up") == 1
    assert metric(text, "faxbounce_database_up") == 1
    assert metric(text, "faxbounce_backlog_oldest_age_seconds") == 0
    assert metric(text, "faxbounce_messages", status="processed") == 2
    assert metric(text, "faxbounce_unparseable_messages") == 0

    # A worker killed behind the daemon's back is restarted, and counted.
    pid = _worker_pid(daemon.process.pid)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: metric(daemon.metrics(), "faxbounce_worker_restarts_total") == 1, 10)
    assert wait_until(lambda: daemon.health()[0] == 200, 10)

    assert http_get(daemon.base + "/nothing")[0] == 404
    assert daemon.stop() == 0


def test_metrics_port_zero_serves_nothing(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the endpoint switch does not depend on the backend")
    url = engine.url.render_as_string(hide_password=False)
    log = tmp_path / "off.log"
    env = dict(os.environ, FAXBOUNCE_DATABASE_URL=url, FAXBOUNCE_SMTP_PORT=str(free_port()),
               FAXBOUNCE_METRICS_PORT="0")
    env.pop("FAXBOUNCE_CONFIG", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "processor", "serve"], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: "metrics endpoint off" in log.read_text(), 20), log.read_text()
        assert "http://" not in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


@pytest.fixture
def server(engine: Engine) -> MetricsServer:
    registry = CollectorRegistry()
    SmtpMetrics(registry)
    registry.register(DatabaseCollector(engine, cache_seconds=0, totals_seconds=0))  # every scrape reads all
    alive = {"worker": True}
    srv = MetricsServer(MetricsSettings(port=0, max_backlog=2, cache_seconds=0), engine, registry,
                        lambda: alive["worker"])
    srv.alive = alive  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()


def _health(srv: MetricsServer) -> tuple[int, dict]:
    import json

    status, _type, body = http_get(f"http://127.0.0.1:{srv.port}/healthz")
    return status, json.loads(body)


def test_health_fails_on_a_dead_worker_and_a_long_backlog(server: MetricsServer, engine: Engine) -> None:
    assert _health(server)[0] == 200
    server.alive["worker"] = False  # type: ignore[attr-defined]
    status, document = _health(server)
    assert status == 503
    assert document["failing"] == ["worker"]
    assert document["checks"]["worker"] == {"ok": False, "detail": "the processing worker is not running",
                                            "data": {}}
    server.alive["worker"] = True  # type: ignore[attr-defined]

    store = RawStore(engine)
    store.put(plain("one"), Envelope("", ("a@x",)))
    assert _health(server)[0] == 200
    store.put(plain("two"), Envelope("", ("a@x",)))
    status, document = _health(server)
    assert status == 503 and document["failing"] == ["backlog"]
    assert document["checks"]["backlog"]["data"] == {"messages": 2, "max": 2}

    text = http_get(f"http://127.0.0.1:{server.port}/metrics")[2].decode()
    assert metric(text, "faxbounce_backlog_messages") == 2
    assert metric(text, "faxbounce_backlog_oldest_age_seconds") >= 0
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE inbound_messages SET status = 'unparseable', "
                                   "received_at = :t WHERE subject IS NULL AND id = (SELECT min(id) FROM "
                                   "inbound_messages)"), {"t": "2020-01-01 00:00:00"})
    text = http_get(f"http://127.0.0.1:{server.port}/metrics")[2].decode()
    assert metric(text, "faxbounce_unparseable_messages") == 1
    assert metric(text, "faxbounce_messages", status="unparseable") == 1
    assert metric(text, "faxbounce_backlog_messages") == 1


def test_health_fails_when_the_database_is_behind_or_gone(db_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(db_url)  # not migrated
    registry = CollectorRegistry()
    errors = SmtpMetrics(registry).database_errors.labels("metrics")
    srv = MetricsServer(MetricsSettings(port=0), engine, registry, lambda: True)
    srv.health_errors = errors.inc
    srv.start()
    try:
        status, document = _health(srv)
        assert status == 503
        assert document["failing"] == ["database", "backlog"]
        assert "faxbounce migrate" in document["checks"]["database"]["detail"]
    finally:
        srv.stop()
        engine.dispose()

    gone = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    registry = CollectorRegistry()
    counters = SmtpMetrics(registry)
    registry.register(DatabaseCollector(gone, cache_seconds=0, on_error=counters.database_errors.labels("metrics").inc))
    srv = MetricsServer(MetricsSettings(port=0), gone, registry, lambda: True)
    srv.start()
    try:
        status, document = _health(srv)
        assert status == 503 and "does not answer" in document["checks"]["database"]["detail"]
        text = http_get(f"http://127.0.0.1:{srv.port}/metrics")[2].decode()
        assert metric(text, "faxbounce_database_up") == 0
        # The counter is rendered before the collector that counts the failure runs: the next scrape shows it.
        text = http_get(f"http://127.0.0.1:{srv.port}/metrics")[2].decode()
        assert metric(text, "faxbounce_database_errors_total", source="metrics") == 1
    finally:
        srv.stop()


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_totals_are_read_again_in_the_background_while_scrapes_serve_the_last(engine: Engine) -> None:
    """The whole-table counts (`faxbounce_messages`, `faxbounce_results`) grow with every row kept, so they are
    read at the first scrape and then at most every `totals_seconds`, by a background thread, while scrapes
    serve the last ones and say their age; the backlog is read at every scrape (cache 0 here)."""
    errors: list[int] = []
    collector = DatabaseCollector(engine, cache_seconds=0, totals_seconds=1.0, on_error=lambda: errors.append(1))
    registry = CollectorRegistry()
    registry.register(collector)
    store = RawStore(engine)
    store.put(plain("one"), Envelope("", ("a@x",)))
    text = _scrape(registry)  # the first scrape reads the totals itself
    assert metric(text, "faxbounce_messages", status="received") == 1
    first_read = collector.totals()
    assert first_read is not None
    store.put(plain("two"), Envelope("", ("a@x",)))
    text = _scrape(registry)
    assert metric(text, "faxbounce_backlog_messages") == 2  # live
    assert metric(text, "faxbounce_messages", status="received") == 1  # the totals of the first read
    assert collector.totals() is first_read
    assert wait_until(lambda: metric(_scrape(registry), "faxbounce_totals_age_seconds") >= 1.0, 5)
    collector.wait_for_refresh(5)  # that scrape served the old totals and started a read
    assert collector.totals() is not first_read
    assert metric(_scrape(registry), "faxbounce_messages", status="received") == 2
    assert metric(_scrape(registry), "faxbounce_totals_age_seconds") < 1.0
    collector.wait_for_refresh(5)  # a slow machine may have started another read: let it end with the test
    assert errors == []


def test_totals_that_cannot_be_read_again_stay_as_they_were(tmp_path: Path) -> None:
    """A failed background read is counted and logged; scrapes keep the last totals, whose age grows."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine)
    errors: list[int] = []
    collector = DatabaseCollector(engine, cache_seconds=0, totals_seconds=0.2, on_error=lambda: errors.append(1))
    first = collector.totals()
    assert first is not None and first.counts.statuses == {}
    with engine.begin() as connection:  # the whole-table read fails from now on; the live figures still read
        connection.execute(sa.text("ALTER TABLE fax_results RENAME TO fax_results_away"))
    assert wait_until(lambda: _time_passed(first.taken, 0.2), 5)
    assert collector.totals() is first  # served while the read runs, and fails
    collector.wait_for_refresh(5)
    assert errors == [1]
    assert collector.totals() is first
    collector.wait_for_refresh(5)
    text = _scrape_one(collector)
    collector.wait_for_refresh(5)  # that scrape started another read: let it end before the engine goes
    assert metric(text, "faxbounce_database_up") == 1
    assert metric(text, "faxbounce_totals_age_seconds") >= 0.2
    engine.dispose()


def _time_passed(since: float, seconds: float) -> bool:
    return time.monotonic() - since >= seconds


def _scrape_one(collector: DatabaseCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return _scrape(registry)
