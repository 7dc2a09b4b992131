"""`faxbounce serve`: the SMTP listener plus the processing worker, with signals and supervision.

Stopping (SIGTERM/SIGINT) is graceful and bounded: new sessions are answered 421 at once, sessions in
progress get a few seconds to finish their transaction, then the worker finishes the mail in hand (what it
has not started stays `received` for the next start) and the process exits 0, all within 10 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from processor.config import Settings, client_networks
from processor.errors import FaxbounceError, RawStoreError
from processor.ops.metrics import DatabaseCollector, MetricsServer, SmtpMetrics
from processor.receive.auth import CredentialAuthenticator
from processor.receive.smtp import AddressPolicy, FaxbounceSMTP, GroupCommitter, SessionGate, SinkHandler
from processor.run.heap import freeze_long_lived
from processor.run.pool import WorkerPool, node_name
from processor.store.db import create_db_engine, current_revision, head_revision
from processor.store.inbound import RawStore, WorkQueue
from processor.store.intake import open_intake

__all__ = ["ListenError", "SchemaNotCurrent", "serve"]

log = logging.getLogger(__name__)
_SUPERVISE_SECONDS = 1.0
_SESSION_DRAIN_SECONDS = 5.0
_WORKER_STOP_SECONDS = 3.0


class SchemaNotCurrent(FaxbounceError):
    """The database is not at the migration head: serving would write to a schema we do not know."""


class ListenError(FaxbounceError):
    """The SMTP port cannot be bound (another faxbounce holds it, or no permission): nothing was started."""


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code."""
    return asyncio.run(_serve(settings))


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.smtp.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.smtp.tls_cert, settings.smtp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise FaxbounceError(f"config: smtp.tls_cert/tls_key: cannot load: {exc}") from exc
    return context


@dataclass
class Daemon:
    """Everything `serve` runs, built before anything starts (so a configuration error starts nothing)."""

    settings: Settings
    engine: Engine
    store: RawStore
    workers: WorkerPool
    metrics: SmtpMetrics
    registry: CollectorRegistry
    gate: SessionGate
    executor: ThreadPoolExecutor
    factory: Callable[[], FaxbounceSMTP]
    server: asyncio.Server | None = None
    metrics_server: MetricsServer | None = None


def build(settings: Settings, loop: asyncio.AbstractEventLoop) -> Daemon:
    """Check the schema and build the handler, gate and worker pool; nothing is started yet."""
    engine = create_db_engine(settings.database.url)
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(f"database schema is at {current or 'nothing'}, code expects {head}: "
                               "run `faxbounce migrate` first")
    smtp = settings.smtp
    context = tls_context(settings)
    workers = WorkerPool(settings, logging.getLevelName(logging.getLogger().level),
                         give_way_on_sqlite=engine.dialect.name == "sqlite")
    registry = CollectorRegistry()
    metrics = SmtpMetrics(registry)
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store")
    store = RawStore(engine, open_intake(engine))
    moved = store.move_intake()  # mails a crash left in SQLite's intake file, before anything is served
    if moved:
        log.warning("moved %d mail(s) left in the intake file %s into the database", moved, store.intake.path)
    handler = SinkHandler(
        GroupCommitter(store, executor, waiting=workers.give_way, on_moved=workers.wake),
        recipients=AddressPolicy(smtp.accepted_recipients),
        senders=AddressPolicy(smtp.allowed_senders),
        max_recipients=smtp.max_recipients,
        on_stored=lambda _message_id: workers.wake(),
        observer=metrics,
    )
    gate = SessionGate(smtp.max_sessions, client_networks(smtp), smtp.max_bytes_in_flight,
                       smtp.max_sessions_per_client)
    authenticator = (CredentialAuthenticator(smtp.auth_users, max_failures=smtp.auth_max_failures,
                                             pause=smtp.auth_failure_pause) if smtp.auth_users else None)
    command_limits = {"*": smtp.max_commands, "RCPT": max(smtp.max_commands, smtp.max_recipients)}
    hostname = smtp.hostname or socket.getfqdn()

    def factory() -> FaxbounceSMTP:
        return FaxbounceSMTP(
            handler,
            gate=gate,
            line_length_limit=smtp.max_line_length,
            data_size_limit=smtp.max_message_size,
            hostname=hostname,
            ident="faxbounce",
            timeout=smtp.timeout,
            command_call_limit=command_limits,
            tls_context=context,
            require_starttls=smtp.require_tls,
            auth_required=authenticator is not None,
            auth_require_tls=True,
            authenticator=authenticator,
            loop=loop,
        )

    return Daemon(settings, engine, store, workers, metrics, registry, gate, executor, factory)


async def start(daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
    """Bind the SMTP port first (a port in use fails here, before any worker exists), then free the leases
    this node's earlier processes held, and start the workers and the metrics endpoint."""
    smtp, settings = daemon.settings.smtp, daemon.settings
    try:  # bound (not yet listening) before the workers are spawned: a second `make run` leaves no orphans
        daemon.server = await loop.create_server(daemon.factory, host=smtp.host, port=smtp.port,
                                                 start_serving=False)
    except OSError as exc:
        raise ListenError(f"smtp: cannot listen on {smtp.host} port {smtp.port}: "
                          f"{os.strerror(exc.errno) if exc.errno else exc}: "
                          "stop the other process or set smtp.port") from exc
    node = node_name(settings)
    released = WorkQueue(daemon.engine, node).release_stale(node)
    if released:
        log.info("released %d lease(s) held by this node's earlier processes", released)
    daemon.workers.start()
    # Before the first session: the collection it begins with takes tens of milliseconds.
    log.debug("%d start-up objects frozen out of full collections", freeze_long_lived())
    await daemon.server.start_serving()
    ports = sorted({s.getsockname()[1] for s in daemon.server.sockets})
    log.info("listening on %s port %s as node %s (database %s, settings from %s)", smtp.host,
             ",".join(map(str, ports)), node, daemon.engine.url.render_as_string(hide_password=True), settings.source)
    daemon.metrics.watch_daemon(daemon.registry, daemon.workers.alive, lambda: daemon.gate.active)
    daemon.metrics_server = _start_metrics(settings, daemon.engine, daemon.registry, daemon.metrics,
                                           daemon.workers.alive)


async def run(daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
    """Supervise until SIGTERM or SIGINT: restart dead workers."""
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), _SUPERVISE_SECONDS)
        if not stopping.is_set():
            for _ in range(daemon.workers.restart_dead()):
                daemon.metrics.worker_restarts.inc()


async def stop(daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
    """Graceful and bounded: 421 to new sessions, a few seconds for open ones, then the workers."""
    gate = daemon.gate
    log.info("stopping: new sessions get 421, %d session(s) open", gate.active)
    gate.closing = True
    deadline = time.monotonic() + _SESSION_DRAIN_SECONDS
    while gate.active > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if daemon.server is not None:
        daemon.server.close()
    for protocol in list(gate.sessions):
        if protocol.transport is not None:
            protocol.transport.close()  # sessions still open after the drain: their clients retry
    await loop.run_in_executor(None, daemon.workers.stop, _WORKER_STOP_SECONDS)
    daemon.executor.shutdown(wait=True)
    try:  # a large mail's commit ended the session's last batch in the intake: no need to wait for the next start
        daemon.store.move_intake()
    except RawStoreError as exc:
        log.warning("intake: mail stays in %s until the next start: %s", daemon.store.intake.path, exc)  # type: ignore[union-attr]
    if daemon.metrics_server is not None:
        daemon.metrics_server.stop()
    daemon.engine.dispose()
    log.info("stopped")


async def _serve(settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    daemon = build(settings, loop)
    try:
        await start(daemon, loop)
    except BaseException:
        daemon.workers.stop(_WORKER_STOP_SECONDS)
        daemon.executor.shutdown(wait=False)
        daemon.engine.dispose()
        raise
    await run(daemon, loop)
    await stop(daemon, loop)
    return 0


def _start_metrics(settings: Settings, engine: Engine, registry: CollectorRegistry, metrics: SmtpMetrics,
                   worker_alive: Callable[[], bool]) -> MetricsServer | None:
    """The /metrics and /healthz thread. Mail matters more than metrics: if the port is taken, log and go on."""
    if settings.metrics.port == 0:
        log.info("metrics endpoint off (metrics.port = 0)")
        return None
    database_errors = metrics.database_errors.labels("metrics").inc
    registry.register(DatabaseCollector(engine, settings.metrics.cache_seconds, on_error=database_errors,
                                        totals_seconds=settings.metrics.totals_seconds))
    server = MetricsServer(settings.metrics, engine, registry, worker_alive)
    server.health_errors = database_errors
    try:
        server.start()
    except OSError as exc:
        log.error("metrics: cannot listen on %s port %s: %s; serving mail without /metrics and /healthz",
                  settings.metrics.host, settings.metrics.port, exc.strerror or exc)
        return None
    log.info("metrics and health on http://%s:%s/metrics and /healthz", settings.metrics.host, server.port)
    return server
