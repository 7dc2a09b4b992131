"""Backfill for `faxbounce ingest`: .eml files, mbox files, maildirs and IMAP mailboxes into the raw store.

- Sources: a path (file, mbox, maildir, or a directory walked for those) or an `imap://` / `imaps://` URL
  (`imaps://user@imap.example.com/Archive`; `--folder` names the folder of URLs that name none, else INBOX;
  the password comes from the URL or `$FAXBOUNCE_IMAP_PASSWORD`). IMAP is read-only: the folder is opened
  with EXAMINE and mails are read with `BODY.PEEK[]`, so no flag (not even \\Seen) changes on the server.
- Resumable: a mail whose exact bytes are stored already (same SHA-256) is skipped, so a re-run after an
  interruption carries on where it stopped.
- A progress bar with rate and ETA on a terminal, a plain line every few seconds otherwise, and at the end a
  table of what was found, by kind and reason.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import re
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.errors import FaxbounceError
from processor.store.models import FaxResultRow, InboundMessage

__all__ = [
    "ImapSource",
    "IngestReport",
    "PathSource",
    "Progress",
    "count_mails",
    "ingest",
    "iter_mail_sources",
    "open_source",
    "summary_rows",
]

IMAP_PASSWORD_ENV = "FAXBOUNCE_IMAP_PASSWORD"
_IMAP_FETCH_BATCH = 50


class IngestSourceError(FaxbounceError):
    """A source cannot be read at all (no such path, IMAP login or folder refused)."""


# --- sources ----------------------------------------------------------------------------------------------------


def iter_mail_sources(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (source label, raw bytes) for every mail under `path`, in a stable order.

    A directory with cur/ and new/ is a maildir; another directory is walked for files; a file that starts
    with an mbox `From ` line is an mbox; any other file is one mail.
    """
    if path.is_dir():
        if _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                yield f"{path}#{key}", box.get_bytes(key)
            return
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from iter_mail_sources(child)
        return
    if _is_mbox(path):
        box = mailbox.mbox(path, factory=None, create=False)
        try:
            for index, key in enumerate(box.keys()):
                yield f"{path}#{index + 1}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield str(path), path.read_bytes()


def count_mails(path: Path) -> int:
    """How many mails `iter_mail_sources(path)` yields, without reading their bodies into memory."""
    if path.is_dir():
        if _is_maildir(path):
            return len(mailbox.Maildir(path, factory=None, create=False).keys())
        return sum(count_mails(child) for child in path.rglob("*") if child.is_file())
    if _is_mbox(path):
        box = mailbox.mbox(path, factory=None, create=False)
        try:
            return len(box.keys())
        finally:
            box.close()
    return 1


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


class PathSource:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise IngestSourceError(f"{path}: no such file or directory")
        self.path = path
        self.label = str(path)

    def count(self) -> int:
        return count_mails(self.path)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter_mail_sources(self.path)

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


def open_source(spec: str, folder: str | None = None) -> PathSource | ImapSource:
    """A path, or an imap:// / imaps:// URL."""
    if re.match(r"^imaps?://", spec, re.IGNORECASE):
        return ImapSource(spec, folder=folder)
    return PathSource(Path(spec))


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


def ingest(engine: Engine, sources: Sequence[PathSource | ImapSource], *,
           process: Callable[[int], object] | None = None, progress: Progress | None = None) -> IngestReport:
    """Store every mail of `sources` not stored yet; `process(id)` each one stored (unless None)."""
    from processor.store.inbound import Envelope, RawStore

    store = RawStore(engine)
    report = IngestReport()
    for source in sources:
        try:
            for label, raw in source:
                if progress is not None:
                    progress.advance()
                if store.known(raw) is not None:  # cheaper than a write that finds the duplicate
                    report.counts["skipped (already stored)"] += 1
                    continue
                stored = store.put(raw, Envelope(mail_from=None, rcpt_tos=(), peer=f"ingest:{label}"[:2000]))
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
            print(f"faxbounce: {exc}", file=sys.stderr)
            report.failed_sources.append(source.label)
        finally:
            source.close()
    if progress is not None:
        progress.finish()
    return report


def summary_rows(engine: Engine, ids: Sequence[int]) -> list[tuple[str, str, int, int]]:
    """(kind, reason, mails, results) for these mails; mails without results get reason '-'."""
    messages, results = InboundMessage.__table__, FaxResultRow.__table__
    with_results: Counter[tuple[str, str]] = Counter()
    mails_with: Counter[tuple[str, str]] = Counter()
    without: Counter[tuple[str, str]] = Counter()
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            for kind, reason, count, mails in connection.execute(
                sa.select(results.c.kind, results.c.reason, sa.func.count(),
                          sa.func.count(sa.distinct(results.c.inbound_message_id)))
                .where(results.c.inbound_message_id.in_(chunk)).group_by(results.c.kind, results.c.reason)
            ):
                with_results[(kind, reason)] += count
                mails_with[(kind, reason)] += mails
            has_results = sa.exists().where(results.c.inbound_message_id == messages.c.id)
            for label, count in connection.execute(
                sa.select(sa.func.coalesce(messages.c.kind, messages.c.status), sa.func.count())
                .where(messages.c.id.in_(chunk), ~has_results).group_by(sa.func.coalesce(messages.c.kind,
                                                                                          messages.c.status))
            ):
                without[(label, "-")] += count
    rows = [(k, r, mails_with[(k, r)], n) for (k, r), n in with_results.items()]
    rows += [(k, r, n, 0) for (k, r), n in without.items()]
    return sorted(rows, key=lambda row: (row[0], -row[3], -row[2], row[1]))


def format_summary(rows: Sequence[tuple[str, str, int, int]]) -> str:
    header = ("kind", "reason", "mails", "results")
    widths = [max(len(header[i]), *(len(str(row[i])) for row in rows)) if rows else len(header[i])
              for i in range(4)]
    def line(values: Sequence[object]) -> str:
        return (f"{values[0]!s:<{widths[0]}}  {values[1]!s:<{widths[1]}}  "
                f"{values[2]!s:>{widths[2]}}  {values[3]!s:>{widths[3]}}").rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    out.append(line(["total", "", sum(r[2] for r in rows), sum(r[3] for r in rows)]))
    return "\n".join(out)
