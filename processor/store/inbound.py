"""Inbound mail: the durable raw store (committed before SMTP answers 250) and the work queue over it.

Only the raw bytes (in `inbound_raw`, written once with the row and never updated) and what can be read
cheaply from the envelope go in; parsing happens later, in the worker, so a huge or hostile mail cannot slow
the SMTP dialog. Any failure raises RawStoreError, which the SMTP side turns into `451 4.3.0`.

A mail is stored once: its SHA-256 is unique, so a client that lost our 250 and delivers the same bytes
again gets a 250 for the copy already stored (`StoredMail.duplicate`), and a re-run backfill skips it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.errors import RawStoreError
from processor.store.bulk import as_arrays, from_arrays
from processor.store.columns import max_chars
from processor.store.db import read_only
from processor.store.intake import Intake, IntakeMail
from processor.store.models import UNFINISHED, InboundMessage, InboundRaw, MessageStatus
from processor.text import clean_text

__all__ = ["Envelope", "QueuedMail", "RawFile", "RawStore", "ReprocessBatch", "StoredMail", "WorkQueue",
           "reprocess_candidates"]

_TABLE = InboundMessage.__table__
_RAW = InboundRaw.__table__
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session knew about a mail besides its bytes."""

    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    peer: str | None = None
    helo: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class StoredMail:
    id: int | None
    """The mail's `inbound_messages.id`; None while it waits in SQLite's intake file (`intake_key`)."""
    duplicate: bool
    """True when these exact bytes were already stored (nothing new was written)."""
    intake_key: str | None = None
    """`sha256:` and the start of the mail's SHA-256, for a mail made durable in the intake file
    (`processor.store.intake`) while a large mail's commit held SQLite's write lock."""

    @property
    def reference(self) -> str:
        """What the 250 names: the row's id, or the intake key."""
        return str(self.id) if self.id is not None else str(self.intake_key)


class RawFile(Protocol):
    """A mail too large to hold in memory at once (a DATA spooled to disk): its size, and its bytes in
    chunks, from the first byte each time `chunks()` is called."""

    def __len__(self) -> int: ...

    def chunks(self) -> Iterator[bytes]: ...


class RawStore:
    """Writes inbound mail: one transaction, and so one fsync, per call, however many mails it holds.

    The bytes go in `inbound_raw`, in the same transaction as the `inbound_messages` row. A `RawFile` is
    written from its chunks, never whole in memory: its SHA-256 is computed before the transaction, and
    inside it its `inbound_raw` row is made and filled in place (SQLite: `zeroblob(n)` filled through
    `blobopen`; PostgreSQL: one binary COPY of the id and the bytes into `inbound_raw`). On PostgreSQL, mails
    held in memory go in with one statement, their own transaction (`_put_in_one_statement`). Nobody sees
    the rows before the commit, so a mail is never seen without its bytes.

    On SQLite, which has one writer, calls from several threads take turns here rather than in SQLite's busy
    handler (which sleeps up to 100 ms between tries), and a call marked `urgent` (small mails that
    sessions wait for) goes before the others that wait. With an `intake` (SQLite), urgent calls that find
    a large mail's transaction under way append their mails to the intake file instead of waiting for it;
    the next urgent call that gets its turn moves them into the database in its own transaction."""

    def __init__(self, engine: Engine, intake: Intake | None = None) -> None:
        self.engine = engine
        self.intake = intake
        self._reader = read_only(engine)
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise RawStoreError(f"unsupported database dialect {dialect!r}")
        # SQLite: one cached statement, executed for many rows. Ids are read by sha256: no order is needed, so
        # SQLite gets one INSERT for the batch, not one per row (SQLAlchemy would not trust its RETURNING order).
        # PostgreSQL: one array per column (`_insert_from_arrays`).
        self._sqlite_insert = (
            sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["sha256"])
            .returning(_TABLE.c.sha256, _TABLE.c.id)
        ) if dialect == "sqlite" else None
        self._turns = _Turns() if dialect == "sqlite" else None

    def put(self, raw: bytes | RawFile, envelope: Envelope) -> StoredMail:
        """Store one mail durably."""
        return self.put_many([(raw, envelope)])[0]

    def put_many(self, mails: Sequence[tuple[bytes | RawFile, Envelope]], *, urgent: bool = True) -> list[StoredMail]:
        """Store several mails in one transaction: all are durable when this returns, or it raises."""
        try:
            rows = [_row(raw, envelope) for raw, envelope in mails]
        except OSError as exc:  # a spooled mail's temporary file could not be read
            raise RawStoreError(f"{type(exc).__name__}: {exc}") from exc
        digests = [row["sha256"] for row in rows]
        large = not all(_in_memory(raw) for raw, _envelope in mails)
        if urgent and not large and self._large_writing():
            taken = self._to_intake(rows, digests, [raw for raw, _envelope in mails])
            if taken is not None:
                return taken
        if self._sqlite_insert is None and rows and not large:
            return self._put_in_one_statement(rows, digests, [raw for raw, _envelope in mails])
        # Mails waiting in the intake go first, in the same transaction: they were answered before these.
        moving = list(self.intake.pending) if urgent and self.intake is not None else []
        ids: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        try:
            # Exits in order: commit, the turn handed on, then (SQLite, large mails) the checkpoint.
            with (self.engine.connect() as connection, self._checkpoint_after(connection, large),
                  self._turn(urgent), connection.begin()):
                if moving:  # those stored already (a move a crash cut short) are skipped by their sha256
                    self._insert_mails(connection, [mail.row for mail in moving], [mail.raw for mail in moving])
                if rows:
                    ids = self._insert_mails(connection, rows, [raw for raw, _envelope in mails])
                missing = set(digests) - ids.keys()
                if missing:  # already stored: a repeated delivery, or the same bytes twice in this batch
                    found = connection.execute(
                        sa.select(_TABLE.c.sha256, _TABLE.c.id).where(_TABLE.c.sha256.in_(missing))).all()
                    duplicates = dict(found)
        except SQLAlchemyError as exc:
            raise RawStoreError(_short(exc)) from exc
        except RawStoreError:
            raise
        except Exception as exc:  # the driver's own errors from a file's chunked write
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RawStoreError(f"{type(exc).__name__}: {text}"[:200]) from exc
        if moving:  # committed; after a failed commit they stay in the file and the next move tries again
            self.intake.clear(len(moving))  # type: ignore[union-attr]
        return _stored(digests, ids, duplicates)

    def _put_in_one_statement(self, rows: list[dict[str, Any]], digests: list[str],
                              raws: Sequence[bytes | RawFile]) -> list[StoredMail]:
        """PostgreSQL, mails in memory: the rows and their bytes in one statement, committed on its own
        (autocommit), so a batch costs one round trip to the server where BEGIN, two INSERTs and COMMIT cost
        four (and the bytes' INSERT one message per mail). A statement is atomic: all its rows or none."""
        first: dict[str, bytes] = {}
        for digest, raw in zip(digests, raws, strict=True):
            first.setdefault(digest, raw)  # type: ignore[arg-type]
        # The bytes go as one bytea and each mail's place in it: psycopg sends a `bytes` value in binary, a list
        # of them as a text array of hex escapes (100 KB mails cost 5x the CPU of the two statements before).
        sizes = [len(raw) for raw in first.values()]
        parameters: dict[str, Any] = as_arrays(_TABLE, rows)
        parameters.update(raw_sha256=list(first), raw_start=list(itertools.accumulate(sizes[:-1], initial=1)),
                          raw_size=sizes, raw_bytes=b"".join(first.values()))
        duplicates: dict[str, int] = {}
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                ids = dict(connection.execute(_insert_with_bytes(tuple(rows[0])), parameters).all())
                missing = set(digests) - ids.keys()
                if missing:  # already stored: a repeated delivery, or the same bytes twice in this batch
                    duplicates = dict(connection.execute(
                        sa.select(_TABLE.c.sha256, _TABLE.c.id).where(_TABLE.c.sha256.in_(missing))).all())
        except SQLAlchemyError as exc:
            raise RawStoreError(_short(exc)) from exc
        return _stored(digests, ids, duplicates)

    def move_intake(self) -> int | None:
        """Move what waits in the intake file into the database (the daemon calls this when it starts, when
        it stops, and when mail stops arriving); the count moved, or None while a large mail's transaction
        is still under way (try again shortly)."""
        if self.intake is None or not self.intake.pending:
            return 0
        if self._large_writing():
            return None
        count = len(self.intake.pending)
        self.put_many([])
        return count - len(self.intake.pending)

    def _large_writing(self) -> bool:
        return self.intake is not None and self._turns is not None and self._turns.large_writing()

    def _insert_mails(self, connection: sa.Connection, rows: list[dict[str, Any]],
                raws: Sequence[bytes | RawFile]) -> dict[str, int]:
        """Insert these rows and their bytes, skipping mails stored before (or twice among them); the new
        rows' ids by sha256."""
        if self._sqlite_insert is not None:
            ids = dict(connection.execute(self._sqlite_insert, rows).all())
        else:
            ids = dict(connection.execute(_insert_from_arrays(tuple(rows[0])), as_arrays(_TABLE, rows)).all())
        filled: set[str] = set()
        in_memory: list[dict[str, Any]] = []
        for row, raw in zip(rows, raws, strict=True):
            digest = row["sha256"]
            if digest not in ids or digest in filled:
                continue
            filled.add(digest)
            if _in_memory(raw):
                in_memory.append({"inbound_message_id": ids[digest], "raw": bytes(raw)})  # type: ignore[arg-type]
            else:
                self._fill(connection, ids[digest], raw)  # type: ignore[arg-type]
        if in_memory:
            connection.execute(sa.insert(_RAW), in_memory)
        return ids

    def _to_intake(self, rows: list[dict[str, Any]], digests: list[str],
                   raws: list[bytes | RawFile]) -> list[StoredMail] | None:
        """Make these small mails durable in the intake file; None when it is full or cannot be written
        (they then wait for their turn as usual). `digests`: the rows' sha256, in order."""
        intake = self.intake
        assert intake is not None
        if not intake.has_room(sum(row["size"] for row in rows)):
            return None
        try:  # already stored? A read, which in WAL mode needs no lock.
            with self._reader.connect() as connection, connection.begin():
                stored_ids = dict(connection.execute(
                    sa.select(_TABLE.c.sha256, _TABLE.c.id).where(_TABLE.c.sha256.in_(set(digests)))).all())
        except SQLAlchemyError:
            return None
        seen = {mail.row["sha256"] for mail in intake.pending}
        new: list[IntakeMail] = []
        result: list[StoredMail] = []
        for digest, row, raw in zip(digests, rows, raws, strict=True):
            key = f"sha256:{digest[:16]}"
            if digest in stored_ids:
                result.append(StoredMail(stored_ids[digest], duplicate=True))
            elif digest in seen:
                result.append(StoredMail(None, duplicate=True, intake_key=key))
            else:
                seen.add(digest)
                new.append(IntakeMail(row, bytes(raw)))  # type: ignore[arg-type]
                result.append(StoredMail(None, duplicate=False, intake_key=key))
        try:
            if new:
                intake.append(new)
        except OSError as exc:
            log.warning("intake %s cannot be written, mail waits for the database: %s", intake.path, exc)
            return None
        return result

    def known(self, raw: bytes) -> int | None:
        """The id of a stored mail with exactly these bytes, if any."""
        digest = hashlib.sha256(raw).hexdigest()
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(_TABLE.c.id).where(_TABLE.c.sha256 == digest))

    @contextmanager
    def _turn(self, urgent: bool) -> Iterator[None]:
        if self._turns is None:
            yield
            return
        with self._turns.turn(urgent):
            yield

    @contextmanager
    def _checkpoint_after(self, connection: sa.Connection, large: bool) -> Iterator[None]:
        """SQLite: a large mail's commit leaves a WAL of its size, which the committing connection copies
        into the database (autocheckpoint) before its commit returns, and so before the next writer's turn.
        Here that copy waits until the turn is over: checkpoints never hold up writers in WAL mode."""
        if self._turns is None or not large:
            yield
            return
        driver = connection.connection.driver_connection
        saved = int(driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0])  # type: ignore[union-attr]
        driver.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        try:
            yield
        finally:
            try:
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
            except Exception:  # a checkpoint left undone is done by a later commit
                log.debug("checkpoint after a large mail failed", exc_info=True)
            finally:
                driver.execute(f"PRAGMA wal_autocheckpoint={saved}")  # type: ignore[union-attr]

    def _fill(self, connection: sa.Connection, message_id: int, source: RawFile) -> None:
        """Write a file's bytes into the `inbound_raw` row of the mail just inserted, chunk by chunk."""
        size = len(source)
        driver = connection.connection.driver_connection
        if self.engine.dialect.name == "sqlite":
            # inbound_message_id is the rowid (INTEGER PRIMARY KEY), which blobopen addresses.
            connection.execute(sa.insert(_RAW).values(inbound_message_id=message_id, raw=sa.func.zeroblob(size)))
            with driver.blobopen(_RAW.name, _RAW.c.raw.name, message_id) as blob:  # type: ignore[union-attr]
                for chunk in _exactly(source, size):
                    blob.write(chunk)
            return
        with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                f"COPY {_RAW.name} (inbound_message_id, raw) FROM STDIN (FORMAT BINARY)") as copy:
            # PostgreSQL's binary COPY: signature, flags, header extension; then one tuple of two fields, the
            # id (int8) and the bytes (bytea), each after its length; then the end marker. Straight into the
            # table: no temporary table, so the role needs no TEMP privilege, only INSERT.
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!iihiqi", 0, 0, 2, 8, message_id, size))
            for chunk in _exactly(source, size):
                copy.write(chunk)
            copy.write(struct.pack("!h", -1))


def _exactly(source: RawFile, size: int) -> Iterator[bytes]:
    """The file's chunks, checked to add up to the size it said (which the row was made for)."""
    written = 0
    for chunk in source.chunks():
        written += len(chunk)
        if written > size:
            break
        yield chunk
    if written != size:
        raise RawStoreError(f"spooled mail changed size while stored: it was {size} bytes")


class _Turns:
    """One writer at a time among this process's threads; urgent ones first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._holder_urgent = False
        self._urgent = 0

    def large_writing(self) -> bool:
        """A call not marked urgent (a large mail's) has the turn."""
        return self._busy and not self._holder_urgent

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        with self._condition:
            self._urgent += urgent
            try:
                self._condition.wait_for(lambda: not self._busy and (urgent or not self._urgent))
            finally:
                self._urgent -= urgent
            self._busy, self._holder_urgent = True, urgent
        try:
            yield
        finally:
            with self._condition:
                self._busy = False
                self._condition.notify_all()


def _in_memory(raw: object) -> bool:
    return isinstance(raw, bytes | bytearray | memoryview)


_ENVELOPE_LIMITS = {name: max_chars(_TABLE.c[name]) for name in ("mail_from", "rcpt_tos", "peer", "helo")}
"""Read from the model once: the SMTP side's store thread builds a row per mail while the event loop waits
for the GIL, and looking the limits up each time was a quarter of that row's cost."""


@cache
def _insert_from_arrays(names: tuple[str, ...]) -> sa.Insert:
    """The PostgreSQL insert of `RawStore`: the rows as one array per column (`processor.store.bulk`), the same
    conflict rule and RETURNING as SQLite's (ids are read by sha256, so no order is needed)."""
    return (postgresql.insert(_TABLE).from_select(list(names), from_arrays(_TABLE, names))
            .on_conflict_do_nothing(index_elements=["sha256"]).returning(_TABLE.c.sha256, _TABLE.c.id))


@cache
def _insert_with_bytes(names: tuple[str, ...]) -> sa.Select[Any]:
    """`RawStore._put_in_one_statement`'s statement: `_insert_from_arrays` as a CTE, a second CTE that inserts
    the new rows' bytes, and the new ids by sha256. The bytes of the distinct mails come as one value
    (`raw_bytes`) and, per mail, its sha256, the 1-based start of its bytes and their length (`raw_sha256`,
    `raw_start`, `raw_size`). PostgreSQL runs a data-modifying CTE to completion whether or not the query
    reads it."""
    new = _insert_from_arrays(names).cte("new")
    places = sa.func.unnest(sa.cast(sa.bindparam("raw_sha256"), postgresql.ARRAY(sa.Text())),
                            sa.cast(sa.bindparam("raw_start"), postgresql.ARRAY(sa.Integer())),
                            sa.cast(sa.bindparam("raw_size"), postgresql.ARRAY(sa.Integer()))
                            ).table_valued("sha256", "start", "size").render_derived()
    raw = sa.func.substring(sa.bindparam("raw_bytes", type_=postgresql.BYTEA()), places.c.start, places.c.size)
    fill = sa.insert(_RAW).from_select(
        ["inbound_message_id", "raw"],
        sa.select(new.c.id, raw).join_from(new, places, new.c.sha256 == places.c.sha256)).cte("fill")
    return sa.select(new.c.sha256, new.c.id).add_cte(fill)


def _stored(digests: Sequence[str], ids: dict[str, int], duplicates: dict[str, int]) -> list[StoredMail]:
    """What each mail of a batch became, in the batch's order: the first of the new ones is new, a mail
    stored before (or earlier in the batch) a duplicate."""
    stored: list[StoredMail] = []
    first_seen: set[str] = set()
    for digest in digests:
        new = digest in ids and digest not in first_seen
        first_seen.add(digest)
        stored.append(StoredMail(ids.get(digest) or duplicates[digest], duplicate=not new))
    return stored


def _row(raw: bytes | RawFile, envelope: Envelope) -> dict[str, Any]:
    if _in_memory(raw):
        digest = hashlib.sha256(raw)  # type: ignore[arg-type]
    else:  # written in place once the row exists (RawStore._fill)
        digest = hashlib.sha256()
        for chunk in raw.chunks():
            digest.update(chunk)
    limit = _ENVELOPE_LIMITS
    return {
        "received_at": envelope.received_at,
        "mail_from": clean_text(envelope.mail_from, limit["mail_from"]),
        "rcpt_tos": [clean_text(r, limit["rcpt_tos"]) for r in envelope.rcpt_tos],
        "peer": clean_text(envelope.peer, limit["peer"]),
        "helo": clean_text(envelope.helo, limit["helo"]),
        "size": len(raw),
        "sha256": digest.hexdigest(),
        "status": MessageStatus.RECEIVED,
        "attempts": 0,
    }


def _short(exc: SQLAlchemyError) -> str:
    """One line naming the failure, without SQL text or parameters (they may hold mail content)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return f"{type(original).__name__}: {text}"[:200]


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """One stored mail taken for one processing attempt: everything the pipeline needs, read in the claim.

    The raw bytes are read by `WorkQueue.raw`: those of each mail within its share of `CLAIM_READ_BYTES` come
    back from the claiming UPDATE, the others are read a few small mails per query, so a batch of large mails
    never sits in memory at once."""

    id: int
    attempt: int
    """This attempt's number: 1 the first time; more means earlier attempts did not finish (crash, kill)."""
    envelope: Envelope
    processed_before: bool
    """The mail was recorded before (a reprocess): its old results and tracking must be undone first."""


class WorkQueue:
    """The work queue is `inbound_messages` itself: a mail is work while its status is `received`.

    Any number of workers on any number of nodes share it by leases. A claim takes the oldest mails that
    are not leased (or whose lease ran out: their worker died), counts one attempt, and leases them to the
    claimer until `lease_seconds` from now. On PostgreSQL the candidates are locked with `FOR UPDATE SKIP
    LOCKED`, so concurrent claimers never wait for, nor take, each other's mails; SQLite has one writer at a
    time, which gives the same guarantee. Recording an outcome (`processor.store.results`) checks the lease
    is still the claimer's, so a mail is recorded by one attempt only.
    """

    #: Raw bytes are read ahead for the claimed mails that follow, up to this many bytes in one query: one
    #: round trip per batch of small mails, never a batch of large ones in memory at once.
    READ_AHEAD_BYTES = 2 * 1024 * 1024
    #: The claim itself returns the bytes of each mail no larger than this divided by the claim's limit (so at
    #: most this many in all): on SQLite the claim holds the write lock, which the SMTP side may be waiting for.
    #: A read of its own was a statement more per claim (a transaction more, before that), which for a worker
    #: recording one mail per transaction (SQLite's give-way) was a tenth of its time. Larger mails are read
    #: later by `raw`, outside the claim.
    CLAIM_READ_BYTES = 256 * 1024
    #: How often a claim looks first for a mail whose attempt did not finish (see `claim`).
    UNFINISHED_EVERY_SECONDS = 1.0

    def __init__(self, engine: Engine, worker: str, lease_seconds: float = 120.0) -> None:
        self.engine = engine
        self.worker = worker[:128]
        self.lease = timedelta(seconds=lease_seconds)
        # Reading a mail's bytes takes no write lock (SQLite): it used to, and so waited for every other
        # worker's recording transaction to end before this worker could even start parsing.
        self._reader = read_only(engine)
        self._claimed: list[tuple[int, int]] = []
        """(id, size) of the last claim's mails, in order, for reading ahead."""
        self._read: dict[int, bytes | None] = {}
        self._unfinished_looked_at = -math.inf

    def claim(self, limit: int, connection: Connection | None = None) -> list[QueuedMail]:
        """Lease up to `limit` waiting mails, oldest first. A mail whose earlier attempt did not finish is
        leased alone, so a mail that kills its worker cannot take a batch down with it again. In `connection`'s
        transaction when given (the worker claims its next batch in the transaction that records the last),
        else in one of its own.

        Such a mail is looked for first once every `UNFINISHED_EVERY_SECONDS`, and whenever no mail that was
        never attempted waits; in between, a claim is the one statement that takes those. A mail whose attempt
        did not finish has waited out its lease (minutes) already; a second more costs nothing, and a claim a
        statement less was a twentieth of a worker's recording while it records one mail per transaction."""
        # One transaction for both tries: on SQLite each transaction waits its turn for the write lock.
        unfinished, fresh = _claim_statements(self.engine.dialect.name)
        if (now := time.monotonic()) - self._unfinished_looked_at >= self.UNFINISHED_EVERY_SECONDS:
            self._unfinished_looked_at = now
            tries = (unfinished, fresh)
        else:
            tries = (fresh, unfinished)
        return self._claim(datetime.now(UTC), *tries, connection=connection, limit=max(1, limit))

    def claim_ids(self, ids: Sequence[int]) -> list[QueuedMail]:
        """Lease these mails whatever their status (a manual reprocess), unless another worker holds them."""
        if not ids:
            return []
        now = sa.bindparam("now", type_=_TABLE.c.lease_until.type)
        free = _TABLE.c.lease_until.is_(None) | (_TABLE.c.lease_until < now)
        return self._claim(datetime.now(UTC), sa.select(_TABLE.c.id).where(_TABLE.c.id.in_(list(ids)), free),
                           limit=len(ids))

    def raw(self, mail: QueuedMail) -> bytes | None:
        """The stored bytes of a claimed mail (`inbound_raw`); None when retention has purged them. Asked in
        claim order, it reads the bytes of the next claimed mails in the same query while they fit
        `READ_AHEAD_BYTES`."""
        if mail.id in self._read:
            return self._read.pop(mail.id)
        ids = [mail.id]
        position = next((i for i, (claimed, _size) in enumerate(self._claimed) if claimed == mail.id), None)
        if position is not None:
            ids += _fitting(self._claimed[position + 1:], self.READ_AHEAD_BYTES - self._claimed[position][1])
        with self._reader.connect() as connection:
            read = _raw_of(connection, ids)
        self._read = {claimed: read[claimed] for claimed in ids[1:]}
        return read[mail.id]

    def extend(self, mails: Sequence[QueuedMail]) -> None:
        """Renew the lease of mails still in hand (a batch that takes long)."""
        if not mails:
            return
        with self.engine.begin() as connection:
            connection.execute(sa.update(_TABLE).where(_TABLE.c.id.in_([m.id for m in mails]),
                                                       _TABLE.c.claimed_by == self.worker)
                               .values(lease_until=datetime.now(UTC) + self.lease))

    def hand_back(self, mails: Sequence[QueuedMail]) -> int:
        """Give up mails claimed and not started (a worker that stops with its next batch in hand): their lease
        ends and their attempt is not counted, so they are taken again at once, in a batch, as if never claimed."""
        if not mails:
            return 0
        for mail in mails:
            self._read.pop(mail.id, None)
        with self.engine.begin() as connection:
            return connection.execute(
                sa.update(_TABLE).where(_TABLE.c.id.in_([m.id for m in mails]), _TABLE.c.claimed_by == self.worker,
                                        _TABLE.c.status == MessageStatus.RECEIVED, _TABLE.c.attempts > 0)
                .values(lease_until=None, attempts=_TABLE.c.attempts - 1)).rowcount

    def release_own(self) -> int:
        """Free this claimer's leases on mail still waiting: after a database outage cut a batch short, its
        mails are taken again at once instead of when their lease runs out (`lease_seconds`, 2 min)."""
        return self._release(_TABLE.c.claimed_by == self.worker)

    def release_stale(self, node: str) -> int:
        """At a node's start: leases its earlier processes held (they are dead: kill -9, a crash) are freed
        at once instead of running out. Node names must be unique among the nodes sharing a database."""
        return self._release(_TABLE.c.claimed_by.like(f"{_escape_like(node)}/%", escape="\\"))

    def _release(self, claimed_by: sa.ColumnElement[bool]) -> int:
        with self.engine.begin() as connection:
            return connection.execute(
                sa.update(_TABLE).where(claimed_by, _TABLE.c.lease_until.is_not(None),
                                        _TABLE.c.status == MessageStatus.RECEIVED)
                .values(lease_until=None)).rowcount

    def _claim(self, now: datetime, *tries: sa.Select[Any] | sa.Update, connection: Connection | None = None,
               limit: int = 0) -> list[QueuedMail]:
        """Lease the mails the first of `tries` that finds any finds, in one transaction. A try is a select of
        ids, or a claiming UPDATE of `_claim_statements` (its parameters: `now`, `worker`, `lease_until`,
        `limit`)."""
        rows: Sequence[sa.Row[Any]] = []
        # Each mail's bytes come back with its row when it is no larger than its share of CLAIM_READ_BYTES.
        read_up_to = self.CLAIM_READ_BYTES // max(1, limit)
        parameters = {"now": now, "worker": self.worker, "lease_until": now + self.lease, "limit": limit,
                      "read_up_to": read_up_to}
        with nullcontext(connection) if connection is not None else self.engine.begin() as transaction:
            for statement in tries:
                if isinstance(statement, sa.Select):
                    statement = _claiming(statement, self.engine.dialect.name)
                rows = transaction.execute(statement, parameters).all()
                if rows:
                    break
        self._claimed = sorted((row.id, row.size or 0) for row in rows)
        self._read = {row.id: row.raw for row in rows if (row.size or 0) <= read_up_to}
        return sorted((QueuedMail(
            id=row.id, attempt=row.attempts, processed_before=row.processed_at is not None,
            envelope=Envelope(mail_from=row.mail_from, rcpt_tos=tuple(row.rcpt_tos or ()), peer=row.peer,
                              helo=row.helo, received_at=row.received_at),
        ) for row in rows), key=lambda mail: mail.id)


def _fitting(claimed: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """The ids of the first (id, size) pairs whose sizes fit `budget` together."""
    ids, total = [], 0
    for claimed_id, size in claimed:
        total += size
        if total > budget:
            break
        ids.append(claimed_id)
    return ids


def _raw_of(connection: Connection, ids: Sequence[int]) -> dict[int, bytes | None]:
    """The stored bytes of these mails, by id; None for a mail whose bytes retention purged."""
    rows = dict(connection.execute(sa.select(_RAW.c.inbound_message_id, _RAW.c.raw)
                                   .where(_RAW.c.inbound_message_id.in_(ids))).all())
    return {message_id: rows.get(message_id) for message_id in ids}


def _claiming(candidates: sa.Select[Any] | sa.TextualSelect, dialect: str) -> sa.Update:
    """The UPDATE that leases the mails `candidates` selects (their ids) and returns what `QueuedMail` needs."""
    if dialect == "postgresql" and isinstance(candidates, sa.Select):
        candidates = candidates.with_for_update(skip_locked=True)
    return (sa.update(_TABLE).where(_TABLE.c.id.in_(candidates.scalar_subquery()))
            .values(attempts=_TABLE.c.attempts + 1, claimed_by=sa.bindparam("worker"),
                    lease_until=sa.bindparam("lease_until", type_=_TABLE.c.lease_until.type))
            .returning(_TABLE.c.id, _TABLE.c.attempts, _TABLE.c.mail_from, _TABLE.c.rcpt_tos, _TABLE.c.peer,
                       _TABLE.c.helo, _TABLE.c.received_at, _TABLE.c.processed_at, _TABLE.c.size, _claimed_raw()))


def _claimed_raw() -> sa.Label[Any]:
    """A claimed mail's bytes when its size is at most `:read_up_to`, else NULL (also NULL when retention
    purged them: the caller tells the two apart by the size)."""
    raw = sa.select(_RAW.c.raw).where(_RAW.c.inbound_message_id == _TABLE.c.id).scalar_subquery()
    return sa.case((_TABLE.c.size <= sa.bindparam("read_up_to", type_=sa.Integer), raw)).label("raw")


@cache
def _claim_statements(dialect: str) -> tuple[sa.Update, sa.Update]:
    """The work queue's two claims, built once: the oldest mail whose attempt did not finish, alone, and the
    oldest `limit` waiting mails never attempted.

    The first reads the partial index `ix_inbound_messages_unfinished` (revision 0010), which holds only the
    mails being processed or whose attempt did not finish: it names the index's condition in literals, which
    is how SQLite (and a generic PostgreSQL plan) see that the index applies, and SQLite is told to use it
    (without statistics its planner takes `(status, id)`). Through the index on `(status, id)` it walked the
    whole backlog on every claim, looking for a mail that is almost never there."""
    now = sa.bindparam("now", type_=_TABLE.c.lease_until.type)
    free = _TABLE.c.lease_until.is_(None) | (_TABLE.c.lease_until < now)
    unfinished: sa.Select[Any] | sa.TextualSelect
    if dialect == "sqlite":
        unfinished = (sa.text(f"SELECT id FROM inbound_messages INDEXED BY ix_inbound_messages_unfinished "
                              f"WHERE {UNFINISHED} AND (lease_until IS NULL OR lease_until < :now) "
                              f"ORDER BY id LIMIT 1").bindparams(now).columns(_TABLE.c.id))
    else:
        unfinished = (sa.select(_TABLE.c.id).where(sa.text(UNFINISHED), free).order_by(_TABLE.c.id).limit(1))
    # Never attempted: a mail whose attempt did not finish is the first try's, alone, whichever comes first.
    fresh = (sa.select(_TABLE.c.id).where(_TABLE.c.status == MessageStatus.RECEIVED, _TABLE.c.attempts == 0, free)
             .order_by(_TABLE.c.id).limit(sa.bindparam("limit", type_=sa.Integer)))
    return _claiming(unfinished, dialect), _claiming(fresh, dialect)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class ReprocessBatch:
    ids: tuple[int, ...]
    """Mails to process again, in arrival order."""
    purged: tuple[int, ...]
    """Mails that match but whose raw bytes retention has purged: nothing to parse again (results kept)."""


def reprocess_candidates(engine: Engine, *, everything: bool = False, since: datetime | None = None,
                         batch: int = 500) -> Iterator[ReprocessBatch]:
    """The mails `faxbounce reprocess` takes, in batches by id: by default those not processed (waiting,
    unparseable or in error); with `since`, every mail received since then; with `everything`, all."""
    purged = ~sa.exists().where(_RAW.c.inbound_message_id == _TABLE.c.id)
    query = sa.select(_TABLE.c.id, purged.label("purged")).order_by(_TABLE.c.id).limit(batch)
    if since is not None:
        query = query.where(_TABLE.c.received_at >= since)
    elif not everything:
        query = query.where(_TABLE.c.status.in_([MessageStatus.RECEIVED, MessageStatus.UNPARSEABLE,
                                                 MessageStatus.ERROR]))
    after = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(query.where(_TABLE.c.id > after)).all()
        if not rows:
            return
        yield ReprocessBatch(tuple(r.id for r in rows if not r.purged), tuple(r.id for r in rows if r.purged))
        after = rows[-1].id
