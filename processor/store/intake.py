"""SQLite's intake file: where small mails are made durable while a large mail's commit holds the write lock.

SQLite has one writer. A large mail's transaction holds the lock for as long as its bytes take to reach the
WAL (26 MB: 58–70 ms on the reference machine, 6,350 frames written and synced), and every small mail that
arrives meanwhile used to wait that long for its 250. Now such mails are appended to this file and synced
(about a millisecond), answered, and moved into the database by the next small commit, in its transaction,
after which the file is emptied.

The file lies beside the database (`<database>-intake`, like SQLite's own `-wal`), is locked by the one
daemon that uses it, and is read again when the daemon starts: a crash between a mail's 250 and its move
loses nothing. Moving twice stores nothing twice (the SHA-256 of a mail is unique in `inbound_messages`).
A record cut short by a crash was never answered 250, so it is dropped.

Each record: magic, payload length, CRC-32 of the payload; the payload is the envelope row as JSON (its
length first) and then the mail's bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["DEFAULT_MAX_BYTES", "Intake", "IntakeMail", "intake_path", "open_intake"]

log = logging.getLogger(__name__)

#: Mails held in the intake at most (their bytes): beyond this, small mails wait for the lock as before.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_MAGIC = b"FBI1"
_HEADER = struct.Struct("!4sII")
_META_LENGTH = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class IntakeMail:
    """One mail in the intake: its `inbound_messages` row (as `RawStore` builds it) and its bytes."""

    row: dict[str, Any]
    raw: bytes


def intake_path(database: str | None) -> Path | None:
    """The intake file of a SQLite database file; None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-intake")


def open_intake(engine: Engine) -> Intake | None:
    """The intake of the daemon's SQLite database file, opened and locked; None for PostgreSQL (which
    locks rows: small commits never wait for a large one), an in-memory database, or when it cannot be
    opened (then small mails wait for a large mail's commit, as they did before the intake)."""
    if engine.dialect.name != "sqlite" or (path := intake_path(engine.url.database)) is None:
        return None
    try:
        return Intake(path)
    except OSError as exc:
        log.warning("intake %s cannot be used (%s): small mails will wait for large mails' commits", path,
                    exc.strerror or exc)
        return None


class Intake:
    """The intake file, locked for this process. `pending` holds what it holds, in order."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.pending: list[IntakeMail] = []
        self._bytes = 0
        self._lock = threading.Lock()
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise
        if created:  # the file's name must survive a crash too
            _sync_directory(path.parent)
        self.pending = self._read()
        self._bytes = sum(len(mail.raw) for mail in self.pending)

    def has_room(self, size: int) -> bool:
        return self._bytes + size <= self.max_bytes

    def append(self, mails: list[IntakeMail]) -> None:
        """Write these mails durably (one write, one fsync); raises OSError (disk full) with nothing added."""
        data = b"".join(_record(mail) for mail in mails)
        with self._lock:
            end = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:  # a short write is possible in principle; a full disk raises
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, end)
                raise
            self.pending.extend(mails)
            self._bytes += sum(len(mail.raw) for mail in mails)

    def clear(self, count: int) -> None:
        """The first `count` pending mails are committed in the database: forget them, and empty the file
        once nothing is pending (records of moved mails left in it meanwhile are skipped when read again)."""
        with self._lock:
            moved, self.pending = self.pending[:count], self.pending[count:]
            self._bytes -= sum(len(mail.raw) for mail in moved)
            if not self.pending:
                os.ftruncate(self._fd, 0)
                os.fsync(self._fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _read(self) -> list[IntakeMail]:
        data = self.path.read_bytes()
        mails: list[IntakeMail] = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            magic, length, crc = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size: offset + _HEADER.size + length]
            if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                break
            (meta_length,) = _META_LENGTH.unpack_from(payload)
            row = json.loads(payload[_META_LENGTH.size: _META_LENGTH.size + meta_length])
            row["received_at"] = datetime.fromisoformat(row["received_at"])
            mails.append(IntakeMail(row, payload[_META_LENGTH.size + meta_length:]))
            offset += _HEADER.size + length
        if offset != len(data):  # a record cut short by a crash: its mail was never answered 250
            log.warning("intake %s: dropped %d trailing byte(s) of a record never completed", self.path,
                        len(data) - offset)
        return mails


def _record(mail: IntakeMail) -> bytes:
    meta = json.dumps({**mail.row, "received_at": mail.row["received_at"].isoformat()},
                      ensure_ascii=False, separators=(",", ":")).encode()
    payload = _META_LENGTH.pack(len(meta)) + meta + mail.raw
    return _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
