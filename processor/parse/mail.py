"""Raw bytes to `ParsedMail`: MIME structure and decoded text from the stdlib, metadata from mail-parser.

The stdlib `email` package (compat32, which keeps going on broken input) gives the part tree; our charset
layer decodes every header and text part; mail-parser is consulted lazily for addresses, the attachment
list, defects and the Received chain. Body text never comes from mail-parser (it leaves 7bit ISO-2022-JP
undecoded: mail-parser issue #79).

Hostile input is bounded before the stdlib sees it (`bound_input`): line ends become LF (so CRLF, CR-only
and LF copies of a mail parse alike), containers nested deeper than `MAX_DEPTH` are dropped (compat32's
feedparser recurses once per level and hits RecursionError near 1000, slowing down quadratically before),
delimiters beyond `MAX_DELIMITERS` are dropped, and header fields are cut at `MAX_HEADER_BYTES` (mail-parser
is quadratic in the number of encoded words). Each cut is recorded as a defect. Then at most `MAX_PARTS` parts
are walked, and each text part is cut at `MAX_TEXT_BYTES` before decoding.
"""

from __future__ import annotations

import binascii
import contextlib
import email
import email.utils
import quopri
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email._policybase import compat32  # where email.policy gets it; that module adds 7 ms of start-up
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from functools import cache, cached_property
from typing import Any

from processor import regex_cache
from processor.errors import ParseError
from processor.parse.charset import clean_text, decode_bytes, decode_header_value, fold_text, normalize_text
from processor.parse.html import html_to_text
from processor.parse.metadata import MailMetadata, read_metadata
from processor.parse.mime import plain_params, read_message
from processor.parse.received import ReceivedHop, received_hops

__all__ = [
    "MAX_DELIMITERS",
    "MAX_DEPTH",
    "MAX_HEADER_BYTES",
    "MAX_PARTS",
    "EmbeddedMessage",
    "MailPart",
    "ParsedMail",
    "embedded_mail",
    "parse_mail",
    "payload_bytes",
    "text_mail",
]

MAX_PARTS = 500
MAX_DEPTH = 30
MAX_TEXT_BYTES = 4 * 1024 * 1024
MAX_DELIMITERS = 2 * MAX_PARTS
MAX_HEADER_BYTES = 64 * 1024
# Below these counts no bound can trigger, so `bound_input` skips its line scan (the common case).
_SCAN_ENCODED_WORDS = 2000
_RFC822_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"})
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_TYPE_RE = regex_cache.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CHARSET_RE = regex_cache.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:+-]+)", re.IGNORECASE)
_CHARSET_OK_RE = regex_cache.compile(r"[a-z0-9][a-z0-9_.:+()-]{0,63}")
# What compat32's feedparser takes for a header line (email.feedparser.headerRE).
_HEADER_LINE_RE = regex_cache.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
_BOUNDARY_RE = regex_cache.compile(rb"""boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MailPart:
    """One leaf of the MIME tree, with its text decoded when it is text."""

    content_type: str
    filename: str | None
    is_attachment: bool
    size: int
    depth: int
    charset: str | None
    text: str | None
    """Decoded, normalized text for text/* and message/*-status parts; HTML already turned into text."""
    source_text: str | None = None
    """`text` before folding (`clean_text` only): what the mail says, for values that are stored (`①見積書`).
    Set for inline text bodies; None where only `text` exists."""


class EmbeddedMessage:
    """The returned original inside a bounce: a message/rfc822 or text/rfc822-headers part.

    Its body text is decoded when first read (`text`): detectors read the original's headers, not its body."""

    __slots__ = ("_text", "_text_parts", "headers", "message")

    headers: DecodedHeaders
    """Decoded header values by lower-case name."""
    message: Message | None
    """The whole embedded message (message/rfc822 only), for reading it as a mail of its own (`embedded_mail`)."""

    def __init__(self, headers: DecodedHeaders, text: str = "", message: Message | None = None,
                 text_parts: tuple[tuple[Message, str], ...] = ()) -> None:
        self.headers = headers
        self.message = message
        self._text: str | None = None if text_parts else text
        self._text_parts = text_parts  # (part, content type) of its text/plain and text/html leaves

    @property
    def text(self) -> str:
        """Decoded body text of the embedded message (empty for headers-only parts)."""
        if self._text is None:
            self._text = "\n".join(_leaf_text(sub, sub_type) for sub, sub_type in self._text_parts)
            self._text_parts = ()
        return self._text

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def header_as_written(self, name: str) -> str | None:
        """`header(name)` decoded but not folded (`①見積書`): for values that are stored, as the mail's own
        `subject_as_written`."""
        values = self.headers.as_written(name.lower())
        return values[0] if values else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmbeddedMessage):
            return NotImplemented
        return (self.headers, self.text) == (other.headers, other.text)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: as the frozen dataclass with a dict field

    def __repr__(self) -> str:
        return f"EmbeddedMessage(headers={self.headers!r}, text={self.text!r})"


@dataclass(frozen=True)
class ParsedMail:
    """Everything detectors read. Cheap fields are computed eagerly; mail-parser metadata on first use."""

    raw: bytes = field(repr=False)
    message: Message = field(repr=False)
    headers: Mapping[str, tuple[str, ...]]
    parts: tuple[MailPart, ...]
    embedded: tuple[EmbeddedMessage, ...]
    defects: tuple[str, ...]
    source: bytes = field(default=b"", repr=False, compare=False)
    """The bytes actually parsed: `raw` with LF line ends, cut where a bound was hit (see `bound_input`)."""
    envelope_recipients: tuple[str, ...] = field(default=(), compare=False)
    """RCPT TO of the stored copy, when the pipeline knows them (a BCC copy of a fax submission may name the
    fax addresses only there); empty for `faxbounce classify` and files."""

    def header(self, name: str) -> str | None:
        """First decoded value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name.lower(), ())

    @property
    def subject(self) -> str:
        """Folded for matching (NFKC: `①` is `1`, `（` is `(`); see `subject_as_written` for a stored copy."""
        return self.header("subject") or ""

    @cached_property
    def subject_as_written(self) -> str:
        """The subject as the mail writes it (`①見積書（㈱山田商事）`), for values people read back: decoded, not
        folded. A mail made of quoted text (`text_mail`) has only its folded subject."""
        for name, value in self.message.raw_items():
            if name.lower() == "subject":
                return decode_header_value(value, fold=False)
        return self.subject

    @property
    def message_id(self) -> str | None:
        value = self.header("message-id")
        return value.strip() if value else None

    @cached_property
    def date(self) -> datetime | None:
        value = self.header("date")
        if not value:
            return None
        try:
            return email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    @cached_property
    def from_address(self) -> str:
        """Lower-case address of From (empty when there is none)."""
        return _first_address(self.header("from"))

    @cached_property
    def body_parts(self) -> tuple[MailPart, ...]:
        """The text/plain and text/html parts a reader sees as the body: the inline ones, or, when none of
        them holds any text, the attached ones (a notice sent on as `result.txt` or `通知.html` beside an
        empty body, as scanners and "forward as attachment" do), when there is one file of each type at most."""
        texts = tuple(p for p in self.parts if p.content_type in _BODY_TYPES and p.text)
        inline = tuple(p for p in texts if not p.is_attachment)
        if any(p.text.strip() for p in inline):  # type: ignore[union-attr]
            return inline
        attached = tuple(p for p in texts if p.is_attachment)
        # One file of each type at most (a notice as .txt, as .html, or both): of two text files, which one is
        # the notice cannot be told here, and a readme's or a document's numbers must not become the fax's.
        if len({p.content_type for p in attached}) < len(attached):
            return inline
        return attached or inline

    @cached_property
    def plain_text(self) -> str:
        """All text/plain parts of the body (`body_parts`), joined."""
        return "\n".join(p.text for p in self.body_parts if p.content_type == "text/plain")  # type: ignore[misc]

    @cached_property
    def html_text(self) -> str:
        """All text/html parts of the body as text, joined."""
        return "\n".join(p.text for p in self.body_parts if p.content_type == "text/html")  # type: ignore[misc]

    @cached_property
    def plain_source(self) -> str:
        """`plain_text` unfolded: search it with `processor.detect.labels`, which folds for matching only."""
        return "\n".join(p.source_text or p.text or "" for p in self.body_parts if p.content_type == "text/plain")

    @cached_property
    def html_source(self) -> str:
        """`html_text` unfolded."""
        return "\n".join(p.source_text or p.text or "" for p in self.body_parts if p.content_type == "text/html")

    @cached_property
    def text(self) -> str:
        """The body a person reads: the plain parts, or the HTML parts as text when there is no plain text."""
        return self.plain_text if self.plain_text.strip() else self.html_text

    @cached_property
    def text_source(self) -> str:
        """`text` unfolded: the same parts, so the same lines, as the mail writes them."""
        return self.plain_source if self.plain_text.strip() else self.html_source

    @cached_property
    def all_text(self) -> str:
        """Plain and HTML text together: label search over both alternatives of a multipart mail."""
        return "\n".join(t for t in (self.plain_text, self.html_text) if t)

    def parts_of_type(self, *content_types: str) -> Iterator[MailPart]:
        wanted = frozenset(content_types)
        return (p for p in self.parts if p.content_type in wanted)

    @cached_property
    def binary_leaves(self) -> tuple[tuple[Message, str, str], ...]:
        """(part, content type, lower-case file name) of each leaf of the MIME tree that is not text, in the
        order of `Message.walk` and as compat32 reads them (unbounded: the parse layer leaves these undecoded).
        Read once for every detector that looks for attachments. The name is decoded as `MailPart.filename` is
        (RFC 2231, and the RFC 2047 words Japanese mailers put in quotes: `送信結果.csv`), then lower-cased."""
        leaves = []
        for part in self.message.walk():
            if not part.is_multipart() and not (content_type := part.get_content_type()).startswith("text/"):
                leaves.append((part, content_type, (_filename(part) or "").lower()))
        return tuple(leaves)

    @cached_property
    def content_type(self) -> str:
        """The mail's own MIME type, as compat32 reads it (`multipart/report` for a DSN)."""
        return self.message.get_content_type()

    @cached_property
    def received(self) -> tuple[ReceivedHop, ...]:
        """The Received hops, newest first, read from the parsed headers (no second parse of the mail)."""
        return received_hops(self.header_all("received"))

    @cached_property
    def metadata(self) -> MailMetadata:
        """Addresses, attachments, defects and Received hops, read by mail-parser (never raises).

        mail-parser reads the bounded `source`, not `raw`: it has no limits of its own."""
        return read_metadata(self.source or bound_input(self.raw)[0])


def parse_mail(raw: bytes, envelope_recipients: tuple[str, ...] = ()) -> ParsedMail:
    """Parse raw RFC 5322 bytes. Raises ParseError only when nothing at all can be made of them.

    `envelope_recipients`: RCPT TO of the stored copy, when known (the pipeline passes its envelope).

    Anything odd inside (broken MIME, bad charsets, a part that cannot be read) becomes a defect instead.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    repaired, folds = _repair_folds(raw)
    source, defects = bound_input(repaired)
    if folds:
        defects.append(f"RelayFoldsJoined({folds})")
    try:
        message = _message_from_bytes(source)
    except RecursionError:
        # bound_input missed a nesting the feedparser saw: keep the headers, give up on the body structure.
        defects.append(f"NestingTooDeep(>{MAX_DEPTH})")
        try:
            message = BytesHeaderParser(policy=compat32).parsebytes(source)
        except Exception as exc:
            raise ParseError(f"MIME parse failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # compat32 is meant never to raise: if it does, nothing can be made of the bytes
        raise ParseError(f"MIME parse failed: {type(exc).__name__}: {exc}") from exc
    return _from_message(message, raw, source, defects, envelope_recipients)


def _message_from_bytes(source: bytes) -> Message:
    """`email.message_from_bytes(source, policy=compat32)`, without the feedparser's walk over every line.

    Every mail goes to our reader (`read_message`: the same tree from positions in the text instead of a
    generator per line), single-part ones too: their header block through the feedparser took 80 µs of a 2 KB
    InterFAX result, the reader 18 µs, and a body of 13 million empty lines is one slice instead of a string
    per line. The stdlib parses what the reader declines.
    """
    message = read_message(source)
    return message if message is not None else email.message_from_bytes(source, policy=compat32)


def _from_message(message: Message, raw: bytes, source: bytes, defects: list[str],
                  envelope_recipients: tuple[str, ...] = ()) -> ParsedMail:
    try:
        parts: list[MailPart] = []
        embedded: list[EmbeddedMessage] = []
        budget = [MAX_PARTS]
        for part, depth, ctype in _walk(message, defects, budget):
            try:
                _read_part(part, depth, ctype, parts, embedded, defects, budget)
            except Exception as exc:  # noqa: BLE001 - one unreadable part must not lose the others
                defects.append(f"UnreadablePart:{type(exc).__name__}")
        headers = decode_headers(message.raw_items())
    except Exception as exc:
        raise ParseError(f"MIME walk failed: {type(exc).__name__}: {exc}") from exc
    return ParsedMail(
        raw=raw,
        message=message,
        headers=headers,
        parts=tuple(parts),
        embedded=tuple(embedded),
        defects=tuple(dict.fromkeys(defects)),
        source=source,
        envelope_recipients=tuple(str(r) for r in envelope_recipients),
    )


def embedded_mail(embedded: EmbeddedMessage) -> ParsedMail | None:
    """An attached message/rfc822 (a notice a person forwarded as an attachment) read as a mail of its own;
    None for headers-only parts or when nothing can be made of it. Its bytes are not kept (`raw` is empty)."""
    if embedded.message is None:
        return None
    try:
        return _from_message(embedded.message, b"", b"", [])
    except ParseError:
        return None


def text_mail(headers: Mapping[str, str | None], text: str,
              embedded: tuple[EmbeddedMessage, ...] = (), source: str | None = None) -> ParsedMail:
    """A mail made of header values and plain text: a notice forwarded inline, whose header block was quoted in
    the forwarder's text (`差出人:`, `件名:` …) and whose body follows it. Values are decoded text already.
    `embedded`: the mails the forward carries as attachments (a bounce's returned original rides along so).
    `source`: `text` as the forward writes it, unfolded (`２０２６`, `０３－…`), where the caller has it: the
    values a detector cuts and stores come from it."""
    values = {name.lower(): (value.strip(),) for name, value in headers.items() if value and value.strip()}
    folded = normalize_text(text)
    part = MailPart("text/plain", None, False, len(text), 0, "utf-8", folded,
                    source if source is not None and source != folded else None)
    return ParsedMail(raw=b"", message=Message(), headers=values, parts=(part,), embedded=embedded, defects=())


_BROKEN_FOLD_RE = regex_cache.compile(
    rb";[ \t]*(\r\n|\r|\n)(?=(?:boundary|charset|name|filename|format|report-type|type|delsp)[ \t]*=)", re.IGNORECASE
)
_QP_SPACED_BREAK_RE = regex_cache.compile(r"=[ \t]+(?=\n|\Z)")
#: A payload whose first non-empty line could be base64: nothing but its alphabet, then the line's end.
_BASE64_FIRST_LINE_RE = regex_cache.compile(r"\s*[A-Za-z0-9+/=]*[ \t]*(?:\n|\Z)")
RELAY_LINE_LIMIT = 998
"""RFC 5321's longest line. Postfix (`smtp_line_length_limit`) breaks a longer line by inserting CRLF + SPACE
after this many bytes, anywhere: inside a word, inside a multi-byte character."""


@cache
def _relay_fold_re(limit: int) -> re.Pattern[bytes]:
    # The line end + SPACE after a line of exactly `limit` bytes; a lookbehind, so that a continuation that
    # is itself `limit` bytes long (SPACE included) and folded again is joined too.
    # Any line end (CRLF, LF, CR-only copies) counts, as it does for the parser.
    return regex_cache.compile(rb"(?:(?<=\A[^\r\n]{%d})|(?<=[\r\n][^\r\n]{%d}))(?:\r\n|\r|\n) " % (limit, limit))


def _repair_folds(raw: bytes, limit: int = RELAY_LINE_LIMIT) -> tuple[bytes, int]:
    """`raw` with two kinds of damage done in transit undone, and how many relay folds were joined.

    - A body line of exactly `limit` bytes followed by a line that starts with a space is a relay's fold
      (Postfix's CRLF + SPACE): the two are joined back before anything is decoded, so that a UTF-8 or
      Shift_JIS character cut in two, or a label such as `送信結果`, is whole again. Headers are left alone
      (there CRLF + SPACE is ordinary folding).
    - `Content-Type: multipart/alternative;` then `boundary=…` at the start of the next line (no fold white
      space), as some mailers write it: without repair the boundary is lost and the body with it.
    """
    folds = 0
    body_start = header_end(raw)
    if body_start >= 0 and len(raw) - body_start > limit:
        body = raw[body_start:]
        # A fold is a line end + SPACE after a line of `limit` bytes: look for both (cheap scans first; a body
        # of millions of short lines makes the line split the slow part) before the slow lookbehind search.
        if (b"\n " in body or b"\r " in body) and max(map(len, body.splitlines()), default=0) >= limit:
            body, folds = _relay_fold_re(limit).subn(b"", body)
        if folds:
            raw = raw[:body_start] + body
    # a search first: the repair is rare (7 of the 629 corpus mails), and a substitution that finds nothing still
    # copies the mail (5.2 ms over the corpus against 3.1)
    return (_BROKEN_FOLD_RE.sub(rb";\1 ", raw) if b";" in raw and _BROKEN_FOLD_RE.search(raw) else raw), folds


def header_end(raw: bytes) -> int:
    """Where the body starts: after the first empty line, whichever line end it has (`\n\n`, `\r\n\r\n`,
    `\r\r`), as the regular expression `\r\n\r\n|\n\n|\r\r` finds it; -1 when there is none. Three bounded
    searches for the bytes: the expression tried each position of the whole mail, 10 µs a mail."""
    start, length = raw.find(b"\n\n"), 2
    crlf = raw.find(b"\r\n\r\n", 0, len(raw) if start < 0 else start + 3)  # only one that starts before
    if crlf >= 0 and (start < 0 or crlf < start):
        start, length = crlf, 4
    cr = raw.find(b"\r\r", 0, len(raw) if start < 0 else start + 1)
    if cr >= 0 and (start < 0 or cr < start):
        start, length = cr, 2
    return start + length if start >= 0 else -1


def bound_input(raw: bytes) -> tuple[bytes, list[str]]:
    """`raw` with LF line ends and within the parser's limits, plus a defect for every limit that cut it.

    Why before parsing: compat32's feedparser recurses once per nesting level (RecursionError near 1000 levels,
    quadratic time before that), and mail-parser, which re-parses the same bytes, is quadratic in encoded
    words. Cutting the bytes keeps both bounded. Line ends are unified because the feedparser keeps each
    part's own line ends (quoted-printable soft breaks are only recognised before LF).
    """
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lower = raw.lower()
    if (
        lower.count(b"boundary") + lower.count(b"message/") <= MAX_DEPTH
        and lower.count(b"\n--") <= MAX_DELIMITERS
        and raw.count(b"=?") <= _SCAN_ENCODED_WORDS
    ):
        return raw, []
    return _scan_bounds(raw)


def _scan_bounds(raw: bytes) -> tuple[bytes, list[str]]:
    """Follow the MIME structure line by line the way the feedparser will, and cut what exceeds a limit."""
    defects: list[str] = []
    out: list[bytes] = []
    stack: list[bytes | None] = []  # open containers: a multipart's boundary, or None for a message/* body
    in_headers = True
    block: list[bytes] = []  # the header block being read
    block_start = 0  # where it starts in `out`
    field_len = 0
    delimiters = 0
    skipping = False  # inside a container that was too deep: drop lines until an outer delimiter
    for line in raw.split(b"\n"):
        found = _delimiter(line, stack) if stack and line.startswith(b"--") else None
        if in_headers and found is None and line and _HEADER_LINE_RE.match(line):
            field_len = field_len + len(line) if line[:1] in b" \t" else len(line)
            if field_len > MAX_HEADER_BYTES:
                defects.append(f"HeaderTooLong(>{MAX_HEADER_BYTES})")
                line = line[: max(0, MAX_HEADER_BYTES - (field_len - len(line)))]
                if not line:
                    continue
            block.append(line)
            out.append(line)
            continue
        if in_headers and not skipping:
            # A blank line ends the headers; so does any line that is not a header (the feedparser's view).
            in_headers = False
            ctype, boundary = _block_type(block)
            if ctype.startswith(b"multipart/") and boundary:
                stack.append(boundary)
            elif ctype.startswith(b"message/") and ctype != b"message/delivery-status":
                stack.append(None)
                in_headers, block, field_len = True, [], 0  # the embedded message's own headers follow
            if len(stack) > MAX_DEPTH:
                defects.append(f"NestingTooDeep(>{MAX_DEPTH})")
                del out[block_start:]
                stack.pop()
                in_headers, skipping = False, True
            elif in_headers and not line:
                out.append(line)
                block_start = len(out)
                continue
            if found is None and line.startswith(b"--") and stack:
                found = _delimiter(line, stack)
        if found is not None:
            level, closing = found
            del stack[level if closing else level + 1 :]
            skipping = False
            if not closing:
                delimiters += 1
                if delimiters > MAX_DELIMITERS:
                    defects.append(f"TooManyParts(>{MAX_DELIMITERS} delimiters)")
                    break
            in_headers, block, block_start, field_len = not closing, [], len(out) + 1, 0
        elif skipping:
            continue
        out.append(line)
    return b"\n".join(out), defects


def _delimiter(line: bytes, stack: list[bytes | None]) -> tuple[int, bool] | None:
    """(level, is_closing) when `line` is a delimiter of an open multipart, innermost first as the feedparser."""
    for level in range(len(stack) - 1, -1, -1):
        boundary = stack[level]
        if boundary is None or not line.startswith(b"--" + boundary):
            continue
        rest = line[len(boundary) + 2 :].rstrip(b" \t")
        if rest in (b"", b"--"):
            return level, rest == b"--"
    return None


def _block_type(block: list[bytes]) -> tuple[bytes, bytes | None]:
    """Content type and boundary of a header block, read as compat32 reads the first Content-Type."""
    value: bytes | None = None
    for line in block:
        if value is not None:
            if line[:1] in b" \t":
                value += line
                continue
            break
        if line[:13].lower() == b"content-type:":
            value = line[13:]
    if value is None:
        return b"text/plain", None
    ctype = value.split(b";", 1)[0].strip().lower()
    match = _BOUNDARY_RE.search(value)
    boundary = (match.group(1) if match.group(1) is not None else match.group(2)) if match else None
    return ctype, boundary.rstrip() if boundary else None


def decode_headers(items: Iterable[tuple[str, object]]) -> DecodedHeaders:
    """Decoded values by lower-case name; takes `Message.raw_items()` (surrogate escapes) or `items()`."""
    return DecodedHeaders(items)


class DecodedHeaders(Mapping[str, tuple[str, ...]]):
    """Header values by lower-case name, decoded (`decode_header_value`) when a name is first read: detectors
    read a handful of a mail's headers, and decoding the rest (Received, DKIM, ...) was a tenth of parsing."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, items: Iterable[tuple[str, object]]) -> None:
        raw: dict[str, list[object]] = {}
        for name, value in items:
            raw.setdefault(str(name).strip().lower(), []).append(value)
        self._raw = raw
        self._decoded: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, name: str) -> tuple[str, ...]:
        decoded = self._decoded.get(name)
        if decoded is None:
            decoded = self._decoded[name] = tuple(decode_header_value(value) for value in self._raw[name])
        return decoded

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """As `Mapping.get`, without raising and catching KeyError for each header a mail does not have:
        detectors ask for many (`auto-submitted`, `x-failed-recipients`, …) that most mails lack."""
        decoded = self._decoded.get(name)
        if decoded is None:
            values = self._raw.get(name)
            if values is None:
                return default
            decoded = self._decoded[name] = tuple(decode_header_value(value) for value in values)
        return decoded

    def as_written(self, name: str) -> tuple[str, ...]:
        """The values of `name` decoded but not folded (`①見積書`, not `1見積書`): for a copy that is stored."""
        return tuple(decode_header_value(value, fold=False) for value in self._raw.get(name, ()))

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"DecodedHeaders({dict(self)!r})"


def _walk(message: Message, defects: list[str], budget: list[int]) -> Iterator[tuple[Message, int, str]]:
    """Depth-first leaves and embedded messages, without recursion and within the shared part budget.

    Also collects each part's compat32 defects, which the feedparser leaves on the part it found them in.
    """
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            defects.append(f"TooManyParts(>{MAX_PARTS})")
            return
        defects.extend(type(d).__name__ for d in getattr(part, "defects", ()))
        ctype = _content_type(part)
        if part.is_multipart() and ctype not in _RFC822_TYPES and ctype not in _STATUS_TYPES:
            if depth >= MAX_DEPTH:
                defects.append(f"NestingTooDeep(>{MAX_DEPTH})")
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((child, depth + 1) for child in reversed(payload))
            continue
        yield part, depth, ctype


def _read_part(
    part: Message,
    depth: int,
    ctype: str,
    parts: list[MailPart],
    embedded: list[EmbeddedMessage],
    defects: list[str],
    budget: list[int],
) -> None:
    """`ctype`: `_content_type(part)`, as `_walk` found it."""
    filename = _filename(part)
    disposition = _raw_header(part, "content-disposition").split(";", 1)[0].strip().lower()
    is_attachment = disposition == "attachment" or (filename is not None and not ctype.startswith("text/"))
    charset = _charset(part)
    text: str | None = None
    source: str | None = None
    size = 0

    if filename is not None and ctype not in _RFC822_TYPES and (eml := _attached_eml(part, ctype, filename)):
        embedded.append(_embedded_from_message(eml, budget))
        parts.append(MailPart(ctype, filename, True, 0, depth, charset, None))
        return
    if ctype in _RFC822_TYPES:
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_msg, Message):
            inner_msg = _undo_transfer_encoding(part, inner_msg, defects)
            embedded.append(_embedded_from_message(inner_msg, budget))
        parts.append(MailPart(ctype, filename, is_attachment, 0, depth, charset, None))
        return
    if ctype in _STATUS_TYPES:
        # compat32 splits delivery-status into header blocks; keep them as text for the DSN reader.
        payload = part.get_payload()
        if isinstance(payload, list):
            text = "\n\n".join(_block_text(block) for block in payload if isinstance(block, Message))
        else:
            text = normalize_text(decode_bytes(payload_bytes(part)[:MAX_TEXT_BYTES], charset))
        parts.append(MailPart(ctype, filename, is_attachment, len(text), depth, charset, text))
        return

    data = payload_bytes(part)
    size = len(data)
    if ctype in _HEADER_TYPES:
        text = normalize_text(decode_bytes(data[:MAX_TEXT_BYTES], charset))
        try:
            block, _ = bound_input(data[:MAX_TEXT_BYTES])
            headers = BytesHeaderParser(policy=compat32).parsebytes(block)
            embedded.append(EmbeddedMessage(decode_headers(headers.raw_items()), ""))
        except Exception as exc:  # noqa: BLE001
            defects.append(f"EmbeddedHeaders:{type(exc).__name__}")
    elif ctype.startswith("multipart/"):
        # No boundary was found (or the header naming it was broken): the body is still readable text.
        defects.append("MultipartWithoutParts")
        ctype = "text/plain"
        source = clean_text(decode_bytes(data[:MAX_TEXT_BYTES], charset))
        text = fold_text(source)
    elif ctype.startswith("text/") and not (is_attachment and ctype not in ("text/plain", "text/html", "text/csv",
                                                                             "text/xml")):
        decoded = decode_bytes(data[:MAX_TEXT_BYTES], charset or _html_meta_charset(ctype, data))
        source = clean_text(_readable(part, ctype, decoded))
        text = fold_text(source)
    parts.append(MailPart(ctype, filename, is_attachment, size, depth, charset, text,
                          source if source != text else None))


#: Types a mail file is attached as by mailers that do not write message/rfc822 (webmail, some Japanese clients).
_EML_CARRIERS = frozenset({"application/octet-stream", "text/plain", "application/x-eml", "application/eml",
                           "message/x-eml", "application/vnd.ms-outlook-eml"})


def _attached_eml(part: Message, ctype: str, filename: str) -> Message | None:
    """A mail attached as a `.eml` file of another type than message/rfc822, parsed; None when it is no mail (it
    must have headers). A notice forwarded so is read like one attached as message/rfc822: before, a fax.tc bounce
    forwarded as `bounce.eml` was lost without a word."""
    if ctype not in _EML_CARRIERS or not filename.lower().endswith(".eml"):
        return None
    source, _cut = bound_input(payload_bytes(part)[:MAX_TEXT_BYTES])
    try:
        message = email.message_from_bytes(source, policy=compat32)
    except Exception:  # noqa: BLE001 - not a mail after all: an attachment like any other
        return None
    return message if message.keys() else None


def _undo_transfer_encoding(part: Message, inner: Message, defects: list[str]) -> Message:
    """A message/rfc822 part sent base64 or quoted-printable (not allowed, but seen): compat32 parses the encoded
    text as it stands, decode it and parse again. Base64 reads as a message without headers; quoted-printable
    reads as one with headers (`From:` needs no escaping) whose values and body still hold `=3D`, `=1B` and
    soft breaks, so it is told by those."""
    cte = _raw_header(part, "content-transfer-encoding").strip().lower()
    if cte == "quoted-printable" and inner.keys():
        if not all(isinstance(value, str) and value.isascii() for _name, value in inner.raw_items()):
            return inner  # quoted-printable is 7-bit: 8-bit headers are no such text (and the stdlib's writer
            # folds them in quadratic time: a 32 KB fuzzed header took 4.7 s)
        text = _as_text(inner)
        if text is None or not _QP_ESCAPE_RE.search(text):
            return inner
        data = text.encode("ascii", "surrogateescape")
    elif cte not in ("base64", "quoted-printable") or inner.keys():
        return inner
    elif isinstance(payload := inner.get_payload(), str):
        data = payload.encode("ascii", "surrogateescape")
    else:
        return inner
    try:
        decoded = binascii.a2b_base64(data) if cte == "base64" else quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return inner
    defects.append("EncodedMessageRfc822")
    source, more = bound_input(decoded[:MAX_TEXT_BYTES])
    defects.extend(more)
    return email.message_from_bytes(source, policy=compat32)


_QP_ESCAPE_RE = regex_cache.compile(r"=(?:\r?\n|[0-9A-F]{2})")


def _as_text(message: Message, depth: int = 0) -> str | None:
    """The message's text as it was parsed (headers as written, then the body; a multipart's parts between its
    boundary lines), or None when it cannot be told. Written here, not by the stdlib's Generator, whose header
    folding is quadratic: a 60 KB header of words took 43 s."""
    head = "\n".join(f"{name}: {value}" for name, value in message.raw_items())
    payload = message.get_payload()
    if isinstance(payload, str):
        return f"{head}\n\n{payload}"
    boundary = message.get_boundary() if isinstance(payload, list) and depth < MAX_DEPTH else None
    if boundary is None:
        return None
    parts = [_as_text(part, depth + 1) for part in payload]
    if any(part is None for part in parts):
        return None
    body = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f"{head}\n\n{message.preamble or ''}{body}--{boundary}--\n"


def _embedded_from_message(inner: Message, budget: list[int]) -> EmbeddedMessage:
    # The walk happens now (its parts count against the mail's part budget); decoding waits for `text`.
    leaves = tuple((sub, sub_type) for sub, _depth, sub_type in _walk(inner, [], budget)
                   if sub_type in ("text/plain", "text/html") and not sub.is_multipart())
    return EmbeddedMessage(decode_headers(inner.raw_items()), "", inner, leaves)


def _leaf_text(sub: Message, sub_type: str) -> str:
    decoded = decode_bytes(payload_bytes(sub)[:MAX_TEXT_BYTES], _charset(sub))
    return normalize_text(_readable(sub, sub_type, decoded))


def _readable(part: Message, content_type: str, decoded: str) -> str:
    """A text part's decoded text as it reads: HTML's visible text, flowed text's soft line breaks joined."""
    if content_type == "text/html":
        return html_to_text(decoded)
    flowed = _flowed(part)
    return decoded if flowed is None else unflow(decoded, delete_space=flowed)


def _flowed(part: Message) -> bool | None:
    """For `text/plain; format=flowed` (RFC 3676), whether its `DelSp=yes`; None for text that does not flow."""
    content_type = _raw_header(part, "content-type")
    if "flowed" not in content_type.lower():
        return None
    try:
        if str(part.get_param("format") or "").lower() != "flowed":
            return None
        return str(part.get_param("delsp") or "").lower() == "yes"
    except Exception:  # noqa: BLE001 - a parameter the stdlib cannot read: read the text as it stands
        return None


def unflow(text: str, delete_space: bool = False) -> str:
    """`format=flowed` text (RFC 3676) with its soft line breaks joined: a line that ends in a space goes on in
    the next line of the same quote depth (Thunderbird wraps a long `件名:` or a result's label so; with `DelSp=yes`,
    as for Japanese text, that space was added by the wrapping and is dropped). Space-stuffing is undone, and
    quoted lines keep one `> ` per level. The signature line `-- ` never flows. Linear: a paragraph's pieces are
    joined once (a hostile text of a million soft-broken lines is one paragraph)."""
    out: list[str] = []
    pieces: list[str] = []  # the paragraph that flows on, and its quote depth
    depth_of_pieces = 0
    for line in text.split("\n"):
        stripped = line.rstrip("\r")
        depth = len(stripped) - len(stripped.lstrip(">"))
        content = stripped[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffed (or the space after `>`)
        if pieces and depth != depth_of_pieces:
            out.append(_quoted("".join(pieces), depth_of_pieces))
            pieces = []
        if content.endswith(" ") and content != "-- ":
            pieces.append(content[:-1] if delete_space else content)
            depth_of_pieces = depth
            continue
        pieces.append(content)
        out.append(_quoted("".join(pieces), depth))
        pieces = []
    if pieces:
        out.append(_quoted("".join(pieces), depth_of_pieces))
    return "\n".join(out)


def _quoted(content: str, depth: int) -> str:
    return f"{'> ' * depth}{content}" if depth else content


def _block_text(block: Message) -> str:
    return "\n".join(f"{name}: {decode_header_value(value)}" for name, value in block.raw_items())


def _raw_header(part: Message, name: str) -> str:
    """First value of a header as str, never an `email.header.Header` (compat32 `get` returns one for 8-bit)."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return ""


def payload_bytes(part: Message) -> bytes:
    """A leaf's body with its transfer encoding undone (undecoded when that fails).

    Quoted-printable: white space that a relay left after a soft line break's `=` is dropped first, as RFC 2045
    6.7 asks of decoders ("any trailing white space on a line must be deleted"); the stdlib kept `= ` as text,
    cutting a UTF-8 character in two at every soft break, and the body lost its labels.

    Base64 declared on a body that is plainly not base64 (its first line holds characters no base64 line has:
    8-bit text, `送信結果: 3912`), as a broken gateway writes it: the body is read as it is, where decoding made
    it noise. A base64 body with a plain-text footer appended stays base64 (its first line is base64)."""
    payload = part._payload  # as parsed (8-bit bytes as surrogate escapes): `get_payload()` decodes those
    try:
        if isinstance(payload, str):
            encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
            if encoding == "quoted-printable" and "=" in payload and _QP_SPACED_BREAK_RE.search(payload):
                return quopri.decodestring(_as_bytes(_QP_SPACED_BREAK_RE.sub("=", payload)))
            if encoding == "base64" and not _BASE64_FIRST_LINE_RE.match(payload):
                return _as_bytes(payload)
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64/qp: fall back to the undecoded payload
        data = None
    if isinstance(data, bytes):
        return data
    return _as_bytes(payload) if isinstance(payload, str) else b""


def _as_bytes(payload: str) -> bytes:
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # text set as str, not parsed (as compat32's own decoding falls back)
        return payload.encode("raw-unicode-escape")


def _content_type(part: Message) -> str:
    """The MIME type, also from a broken header such as `text/plain<LF> charset=...` (missing `;`)."""
    ctype = part.get_content_type()
    if _TYPE_RE.fullmatch(ctype):
        return ctype
    match = _TYPE_RE.match(ctype.strip())
    return match.group(0) if match else "text/plain"


def _charset(part: Message) -> str | None:
    content_type = _raw_header(part, "content-type")
    return _charset_label(_charset_param(part, content_type), content_type)


def _charset_param(part: Message, content_type: str) -> object:
    """The `charset` parameter as `Message.get_param` reads it (a str, an RFC 2231 tuple, or None); a plain
    Content-Type (`plain_params`) is read without it, 8 times faster."""
    if "charset" not in content_type.lower():
        return None  # the stdlib compares parameter names by lower case: no parameter to parse for
    if (params := plain_params(content_type, "charset")) is not None:
        return next((email.utils.unquote(raw) for name, raw in params if name == "charset"), None)
    try:
        return part.get_param("charset")
    except Exception:  # noqa: BLE001
        return None


def _charset_label(charset: object, content_type: str) -> str | None:
    """The parameter as a charset label; from a broken header (`text/plain<LF> charset=...`) by pattern."""
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not isinstance(charset, str):
        match = _CHARSET_RE.search(content_type)
        charset = match.group(1) if match else None
    if not isinstance(charset, str):
        return None
    charset = charset.strip().strip("\"'").strip().lower()
    # a label is an output field too: keep it only when it could be a charset name (no 8-bit, no NUL)
    return charset if _CHARSET_OK_RE.fullmatch(charset) else None


def _may_name(part: Message) -> bool:
    """Whether Content-Type or Content-Disposition could hold a file name: `filename`, `filename*` and `name`,
    which the stdlib finds by their lower-cased names, all have `name` in them (no parameter parse without)."""
    return any("name" in str(value).lower() for key, value in part.raw_items()
               if key.lower() in ("content-type", "content-disposition"))


def _filename(part: Message) -> str | None:
    if not _may_name(part):
        return None
    try:
        name = part.get_filename() or part.get_param("name")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    return decode_header_value(name) if name else None


def _html_meta_charset(ctype: str, data: bytes) -> str | None:
    if ctype != "text/html":
        return None
    head = data[:4096].lower()
    marker = head.find(b"charset=")
    if marker < 0:
        return None
    value = head[marker + 8 : marker + 40].lstrip(b"\"' ")
    end = 0
    while end < len(value) and (chr(value[end]).isalnum() or value[end] in b"-_"):
        end += 1
    return value[:end].decode("ascii", "replace") or None


#: `a@example.jp`, `Plain Name <a@example.jp>`, `"Quoted Name" <a@example.jp>`, `a@example.jp (Comment)`: forms
#: `getaddresses` reads as the address itself (a test checks it against the stdlib), so the common From is read
#: without the stdlib's tokenizer.
_BARE_ADDRESS_RE = regex_cache.compile(r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*")
_NAMED_ADDRESS_RE = regex_cache.compile(
    rf"(?:(?:[A-Za-z0-9_\-]+(?: [A-Za-z0-9_\-]+)*|\"[A-Za-z0-9 _.\-]*\") ?)?<({_BARE_ADDRESS_RE.pattern})>"
    rf"|({_BARE_ADDRESS_RE.pattern}) \([A-Za-z0-9 _.\-]*\)"
)


def _first_address(value: str | None) -> str:
    if not value:
        return ""
    if _BARE_ADDRESS_RE.fullmatch(value):
        return value.lower()
    if named := _NAMED_ADDRESS_RE.fullmatch(value):
        return (named.group(1) or named.group(2)).lower()
    for _name, address in address_pairs([value]):
        if "@" in address:
            return address.strip().lower()
    return ""


def address_pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    """`email.utils.getaddresses(values)`, without the values the stdlib cannot read: it recurses once per nested
    comment, and a header of thousands of `(` raised RecursionError out of a detector (found by `make fuzz`)."""
    values = list(values)
    try:
        return email.utils.getaddresses(values)
    except Exception:  # noqa: BLE001 - read the values one by one, leaving out those that raise
        pairs: list[tuple[str, str]] = []
        for value in values:
            with contextlib.suppress(Exception):
                pairs.extend(email.utils.getaddresses([value]))
        return pairs


def address_of(value: str) -> tuple[str, str]:
    """`email.utils.parseaddr(value)`; ("", "") where the stdlib cannot read it (see `address_pairs`)."""
    try:
        return email.utils.parseaddr(value)
    except Exception:  # noqa: BLE001
        return "", ""


def parse_header_block(text: str) -> DecodedHeaders:
    """Headers quoted as plain text inside a bounce body, read as a header block: by our container reader
    (`read_message`, which reads a header block as the feedparser does) when the text is ASCII with LF line
    ends, as nearly every quoted original is (the feedparser took 60 of the 70 µs of a bounce's original), else
    by the stdlib."""
    if (blank := text.find("\n\n")) > 0:
        text = text[: blank + 1]  # what follows the first empty line is body, whatever it holds
    if text.isascii() and "\r" not in text and (message := read_message(text.encode("ascii"))) is not None:
        return DecodedHeaders(message.raw_items())
    return _header_block_by_stdlib(text)


def _header_block_by_stdlib(text: str) -> DecodedHeaders:
    return DecodedHeaders(HeaderParser(policy=compat32).parsestr(text, headersonly=True).raw_items())
