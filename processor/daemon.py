"""`faxbounce serve`: the SMTP listener plus the processing worker, with signals and supervision."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from processor.config import Settings
from processor.errors import FaxbounceError
from processor.rawstore import RawStore
from processor.smtp import FaxbounceSMTP, RecipientPolicy, SinkHandler
from processor.store.db import create_db_engine, current_revision, head_revision
from processor.worker import run_worker

__all__ = ["SchemaNotCurrent", "serve"]

log = logging.getLogger(__name__)
_SUPERVISE_SECONDS = 1.0
_STOP_SECONDS = 10.0


class SchemaNotCurrent(FaxbounceError):
    """The database is not at the migration head: serving would write to a schema we do not know."""


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code."""
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    engine = create_db_engine(settings.database.url)
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotCurrent(f"database schema is at {current or 'nothing'}, code expects {head}: "
                               "run `faxbounce migrate` first")
    ctx = multiprocessing.get_context("spawn")
    wake, stop = ctx.Event(), ctx.Event()
    log_level = logging.getLevelName(logging.getLogger().level)

    def start_worker() -> multiprocessing.process.BaseProcess:
        process = ctx.Process(target=run_worker, args=(settings, wake, stop, log_level), name="worker")
        process.start()
        return process

    worker = start_worker()
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store")
    handler = SinkHandler(
        RawStore(engine),
        executor,
        recipients=RecipientPolicy(settings.smtp.accepted_recipients),
        max_recipients=settings.smtp.max_recipients,
        on_stored=lambda _message_id: wake.set(),
    )
    loop = asyncio.get_running_loop()
    hostname = settings.smtp.hostname or socket.getfqdn()
    server = await loop.create_server(
        lambda: FaxbounceSMTP(
            handler,
            line_length_limit=settings.smtp.max_line_length,
            data_size_limit=settings.smtp.max_message_size,
            hostname=hostname,
            ident="faxbounce",
            timeout=settings.smtp.timeout,
            loop=loop,
        ),
        host=settings.smtp.host,
        port=settings.smtp.port,
    )
    ports = sorted({s.getsockname()[1] for s in server.sockets})
    log.info("listening on %s port %s (database %s)", settings.smtp.host, ",".join(map(str, ports)),
             engine.url.render_as_string(hide_password=True))

    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), _SUPERVISE_SECONDS)
        if not worker.is_alive() and not stopping.is_set():
            log.error("worker exited with code %s; restarting it", worker.exitcode)
            worker = start_worker()

    log.info("stopping: no new connections, finishing stored mail")
    server.close()
    await server.wait_closed()
    stop.set()
    wake.set()
    await loop.run_in_executor(None, worker.join, _STOP_SECONDS)
    if worker.is_alive():
        log.warning("worker did not stop in %ss; terminating it (unprocessed mail stays queued)", _STOP_SECONDS)
        worker.terminate()
        worker.join(2)
    executor.shutdown(wait=True)
    engine.dispose()
    log.info("stopped")
    return 0
