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

import binascii
import bisect
import codecs
import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header

from processor import regex_cache
from processor.text import INVISIBLE_CHARACTERS

__all__ = [
    "FoldMap",
    "clean_text",
    "decode_bytes",
    "decode_header_value",
    "fold_text",
    "fold_with_offsets",
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
_ASCII_LABELS = frozenset(
    {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "646", "x-unknown", "unknown", "unknown-8bit",
     "x-user-defined"}
)
_UTF7_LABELS = frozenset({"utf-7", "utf7", "unicode-1-1-utf-7", "x-unicode-2-0-utf-7"})
# Codec names (as `codecs.lookup` reports them) that raise or mangle instead of decoding mail text.
_UNUSABLE_CODECS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"})

_ESC = 0x1B
# Dashes that Japanese codecs or mailers produce where a hyphen is meant, which NFKC leaves alone: Python's
# shift_jis and euc_jp codecs give U+2212 for the full-width hyphen-minus where cp932 gives U+FF0D (NFKC: '-'),
# and U+301C for the wave dash where cp932 gives U+FF5E (NFKC: '~'). Folding both makes every codec agree.
_FOLD = str.maketrans(
    {
        "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2043": "-", "\u301c": "~",
    }
)
_MAX_HEADER_CHARS = 65536
_SURROGATE_RE = regex_cache.compile("[\ud800-\udfff]")
_CONTROLS = "\x01-\x08\x0b\x0c\x0e-\x1f\x7f"  # C0 controls but NUL, TAB, LF and CR, and DEL
_INVISIBLE_RE = regex_cache.compile(f"[{INVISIBLE_CHARACTERS}]")
_CONTROL_RE = regex_cache.compile(f"[{_CONTROLS}]")
_ODD_RE = regex_cache.compile(f"[{_CONTROLS}{INVISIBLE_CHARACTERS}]")
_FOREIGN_SURROGATE_RE = regex_cache.compile("[\ud800-\udc7f\udd00-\udfff]")
_BYTE_RUN_RE = regex_cache.compile("[\x00-\x7f\udc80-\udcff]+")
_FOLD_RE = regex_cache.compile(r"(?:\r\n|\r|\n)[ \t]+")
# RFC 2047 word, with the RFC 2231 language suffix allowed; real mailers put spaces in Q words, so allow them.
_ENCODED_WORD_RE = regex_cache.compile(r"=\?([^?*\s]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*)\?=")
_KANA_RE = regex_cache.compile("[\u3041-\u30ff]")
_C1_RE = regex_cache.compile("[\x80-\x9f]")
_Q_HEX_RE = regex_cache.compile(rb"=([0-9A-Fa-f]{2})")
#: Every character a Japanese mail's double-byte text holds (cp932's, `tests/parse/test_charset.py` checks them
#: all, the box-drawing rules `────` of a signature included), and the Latin-1 symbols of JIS X 0208.
_JAPANESE_CLASS = ("[\u3000-\u30ff\u3190-\u33ff\u4e00-\u9fff\uf900-\ufaff\uff01-\uffef\u2460-\u24ff"
                  "\u2160-\u217f\u2010-\u2312\u2500-\u257f\u25a0-\u266f\u00a7\u00a8\u00b0\u00b1\u00b4\u00b6\u00d7\u00f7"
                  "\u0391-\u03c9\u0401-\u0451]")


# Only for 8-bit text without a usable label (`_sniff`, `_looks_japanese`), so compiled on first use: the wide
# classes took 4 ms to compile, a twentieth of `faxbounce classify`'s start-up.
@functools.cache
def _scoring_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Kana and kanji; what counts against a Japanese reading; every character Japanese mail uses."""
    word = regex_cache.compile("[\u3041-\u30ff\u4e00-\u9fff]")
    odd = regex_cache.compile("[\x80-\x9f\ue000-\uf8ff\uff61-\uff9f\ufffd]")
    japanese = regex_cache.compile(_JAPANESE_CLASS)
    return word, odd, japanese


def normalize_text(text: str) -> str:
    """`clean_text`, then `fold_text`: the form every pattern matches against."""
    return fold_text(clean_text(text))


def clean_text(text: str) -> str:
    """No NUL bytes or lone surrogates, LF line ends: text as the mail says it, in a form both databases store.

    Surrogates become U+FFFD because PostgreSQL (UTF-8) rejects them and NUL, and detectors must never see
    a string that cannot be stored. Characters that show nothing (`processor.text.INVISIBLE_CHARACTERS`) are
    dropped: a label or a code with one inside it was not found (a wrong number recorded as a failure of
    unknown reason). Other control characters (a form feed or BEL before `送信結果:`, left by a printer driver
    or a gateway) are spaces, for the same reason.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii() and _SURROGATE_RE.search(text):
        text = _SURROGATE_RE.sub("\ufffd", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _ODD_RE.search(text):
        text = _CONTROL_RE.sub(" ", _INVISIBLE_RE.sub("", text))
    return text


def fold_text(text: str) -> str:
    """NFKC and ASCII hyphens for the dash look-alikes: full-width colons, digits and letters compare equal to
    their ASCII forms. For matching only: a stored value keeps what the mail says (`①見積書`, not `1見積書`)."""
    if text.isascii():  # NFKC leaves ASCII as it is, and `_FOLD` maps none of it: most mail, at no cost
        return text
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


@dataclass(frozen=True, slots=True)
class FoldMap:
    """Where each character of a folded text came from in the original: a match found in the folded text is
    cut from the original by `text[fold_map.start(a):fold_map.end(b)]`. Only the runs that folding changed
    are recorded (most of a mail is left as it is), so the map stays small for a large body."""

    folded_starts: tuple[int, ...]
    """Folded index where each changed run begins, ascending."""
    folded_ends: tuple[int, ...]
    source_starts: tuple[int, ...]
    source_ends: tuple[int, ...]

    def start(self, index: int) -> int:
        """Index in the original of the character that folded character `index` came from."""
        run = self._run(index)
        if run is None:
            return index
        if index < self.folded_ends[run]:
            return self.source_starts[run]
        return self.source_ends[run] + index - self.folded_ends[run]

    def end(self, index: int) -> int:
        """The exclusive end in the original for an exclusive end `index` in the folded text."""
        if index <= 0:
            return 0
        run = self._run(index - 1)
        if run is not None and index - 1 < self.folded_ends[run]:
            return self.source_ends[run]
        return self.start(index - 1) + 1

    def _run(self, index: int) -> int | None:
        """The last changed run that begins at or before folded `index`."""
        run = bisect.bisect_right(self.folded_starts, index) - 1
        return run if run >= 0 else None


def fold_with_offsets(text: str) -> tuple[str, FoldMap]:
    """`fold_text(text)` and the map back to `text`. Folding goes one run at a time: a character folding
    changes, or a base character with the combining marks that follow it (such as the half-width voiced mark
    in `ｶﾞ`); everything between runs is copied as it is."""
    if text.isascii():  # every character folding changes, and every combining mark, is beyond ASCII
        return text, _NO_FOLDS
    folded: list[str] = []
    folded_starts: list[int] = []
    folded_ends: list[int] = []
    source_starts: list[int] = []
    source_ends: list[int] = []
    position = 0  # in the folded text
    copied = 0  # in `text`: how far has been copied
    for match in _changing_re().finditer(text):
        start, end = match.span()
        piece = fold_text(match.group())
        if piece == match.group():
            continue
        folded.append(text[copied:start])
        position += start - copied
        folded_starts.append(position)
        source_starts.append(start)
        folded.append(piece)
        position += len(piece)
        folded_ends.append(position)
        source_ends.append(end)
        copied = end
    folded.append(text[copied:])
    fold_map = FoldMap(tuple(folded_starts), tuple(folded_ends), tuple(source_starts), tuple(source_ends))
    return "".join(folded), fold_map


_NO_FOLDS = FoldMap((), (), (), ())


@functools.cache
def _changing_re() -> re.Pattern[str]:
    """A run folding may change: a base character followed by combining marks, or one character NFKC or the
    dash fold changes (any non-BMP character is taken as one, to be checked), with the marks after it."""
    changing, marks = _fold_classes()
    mark_class = "[" + marks + "]"
    return regex_cache.compile(rf"(?:[{changing}\U00010000-\U0010ffff]|.(?={mark_class})){mark_class}*", re.DOTALL)


def _fold_classes() -> tuple[str, str]:
    """(characters folding changes, combining marks) as class bodies: from `_fold_table` when it was made
    for this Python's Unicode version, else computed (a walk over the BMP, about 0.1 s of start-up)."""
    from processor.parse import _fold_table

    if unicodedata.unidata_version == _fold_table.UNIDATA_VERSION and _fold_spec() == _fold_table.FOLD:
        return _fold_table.CHANGING, _fold_table.MARKS
    return compute_fold_classes()


def _fold_spec() -> str:
    """The dash fold the table was made with: a changed `_FOLD` makes the shipped table stale."""
    return "".join(f"{chr(a)}{b}" for a, b in sorted(_FOLD.items()))


def compute_fold_classes() -> tuple[str, str]:
    """`_fold_classes` the slow way, and the way `_fold_table` is made (`python -m processor.parse.charset`)."""
    changing: list[str] = []
    marks: list[str] = []
    for code in range(0x80, 0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if unicodedata.combining(char) or char in "\uff9e\uff9f":
            marks.append(char)
        elif unicodedata.normalize("NFKC", char) != char or char.translate(_FOLD) != char:
            changing.append(char)
    return _char_class(changing), _char_class(marks)


def fold_table_source() -> str:
    """The text of `_fold_table.py` for this Python's Unicode version (ASCII, lines within the style's width)."""
    changing, marks = compute_fold_classes()
    return (
        '"""Generated by `python -m processor.parse.charset > processor/parse/_fold_table.py`: the character\n'
        "classes of `charset._changing_re` for one Unicode version, so that start-up need not walk the BMP.\n"
        'Used only when the running Python has the same Unicode version and `_FOLD` is unchanged."""\n\n'
        f"UNIDATA_VERSION = {unicodedata.unidata_version!r}\n"
        f"FOLD = {_python_literal(_fold_spec())}\n"
        f"CHANGING = {_python_literal(changing)}\n"
        f"MARKS = {_python_literal(marks)}\n"
    )


def _python_literal(text: str, width: int = 96) -> str:
    """`text` as an ASCII string literal, in parenthesised pieces of at most `width` characters."""
    pieces: list[str] = []
    current = ""
    for char in text:
        escaped = ascii(char)[1:-1].replace('"', '\\"')
        if len(current) + len(escaped) > width:
            pieces.append(current)
            current = ""
        current += escaped
    pieces.append(current)
    return "(\n" + "".join(f'    "{piece}"\n' for piece in pieces) + ")"


def _char_class(chars: list[str]) -> str:
    """A regular expression class body for `chars`, as ranges."""
    ranges: list[tuple[int, int]] = []
    for code in sorted(ord(c) for c in chars):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BE_BOM = b"\x00\x00\xfe\xff"


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Decode `data` by its charset label, correcting the labels Japanese mail gets wrong; never raises.

    The result is not normalized: call `normalize_text` for matching.
    """
    name = _clean_label(label)
    if not data:
        return ""
    if data[:2] in _UTF16_BOMS or data[:4] == _UTF32_BE_BOM:
        # A byte order mark says what the text is, whatever the label (or none) says: XML 1.0 4.3.3, HTML's
        # encoding sniffing. An XML or CSV result in UTF-16 attached without a charset was read as UTF-8 noise.
        codec = "utf-32" if data[:4] in (b"\xff\xfe\x00\x00", _UTF32_BE_BOM) else "utf-16"
        unit = 4 if codec == "utf-32" else 2
        # a stray byte at the end (a gateway's line end) is dropped: the units before it are the text
        if decoded := _strict(data[:len(data) - len(data) % unit], codec):
            return decoded
    if b"\x1b$" in data or b"\x1b(I" in data:
        return _decode_iso2022jp(data)
    if name in _ISO2022JP_LABELS:
        # ISO-2022-JP is 7-bit: 8-bit bytes under this label are UTF-8, EUC-JP or Shift_JIS (KDDI, EZweb).
        return _decode_iso2022jp(data) if data.isascii() else (_strict(data, "utf-8-sig") or _sniff(data))
    if data.isascii():
        # Every label we could honour reads ASCII bytes as ASCII; UTF-7 is the one ASCII-armoured exception.
        if name in _UTF7_LABELS and (as_utf7 := _strict(data, "utf-7")) is not None:
            return as_utf7
        return data.decode("ascii")
    if name in _CP932_LABELS or name in _EUCJP_LABELS:
        # Multi-byte Japanese text that is also valid UTF-8 is almost always UTF-8 under a wrong label.
        if (as_utf8 := _strict(data, "utf-8-sig")) is not None:
            return as_utf8
        return _decode_cp932(data) if name in _CP932_LABELS else _decode_eucjp(data)
    if name in _UTF8_LABELS:
        return _strict(data, "utf-8-sig") or _sniff(data)
    if not name or name in _ASCII_LABELS or not _is_text_codec(name):
        return _sniff(data)
    if _is_single_byte(name):
        # Latin-1 and friends decode any bytes, so they cannot tell us they were wrong: Japanese mailers
        # label UTF-8 and Shift_JIS as iso-8859-1 often enough that a clean Japanese reading wins.
        # A Japanese reading must show kana, or the label's own reading must show C1 controls, which no
        # Latin text has: French 'entrée' is also valid cp932 (kanji and half-width katakana, never kana).
        if (as_utf8 := _strict(data, "utf-8-sig")) is not None:
            return as_utf8
        as_label = _strict(data, name)
        for codec in ("cp932", "euc_jp"):
            decoded = _strict(data, codec)
            if (
                decoded is not None
                and _looks_japanese(decoded)
                and (as_label is None or _KANA_RE.search(decoded) or _C1_RE.search(as_label))
            ):
                return decoded
        return as_label if as_label is not None else _sniff(data)
    decoded = _strict(data, name)
    return decoded if decoded is not None else _sniff(data)


def decode_header_value(value: object, fold: bool = True) -> str:
    """Decode one header value: RFC 2047 words in any charset, raw 8-bit bytes, folding. Normalized for
    matching; `fold=False` gives the value as the mail writes it (`①見積書`), for a copy that is stored.

    Accepts what compat32 hands out: str with surrogate escapes for raw 8-bit bytes, or `email.header.Header`
    (which `Message.get` returns for such values and whose `str()` would turn the bytes into U+FFFD).
    """
    if value is None:
        return ""
    if isinstance(value, Header):
        text = _header_source(value)
    elif isinstance(value, bytes | bytearray):
        text = bytes(value).decode("ascii", "surrogateescape")
    else:
        text = str(value)
    text = text[:_MAX_HEADER_CHARS]
    if text.isascii() and "=?" not in text and "\x1b" not in text:
        # the common value: nothing to decode, and NFKC and the dash fold leave ASCII as it is
        if "\n" in text or "\r" in text:
            text = _FOLD_RE.sub(" ", text).replace("\r", "").replace("\n", "")
        return text.replace("\x00", "").strip() if "\x00" in text else text.strip()
    if _SURROGATE_RE.search(text) or "\x1b" in text:  # raw 8-bit bytes, or raw ISO-2022-JP (old mailers)
        text = _decode_raw_header(text)
    text = _FOLD_RE.sub(" ", text).replace("\r", "").replace("\n", "")
    if "=?" in text:
        text = _decode_encoded_words(text)
    return (normalize_text(text) if fold else clean_text(text)).strip()


def _clean_label(label: str | None) -> str:
    return (label or "").strip().strip("\"'").strip().lower()


def _header_source(value: Header) -> str:
    """The text a compat32 Header was built from, surrogate escapes included."""
    chunks = getattr(value, "_chunks", None)
    if not isinstance(chunks, list):
        return str(value)
    return "".join(chunk if isinstance(chunk, str) else str(chunk) for chunk, _charset in chunks)


def _decode_raw_header(text: str) -> str:
    """Undo compat32's surrogate escapes: the raw 8-bit header bytes are sniffed like an unlabelled body.

    Only runs of ASCII and escapes are bytes (a Shift_JIS trail byte may be ASCII); other characters in a str
    that did not come from bytes stay as they are, and lone surrogates that are not escapes become U+FFFD.
    """
    text = _FOREIGN_SURROGATE_RE.sub("\ufffd", text)
    return _BYTE_RUN_RE.sub(lambda m: decode_bytes(m.group(0).encode("ascii", "surrogateescape")), text)


def _decode_encoded_words(text: str) -> str:
    """RFC 2047 words, tolerant: adjacent words of one charset are joined before decoding, so a character
    split across two words survives; whitespace between encoded words is dropped; broken words stay as text.

    The stdlib `decode_header` is not used: it turns non-ASCII text around the words into raw-unicode-escape
    bytes, which would come out as `\\u9001`.
    """
    pieces: list[tuple[str | bytearray, str]] = []
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(text):
        between = text[pos : match.start()]
        after_word = bool(pieces) and isinstance(pieces[-1][0], bytearray)
        if between and not (after_word and between.isspace()):
            pieces.append((between, ""))
        charset, encoding, payload = _clean_label(match.group(1)), match.group(2), match.group(3)
        data = _b_decode(payload) if encoding in "bB" else _q_decode(payload)
        last = pieces[-1] if pieces else None
        if last is not None and isinstance(last[0], bytearray) and last[1] == charset:
            last[0].extend(data)
        else:
            pieces.append((bytearray(data), charset))
        pos = match.end()
    pieces.append((text[pos:], ""))
    return "".join(
        decode_bytes(bytes(chunk), charset or None) if isinstance(chunk, bytearray) else chunk
        for chunk, charset in pieces
    )


def _b_decode(payload: str) -> bytes:
    payload = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    if len(payload) % 4 == 1:
        payload = payload[:-1]
    try:
        return binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return payload.encode("ascii")


def _q_decode(payload: str) -> bytes:
    data = payload.replace("_", " ").encode("utf-8", "surrogateescape")
    return _Q_HEX_RE.sub(lambda m: bytes((int(m.group(1), 16),)), data)


_ASCII_RUN = regex_cache.compile(rb"[^\x1b\x0e\x0f\x80-\xff]+")


#: ISO-2022-JP that the stdlib's C codec reads exactly as `_decode_iso2022jp` does: ASCII (no SO, SI or other
#: escape) and JIS X 0208 runs of byte pairs, where only line ends may come between pairs. Controls or spaces
#: inside a JIS run, JIS Roman (`ESC ( J`), half-width katakana and 8-bit bytes go the long way.
_PLAIN_ISO2022JP = regex_cache.compile(rb"[\x00-\x0d\x10-\x1a\x1c-\x7f]*"
                                       rb"(?:\x1b\(B[\x00-\x0d\x10-\x1a\x1c-\x7f]*|\x1b\$[B@][\x21-\x7e\r\n]*)*")
#: The six JIS X 0208 characters the stdlib's table and cp932 map differently (`〜` U+301C against `～`
#: U+FF5E, ...): the fast path's text is put into cp932's, which Japanese mailers send and the slow path gives.
_JIS_TO_CP932 = str.maketrans({"\u301c": "\uff5e", "\u2016": "\u2225", "\u2212": "\uff0d", "\xa2": "\uffe0",
                               "\xa3": "\uffe1", "\xac": "\uffe2"})


def _decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP with CP50221 extensions: JIS X 0208 rows go through cp932, which has NEC/IBM characters.

    Most mail is plain JIS X 0208: the stdlib's C codec reads it 5-10 times faster than the loop below, and
    its text differs in six characters only (`_JIS_TO_CP932`). Anything it refuses (NEC and IBM rows, broken
    pairs) or that it reads otherwise (`_PLAIN_ISO2022JP`) takes the loop; tests/parse holds both to one
    answer over every JIS X 0208 code and generated streams."""
    if _PLAIN_ISO2022JP.fullmatch(data) is not None:
        try:
            text = data.decode("iso2022_jp")
        except UnicodeDecodeError:
            pass
        else:
            return text if text.isascii() else text.translate(_JIS_TO_CP932)
    return _decode_iso2022jp_loop(data)


def _decode_iso2022jp_loop(data: bytes) -> str:
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
        if byte >= 0x80 and mode != "kana":
            # 8-bit bytes in a 7-bit code: a Shift_JIS or UTF-8 body with a stray escape run, or a mailer that
            # pasted 8-bit text between escapes. Read the run up to the next escape as such, not byte by byte.
            flush()
            end = _next_shift(data, i)
            out.append(_decode_8bit_run(data[i:end]))
            mode, i = "ascii", end
            continue
        if mode == "jis":
            if byte in (0x0A, 0x0D):  # a line end inside a JIS run: the mailer forgot to switch back
                flush()
                out.append(chr(byte))
                i += 1
                continue
            if (run := _JIS_PAIRS.match(data, i)) is not None:  # the whole run of pairs at once
                pending += _jis_run_to_sjis(run.group())
                i = run.end()
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
        if mode == "ascii" and (run := _ASCII_RUN.match(data, i)) is not None:
            out.append(run.group().decode("ascii"))  # whole runs at once: bodies are mostly ASCII
            i = run.end()
            continue
        out.append(chr(byte) if byte < 0x80 else _decode_cp932(bytes([byte])))
        i += 1
    flush()
    return "".join(out)


def _next_shift(data: bytes, start: int) -> int:
    """Index of the next ESC, SO or SI at or after `start` (the end of `data` when there is none)."""
    positions = [p for p in (data.find(b"\x1b", start), data.find(b"\x0e", start), data.find(b"\x0f", start)) if p >= 0]
    return min(positions, default=len(data))


def _decode_8bit_run(run: bytes) -> str:
    """8-bit text found inside ISO-2022-JP: UTF-8 when it is valid UTF-8, else the better Japanese reading."""
    if (as_utf8 := _strict(run, "utf-8")) is not None:
        return as_utf8
    readings = [r for r in (_strict(run, "cp932"), _strict(run, "euc_jp")) if r is not None]
    return max(readings, key=_japanese_score) if readings else _decode_cp932(run)


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    s2 = (j2 + (0x1F if j2 < 0x60 else 0x20)) if j1 & 1 else j2 + 0x7E
    return bytes((s1, s2))


#: Consecutive JIS X 0208 byte pairs (both bytes 0x21-0x7E), as the pair-at-a-time loop would take them.
_JIS_PAIRS = regex_cache.compile(rb"(?:[\x21-\x7e]{2})+")


def _jis_run_to_sjis(run: bytes) -> bytes:
    """`_jis_to_sjis` for every pair of `run` at once, with the C loops of `bytes.translate` and of big-integer
    bit operations instead of one Python call per character (a 3.5 KB Japanese body: 710 -> 285 us). The
    lead byte depends on the first byte alone; the trail byte on the second and on the first one's parity,
    chosen per pair by a mask."""
    leads, trails = run[0::2], run[1::2]
    size = len(trails)
    odd = int.from_bytes(leads.translate(_ODD_MASK), "big")
    trail = ((int.from_bytes(trails.translate(_TRAIL_AFTER_ODD), "big") & odd)
             | (int.from_bytes(trails.translate(_TRAIL_AFTER_EVEN), "big") & ~odd))
    out = bytearray(2 * size)
    out[0::2] = leads.translate(_LEAD)
    out[1::2] = trail.to_bytes(size, "big")
    return bytes(out)


def _table(function: Callable[[int], int]) -> bytes:
    """A `bytes.translate` table: `function` over the JIS range 0x21-0x7E, zero elsewhere (never read)."""
    return bytes(function(b) if 0x21 <= b <= 0x7E else 0 for b in range(256))


_LEAD = _table(lambda j1: _jis_to_sjis(j1, 0x21)[0])
_ODD_MASK = _table(lambda j1: 0xFF if j1 & 1 else 0)
_TRAIL_AFTER_ODD = _table(lambda j2: _jis_to_sjis(0x21, j2)[1])
_TRAIL_AFTER_EVEN = _table(lambda j2: _jis_to_sjis(0x22, j2)[1])


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
    if (as_utf8 := _strict(data, "utf-8-sig")) is not None:
        return as_utf8
    # EUC-JP bytes are often valid cp932 too (half-width katakana, user-defined area): keep the better reading.
    readings = [r for r in (_strict(data, "cp932"), _strict(data, "euc_jp")) if r is not None]
    if readings:
        return max(readings, key=_japanese_score)
    return _decode_cp932(data)


def _japanese_score(text: str) -> int:
    """Kana and kanji count for a reading; half-width katakana, private-use and C1 characters count against."""
    word, odd, _japanese = _scoring_patterns()
    return len(word.findall(text)) - 2 * len(odd.findall(text))


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=256)
def _is_text_codec(name: str) -> bool:
    """A label we may decode with: it exists, is a text encoding (not rot13, base64, zlib) and is not one of
    the codecs that refuse to decode mail bytes at all."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return False
    return getattr(info, "_is_text_encoding", True) and info.name not in _UNUSABLE_CODECS


@functools.lru_cache(maxsize=256)
def _is_single_byte(name: str) -> bool:
    """One byte, one character: such codecs accept every byte string, so a wrong label cannot fail."""
    try:
        return len(bytes(range(0x80, 0x100)).decode(name, "replace")) == 0x80
    except (UnicodeError, LookupError, ValueError, TypeError):
        return False


def _looks_japanese(text: str) -> bool:
    """Kana or kanji (or the full-width and enclosed forms Japanese mail uses), and nothing outside them."""
    japanese = _scoring_patterns()[2]
    found = False
    for ch in text:
        if ch < "\x80":
            continue
        if not japanese.match(ch):
            return False
        if not "\uff61" <= ch <= "\uff9f":  # half-width katakana alone reads Latin-1 letters too often
            found = True
    return found


if __name__ == "__main__":
    print(fold_table_source(), end="")
