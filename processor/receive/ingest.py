"""Backfill for `faxbounce ingest`: .eml files, mbox files, maildirs and IMAP mailboxes into the raw store.

- Sources: a path (file, mbox, maildir, or a directory walked for those) or an `imap://` / `imaps://` URL
  (`imaps://user@imap.example.com/Archive`; `--folder` names the folder of URLs that name none, else INBOX;
  the password comes from the URL or `$FAXBOUNCE_IMAP_PASSWORD`). IMAP is read-only: the folder is opened
  with EXAMINE and mails are read with `BODY.PEEK[]`, so no flag (not even \\Seen) changes on the server.
- Resumable: a mail whose exact bytes are stored already (same SHA-256) is skipped, so a re-run after an
  interruption carries on where it stopped.
- A progress bar with rate and ETA on a terminal, a plain line every few seconds otherwise, and at the end a
  table of what was found, by kind and reason.
- Safe on a tree it does not control: symbolic links leaving the named tree, FIFOs, sockets and devices are
  skipped unopened, mails over the size limit are skipped unread, and a file that cannot be read is reported
  and counted while the run goes on (it exits 1 at the end).
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import re
import ssl
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import Engine

from processor.config import SmtpSettings
from processor.errors import FaxbounceError, RawStoreError
from processor.store.stats import IngestSummary

__all__ = [
    "ImapSource",
    "IngestReport",
    "NotStored",
    "PathSource",
    "Progress",
    "count_mails",
    "format_summary",
    "ingest",
    "iter_mail_sources",
    "open_source",
]

IMAP_PASSWORD_ENV = "FAXBOUNCE_IMAP_PASSWORD"
DEFAULT_MAX_SIZE = SmtpSettings().max_message_size
"""What the SMTP side accepts by default; `faxbounce ingest` passes `smtp.max_message_size` or `--max-size`."""
_IMAP_FETCH_BATCH = 50


class IngestSourceError(FaxbounceError):
    """A source cannot be read at all (no such path, IMAP login or folder refused)."""


# --- sources ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotStored:
    """Something a source found but could not hand over as a mail: counted and reported, never silently dropped."""

    count_as: str
    """The summary line it is counted on."""
    detail: str
    failed: bool
    """True for an error (the run exits 1); False for a deliberate skip (too large, not a mail file)."""


TOO_LARGE = "skipped (too large)"
NOT_A_FILE = "skipped (not a regular file)"
OUTSIDE = "skipped (symlink leaving the tree)"
UNREADABLE = "failed (unreadable)"


def iter_mail_sources(path: Path, max_size: int) -> Iterator[tuple[str, bytes | NotStored]]:
    """Yield (source label, raw bytes or why not) for everything under `path`, in a stable order.

    A directory with cur/ and new/ is a maildir; another directory is walked for files; a regular file that
    starts with an mbox `From ` line is an mbox; any other regular file is one mail. Symbolic links are
    followed only when they stay inside `path` (a link to /etc/shadow is not a mail); FIFOs, sockets and
    devices are skipped without being opened; a mail over `max_size` bytes is skipped without being read
    whole; a file that cannot be read is reported and the walk goes on.
    """
    root = path.resolve()
    for file, problem in _walk(path, root):
        if problem is not None:
            yield str(file), problem
        else:
            yield from _file_mails(file, max_size)


def count_mails(path: Path) -> int:
    """How many items `iter_mail_sources(path)` yields, without reading mail bodies into memory."""
    total = 0
    for file, problem in _walk(path, path.resolve()):
        if problem is None and _is_mbox(file):
            try:
                box = mailbox.mbox(file, factory=None, create=False)
                try:
                    total += len(box.keys())
                finally:
                    box.close()
                continue
            except (OSError, mailbox.Error, ValueError):
                pass  # iter_mail_sources reports it
        total += 1
    return total


def _walk(path: Path, root: Path) -> Iterator[tuple[Path, NotStored | None]]:
    """Files to read under `path` (a maildir's mails are files too), or why one is not read."""
    if path.is_symlink() and not _inside(path.resolve(), root):
        yield path, NotStored(OUTSIDE, f"a symbolic link to {path.resolve()}, outside {root}: not read", failed=False)
        return
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        yield path, NotStored(UNREADABLE, _os_error(exc), failed=True)
        return
    if stat.S_ISDIR(mode):
        if path.resolve() != root and path.is_symlink():
            return  # a link to a directory inside the tree: its files are reached by their real path
        if _is_maildir(path):
            yield from ((file, problem) for _, file, problem in _maildir_files(path, root))
            return
        try:
            children = sorted(path.iterdir())
        except OSError as exc:
            yield path, NotStored(UNREADABLE, _os_error(exc), failed=True)
            return
        for child in children:
            yield from _walk(child, root)
        return
    if not stat.S_ISREG(mode):
        yield path, NotStored(NOT_A_FILE, "not a regular file (a FIFO, socket or device): not opened", failed=False)
        return
    yield path, None


def _maildir_files(path: Path, root: Path) -> Iterator[tuple[str, Path, NotStored | None]]:
    """A maildir's mails (new/ and cur/, never tmp/), by key: (key, file, why not)."""
    entries: list[tuple[str, Path]] = []
    for sub in ("new", "cur"):
        try:
            entries += [(name.split(":", 1)[0], path / sub / name) for name in os.listdir(path / sub)
                        if not name.startswith(".")]
        except OSError as exc:
            yield sub, path / sub, NotStored(UNREADABLE, _os_error(exc), failed=True)
    for key, file in sorted(entries):
        problems = [problem for _, problem in _walk(file, root) if problem is not None]
        yield key, file, problems[0] if problems else None


def _file_mails(file: Path, max_size: int) -> Iterator[tuple[str, bytes | NotStored]]:
    """The mails of one regular file: one, or an mbox's."""
    maildir = file.parent.parent if file.parent.name in ("cur", "new") and _is_maildir(file.parent.parent) else None
    if maildir is not None:
        yield f"{maildir}#{file.name.split(':', 1)[0]}", _read_regular(file, max_size)
        return
    try:
        is_mbox = _is_mbox(file)
    except OSError as exc:
        yield str(file), NotStored(UNREADABLE, _os_error(exc), failed=True)
        return
    if not is_mbox:
        yield str(file), _read_regular(file, max_size)
        return
    try:
        box = mailbox.mbox(file, factory=None, create=False)
        keys = list(box.keys())
    except (OSError, mailbox.Error, ValueError) as exc:
        yield str(file), NotStored(UNREADABLE, f"not a readable mbox: {exc}", failed=True)
        return
    try:
        for index, key in enumerate(keys):
            label = f"{file}#{index + 1}"
            try:
                with box.get_file(key) as handle:
                    raw = handle.read(max_size + 1)
            except (OSError, mailbox.Error, ValueError) as exc:
                yield label, NotStored(UNREADABLE, str(exc), failed=True)
                continue
            yield label, raw if len(raw) <= max_size else _too_large(None, max_size)
    finally:
        box.close()


def _read_regular(file: Path, max_size: int) -> bytes | NotStored:
    """The bytes of a regular file of at most `max_size` bytes. Opened without following a link and without
    blocking (a FIFO put there since the walk looked cannot hang us), then checked on the open descriptor."""
    try:
        fd = os.open(file.resolve(), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return NotStored(NOT_A_FILE, "not a regular file (a FIFO, socket or device)", failed=False)
            if info.st_size > max_size:
                return _too_large(info.st_size, max_size)
            raw = handle.read(max_size + 1)
    except OSError as exc:
        return NotStored(UNREADABLE, _os_error(exc), failed=True)
    return raw if len(raw) <= max_size else _too_large(None, max_size)


def _too_large(size: int | None, max_size: int) -> NotStored:
    what = f"{size} bytes" if size is not None else "larger"
    return NotStored(TOO_LARGE, f"{what}, over the limit of {max_size} bytes (smtp.max_message_size or "
                                f"--max-size)", failed=False)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    """Only ever called on a regular file (opening a FIFO to look would block)."""
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


class PathSource:
    def __init__(self, path: Path, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not path.exists():
            raise IngestSourceError(f"{path}: no such file or directory")
        self.path = path
        self.max_size = max_size
        self.label = str(path)

    def count(self) -> int:
        return count_mails(self.path)

    def __iter__(self) -> Iterator[tuple[str, bytes | NotStored]]:
        return iter_mail_sources(self.path, self.max_size)

    def close(self) -> None:
        pass


class ImapSource:
    """One IMAP folder, read-only (EXAMINE, BODY.PEEK[]), in UID order."""

    def __init__(self, url: str, folder: str | None = None, password: str | None = None,
                 timeout: float = 60.0, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise IngestSourceError(f"{url}: not an imap:// or imaps:// URL with a host")
        self.tls = parts.scheme == "imaps"
        self.host = parts.hostname
        self.port = parts.port or (993 if self.tls else 143)
        self.user = unquote(parts.username or "") or os.environ.get("USER", "")
        self.password = unquote(parts.password or "") or password or os.environ.get(IMAP_PASSWORD_ENV, "")
        self.folder = unquote(parts.path.lstrip("/")) or folder or "INBOX"
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.label = f"{parts.scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"  # never the password
        self._client: imaplib.IMAP4 | None = None
        self._uids: list[bytes] | None = None

    def _connect(self) -> imaplib.IMAP4:
        if self._client is not None:
            return self._client
        try:
            if self.tls:
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=self.ssl_context or ssl.create_default_context(),
                    timeout=self.timeout)
            else:
                client = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise IngestSourceError(f"{self.label}: cannot connect: {exc}") from exc
        try:
            client.login(self.user, self.password)
            # readonly=True sends EXAMINE: the folder opens read-only, nothing we do can change a flag.
            status, data = client.select(_quote_mailbox(self.folder), readonly=True)
        except imaplib.IMAP4.error as exc:
            client.shutdown()
            raise IngestSourceError(f"{self.label}: {exc}") from exc
        if status != "OK":
            client.logout()
            raise IngestSourceError(f"{self.label}: cannot open folder: {_text(data)}")
        self._client = client
        return client

    def uids(self) -> list[bytes]:
        if self._uids is None:
            client = self._connect()
            status, data = client.uid("SEARCH", "ALL")
            if status != "OK":
                raise IngestSourceError(f"{self.label}: SEARCH failed: {_text(data)}")
            self._uids = sorted((data[0] or b"").split(), key=int)
        return self._uids

    def count(self) -> int:
        return len(self.uids())

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        client = self._connect()
        uids = self.uids()
        for start in range(0, len(uids), _IMAP_FETCH_BATCH):
            chunk = uids[start:start + _IMAP_FETCH_BATCH]
            status, data = client.uid("FETCH", b",".join(chunk).decode(), "(UID BODY.PEEK[])")
            if status != "OK":
                raise IngestSourceError(f"{self.label}: FETCH failed: {_text(data)}")
            for item in data:
                if not isinstance(item, tuple) or len(item) < 2:
                    continue  # the closing b")" of each response
                match = re.search(rb"UID (\d+)", item[0])
                uid = match.group(1).decode() if match else "?"
                yield f"{self.label};UID={uid}", bytes(item[1])

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._client.logout()
            self._client = None


def _quote_mailbox(name: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._/-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list | tuple) and data:
        data = data[0]
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


def open_source(spec: str, folder: str | None = None, max_size: int = DEFAULT_MAX_SIZE) -> PathSource | ImapSource:
    """A path, or an imap:// / imaps:// URL."""
    if re.match(r"^imaps?://", spec, re.IGNORECASE):
        return ImapSource(spec, folder=folder)
    return PathSource(Path(spec), max_size)


# --- progress ---------------------------------------------------------------------------------------------------


class Progress:
    """A bar with rate and ETA redrawn in place on a terminal; a plain line every `every` seconds otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every if not self.tty else 0.1
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._shown_at = -1e9

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self._shown_at >= self.every:
            self._show(now)

    def finish(self) -> None:
        self._show(self.clock(), final=True)

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = max(self.total - self.done, 0)
        eta = _duration(left / rate) if rate > 0 and left else ("0:00:00" if not left else "?")
        percent = 100 * self.done / self.total if self.total else 100.0
        if self.tty:
            width = 30
            filled = int(width * min(self.done, self.total) / self.total) if self.total else width
            return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {percent:3.0f}% "
                    f"{rate:.1f} mails/s ETA {eta}")
        return f"ingest: {self.done}/{self.total} mails ({percent:.0f}%), {rate:.1f} mails/s, ETA {eta}"

    def _show(self, now: float, final: bool = False) -> None:
        self._shown_at = now
        if self.tty:
            self.stream.write("\r\033[K" + self.line(now) + ("\n" if final else ""))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass
class IngestReport:
    counts: Counter[str] = field(default_factory=Counter)
    stored_ids: list[int] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)
    failed_mails: int = 0
    """Mails or files that could not be read or stored (each reported on stderr); the run exits 1."""


def ingest(engine: Engine, sources: Sequence[PathSource | ImapSource], *,
           process: Callable[[int], object] | None = None, progress: Progress | None = None,
           max_size: int = DEFAULT_MAX_SIZE, errors: TextIO | None = None) -> IngestReport:
    """Store every mail of `sources` not stored yet; `process(id)` each one stored (unless None).

    A mail that cannot be read or stored is reported on `errors` (stderr) in one line, counted, and the run
    goes on with the next one; a source that cannot be read at all is reported and the run goes on with the
    next source.
    """
    from processor.store.inbound import Envelope, RawStore

    errors = errors if errors is not None else sys.stderr
    store = RawStore(engine)
    report = IngestReport()

    def not_stored(label: str, why: NotStored) -> None:
        report.counts[why.count_as] += 1
        report.failed_mails += why.failed
        print(f"faxbounce: {label}: {why.count_as.split(' ', 1)[0]}: {why.detail}", file=errors)

    for source in sources:
        try:
            for label, raw in source:
                if progress is not None:
                    progress.advance()
                if not isinstance(raw, NotStored) and len(raw) > max_size:  # IMAP hands over whole mails
                    raw = _too_large(len(raw), max_size)
                if isinstance(raw, NotStored):
                    not_stored(label, raw)
                    continue
                try:
                    if store.known(raw) is not None:  # cheaper than a write that finds the duplicate
                        report.counts["skipped (already stored)"] += 1
                        continue
                    stored = store.put(raw, Envelope(mail_from=None, rcpt_tos=(), peer=f"ingest:{label}"))
                except RawStoreError as exc:
                    not_stored(label, NotStored("failed (not stored)", str(exc), failed=True))
                    continue
                if stored.duplicate:
                    report.counts["skipped (already stored)"] += 1
                    continue
                report.counts["stored"] += 1
                report.stored_ids.append(stored.id)
                if process is not None:
                    outcome = process(stored.id)
                    kind = getattr(outcome, "kind", None) or getattr(outcome, "status", None)
                    if kind:
                        report.counts[kind] += 1
        except IngestSourceError as exc:
            print(f"faxbounce: {exc}", file=errors)
            report.failed_sources.append(source.label)
        finally:
            source.close()
    if progress is not None:
        progress.finish()
    return report


def format_summary(summary: IngestSummary) -> str:
    """The table printed after an ingest: kind, reason, mails, results, and a total of distinct mails."""
    header = ("kind", "reason", "mails", "results")
    rows = [(r.kind, r.reason, r.mails, r.results) for r in summary.rows]
    total = ("total", "", summary.mails, summary.results)
    widths = [max(len(str(row[i])) for row in (header, *rows, total)) for i in range(4)]

    def line(values: Sequence[object]) -> str:
        return (f"{values[0]!s:<{widths[0]}}  {values[1]!s:<{widths[1]}}  "
                f"{values[2]!s:>{widths[2]}}  {values[3]!s:>{widths[3]}}").rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    out.append(line(total))
    return "\n".join(out)
