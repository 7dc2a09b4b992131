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
from collections.abc import Callable

__all__ = ["BLOCK", "DataReader", "DataRefusal"]

BLOCK = 256 * 1024
"""Most bytes taken from the stream per await."""
_END = b"\r\n.\r\n"
_HOLD = len(_END) - 1
"""Bytes kept back at the end of each block: they may be the start of the end-of-data sequence."""


class DataRefusal(enum.Enum):
    """Why the content read was not kept (the reply is sent once the final dot has arrived)."""

    LINE_TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
    TOO_MUCH_DATA = "552 5.3.4 Message too big for system"
    NO_MEMORY = "452 4.3.1 Too much mail in flight, try again later"


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
        self.content = bytearray()
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
        self.content += memoryview(unstuffed)[2:]

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
        self.content = bytearray()  # drop what is held now, not after the client has finished sending


def _unread(stream: asyncio.StreamReader, data: bytes) -> None:
    """Put bytes back at the front of the stream. StreamReader has no public way to do it; aiosmtpd itself
    edits this buffer at STARTTLS."""
    stream._buffer[:0] = data  # type: ignore[attr-defined]
