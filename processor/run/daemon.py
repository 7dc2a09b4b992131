"""`faxbounce serve`: the SMTP listener plus the processing worker, with signals and supervision.

Stopping (SIGTERM/SIGINT) is graceful and bounded: new sessions are answered 421 at once, sessions in
progress get a few seconds to finish their transaction, then the worker finishes the mail in hand (what it
has not started stays `received` for the next start) and the process exits 0, all within 10 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from processor.config import Settings, client_networks
from processor.errors import FaxbounceError
from processor.ops.metrics import DatabaseCollector, MetricsServer, SmtpMetrics
from processor.receive.auth import CredentialAuthenticator
from processor.receive.smtp import AddressPolicy, FaxbounceSMTP, GroupCommitter, SessionGate, SinkHandler
from processor.run.worker import run_worker
from processor.store.db import create_db_engine, current_revision, head_revision
from processor.store.inbound import RawStore

__all__ = ["SchemaNotCurrent", "serve"]

log = logging.getLogger(__name__)
_SUPERVISE_SECONDS = 1.0
_SESSION_DRAIN_SECONDS = 5.0
_WORKER_STOP_SECONDS = 3.0


class SchemaNotCurrent(FaxbounceError):
    """The database is not at the migration head: serving would write to a schema we do not know."""


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


async def _serve(settings: Settings) -> int:
    engine = create_db_engine(settings.database.url)
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(f"database schema is at {current or 'nothing'}, code expects {head}: "
                               "run `faxbounce migrate` first")
    smtp = settings.smtp
    context = tls_context(settings)
    workers = WorkerPool(settings, logging.getLevelName(logging.getLogger().level))
    workers.start()
    registry = CollectorRegistry()
    metrics = SmtpMetrics(registry)
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store")
    handler = SinkHandler(
        GroupCommitter(RawStore(engine), executor, waiting=workers.smtp_waiting),
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
    loop = asyncio.get_running_loop()
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

    server = await loop.create_server(factory, host=smtp.host, port=smtp.port)
    ports = sorted({s.getsockname()[1] for s in server.sockets})
    log.info("listening on %s port %s (database %s, config %s)", smtp.host, ",".join(map(str, ports)),
             engine.url.render_as_string(hide_password=True), settings.source)
    metrics.watch_daemon(registry, workers.alive, lambda: gate.active)
    metrics_server = _start_metrics(settings, engine, registry, metrics, workers.alive)

    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), _SUPERVISE_SECONDS)
        if not stopping.is_set():
            for _ in range(workers.restart_dead()):
                metrics.worker_restarts.inc()

    log.info("stopping: new sessions get 421, %d session(s) open", gate.active)
    gate.closing = True
    deadline = time.monotonic() + _SESSION_DRAIN_SECONDS
    while gate.active > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    server.close()
    for protocol in list(gate.sessions):
        if protocol.transport is not None:
            protocol.transport.close()  # sessions still open after the drain: their clients retry
    await loop.run_in_executor(None, workers.stop, _WORKER_STOP_SECONDS)
    executor.shutdown(wait=True)
    if metrics_server is not None:
        metrics_server.stop()
    engine.dispose()
    log.info("stopped")
    return 0


class WorkerPool:
    """The worker processes: worker i of n takes the mails whose id is i modulo n, so none is taken twice,
    and a dead one is restarted (its share of the queue waits in the database meanwhile)."""

    def __init__(self, settings: Settings, log_level: str) -> None:
        self.settings = settings
        self.log_level = log_level
        self.count = settings.processing.workers or os.cpu_count() or 1
        self.ctx = multiprocessing.get_context("spawn")
        self.slots: list[tuple[BaseProcess, Event, Event]] = []
        self.smtp_waiting = self.ctx.RawValue("i", 0)
        """Mails waiting for their commit on the SMTP side (written by the event loop, read by workers)."""

    def start(self) -> None:
        self.slots = [self._spawn(index) for index in range(self.count)]

    def _spawn(self, index: int) -> tuple[BaseProcess, Event, Event]:
        # Fresh Events for each worker: one killed while waiting on `wake` (kill -9, the OOM killer) leaves the
        # Event's condition expecting a wake-up acknowledgement that never comes, and the next set() would block
        # the event loop for ever.
        wake, stop = self.ctx.Event(), self.ctx.Event()
        process = self.ctx.Process(target=run_worker, name=f"worker-{index + 1}",
                                   args=(self.settings, wake, stop, self.log_level, (index, self.count),
                                         self.smtp_waiting))
        process.start()
        return process, wake, stop

    def wake(self) -> None:
        for _process, wake, _stop in self.slots:
            wake.set()

    def alive(self) -> bool:
        return bool(self.slots) and all(process.is_alive() for process, _wake, _stop in self.slots)

    def restart_dead(self) -> int:
        restarted = 0
        for index, (process, _wake, _stop) in enumerate(self.slots):
            if not process.is_alive():
                log.error("%s exited with code %s; restarting it", process.name, process.exitcode)
                self.slots[index] = self._spawn(index)
                restarted += 1
        return restarted

    def stop(self, seconds: float) -> None:
        """Ask every worker to finish the mail in hand; terminate those still busy after `seconds`."""
        for _process, wake, stop in self.slots:
            stop.set()
            wake.set()
        deadline = time.monotonic() + seconds
        for process, _wake, _stop in self.slots:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s still busy after %ss; terminating it (its mail stays queued)", process.name, seconds)
                process.terminate()
                process.join(1.0)


def _start_metrics(settings: Settings, engine: Engine, registry: CollectorRegistry, metrics: SmtpMetrics,
                   worker_alive: Callable[[], bool]) -> MetricsServer | None:
    """The /metrics and /healthz thread. Mail matters more than metrics: if the port is taken, log and go on."""
    if settings.metrics.port == 0:
        log.info("metrics endpoint off (metrics.port = 0)")
        return None
    database_errors = metrics.database_errors.labels("metrics").inc
    registry.register(DatabaseCollector(engine, settings.metrics.cache_seconds, on_error=database_errors))
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
