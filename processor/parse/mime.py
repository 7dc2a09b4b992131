"""Our reader for MIME containers: the `Message` tree that compat32's feedparser builds, built without it.

Why: for multipart and message/* bodies the feedparser (`email.feedparser.FeedParser._parsegen`) was over half
of our parse time. It walks every line through a generator and a stack of end-of-part predicates, and it
compiles a regular expression for every new boundary. This reader works on positions in the decoded text:
a part's body ends at the first line that is a delimiter of an enclosing multipart, found with `str.find`.

Same tree means same headers (as `compat32.header_source_parse` keeps them), unixfrom, preamble, epilogue,
payloads, default types and defects, in the same order. Where the feedparser's behaviour would need more of
its machinery than is worth copying (see `_Decline`), `read_message` returns None and the caller parses with
the stdlib. The input is what `bound_input` leaves: LF line ends only, bounded nesting and header fields.

Like the feedparser, it fills `Message`'s own fields (`_headers`, `_payload`, `_unixfrom`, `_default_type`):
those are the stdlib's internals, so `tests/parse/test_mime_reader.py` compares whole trees, `as_string()`
included, on every Python the project runs on, and a change in them fails there rather than in production.
"""

from __future__ import annotations

from email import errors, utils
from email._policybase import compat32  # where email.policy gets it; that module adds 7 ms of start-up
from email.message import Message

from processor import regex_cache

__all__ = ["plain_params", "read_message"]

# What the feedparser takes for a header line (`email.feedparser.headerRE`), and a run of such lines, the last
# one possibly without its line end.
_HEADER_LINE_RE = regex_cache.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_HEADER_RUN_RE = regex_cache.compile(r"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\n]*(?:\n|\Z))*")
# A run of plain fields: each line a name and a colon, or a continuation of the field before it. In such a
# run `_parse_headers` does nothing but start and continue fields (no `From `, no empty name, no first line
# that is a continuation), so `_FIELD_RE` reads it whole: the name, then the value as
# `compat32.header_source_parse` keeps it (first line's leading blanks dropped, continuations kept, the last
# line end dropped).
_FIELD_RUN_RE = regex_cache.compile(r"(?:[\041-\071\073-\176]+:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z))*")
_FIELD_RE = regex_cache.compile(r"([\041-\071\073-\176]+):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)\n?")
# Content-Type parameters whose reading by `Message.get_boundary` is plain: `; name=token` or `; name="quoted"`,
# no backslash (quoting), no `*` in a name (RFC 2231), blanks only as `_parseparam` strips them. Other values
# go to the stdlib.
# Possessive runs: no blank, name or value is ever given back (none could help the match), so a value that
# does not match fails at once, where backtracking through its blanks made 30 KB of them take 2 s.
_PARAM_RE = regex_cache.compile(
    r";[ \t\n]*+([!#$%&'+\-.0-9A-Z^_`a-z{|}~]++)[ \t\n]*+=[ \t\n]*+"
    r"(\"[^\"\\]*+\"|[\x21\x23-\x29\x2b-\x3a\x3c-\x5b\x5d-\x7e]*+)[ \t\n]*+"
)
_PARAMS_RE = regex_cache.compile(r"[^\";\\=]*+(?:" + _PARAM_RE.pattern + r")*+;?[ \t\n]*")
_MULTIPART_CTES = ("7bit", "8bit", "binary")
# Far beyond what `bound_input` lets through (30 containers); only a guard against recursion.
_MAX_DEPTH = 200


class _Decline(Exception):
    """A shape the reader does not reproduce: `From ` as the last line of a header block (the feedparser pushes
    it back as the first body line, after the blank line it already consumed), a boundary with a line end in
    it, a delivery-status block that declares a container type, nesting deeper than `_MAX_DEPTH`."""


def read_message(source: bytes) -> Message | None:
    """`email.message_from_bytes(source, policy=compat32)` for LF-only `source`, or None when the reader
    declines (the caller then uses the stdlib). Never raises: anything unexpected is a decline too."""
    text = source.decode("ascii", "surrogateescape")  # as BytesParser decodes
    if "\r" in text:
        return None  # the feedparser splits lines at CR too; `bound_input` never leaves one
    reader = _Reader(text)
    try:
        root, end = reader.part(0, "", 0)
    except Exception:  # noqa: BLE001 - a `_Decline`, or a surprise: the stdlib then reads (or fails) its own way
        return None
    if end != len(text):
        return None
    if reader.types[id(root)].startswith("multipart/") and not root.is_multipart():
        root.defects.append(errors.MultipartInvariantViolationDefect())  # FeedParser.close()
    return root


class _Reader:
    """The feedparser's walk as a recursive descent over positions in `text` (always at a line start).

    `bounds` holds the boundaries of the open multiparts, outermost first: a line matching any of them ends
    every part inside (RFC 2046 5.1.2, the feedparser's eofstack). `last` is the feedparser's `_last`: the
    message whose trailing line end the next delimiter takes (the newest message, or a multipart once one of
    its parts ended). `types` caches each message's content type, which the feedparser asks for repeatedly."""

    __slots__ = ("blank", "bounds", "end", "hit", "hit_at", "hit_push", "last", "probes", "pushed", "pushes", "text",
                 "types")

    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)
        self.bounds: list[str] = []
        # "\n--" plus the common prefix of `bounds[:n + 1]`: what every delimiter line then starts with
        self.probes: list[str] = []
        # A serial number for each entry of `bounds`, so that a cached match knows its multipart is still open.
        self.pushes: list[int] = []
        self.pushed = 0
        self.last: Message | None = None
        self.types: dict[int, str] = {}
        # The last line `classify` matched: a part's end is classified again by each multipart it ends.
        self.hit_at = -1
        self.hit = _NO_DELIMITER
        self.hit_push = -1
        self.blank = (0, 0)  # the last search for an empty line: (from, its start), so none is searched twice

    # ---- parts

    def part(self, pos: int, parent_type: str, depth: int) -> tuple[Message, int]:
        """One message from `pos`: its header block, then its body by its type. Returns the message and where
        it ended: the end of the text or a delimiter line of an open multipart."""
        if depth > _MAX_DEPTH:
            raise _Decline
        msg = Message()
        if parent_type == "multipart/digest":
            msg._default_type = "message/rfc822"
        self.last = msg
        pos, value = self.headers(msg, pos, False)
        ctype = self.types[id(msg)] = _content_type(msg, value)
        if ctype == "message/delivery-status":
            return msg, self.status(msg, pos)
        if ctype.startswith("message/"):
            inner, pos = self.part(pos, ctype, depth + 1)
            msg._payload = [inner]
            return msg, pos
        if ctype.startswith("multipart/"):
            return msg, self.multipart(msg, pos, ctype, value, depth)
        stop = self.next_delimiter(pos, self.end)
        msg._payload = self.text[pos:stop]
        return msg, stop

    def multipart(self, msg: Message, pos: int, ctype: str, value: str, depth: int) -> int:
        """A multipart body, the feedparser's way: preamble up to the first delimiter (without the line end
        before it), then a part after each run of delimiter lines, then the epilogue after the close delimiter
        (what follows the close delimiter's line, up to an enclosing delimiter). Missing start or close
        delimiters, a missing boundary and a transfer encoding are defects, not failures."""
        text, end = self.text, self.end
        boundary = _boundary(msg, value)
        if boundary is None:
            msg.defects.append(errors.NoBoundaryInMultipartDefect())
            stop = self.next_delimiter(pos, end)
            msg._payload = text[pos:stop]
            return stop
        if "\n" in boundary:
            raise _Decline  # it could never match a line; not worth a case of its own
        if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _MULTIPART_CTES:
            msg.defects.append(errors.InvalidMultipartContentTransferEncodingDefect())
        level = len(self.bounds)
        self.push(boundary)
        # The preamble ends at the first delimiter line. A line that is a delimiter of an enclosing multipart
        # (the outermost match counts: the feedparser tests those before this boundary) means no start.
        at = self.next_delimiter(pos, end)
        found, kind = self.classify(at) if at < end else _NO_DELIMITER
        if found != level or kind != 1:
            # No start delimiter before an enclosing delimiter, the close delimiter or the end: the feedparser
            # keeps the lines read so far as the payload and drops the rest of the part.
            self.pop()
            msg.defects.append(errors.StartBoundaryNotFoundDefect())
            msg._payload = text[pos:at]
            if found == level:  # the close delimiter: consumed
                at = self.next_delimiter(self.line_after(at), end)
            msg.epilogue = ""
            return at
        if at > pos:
            msg.preamble = text[pos : at - 1]  # the line end before a delimiter belongs to the delimiter
        children: list[Message] = []
        msg._payload = children
        while True:
            # Skip the delimiter and any more delimiter lines of ours right after it (no empty parts there).
            at = self.line_after(at)
            while at < end and self.classify(at)[0] == level:
                at = self.line_after(at)
            child, at = self.part(at, ctype, depth + 1)
            children.append(child)
            _trim(self.last, self.types)
            self.last = msg
            if at >= end:
                break
            found, kind = self.classify(at)
            if found != level:
                if 0 <= found < level:
                    break  # an enclosing multipart's delimiter
                raise _Decline  # cannot happen: a part ends at a delimiter or at the end
            if kind == 2:
                self.pop()
                after = self.line_after(at)
                stop = self.next_delimiter(after, end)
                msg.epilogue = text[after:stop]
                return stop
        self.pop()
        msg.defects.append(errors.CloseBoundaryNotFoundDefect())
        return at

    def status(self, msg: Message, pos: int) -> int:
        """message/delivery-status: one header-only message per block of lines between empty lines (each empty
        line past the first starts an empty block). A block's lines after a non-header line are its payload."""
        text, end = self.text, self.end
        blocks: list[Message] = []
        msg._payload = blocks
        while True:
            block = Message()
            self.last = block
            blocks.append(block)
            pos, value = self.headers(block, pos, True)
            block_type = self.types[id(block)] = _content_type(block, value)
            if block_type.startswith(("message/", "multipart/")):
                raise _Decline  # the feedparser would parse a body for it, up to the next empty line
            stop = self.next_delimiter(pos, self.next_empty_line(pos))
            block._payload = text[pos:stop]
            pos = stop
            if pos < end and text[pos] == "\n":
                pos += 1  # the empty line that ended the block
            if pos >= end or self.classify(pos)[0] >= 0:
                return pos

    # ---- header blocks

    def headers(self, msg: Message, pos: int, in_status: bool) -> tuple[int, str | None]:
        """Read the header block at `pos` into `msg`; returns where the body starts, and the value of the first
        Content-Type field (None when there is none).

        The block ends at the first line that is not a header line: an empty line (skipped, except in a
        delivery-status block, where it ends the block), a delimiter of an open multipart, or any other
        line, which starts the body (MissingHeaderBodySeparatorDefect)."""
        text, end = self.text, self.end
        fields = self.line_after(pos) if text.startswith("From ", pos) else pos  # an envelope line first
        run_end = _FIELD_RUN_RE.match(text, fields).end()
        plain = run_end >= end or text[run_end] == "\n" or not _HEADER_LINE_RE.match(text, run_end)
        if not plain:  # an odd header line: the exact way
            run_end = _HEADER_RUN_RE.match(text, pos).end()
        # only a boundary with a colon in it can make a delimiter line look like a header line
        stop = self.next_delimiter(pos, run_end) if run_end > pos else pos
        body = stop
        if stop == run_end < end:
            if text[stop] == "\n":
                if not in_status:
                    body = stop + 1
            elif not (text.startswith("--", stop) and self.classify(stop)[0] >= 0):
                msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
        if stop <= pos:
            return body, None
        if not plain:
            _parse_fields(msg, text[pos:stop])
        else:
            if fields > pos:
                msg._unixfrom = text[pos : fields - 1] if text[fields - 1] == "\n" else text[pos:fields]
            msg._headers = _FIELD_RE.findall(text, fields, stop)
        for name, value in msg._headers:
            if len(name) == 12 and name.lower() == "content-type":
                return body, value
        return body, None

    # ---- delimiter lines

    def push(self, boundary: str) -> None:
        self.bounds.append(boundary)
        self.probes.append("\n--" + (_common_prefix(self.probes[-1][3:], boundary) if self.probes else boundary))
        self.pushed += 1
        self.pushes.append(self.pushed)

    def pop(self) -> None:
        self.bounds.pop()
        self.probes.pop()
        self.pushes.pop()

    def classify(self, at: int) -> tuple[int, int]:
        """(level, kind) for the line at `at`: the outermost open multipart it is a delimiter (kind 1) or close
        delimiter (kind 2) of, as the feedparser's `--boundary(--)?[ \\t]*` up to the line end; or (-1, 0)."""
        if at == self.hit_at and self.hit[0] < len(self.pushes) and self.pushes[self.hit[0]] == self.hit_push:
            return self.hit  # its multipart, and so every one outside it, is still open
        text = self.text
        if not text.startswith("--", at):
            return _NO_DELIMITER
        start = at + 2
        eol = -2
        for level, boundary in enumerate(self.bounds):
            if not text.startswith(boundary, start):
                continue
            if eol == -2:
                eol = text.find("\n", start)
                if eol < 0:
                    eol = self.end
            rest_at = start + len(boundary)
            if rest_at == eol:
                kind = 1
            else:
                rest = text[rest_at:eol].rstrip(" \t")
                kind = 1 if not rest else 2 if rest == "--" else 0
            if kind:
                self.hit_at = at
                self.hit = (level, kind)
                self.hit_push = self.pushes[level]
                return self.hit
        return _NO_DELIMITER

    def next_delimiter(self, pos: int, limit: int) -> int:
        """Start of the first line in [pos, limit) that is a delimiter of an open multipart, or `limit`."""
        if not self.bounds or pos >= limit:
            return limit
        text, probe = self.text, self.probes[-1]
        at = pos if text.startswith(probe[1:], pos) else text.find(probe, pos, limit)
        while at >= 0:
            if text[at] == "\n":
                at += 1
            if self.classify(at)[0] >= 0:
                return at
            at = text.find(probe, at, limit)
        return limit

    def next_empty_line(self, pos: int) -> int:
        text = self.text
        if pos < self.end and text[pos] == "\n":
            return pos
        searched_from, line = self.blank
        if not searched_from <= pos < line:  # else the last search's answer still holds
            found = text.find("\n\n", pos)
            line = found + 1 if found >= 0 else self.end
            self.blank = (pos, line)
        return line

    def line_after(self, at: int) -> int:
        eol = self.text.find("\n", at)
        return eol + 1 if eol >= 0 else self.end


_NO_DELIMITER = (-1, 0)


def _common_prefix(a: str, b: str) -> str:
    if b.startswith(a):
        return a
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _content_type(msg: Message, value: str | None) -> str:
    """`msg.get_content_type()` from the value of its first Content-Type field; values with 8-bit bytes (which
    compat32 turns into `Header` objects) go to the stdlib."""
    if value is None:
        return msg._default_type
    if not value.isascii():
        return msg.get_content_type()
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _boundary(msg: Message, value: str) -> str | None:
    """`msg.get_boundary()` (`value`: its first Content-Type) where the parameters are plain (`plain_params`):
    the first `boundary` parameter, unquoted twice (`decode_params`, then `collapse_rfc2231_value`)."""
    params = plain_params(value, "boundary")
    if params is None:
        return msg.get_boundary()
    return next((utils.unquote(utils.unquote(raw)).rstrip() for name, raw in params if name == "boundary"), None)


def plain_params(value: str, asked: str) -> list[tuple[str, str]] | None:
    """(lower-case name, value as written) of each parameter of a Content-Type `value`, in order, where they are
    plain (`_PARAM_RE`: `Message.get_param` then reads `asked` as the first one of that name, unquoted once);
    None for any other value, which the stdlib must read. `get_param` reads the type before the first `;` as a
    parameter too, so a type that is `asked` itself is declined."""
    at = value.find(";")
    first = value if at < 0 else value[:at]
    if not value.isascii() or first.strip().lower() == asked or not _PARAMS_RE.fullmatch(value):
        return None
    params: list[tuple[str, str]] = []
    while at >= 0:
        param = _PARAM_RE.match(value, at)
        if param is None:
            break
        params.append((param[1].lower(), param[2]))
        at = param.end()
    return params


def _trim(last: Message | None, types: dict[int, str]) -> None:
    """The feedparser's cleanup after a part of a multipart: the line end before the delimiter belongs to the
    delimiter, so it comes off the payload of the newest message (or the epilogue of a nested multipart)."""
    if last is None:
        return
    if types[id(last)].startswith("multipart/"):
        epilogue = last.epilogue
        if epilogue == "":
            last.epilogue = None
        elif epilogue and epilogue[-1] == "\n":
            last.epilogue = epilogue[:-1]
        return
    payload = last._payload
    if isinstance(payload, str) and payload[-1:] == "\n":
        last._payload = payload[:-1]


def _parse_fields(msg: Message, block: str) -> None:
    """The feedparser's `_parse_headers` for one header block (every line a header line), line by line."""
    lines = [line + "\n" for line in block.split("\n")]
    if block.endswith("\n"):
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    headers = msg._headers
    field: list[str] = []
    for number, line in enumerate(lines):
        if line[0] in " \t":
            if not field:
                msg.defects.append(errors.FirstHeaderLineIsContinuationDefect(line))
            else:
                field.append(line)
            continue
        if field:
            headers.append(compat32.header_source_parse(field))
            field = []
        if line.startswith("From "):
            if number == 0:
                msg._unixfrom = line.rstrip("\n")
            elif number == len(lines) - 1:
                raise _Decline  # pushed back as the body's first line, which no longer follows it in `text`
            else:
                msg.defects.append(errors.MisplacedEnvelopeHeaderDefect(line))
            continue
        if line[0] == ":":
            msg.defects.append(errors.InvalidHeaderDefect("Missing header name."))
            continue
        field = [line]
    if field:
        headers.append(compat32.header_source_parse(field))
