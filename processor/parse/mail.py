"""Raw bytes to `ParsedMail`: MIME structure and decoded text from the stdlib, metadata from mail-parser.

The stdlib `email` package (compat32, which keeps going on broken input) gives the part tree; our charset
layer decodes every header and text part; mail-parser is consulted lazily for addresses, the attachment
list, defects and the Received chain. Body text never comes from mail-parser (it leaves 7bit ISO-2022-JP
undecoded: mail-parser issue #79).

Hostile input is bounded: at most `MAX_PARTS` parts and `MAX_DEPTH` levels are walked, and each text
part is cut at `MAX_TEXT_BYTES` before decoding.
"""

from __future__ import annotations

import email
import email.utils
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from functools import cached_property

from processor.errors import ParseError
from processor.parse.charset import decode_bytes, decode_header_value, normalize_text
from processor.parse.html import html_to_text
from processor.parse.metadata import MailMetadata, read_metadata

__all__ = [
    "MAX_DEPTH",
    "MAX_PARTS",
    "EmbeddedMessage",
    "MailPart",
    "ParsedMail",
    "parse_mail",
]

MAX_PARTS = 500
MAX_DEPTH = 30
MAX_TEXT_BYTES = 4 * 1024 * 1024
_RFC822_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"})
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:+-]+)", re.IGNORECASE)


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


@dataclass(frozen=True, slots=True)
class EmbeddedMessage:
    """The returned original inside a bounce: a message/rfc822 or text/rfc822-headers part."""

    headers: Mapping[str, tuple[str, ...]]
    """Decoded header values by lower-case name."""
    text: str
    """Decoded body text of the embedded message (empty for headers-only parts)."""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True)
class ParsedMail:
    """Everything detectors read. Cheap fields are computed eagerly; mail-parser metadata on first use."""

    raw: bytes = field(repr=False)
    message: Message = field(repr=False)
    headers: Mapping[str, tuple[str, ...]]
    parts: tuple[MailPart, ...]
    embedded: tuple[EmbeddedMessage, ...]
    defects: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """First decoded value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name.lower(), ())

    @property
    def subject(self) -> str:
        return self.header("subject") or ""

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
        except (TypeError, ValueError, IndexError):
            return None

    @cached_property
    def from_address(self) -> str:
        """Lower-case address of From (empty when there is none)."""
        return _first_address(self.header("from"))

    @cached_property
    def plain_text(self) -> str:
        """All inline text/plain parts, joined."""
        return "\n".join(p.text for p in self.parts if p.content_type == "text/plain" and p.text and
                         not p.is_attachment)

    @cached_property
    def html_text(self) -> str:
        """All inline text/html parts as text, joined."""
        return "\n".join(p.text for p in self.parts if p.content_type == "text/html" and p.text and
                         not p.is_attachment)

    @cached_property
    def text(self) -> str:
        """The body a person reads: the plain parts, or the HTML parts as text when there is no plain text."""
        return self.plain_text if self.plain_text.strip() else self.html_text

    @cached_property
    def all_text(self) -> str:
        """Plain and HTML text together: label search over both alternatives of a multipart mail."""
        return "\n".join(t for t in (self.plain_text, self.html_text) if t)

    def parts_of_type(self, *content_types: str) -> Iterator[MailPart]:
        wanted = frozenset(content_types)
        return (p for p in self.parts if p.content_type in wanted)

    @cached_property
    def metadata(self) -> MailMetadata:
        """Addresses, attachments, defects and Received hops, read by mail-parser (never raises)."""
        return read_metadata(self.raw)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse raw RFC 5322 bytes. Raises ParseError only when nothing at all can be made of them."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    try:
        message = email.message_from_bytes(raw, policy=compat32)
    except Exception as exc:
        raise ParseError(f"MIME parse failed: {type(exc).__name__}: {exc}") from exc
    defects: list[str] = [type(d).__name__ for d in getattr(message, "defects", ())]
    parts: list[MailPart] = []
    embedded: list[EmbeddedMessage] = []
    for part, depth in _walk(message, defects):
        _read_part(part, depth, parts, embedded, defects)
    return ParsedMail(
        raw=raw,
        message=message,
        headers=decode_headers(message.items()),
        parts=tuple(parts),
        embedded=tuple(embedded),
        defects=tuple(defects),
    )


def decode_headers(items: list[tuple[str, object]]) -> dict[str, tuple[str, ...]]:
    headers: dict[str, list[str]] = {}
    for name, value in items:
        headers.setdefault(str(name).strip().lower(), []).append(decode_header_value(value))
    return {name: tuple(values) for name, values in headers.items()}


def _walk(message: Message, defects: list[str]) -> Iterator[tuple[Message, int]]:
    """Depth-first leaves and embedded messages, without recursion and within the part budget."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            defects.append(f"TooManyParts(>{MAX_PARTS})")
            return
        ctype = _content_type(part)
        if part.is_multipart() and ctype not in _RFC822_TYPES and ctype not in _STATUS_TYPES:
            if depth >= MAX_DEPTH:
                defects.append(f"NestingTooDeep(>{MAX_DEPTH})")
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((child, depth + 1) for child in reversed(payload))
            continue
        yield part, depth


def _read_part(
    part: Message, depth: int, parts: list[MailPart], embedded: list[EmbeddedMessage], defects: list[str]
) -> None:
    ctype = _content_type(part)
    filename = _filename(part)
    disposition = (part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
    is_attachment = disposition == "attachment" or (filename is not None and not ctype.startswith("text/"))
    charset = _charset(part)
    text: str | None = None
    size = 0

    if ctype in _RFC822_TYPES:
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_msg, Message):
            embedded.append(_embedded_from_message(inner_msg))
        parts.append(MailPart(ctype, filename, is_attachment, 0, depth, charset, None))
        return
    if ctype in _STATUS_TYPES:
        # compat32 splits delivery-status into header blocks; keep them as text for the DSN reader.
        payload = part.get_payload()
        if isinstance(payload, list):
            text = "\n\n".join(_block_text(block) for block in payload if isinstance(block, Message))
        else:
            text = normalize_text(decode_bytes(_payload_bytes(part)[:MAX_TEXT_BYTES], charset))
        parts.append(MailPart(ctype, filename, is_attachment, len(text), depth, charset, text))
        return

    data = _payload_bytes(part)
    size = len(data)
    if ctype in _HEADER_TYPES:
        text = normalize_text(decode_bytes(data[:MAX_TEXT_BYTES], charset))
        try:
            headers = BytesHeaderParser(policy=compat32).parsebytes(data[:MAX_TEXT_BYTES])
            embedded.append(EmbeddedMessage(decode_headers(headers.items()), ""))
        except Exception as exc:  # noqa: BLE001
            defects.append(f"EmbeddedHeaders:{type(exc).__name__}")
    elif ctype.startswith("text/") and not (is_attachment and ctype not in ("text/plain", "text/html", "text/csv",
                                                                             "text/xml")):
        decoded = decode_bytes(data[:MAX_TEXT_BYTES], charset or _html_meta_charset(ctype, data))
        text = normalize_text(html_to_text(decoded) if ctype == "text/html" else decoded)
    parts.append(MailPart(ctype, filename, is_attachment, size, depth, charset, text))


def _embedded_from_message(inner: Message) -> EmbeddedMessage:
    texts: list[str] = []
    for sub, _depth in _walk(inner, []):
        sub_type = _content_type(sub)
        if sub_type in ("text/plain", "text/html") and not sub.is_multipart():
            decoded = decode_bytes(_payload_bytes(sub)[:MAX_TEXT_BYTES], _charset(sub))
            texts.append(normalize_text(html_to_text(decoded) if sub_type == "text/html" else decoded))
    return EmbeddedMessage(decode_headers(inner.items()), "\n".join(texts))


def _block_text(block: Message) -> str:
    return "\n".join(f"{name}: {decode_header_value(value)}" for name, value in block.items())


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64/qp: fall back to the undecoded payload
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def _content_type(part: Message) -> str:
    """The MIME type, also from a broken header such as `text/plain<LF> charset=...` (missing `;`)."""
    ctype = part.get_content_type()
    if _TYPE_RE.fullmatch(ctype):
        return ctype
    match = _TYPE_RE.match(ctype.strip())
    return match.group(0) if match else "text/plain"


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_param("charset")
    except Exception:  # noqa: BLE001
        charset = None
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not isinstance(charset, str):
        match = _CHARSET_RE.search(str(part.get("content-type") or ""))
        charset = match.group(1) if match else None
    if not isinstance(charset, str):
        return None
    return charset.strip().strip("\"'").lower() or None


def _filename(part: Message) -> str | None:
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


def _first_address(value: str | None) -> str:
    if not value:
        return ""
    pairs = email.utils.getaddresses([value])
    for _name, address in pairs:
        if "@" in address:
            return address.strip().lower()
    return ""


def parse_header_block(text: str) -> dict[str, tuple[str, ...]]:
    """Headers quoted as plain text inside a bounce body, read as a header block."""
    return decode_headers(HeaderParser(policy=compat32).parsestr(text, headersonly=True).items())
