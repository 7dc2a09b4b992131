"""The DATA phase read in blocks: one growing buffer, a few awaits per mail, every byte held counted.

aiosmtpd reads DATA one line per await and keeps one object per line, then joins them (aiosmtpd#293): a
26 MB mail of empty lines cost about 2 GB and 13 million awaits. `DataReader` reads whatever the socket has
(up to `BLOCK` bytes) and does the per-line work with C-speed searches over each block:

- the end of data is CRLF "." CRLF and nothing else (the DATA command's own CRLF counts as the first one);
  bare CR or LF around a dot are content, so smuggled commands stay inside the one message;
- a dot that starts a line is removed (RFC 5321 4.5.2);
- a line longer than `line_limit` bytes (CRLF included) or content over `size_limit` bytes (dots
  included) turns the transfer into a refusal that is answered after the final dot (RFC 5321 4.2.5), and
  the bytes held so far are dropped at once;
- `cover(n)` is asked before the buffer grows to n bytes; when it says no, the same happens.

Bytes the client pipelined after the final dot go back to the stream for the command loop.
"""

from __future__ import annotations

import asyncio
import enum
import tempfile
from collections.abc import Callable, Iterator
from typing import IO

__all__ = ["BLOCK", "CHUNK", "SPOOL_AFTER", "DataReader", "DataRefusal", "SpooledContent"]

BLOCK = 64 * 1024
"""Most bytes taken from the stream per await."""
_END = b"\r\n.\r\n"
_HOLD = len(_END) - 1
"""Bytes kept back at the end of each block: they may be the start of the end-of-data sequence."""
SPOOL_AFTER = 1024 * 1024
"""Content past this size goes to a temporary file until it is committed, and is stored from it in chunks."""
CHUNK = 256 * 1024
"""Bytes read from the temporary file at a time when the mail is hashed and stored."""


class SpooledContent:
    """A mail's content: in memory while small, else in an unlinked temporary file until `read()`.

    Many large uploads at once then cost disk, not memory, and so does storing one: the raw store reads a
    spooled mail through `chunks()` (a `processor.store.inbound.RawFile`), and its owner calls `discard()`
    once it is committed. `read()` hands the whole content over once instead."""

    def __init__(self, spool_after: int = SPOOL_AFTER) -> None:
        self.spool_after = spool_after
        self.size = 0
        self._memory = bytearray()
        self._file: IO[bytes] | None = None

    def __len__(self) -> int:
        return self.size

    @property
    def spooled(self) -> bool:
        """Whether the content is in a temporary file (else in memory)."""
        return self._file is not None

    def write(self, data: bytes | memoryview) -> None:
        """Append (raises OSError when the temporary file cannot be written: a full disk)."""
        self.size += len(data)
        if self._file is None and len(self._memory) + len(data) > self.spool_after:
            self._file = tempfile.TemporaryFile(prefix="faxbounce-data-")  # noqa: SIM115 - closed by read/discard
            self._file.write(self._memory)
            self._memory = bytearray()
        if self._file is not None:
            self._file.write(data)
        else:
            self._memory += data

    def read(self) -> bytes:
        """The whole content, once."""
        if self._file is None:
            data = bytes(self._memory)
            self.discard()
            return data
        try:
            self._file.seek(0)
            return self._file.read()
        finally:
            self.discard()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The content from its first byte, `size` bytes at a time (as often as asked, until `discard`)."""
        if self._file is None:
            if self._memory:
                yield bytes(self._memory)
            return
        self._file.seek(0)
        while chunk := self._file.read(size):
            yield chunk

    def discard(self) -> None:
        self.size = 0
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()
            self._file = None


class DataRefusal(enum.Enum):
    """Why the content read was not kept (the reply is sent once the final dot has arrived)."""

    LINE_TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
    TOO_MUCH_DATA = "552 5.3.4 Message too big for system"
    NO_MEMORY = "452 4.3.1 Too much mail in flight, try again later"
    NO_SPACE = "452 4.3.1 Insufficient system storage, try again later"


class DataReader:
    """Reads one DATA transfer from `stream`: `await read()`, then `content` or `refusal`."""

    def __init__(self, stream: asyncio.StreamReader, *, line_limit: int, size_limit: int | None,
                 cover: Callable[[int], bool], on_block: Callable[[], None] = lambda: None) -> None:
        self.stream = stream
        self.line_limit = line_limit
        self.size_limit = size_limit
        self.cover = cover
        """Asked whether the buffer may grow to n bytes (the session's booking against the budget)."""
        self.on_block = on_block
        """Called for each block that arrives (the idle timer)."""
        self.content = SpooledContent()
        """The content, dot-unstuffed, without the final dot (empty once refused)."""
        self.received = 0
        """Bytes of content received, stuffed dots included (what the size limit counts, like aiosmtpd)."""
        self.refusal: DataRefusal | None = None
        self.blocks = 0
        self._done = b"\r\n"  # the last two bytes processed: at the start, the DATA command's CRLF
        self._line = 0  # length of the current line so far

    async def read(self) -> None:
        """Until the final dot. Raises ConnectionResetError if the client goes away before it."""
        pending = b""
        while True:
            block = await self.stream.read(BLOCK)
            if not block:
                raise ConnectionResetError("client closed the connection during DATA")
            self.blocks += 1
            self.on_block()
            data = pending + block
            end = (self._done + data).find(_END)
            if end < 0:
                cut = max(0, len(data) - _HOLD)
                self._process(data[:cut])
                pending = data[cut:]
                continue
            # In `_done + data` the content ends after the CRLF that starts _END: index end + 2, i.e. `end` in data.
            self._process(data[:end])
            leftover = data[end + 3:]
            if leftover:
                _unread(self.stream, leftover)
            return

    def _process(self, raw: bytes) -> None:
        if not raw:
            return
        joined = self._done + raw
        self._done = joined[-2:]  # always: the end of data is found with it, refused or not
        if self.refusal is not None:
            return
        self.received += len(raw)
        if self.size_limit and self.received > self.size_limit:
            self._refuse(DataRefusal.TOO_MUCH_DATA)
            return
        if not self._lines_fit(joined):
            self._refuse(DataRefusal.LINE_TOO_LONG)
            return
        unstuffed = joined.replace(b"\r\n.", b"\r\n")  # a dot at a line start; _done's bytes stay as they are
        if not self.cover(len(self.content) + len(unstuffed) - 2):
            self._refuse(DataRefusal.NO_MEMORY)
            return
        try:
            self.content.write(memoryview(unstuffed)[2:])
        except OSError:
            self._refuse(DataRefusal.NO_SPACE)

    def _lines_fit(self, joined: bytes) -> bool:
        """Whether every line ending in `joined` (2 bytes already seen, then new ones) is within the limit.

        Jumps from the last CRLF within reach of the current line's start to the next, so a block costs a
        few searches whatever the number of lines in it."""
        start = 2 - self._line  # where the current line began, in `joined` coordinates
        search_from = 1  # a CRLF whose CR was the last byte already seen ends in the new bytes
        while True:
            reach = start + self.line_limit  # a CRLF ending at or before `reach` keeps the line within the limit
            crlf = joined.rfind(b"\r\n", search_from, reach)
            if crlf >= 0:
                start = search_from = crlf + 2
                continue
            if reach <= len(joined):
                return False
            self._line = len(joined) - start
            return True

    def _refuse(self, refusal: DataRefusal) -> None:
        self.refusal = refusal
        self.content.discard()  # drop what is held now, not after the client has finished sending


def _unread(stream: asyncio.StreamReader, data: bytes) -> None:
    """Put bytes back at the front of the stream. StreamReader has no public way to do it; aiosmtpd itself
    edits this buffer at STARTTLS."""
    stream._buffer[:0] = data  # type: ignore[attr-defined]
