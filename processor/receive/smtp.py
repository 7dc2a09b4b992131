"""The SMTP side: a thin aiosmtpd handler whose only job is to make a mail durable before saying 250.

Hooks return the reply (aiosmtpd's handler contract). Nothing is parsed in the dialog and nothing is ever
sent or relayed anywhere: faxbounce is a sink. A store failure answers `451 4.3.0` so the client keeps
the mail and retries; so does any unexpected exception (`handle_exception`), never aiosmtpd's 500.

Mails that finish DATA at about the same time share one commit (`GroupCommitter`): each session gets its
250 when the transaction holding its mail has committed, and the database sees one fsync per batch. Mails
large enough to be spooled to disk are committed in a lane of their own, from their files in chunks, so
that they cost neither their size in memory again nor the small mails' wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Protocol

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, Session, TLSSetupException, syntax
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from processor import regex_cache
from processor.errors import RawStoreError
from processor.receive.auth import CredentialAuthenticator
from processor.receive.data import DataReader, DataRefusal, SpooledContent
from processor.store.inbound import Envelope, RawStore, StoredMail

__all__ = [
    "S250_OK",
    "S421_IDLE",
    "S421_SHUTTING_DOWN",
    "S421_TOO_MANY_FROM_CLIENT",
    "S421_TOO_MANY_SESSIONS",
    "S451_STORE_FAILED",
    "S451_TEMPORARY",
    "S452_BUSY",
    "S452_STORAGE_FULL",
    "S554_ACCESS_DENIED",
    "AddressPolicy",
    "FaxbounceSMTP",
    "GroupCommitter",
    "SessionGate",
    "SinkHandler",
    "SmtpObserver",
]

log = logging.getLogger(__name__)

S250_OK = "250 OK"
S421_SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
S421_TOO_MANY_SESSIONS = "421 4.7.0 Too many connections, try again later"
S421_TOO_MANY_FROM_CLIENT = "421 4.7.0 Too many connections from your address, try again later"
S421_IDLE = "421 4.4.2 Idle too long, closing connection"
S451_STORE_FAILED = "451 4.3.0 Mail not stored, try again later"
S451_TEMPORARY = "451 4.3.0 Temporary server error, try again later"
S452_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
S452_STORAGE_FULL = "452 4.3.1 Insufficient system storage, try again later"
S452_BUSY = "452 4.3.1 Too much mail in flight, try again later"
S554_ACCESS_DENIED = "554 5.7.1 Access denied"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_GROWTH = 1024 * 1024
"""A transfer that outgrows its booking asks the budget for at least this much more at a time."""
_INTAKE_RETRY_SECONDS = 0.005
"""While a large mail's commit holds SQLite's lock, how often the idle small lane looks whether the mails
waiting in the intake file can be moved into the database."""
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = regex_cache.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?: +(?=[^ \t(])|$)")
"""`<local@domain>` with a dot-atom local part and a plain domain, then nothing or spaces and parameters:
the paths real MTAs send, which aiosmtpd's RFC 5322 parser would return unchanged (`FaxbounceSMTP._getaddr`)."""
_NULL_PATH = regex_cache.compile(r"<>(?= +[^ \t(]|$)")
"""The null reverse-path `<>`, then nothing or spaces and parameters: what every bounce is sent from. aiosmtpd's
parser returns `<>` and everything after it, spaces included."""
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class AddressPolicy:
    """Which addresses are accepted: every one, or those matching a shell-style pattern (case-insensitive)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = tuple(p.lower() for p in patterns)

    def accepts(self, address: str) -> bool:
        if not self.patterns:
            return True
        address = address.lower()
        return any(fnmatch.fnmatchcase(address, pattern) for pattern in self.patterns)


class SessionGate:
    """Who may open a session, and how many at once (aiosmtpd itself has no limit)."""

    def __init__(self, max_sessions: int = 100, allowed_clients: Sequence[Network] = (),
                 max_bytes_in_flight: int = 256 * 1024 * 1024, max_sessions_per_client: int | None = None) -> None:
        self.max_sessions = max_sessions
        self.max_sessions_per_client = max_sessions_per_client or max_sessions
        """One client address's share of `max_sessions`, so that it cannot lock the others out."""
        self.per_client: dict[str | None, int] = {}
        self.bytes_per_client: dict[str | None, int] = {}
        self.max_bytes_in_flight = max_bytes_in_flight
        self.bytes_in_flight = 0
        self.reserve_wait = 5.0
        """Seconds a DATA waits for room in the budget before it is answered 452."""
        self.allowed_clients = tuple(allowed_clients) or LOOPBACK
        self.sessions: set[FaxbounceSMTP] = set()
        """Open sessions (the daemon closes what is left of them when it stops)."""
        self.closing = False

    @property
    def active(self) -> int:
        return len(self.sessions)

    def opened(self, session: FaxbounceSMTP, peer: Any) -> None:
        if session not in self.sessions:  # the STARTTLS re-entry does not count twice
            self.sessions.add(session)
            host = _host(peer)
            self.per_client[host] = self.per_client.get(host, 0) + 1

    def closed(self, session: FaxbounceSMTP, peer: Any) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            host = _host(peer)
            left = self.per_client.get(host, 1) - 1
            if left > 0:
                self.per_client[host] = left
            else:
                self.per_client.pop(host, None)

    def refusal(self, peer: Any) -> str | None:
        """The reply that refuses this new session (already counted as open), or None to greet it."""
        host = _host(peer)
        if not self._allowed(host):
            log.warning("connection refused: client %s is not in smtp.allowed_clients", host)
            return S554_ACCESS_DENIED
        if self.closing:
            return S421_SHUTTING_DOWN
        if self.active > self.max_sessions:
            log.warning("connection refused: %d sessions open (smtp.max_sessions)", self.active - 1)
            return S421_TOO_MANY_SESSIONS
        if self.per_client.get(host, 0) > self.max_sessions_per_client:
            log.warning("connection refused: client %s has %d sessions open (smtp.max_sessions_per_client)",
                        host, self.per_client[host] - 1)
            return S421_TOO_MANY_FROM_CLIENT
        return None

    def reserve(self, size: int, client: str | None = None) -> bool:
        """Book room for one DATA transfer (or more of it); False when the budget would be exceeded, or
        when `client` would hold more than half of it (so that one client's stalled transfers cannot lock
        the others out). A first booking is granted whatever its size, so a mail as large as the budget
        still gets through when nothing else is in flight."""
        held = self.bytes_per_client.get(client, 0)
        if self.bytes_in_flight and self.bytes_in_flight + size > self.max_bytes_in_flight:
            return False
        if held and held + size > self.max_bytes_in_flight // 2:
            return False
        self.bytes_in_flight += size
        self.bytes_per_client[client] = held + size
        return True

    def release(self, size: int, client: str | None = None) -> None:
        self.bytes_in_flight -= size
        left = self.bytes_per_client.get(client, 0) - size
        if left > 0:
            self.bytes_per_client[client] = left
        else:
            self.bytes_per_client.pop(client, None)

    def _allowed(self, host: str | None) -> bool:
        if host is None:  # a Unix socket or a test transport: local by definition
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_clients)


class GroupCommitter:
    """Commits the mails of concurrent sessions together, one transaction at a time per lane, in arrival order.

    Two lanes: small mails (held in memory) share commits in one, and mails spooled to disk (over
    `SPOOL_AFTER`) are committed in the other, from their files, so that a large mail's transaction never
    holds up the commit that small mails wait for. On SQLite, which has one writer, the two lanes take
    turns and a small mails' commit goes first when both wait (`RawStore`'s `urgent`)."""

    def __init__(self, store: RawStore, executor: Executor, max_batch: int = 200, waiting: Any = None,
                 max_batch_bytes: int = 8 * 1024 * 1024, on_moved: Callable[[], None] | None = None) -> None:
        self.store = store
        self.executor = executor
        """Runs the transactions: give it a thread for each lane (two)."""
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        """A batch stops growing at this many bytes (it always takes one mail): the database driver holds
        copies of every small mail of the statement it runs, and a large mail's transaction holds SQLite's
        write lock for as long as its bytes take to write."""
        self.waiting = waiting
        """Optional shared counter (`.value`) of mails waiting for their commit: the workers read it to let
        the SMTP side have SQLite's one write lock first."""
        self.on_moved = on_moved
        """Called when mails that waited in SQLite's intake file are in the database (wakes the workers)."""
        self._small = _Lane(urgent=True)
        self._large = _Lane(urgent=False)

    async def put(self, raw: bytes | SpooledContent, envelope: Envelope) -> StoredMail:
        """Commit one mail: its bytes, or its content spooled to disk, which is read in chunks by its
        transaction and discarded once committed (or failed)."""
        lane = self._small if isinstance(raw, bytes) else self._large
        future: asyncio.Future[StoredMail] = asyncio.get_running_loop().create_future()
        lane.pending.append((raw, envelope, future))
        lane.arrived.set()
        if self.waiting is not None:
            self.waiting.value += 1
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run(lane))
        # shield: a client that hangs up must not cancel the commit other sessions are waiting for.
        return await asyncio.shield(future)

    async def _run(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let sessions whose DATA ended in the same loop turn join this batch
        while lane.pending or (lane.urgent and self.store.intake is not None and self.store.intake.pending):
            if not lane.pending:  # mail in the intake and none arriving: move it once the large commit is done
                if not await self._move_intake(lane):
                    return
                continue
            size, count = 0, 0
            for raw, _envelope, _future in lane.pending[: self.max_batch]:
                size += len(raw)
                if count and size > self.max_batch_bytes:
                    break
                count += 1
            batch, lane.pending = lane.pending[:count], lane.pending[count:]
            try:
                stored = await loop.run_in_executor(self.executor, self._put_many,
                                                    [(r, e) for r, e, _ in batch], lane.urgent)
            except Exception as exc:  # noqa: BLE001 - every waiting session must get an answer
                error = exc if isinstance(exc, RawStoreError) else RawStoreError(f"{type(exc).__name__}: {exc}")
                for _raw, _envelope, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            finally:
                if self.waiting is not None:
                    self.waiting.value -= len(batch)
            for (_raw, _envelope, future), result in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _move_intake(self, lane: _Lane) -> bool:
        """One try at moving the intake; False once the daemon is stopping (its stop moves what is left)."""
        lane.arrived.clear()
        try:
            moved = await asyncio.get_running_loop().run_in_executor(self.executor, self.store.move_intake)
        except RuntimeError:  # the store threads are shut down
            return False
        except RawStoreError as exc:  # the mail is safe in the file; try again after a pause
            log.warning("intake: moving mail into the database failed, trying again: %s", exc)
            moved, pause = None, 1.0
        else:
            pause = _INTAKE_RETRY_SECONDS
        if moved:
            if self.on_moved is not None:
                self.on_moved()
        elif moved is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.arrived.wait(), pause)
        return True

    def _put_many(self, batch: list[tuple[bytes | SpooledContent, Envelope]], urgent: bool) -> list[StoredMail]:
        try:
            return self.store.put_many(batch, urgent=urgent)
        finally:
            for raw, _envelope in batch:
                if isinstance(raw, SpooledContent):
                    raw.discard()


class _Lane:
    """One lane of the committer: mails waiting for their transaction, and the task that commits them."""

    def __init__(self, urgent: bool) -> None:
        self.urgent = urgent
        self.pending: list[tuple[bytes | SpooledContent, Envelope, asyncio.Future[StoredMail]]] = []
        self.task: asyncio.Task[None] | None = None
        self.arrived = asyncio.Event()
        """Set by each new mail: a lane waiting to move the intake starts a batch instead."""


class SmtpObserver(Protocol):
    """What the SMTP side reports for metrics (processor/ops/metrics.py implements it); every hook is cheap."""

    def session_opened(self) -> None: ...
    def rejected(self, stage: str) -> None: ...
    def accepted(self, size: int, commit_seconds: float, duplicate: bool, intake: bool = False) -> None: ...
    def tempfailed(self, reason: str) -> None: ...
    def limited(self, limit: str) -> None: ...
    def tls_failed(self) -> None: ...


class NoObserver:
    """The observer when metrics are off: every hook does nothing, so callers need no None checks."""

    def session_opened(self) -> None:
        pass

    def rejected(self, stage: str) -> None:
        pass

    def accepted(self, size: int, commit_seconds: float, duplicate: bool, intake: bool = False) -> None:
        pass

    def tempfailed(self, reason: str) -> None:
        pass

    def limited(self, limit: str) -> None:
        pass

    def tls_failed(self) -> None:
        pass


class SinkHandler:
    """aiosmtpd handler: sender and recipient policy, DATA to the raw store, 451 on any failure."""

    def __init__(
        self,
        committer: GroupCommitter,
        *,
        recipients: AddressPolicy | None = None,
        senders: AddressPolicy | None = None,
        max_recipients: int = 1000,
        on_stored: Callable[[int], None] | None = None,
        observer: SmtpObserver | None = None,
    ) -> None:
        self.committer = committer
        self.observer: SmtpObserver = observer or NoObserver()
        self.recipients = recipients or AddressPolicy()
        self.senders = senders or AddressPolicy()
        self.max_recipients = max_recipients
        self.on_stored = on_stored
        self._store_failing = False

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, mail_options: list[str]
    ) -> str:
        # The null sender (bounces) is always accepted: refusing it would lose exactly the mail we want.
        if address not in ("", "<>") and not self.senders.accepts(address):
            log.info("sender refused: %s from %s", address, _peer(session))
            self.observer.rejected("sender")
            return f"550 5.7.1 <{address}>: sender not accepted here"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return S250_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return S452_TOO_MANY_RECIPIENTS
        if not self.recipients.accepts(address):
            log.info("recipient refused: %s from %s", address, _peer(session))
            self.observer.rejected("recipient")
            return f"550 5.1.1 <{address}>: recipient not accepted here"
        envelope.rcpt_tos.append(address)
        return S250_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""  # bytes, or a large mail's SpooledContent
        size = len(raw)
        meta = Envelope(
            mail_from="" if envelope.mail_from in (None, "<>") else envelope.mail_from,  # null sender
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=_peer(session),
            helo=session.host_name,
        )
        started = time.perf_counter()
        try:
            stored = await self.committer.put(raw, meta)
        except RawStoreError as exc:
            if not self._store_failing:
                log.error("store unavailable, answering 4xx until it is back: %s", exc)
                self._store_failing = True
            full = _is_full(exc)
            self.observer.tempfailed("storage_full" if full else "store_failed")
            return S452_STORAGE_FULL if full else S451_STORE_FAILED
        self.observer.accepted(size, time.perf_counter() - started, stored.duplicate,
                               intake=stored.id is None and not stored.duplicate)
        if self._store_failing:
            log.warning("store available again, accepting mail")
            self._store_failing = False
        if stored.duplicate:
            log.info("message %s delivered again (%d bytes from %s): kept once", stored.reference, size, meta.peer,
                     extra={"mail_id": stored.id})
        else:
            log.debug("message %s stored: %d bytes from %s", stored.reference, size, meta.peer,
                      extra={"mail_id": stored.id})
            if self.on_stored is not None and stored.id is not None:
                self.on_stored(stored.id)
        return f"250 2.0.0 OK stored as {stored.reference}"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # A client that cannot (or will not) finish the handshake: its problem, not lost mail. aiosmtpd
            # closes the connection without a reply.
            cause = error.__cause__ or error
            log.info("STARTTLS handshake failed: %s: %s", type(cause).__name__, cause)
            self.observer.tls_failed()
            return S451_TEMPORARY
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        self.observer.tempfailed("error")
        return S451_TEMPORARY


class FaxbounceSMTP(SMTP):
    """aiosmtpd's SMTP with a configurable line length (fax gateways send long HTML lines), a gate that
    counts sessions and memory, a block-wise DATA reader, an idle timer that answers 421, and AUTH checks
    that leave the event loop."""

    def __init__(
        self, handler: Any, *, line_length_limit: int = 64 * 1024, gate: SessionGate | None = None, **kwargs: Any
    ) -> None:
        # Read by SMTP.__init__ when it creates the StreamReader, so it must be set first.
        self.line_length_limit = line_length_limit
        self.gate = gate or SessionGate()
        super().__init__(handler, **kwargs)
        self.observer: SmtpObserver = getattr(handler, "observer", None) or NoObserver()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.gate.opened(self, transport.get_extra_info("peername"))
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.gate.closed(self, self.session.peer if self.session else None)
        super().connection_lost(error)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The path of MAIL FROM or RCPT TO and the parameters after it, as aiosmtpd's own method gives them.

        aiosmtpd parses every path with the email package's RFC 5322 header parser and defines a Protocol
        class on each call: a quarter of the event loop's time under load, for two addresses per mail (py-spy,
        20 sessions). A path that is plainly `<dot-atom@domain>`, or the null path `<>` that bounces come
        from, is read here; anything else (quotes, comments, source routes, non-ASCII, odd spacing) still goes
        to aiosmtpd's parser. `tests/smtp/test_smtp_paths.py` holds the two to the same answers. A path the
        stdlib's parser crashes on (`<a@[>` raises AttributeError in Python 3.11) is a malformed address
        (`553`), as aiosmtpd answers any other, not a server error logged at ERROR and counted as temp-failed
        mail."""
        if _NULL_PATH.match(arg):
            return "<>", arg[2:]
        match = _SIMPLE_PATH.match(arg)
        if match is None:
            try:
                return super()._getaddr(arg)
            except (AttributeError, IndexError, TypeError, ValueError):
                return None, None
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end():]

    def _timeout_cb(self) -> None:
        """`timeout` seconds without a command, or without a byte during DATA: say so, then close (which
        cancels a DATA in progress and releases its booking)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(S421_IDLE.encode() + b"\r\n")
        self.observer.limited("idle")
        super()._timeout_cb()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, read by `DataReader` instead of line by line, with memory booked.

        Each DATA books the size the client declared (SIZE=), else `data_size_limit`, against
        `smtp.max_bytes_in_flight` before its 354, and waits for room a few seconds before answering 452.
        The bytes actually held are counted as they arrive: a transfer that outgrows its booking gets more
        only if the budget has it, else its bytes are dropped and it is answered 452 after the final dot."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        limit = self.data_size_limit
        client = _host(self.session.peer if self.session else None)
        booked = min(self._declared_size() or limit or _GROWTH, limit or self.gate.max_bytes_in_flight)
        deadline = asyncio.get_running_loop().time() + self.gate.reserve_wait
        while not self.gate.reserve(booked, client):
            if asyncio.get_running_loop().time() >= deadline:
                self.observer.limited("bytes_in_flight")
                await self.push(S452_BUSY)
                return
            await asyncio.sleep(0.05)

        def cover(size: int) -> bool:
            nonlocal booked
            if size <= booked:
                return True
            more = max(size - booked, _GROWTH)
            if not self.gate.reserve(more, client):
                return False
            booked += more
            return True

        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            reader = DataReader(self._reader, line_limit=self.line_length_limit, size_limit=limit, cover=cover,
                                on_block=self._reset_timeout)
            await reader.read()
            if reader.refusal is not None:
                self.observer.limited(_REFUSAL_LIMITS[reader.refusal])
                self._set_post_data_state()
                await self.push(reader.refusal.value)
                return
            # A large mail stays in its temporary file until the committer reads it for its own transaction.
            content = reader.content
            raw = content if content.spooled else content.read()
            self.envelope.content = self.envelope.original_content = raw  # type: ignore[assignment]
            # The client waits for our answer now: the time the store takes is not the client's idleness
            # (a commit that waited for SQLite's lock longer than `timeout` was answered 421 "idle").
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                if self.transport is not None and not self.transport.is_closing():  # not after a lost connection
                    self._reset_timeout()
            self._set_post_data_state()
            await self.push(S250_OK if status is MISSING else status)
        finally:
            self.gate.release(booked, client)

    def _declared_size(self) -> int | None:
        options = self.envelope.mail_options if self.envelope is not None else []
        for option in options:
            name, _, value = option.partition("=")
            if name.upper() == "SIZE" and value.isdigit():
                return int(value)
        return None

    # AUTH: aiosmtpd calls the authenticator synchronously, on the event loop. A CredentialAuthenticator is
    # asked here instead, through its coroutine (scrypt in its own threads, failure limit per client).
    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(self._authenticator, CredentialAuthenticator) and isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False, auth_data=_PendingCheck(mechanism, auth_data))
        return super()._authenticate(mechanism, auth_data)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    async def _checked(self, result: AuthResult) -> AuthResult:
        pending = result.auth_data
        if not isinstance(pending, _PendingCheck):
            return result
        assert isinstance(self._authenticator, CredentialAuthenticator)
        result = await self._authenticator.check(_host(self.session.peer if self.session else None),
                                                 pending.mechanism, pending.credentials)
        if result.message and result.message.startswith("454"):
            self.observer.limited("auth_failures")
        return result

    async def _handle_client(self) -> None:
        # Refuse before the greeting: the one place aiosmtpd lets us answer a connection with 421/554.
        refusal = self.gate.refusal(self.session.peer if self.session else None)
        if refusal is not None:
            self.observer.rejected("connection")
            await self.push(refusal)
            if self.transport is not None:
                self.transport.close()
            return
        self.observer.session_opened()
        await super()._handle_client()


_REFUSAL_LIMITS = {DataRefusal.LINE_TOO_LONG: "size", DataRefusal.TOO_MUCH_DATA: "size",
                   DataRefusal.NO_MEMORY: "bytes_in_flight", DataRefusal.NO_SPACE: "temp_space"}


class _PendingCheck:
    """Credentials parsed by aiosmtpd's AUTH PLAIN/LOGIN, to be checked off the event loop."""

    def __init__(self, mechanism: str, credentials: LoginPassword) -> None:
        self.mechanism = mechanism
        self.credentials = credentials


def _host(peer: Any) -> str | None:
    return peer[0] if isinstance(peer, tuple) and peer else None


def _is_full(error: Exception) -> bool:
    text = str(error).lower()
    return "disk is full" in text or "no space left" in text or "disk full" in text


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else None
