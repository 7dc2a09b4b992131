"""Prometheus metrics and the health check, served by a small HTTP thread inside `faxbounce serve`.

Two kinds of figures:

- the SMTP side's counters (sessions, accepted / temp-failed / rejected mails, bytes, commit latency, database
  errors) live in the daemon process and are counted as they happen (`SmtpMetrics`, the SMTP handler's observer);
- the processing figures (backlog and lag, mails by status, results by kind and reason) belong to the worker,
  a separate process, so they are read from the database when Prometheus scrapes (`DatabaseCollector`), with a
  short cache so a busy scraper cannot load the database.

`GET /healthz` answers 200 with a JSON body when the database answers at the schema head, the worker is alive and
the backlog is under `metrics.max_backlog`, else 503 naming the failing check. `faxbounce check` runs the same
checks from the shell (`run_checks`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.config import MetricsSettings
from processor.store.db import current_revision, head_revision
from processor.store.models import DeliveryState, MessageStatus
from processor.store.stats import (
    StoredTotals,
    backlog,
    database_identity,
    delivery_counts,
    live_counts,
    stored_totals,
)

__all__ = ["Check", "DatabaseCollector", "MetricsServer", "SmtpMetrics", "health_document", "run_checks"]

log = logging.getLogger(__name__)

COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SmtpMetrics:
    """Counters of the SMTP side; also the `SmtpObserver` the SMTP handler reports to."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Counter("faxbounce_smtp_sessions", "SMTP sessions greeted", registry=registry)
        self.accepted_total = Counter("faxbounce_messages_accepted", "Mails answered 250 (duplicates included)",
                                      registry=registry)
        self.duplicates = Counter("faxbounce_messages_duplicate",
                                  "Mails answered 250 whose exact bytes were already stored", registry=registry)
        self.intake = Counter("faxbounce_messages_intake",
                              "Mails answered 250 from SQLite's intake file while a large mail's commit held the "
                              "write lock (moved into the database right after)", registry=registry)
        self.tempfailed_total = Counter("faxbounce_messages_tempfailed",
                                        "Mails answered 4xx (the client keeps and retries them), by reason",
                                        ["reason"], registry=registry)
        self.rejected_total = Counter("faxbounce_messages_rejected",
                                      "Connections, senders and recipients refused with 5xx/421, by stage",
                                      ["stage"], registry=registry)
        self.bytes = Counter("faxbounce_received_bytes", "Bytes of mail answered 250", registry=registry)
        self.database_errors = Counter("faxbounce_database_errors",
                                       "Database operations that failed (smtp: a commit before the 250; "
                                       "metrics: a scrape or health query)", ["source"], registry=registry)
        self.commit_seconds = Histogram("faxbounce_commit_seconds",
                                        "Time from the end of DATA to the committed raw mail", buckets=COMMIT_BUCKETS,
                                        registry=registry)
        self.limits = Counter("faxbounce_smtp_limits", "Clients stopped by a limit (idle, bytes_in_flight, size, "
                              "temp_space, auth_failures): the client keeps its mail and retries", ["limit"],
                              registry=registry)
        self.tls_failures = Counter("faxbounce_tls_handshake_failures",
                                    "STARTTLS handshakes that failed on the client's side (no mail involved)",
                                    registry=registry)
        for limit in ("idle", "bytes_in_flight", "size", "temp_space", "auth_failures"):
            self.limits.labels(limit)
        for reason in ("store_failed", "storage_full", "error"):
            self.tempfailed_total.labels(reason)
        for stage in ("connection", "sender", "recipient"):
            self.rejected_total.labels(stage)
        for source in ("smtp", "metrics"):
            self.database_errors.labels(source)

    # SmtpObserver
    def session_opened(self) -> None:
        self.sessions.inc()

    def rejected(self, stage: str) -> None:
        self.rejected_total.labels(stage).inc()

    def accepted(self, size: int, commit_seconds: float, duplicate: bool, intake: bool = False) -> None:
        self.accepted_total.inc()
        self.bytes.inc(size)
        self.commit_seconds.observe(commit_seconds)
        if duplicate:
            self.duplicates.inc()
        if intake:
            self.intake.inc()

    def tempfailed(self, reason: str) -> None:
        self.tempfailed_total.labels(reason).inc()
        if reason in ("store_failed", "storage_full"):
            self.database_errors.labels("smtp").inc()

    def limited(self, limit: str) -> None:
        self.limits.labels(limit).inc()

    def tls_failed(self) -> None:
        self.tls_failures.inc()

    def watch_daemon(self, registry: CollectorRegistry, worker_alive: Callable[[], bool],
                     active_sessions: Callable[[], int]) -> None:
        """Gauges read from the daemon's own state at scrape time."""
        Gauge("faxbounce_worker_up", "1 while the processing worker process is alive",
              registry=registry).set_function(lambda: 1.0 if worker_alive() else 0.0)
        Gauge("faxbounce_smtp_sessions_active", "SMTP sessions open now",
              registry=registry).set_function(lambda: float(active_sessions()))
        self.worker_restarts = Counter("faxbounce_worker_restarts", "Times the daemon restarted a dead worker",
                                       registry=registry)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the database says about processing now, at `taken` (monotonic seconds): read from indexes."""

    taken: float
    up: bool
    backlog: int = 0
    oldest_backlog_age: float = 0.0
    unparseable: int = 0
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    """(channel, state) → outbox rows (issue #13)."""
    unrecognized: int = 0
    """Mails of kind `unrecognized`: a fax service's marks, no result read."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Every stored mail by status and result by kind, outcome and reason (`counts`), as read at `taken`."""

    taken: float
    counts: StoredTotals


def read_snapshot(engine: Engine) -> Snapshot:
    """The figures that move from minute to minute (raises SQLAlchemyError)."""
    counts = live_counts(engine)
    age = 0.0
    if counts.oldest_waiting is not None:
        age = max(0.0, (datetime.now(UTC) - counts.oldest_waiting).total_seconds())
    return Snapshot(time.monotonic(), True, counts.backlog, age, counts.unparseable, delivery_counts(engine),
                    counts.unrecognized)


def read_totals(engine: Engine) -> Totals:
    """The whole-table counts (raises SQLAlchemyError)."""
    counts = stored_totals(engine)
    return Totals(time.monotonic(), counts)


class DatabaseCollector(Collector):
    """Processing figures read from the database at scrape time.

    The backlog, its lag, the mails to look at and the outbox are read from indexes and reused for
    `cache_seconds`. The totals (mails by status, results by kind, outcome and reason) group whole tables, whose
    rows are kept for years: they are read again at most every `totals_seconds`, by a background thread while
    scrapes serve the last ones (only the first is read in the scrape), so a scrape stays fast however large the
    tables grow; `faxbounce_totals_age_seconds` says how old they are. `totals_seconds=0` reads them at every
    scrape, cached as the rest."""

    def __init__(self, engine: Engine, cache_seconds: float = 5.0,
                 on_error: Callable[[], None] | None = None, totals_seconds: float = 300.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.totals_seconds = totals_seconds
        self.on_error = on_error
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._totals_lock = threading.Lock()
        self._totals: Totals | None = None
        self._refreshing: threading.Thread | None = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            cached = self._snapshot
            if cached is not None and time.monotonic() - cached.taken < self.cache_seconds:
                return cached
            try:
                fresh = read_snapshot(self.engine)
            except SQLAlchemyError as exc:
                self._failed(exc)
                fresh = Snapshot(time.monotonic(), False)
            self._snapshot = fresh
            return fresh

    def totals(self) -> Totals | None:
        """The last totals; None while none could be read. Starts a refresh when they are due."""
        with self._totals_lock:
            cached = self._totals
            period = self.totals_seconds or self.cache_seconds
            if cached is not None and time.monotonic() - cached.taken < period:
                return cached
            if cached is None or not self.totals_seconds:
                self._refresh_totals()
                return self._totals
            if self._refreshing is None or not self._refreshing.is_alive():
                self._refreshing = threading.Thread(target=self._refresh_totals, name="metrics-totals",
                                                    daemon=True)
                self._refreshing.start()
            return cached

    def wait_for_refresh(self, timeout: float | None = None) -> None:
        """Until a background refresh under way has finished (for tests)."""
        thread = self._refreshing
        if thread is not None:
            thread.join(timeout)

    def _refresh_totals(self) -> None:
        """Read the totals; on failure keep the last ones (their age gauge grows) and count the error."""
        try:
            fresh = read_totals(self.engine)
        except SQLAlchemyError as exc:
            self._failed(exc)
            return
        self._totals = fresh

    def _failed(self, exc: SQLAlchemyError) -> None:
        log.warning("metrics: database query failed: %s", _first_line(exc))
        if self.on_error is not None:
            self.on_error()

    def describe(self) -> Iterator[Any]:
        return iter(())  # unchecked collector: the label sets come from the data

    def collect(self) -> Iterator[Any]:
        snap = self.snapshot()
        up = GaugeMetricFamily("faxbounce_database_up", "1 when the last metrics query of the database succeeded")
        up.add_metric([], 1.0 if snap.up else 0.0)
        yield up
        if not snap.up:
            return
        yield GaugeMetricFamily("faxbounce_backlog_messages", "Mails stored but not yet processed (status received)",
                                value=snap.backlog)
        yield GaugeMetricFamily("faxbounce_backlog_oldest_age_seconds",
                                "Processing lag: age of the oldest mail not yet processed (0 when none waits)",
                                value=snap.oldest_backlog_age)
        yield GaugeMetricFamily("faxbounce_unparseable_messages", "Stored mails that could not be parsed at all",
                                value=snap.unparseable)
        yield GaugeMetricFamily("faxbounce_unrecognized_messages",
                                "Stored mails that bear a fax service's marks but gave no result (kind unrecognized): "
                                "look at them", value=snap.unrecognized)
        yield from self._deliveries(snap)
        totals = self.totals()
        if totals is None:
            return
        yield GaugeMetricFamily("faxbounce_totals_age_seconds",
                                "Age of faxbounce_messages and faxbounce_results, read again every "
                                "metrics.totals_seconds", value=max(0.0, time.monotonic() - totals.taken))
        statuses = GaugeMetricFamily("faxbounce_messages", "Stored mails by processing status", labels=["status"])
        for status in MessageStatus.ALL:
            statuses.add_metric([status], totals.counts.statuses.get(status, 0))
        yield statuses
        results = GaugeMetricFamily("faxbounce_results", "Stored result rows by kind, outcome and reason",
                                    labels=["kind", "outcome", "reason"])
        for kind, outcome, reason, count in totals.counts.results:
            results.add_metric([kind, outcome, reason], count)
        yield results

    @staticmethod
    def _deliveries(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
        deliveries = GaugeMetricFamily(
            "faxbounce_notify_deliveries", "Outbox rows (webhook and mail deliveries) by channel and state; "
            "failed ones gave up after delivery.give_up_after: alert on them", labels=["channel", "state"])
        for channel in ("webhook", "mail"):
            for state in DeliveryState.ALL:
                deliveries.add_metric([channel, state], snap.deliveries.get((channel, state), 0))
        yield deliveries


# --- health ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


def check_database(engine: Engine) -> Check:
    """The database answers at the schema head; `data["identity"]` names it (`database_identity`), so that
    `faxbounce check` can tell whether the daemon it asks serves the same database."""
    try:
        current = current_revision(engine)
        identity = database_identity(engine)
    except SQLAlchemyError as exc:
        return Check("database", False, f"does not answer: {_first_line(exc)}", {"error": _first_line(exc)})
    head = head_revision()
    if current != head:
        return Check("database", False, f"schema at {current or 'nothing'}, code expects {head}: run faxbounce migrate",
                     {"revision": current, "head": head, "identity": identity})
    return Check("database", True, f"answers, schema at {current}", {"revision": current, "identity": identity})


def check_backlog(engine: Engine, settings: MetricsSettings) -> Check:
    try:
        waiting = backlog(engine)
    except SQLAlchemyError as exc:
        return Check("backlog", False, f"cannot be read: {_first_line(exc)}", {"error": _first_line(exc)})
    data = {"messages": waiting, "max": settings.max_backlog}
    if waiting >= settings.max_backlog:
        return Check("backlog", False, f"{waiting} mails wait for processing (metrics.max_backlog "
                                       f"{settings.max_backlog})", data)
    return Check("backlog", True, f"{waiting} mail(s) wait for processing", data)


def check_worker(alive: Callable[[], bool]) -> Check:
    if alive():
        return Check("worker", True, "alive")
    return Check("worker", False, "the processing worker is not running")


def run_checks(engine: Engine, settings: MetricsSettings, worker_alive: Callable[[], bool] | None = None,
               ) -> list[Check]:
    """The health checks: database (and schema), backlog, and the worker when `worker_alive` is given."""
    checks = [check_database(engine)]
    checks.append(check_backlog(engine, settings) if checks[0].ok
                  else Check("backlog", False, "unknown: the database check failed"))
    if worker_alive is not None:
        checks.append(check_worker(worker_alive))
    return checks


def health_document(checks: list[Check]) -> dict[str, Any]:
    failing = [c.name for c in checks if not c.ok]
    return {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks},
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --- the HTTP server --------------------------------------------------------------------------------------------


class MetricsServer:
    """`/metrics` and `/healthz` on a ThreadingHTTPServer in a daemon thread of the SMTP process.

    It shares the process (and its file descriptors) with the SMTP listener, so it is bounded: at most
    `max_connections` connections at once (more are closed at accept), each closed after `read_timeout`
    seconds without a complete request, and `/healthz` answers from a result at most `health_cache_seconds`
    old (`metrics.cache_seconds`), so a flood of health checks costs the database one check per period."""

    max_connections = 32
    read_timeout = 5.0

    def __init__(self, settings: MetricsSettings, engine: Engine, registry: CollectorRegistry,
                 worker_alive: Callable[[], bool] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry
        self.worker_alive = worker_alive
        self.health_errors: Callable[[], None] | None = None
        self.health_cache_seconds = settings.cache_seconds
        self.refused_connections = 0
        """Connections closed at accept because `max_connections` were open."""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._health_lock = threading.Lock()
        self._health: tuple[float, int, dict[str, Any]] | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd is not None else 0

    def start(self) -> None:
        owner = self
        slots = threading.BoundedSemaphore(self.max_connections)

        class Handler(_Handler):
            server_owner = owner
            timeout = owner.read_timeout  # StreamRequestHandler sets it on the socket: idle clients go

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                if not slots.acquire(blocking=False):
                    owner.refused_connections += 1
                    self.shutdown_request(request)
                    return
                try:
                    super().process_request(request, client_address)
                except BaseException:
                    slots.release()
                    raise

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()

        httpd = Server((self.settings.host, self.settings.port), Handler)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="metrics-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def health(self) -> tuple[int, dict[str, Any]]:
        """The health checks' answer, reused for `health_cache_seconds`; one check at a time."""
        with self._health_lock:
            cached = self._health
            if cached is not None and time.monotonic() - cached[0] < self.health_cache_seconds:
                return cached[1], cached[2]
            checks = run_checks(self.engine, self.settings, self.worker_alive)
            if any("error" in c.data for c in checks) and self.health_errors is not None:
                self.health_errors()
            document = health_document(checks)
            status = 200 if document["status"] == "ok" else 503
            self._health = (time.monotonic(), status, document)
            return status, document


class _Handler(BaseHTTPRequestHandler):
    server_owner: MetricsServer
    server_version = "faxbounce"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server_owner.registry))
        elif path == "/healthz":
            status, document = self.server_owner.health()
            self._send(status, "application/json", json.dumps(document).encode() + b"\n")
        elif path == "/":
            self._send(200, "text/plain; charset=utf-8", b"faxbounce: /metrics (Prometheus), /healthz\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics http: " + format, *args)


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    return (text.splitlines()[0] if text else type(original).__name__)[:200]
