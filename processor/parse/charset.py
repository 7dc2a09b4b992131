"""Text decoding for Japanese mail: charset labels as they really are, not as they should be.

Pure functions, no I/O. Decoded text is NUL-free and NFKC-normalized, so full-width colons, digits and
letters compare equal to their ASCII forms and labels can be matched with plain patterns.

Why not the stdlib codecs alone:
- `iso2022_jp` rejects the Windows extension characters (①, ㈱, Ⅲ) that Japanese mailers send; we decode
  ISO-2022-JP by converting JIS X 0208 to Shift_JIS and reading it as cp932, which knows them.
- `shift_jis` likewise lacks them, and maps 0x817C to U+2212 (minus sign), which NFKC does not fold.
- Labels lie: `Windows-31J`, `x-sjis`, `us-ascii` over 8-bit bytes, or no label at all.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from email.header import decode_header

__all__ = [
    "decode_bytes",
    "decode_header_value",
    "normalize_text",
]

_CP932_LABELS = frozenset(
    {
        "shift_jis", "shift-jis", "sjis", "x-sjis", "shiftjis", "s-jis", "ms_kanji", "csshiftjis",
        "windows-31j", "cp932", "ms932", "x-ms-cp932", "ibm-943", "shift_jisx0213", "shift_jis_2004",
        "x-mac-japanese",
    }
)
_ISO2022JP_LABELS = frozenset(
    {
        "iso-2022-jp", "iso2022jp", "iso2022-jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3",
        "iso-2022-jp-2004", "iso-2022-jp-ms", "csiso2022jp", "cp50220", "cp50221", "cp50222", "jis",
        "x-windows-iso2022jp",
    }
)
_EUCJP_LABELS = frozenset({"euc-jp", "eucjp", "x-euc-jp", "euc_jp", "ujis", "cseucpkdfmtjapanese", "cp51932"})
_UTF8_LABELS = frozenset({"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "646", "x-unknown", "unknown"})

_ESC = 0x1B
# Dashes that Japanese codecs or mailers produce where a hyphen is meant; NFKC leaves these alone.
_DASHES = str.maketrans({"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2015": "-"})
_MAX_HEADER_CHARS = 65536


def normalize_text(text: str) -> str:
    """NFKC, ASCII hyphens for the dash look-alikes, no NUL bytes, LF line ends."""
    text = unicodedata.normalize("NFKC", text.replace("\x00", ""))
    text = text.translate(_DASHES)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Decode `data` by its charset label, correcting the labels Japanese mail gets wrong; never raises.

    The result is not normalized: call `normalize_text` for matching.
    """
    name = (label or "").strip().strip("\"'").lower()
    if name in _ISO2022JP_LABELS or (_ESC in data and b"\x1b$" in data):
        return _decode_iso2022jp(data)
    if name in _CP932_LABELS or name in _EUCJP_LABELS:
        # Multi-byte Japanese text that is also valid UTF-8 is almost always UTF-8 under a wrong label.
        if not data.isascii() and (as_utf8 := _strict(data, "utf-8")) is not None:
            return as_utf8
        return _decode_cp932(data) if name in _CP932_LABELS else _decode_eucjp(data)
    if name in _UTF8_LABELS:
        return _strict(data, "utf-8-sig") or _sniff(data)
    if not name or name in _ASCII_LABELS or not data.isascii():
        if data.isascii():
            return data.decode("ascii")
        if name and name not in _ASCII_LABELS and _codec_exists(name):
            decoded = _strict(data, name)
            if decoded is not None and not _looks_misdecoded(decoded):
                return decoded
        return _sniff(data)
    if _codec_exists(name):
        return data.decode(name, errors="replace")
    return _sniff(data)


def decode_header_value(value: object) -> str:
    """Decode one header value: RFC 2047 words in any charset, raw 8-bit bytes, folding. Normalized."""
    if value is None:
        return ""
    text = str(value)[:_MAX_HEADER_CHARS]
    if _has_surrogates(text):
        # compat32 keeps raw 8-bit header bytes as surrogate escapes: get the bytes back and sniff them.
        text = decode_bytes(text.encode("ascii", "surrogateescape"))
    text = re.sub(r"\r?\n[ \t]+", " ", text).replace("\r", "").replace("\n", "")
    if "=?" in text:
        try:
            chunks = decode_header(text)
        except (ValueError, LookupError, AssertionError):
            chunks = [(text, None)]
        pieces = []
        for chunk, charset in chunks:
            if isinstance(chunk, bytes):
                pieces.append(decode_bytes(chunk, charset or "us-ascii"))
            else:
                pieces.append(chunk)
        text = "".join(pieces)
    return normalize_text(text).strip()


def _decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP with CP50221 extensions: JIS X 0208 rows go through cp932, which has NEC/IBM characters."""
    out: list[str] = []
    mode = "ascii"
    i, n = 0, len(data)
    pending = bytearray()

    def flush() -> None:
        if pending:
            out.append(bytes(pending).decode("cp932", errors="replace"))
            pending.clear()

    while i < n:
        byte = data[i]
        if byte == _ESC:
            seq3, seq4 = data[i + 1 : i + 3], data[i + 1 : i + 4]
            if seq3 in (b"$B", b"$@") or seq4 == b"$(Q" or seq4 == b"$(O":
                flush()
                mode = "jis"
                i += 3 if seq3 in (b"$B", b"$@") else 4
                continue
            if seq3 in (b"(B", b"(J", b"(H"):
                flush()
                mode = "ascii"
                i += 3
                continue
            if seq3 == b"(I":
                flush()
                mode = "kana"
                i += 3
                continue
            if seq4 == b"$(D" or seq3 == b"$A" or seq4 == b"$(C" or seq3 == b".A" or seq3 == b".F":
                # JIS X 0212 or another ISO-2022-JP-2 set: rare, let the stdlib codec take the rest.
                flush()
                out.append(data[i:].decode("iso2022_jp_2", errors="replace"))
                return "".join(out)
        if byte == 0x0E:  # SO: half-width katakana in some mailers
            flush()
            mode, i = "kana", i + 1
            continue
        if byte == 0x0F:  # SI
            flush()
            mode, i = "ascii", i + 1
            continue
        if mode == "jis":
            if byte in (0x0A, 0x0D):  # a line end inside a JIS run: the mailer forgot to switch back
                flush()
                out.append(chr(byte))
                i += 1
                continue
            if i + 1 < n and 0x21 <= byte <= 0x7E and 0x21 <= data[i + 1] <= 0x7E:
                pending += _jis_to_sjis(byte, data[i + 1])
                i += 2
                continue
            flush()
            out.append("\ufffd")
            i += 1
            continue
        if mode == "kana" and 0x21 <= byte <= 0x5F:
            pending.append(byte + 0x80)
            i += 1
            continue
        flush()
        out.append(chr(byte) if byte < 0x80 else _decode_cp932(bytes([byte])))
        i += 1
    flush()
    return "".join(out)


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    s2 = (j2 + (0x1F if j2 < 0x60 else 0x20)) if j1 & 1 else j2 + 0x7E
    return bytes((s1, s2))


def _decode_cp932(data: bytes) -> str:
    return data.decode("cp932", errors="replace")


def _decode_eucjp(data: bytes) -> str:
    decoded = _strict(data, "euc_jp")
    if decoded is not None:
        return decoded
    # NEC row 13 and other Windows characters: EUC-JP is JIS X 0208 with the high bit set.
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == 0x8E and i + 1 < n:  # half-width katakana
            out.append(data[i + 1])
            i += 2
        elif 0xA1 <= byte <= 0xFE and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            out += _jis_to_sjis(byte - 0x80, data[i + 1] - 0x80)
            i += 2
        elif byte == 0x8F and i + 2 < n:  # JIS X 0212: not in cp932
            out += b"?"
            i += 3
        else:
            out.append(byte if byte < 0x80 else 0x3F)
            i += 1
    return bytes(out).decode("cp932", errors="replace")


def _sniff(data: bytes) -> str:
    """Guess among the charsets Japanese mail uses, strictest first."""
    if b"\x1b$" in data or b"\x1b(" in data:
        return _decode_iso2022jp(data)
    for codec in ("utf-8", "cp932", "euc_jp"):
        decoded = _strict(data, codec)
        if decoded is not None:
            return decoded
    return data.decode("cp932", errors="replace")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _codec_exists(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _looks_misdecoded(text: str) -> bool:
    """Latin-1 style labels decode anything: treat a run of C1 controls as a sign the label lied."""
    return sum(1 for ch in text if "\x80" <= ch <= "\x9f") > 2


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)
