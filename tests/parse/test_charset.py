"""The Japanese charset layer: labels as Japanese mail really carries them, decoded to the same normalized text."""

from __future__ import annotations

import base64
import email
import re
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.parse.charset import _JAPANESE_CLASS, decode_bytes, decode_header_value, normalize_text

# ISO-2022-JP pieces written out as JIS bytes: the stdlib iso2022_jp codec cannot even encode ①㈱Ⅲ.
JIS_SOUSHIN = "送信結果".encode("iso2022_jp")  # ESC $ B ... ESC ( B
JIS_EXT = b"\x1b$B-!-\"-j-7!A!]\x1b(B"  # ① ② ㈱ Ⅲ (NEC row 13), 〜 (0x2141), － (0x215D)
JIS_KANA = b"\x1b(I123\x1b(B"  # half-width katakana ｱｲｳ through ESC ( I
SJIS = "送信結果：①㈱－３９１２".encode("cp932")
EUC_NEC = "送信結果".encode("euc_jp") + b"\xad\xa1\xad\xea\xa1\xdd"  # ① ㈱ (NEC row 13) and － (0xA1DD)
UTF8 = "送信結果：①㈱－３９１２".encode()


def _params(cases: list[tuple[object, ...]]) -> list[object]:
    """Table rows are (id, *values): readable ids in the test report."""
    return [pytest.param(*case[1:], id=str(case[0])) for case in cases]


CHARSET_CASES = [
    # (id, bytes, label, expected normalized text)
    # A byte order mark decides, whatever the label says (XML 1.0 4.3.3; an unlabelled attachment is "utf-8").
    ("utf16le-bom-no-label", "送信結果: 3912".encode("utf-16"), None, "送信結果: 3912"),
    ("utf16le-bom-labelled-utf8", "\ufeff案内".encode("utf-16-le"), "utf-8", "案内"),
    ("utf16be-bom-labelled-latin1", "\ufeff案内".encode("utf-16-be"), "iso-8859-1", "案内"),
    ("utf16-bom-labelled-sjis", "\ufeff6017,案内".encode("utf-16-le"), "shift_jis", "6017,案内"),
    ("utf32le-bom-no-label", "\ufeff案内".encode("utf-32-le"), None, "案内"),
    ("ff-fe-not-utf16", b"\xff\xfe\x41", "iso-8859-1", "\u00ff\u00feA"),  # nothing but the mark: no UTF-16
    ("utf16-bom-stray-byte", "6017,案内\n".encode("utf-16") + b"\n", None, "6017,案内\n"),  # a gateway's LF
    ("jis-ext", JIS_SOUSHIN + b": " + JIS_EXT, "iso-2022-jp", "送信結果: 12(株)III~-"),
    ("jis-ext-uppercase-label", JIS_SOUSHIN + JIS_EXT, "ISO-2022-JP", "送信結果12(株)III~-"),
    ("jis-csiso2022jp", JIS_SOUSHIN, "csISO2022JP", "送信結果"),
    ("jis-no-label", JIS_SOUSHIN + b" " + JIS_EXT, None, "送信結果 12(株)III~-"),
    ("jis-halfwidth-kana", b"FAX" + JIS_KANA, "iso-2022-jp", "FAXアイウ"),
    ("jis-kana-and-kanji", JIS_KANA + JIS_SOUSHIN, "iso-2022-jp", "アイウ送信結果"),
    ("jis-labelled-us-ascii", JIS_SOUSHIN, "us-ascii", "送信結果"),
    ("jis-line-end-inside-run", b"\x1b$B0!\n0\"\x1b(B", "iso-2022-jp", "亜\n唖"),
    ("sjis-shift_jis", SJIS, "shift_jis", "送信結果:1(株)-3912"),
    ("sjis-Shift_JIS", SJIS, "Shift_JIS", "送信結果:1(株)-3912"),
    ("sjis-cp932", SJIS, "cp932", "送信結果:1(株)-3912"),
    ("sjis-windows-31j", SJIS, "Windows-31J", "送信結果:1(株)-3912"),
    ("sjis-x-sjis", SJIS, "x-sjis", "送信結果:1(株)-3912"),
    ("sjis-quoted-label", SJIS, '"shift_jis"', "送信結果:1(株)-3912"),
    ("sjis-halfwidth-kana", "ｱｲｳ".encode("cp932"), "shift_jis", "アイウ"),
    ("euc-jp-nec-row13", EUC_NEC, "euc-jp", "送信結果1(株)-"),
    ("euc-jp-x-label", "送信結果".encode("euc_jp"), "x-euc-jp", "送信結果"),
    ("euc-jp-no-label", "テスト送信".encode("euc_jp"), None, "テスト送信"),
    ("utf8", UTF8, "utf-8", "送信結果:1(株)-3912"),
    ("utf8-bom", b"\xef\xbb\xbf" + UTF8, "utf-8", "送信結果:1(株)-3912"),
    ("utf8-bom-no-label", b"\xef\xbb\xbf" + UTF8, None, "送信結果:1(株)-3912"),
    ("utf8-labelled-shift_jis", UTF8, "shift_jis", "送信結果:1(株)-3912"),
    ("utf8-labelled-euc-jp", UTF8, "euc-jp", "送信結果:1(株)-3912"),
    ("utf8-labelled-iso-8859-1", UTF8, "iso-8859-1", "送信結果:1(株)-3912"),
    ("sjis-labelled-us-ascii", SJIS, "us-ascii", "送信結果:1(株)-3912"),
    ("sjis-labelled-iso-8859-1", SJIS, "iso-8859-1", "送信結果:1(株)-3912"),
    ("sjis-symbol-only-labelled-latin1", "①".encode("cp932"), "iso-8859-1", "1"),
    # A signature's box-drawing rule (JIS X 0208 row 8) is Japanese text too: it once sent the body to Latin-1.
    ("sjis-box-rule-labelled-iso-8859-1", "送信結果:6017\n────┏┓".encode("cp932"), "iso-8859-1",
     "送信結果:6017\n────┏┓"),
    ("euc-jp-box-rule-labelled-iso-8859-1", "失敗しました\n━━━━".encode("euc_jp"), "iso-8859-1",
     "失敗しました\n━━━━"),
    ("sjis-labelled-windows-1252", "送信結果".encode("cp932"), "windows-1252", "送信結果"),
    ("sjis-labelled-unknown-8bit", SJIS, "unknown-8bit", "送信結果:1(株)-3912"),
    ("sjis-no-label", SJIS, None, "送信結果:1(株)-3912"),
    ("sjis-empty-label", SJIS, "", "送信結果:1(株)-3912"),
    ("sjis-unknown-label", SJIS, "x-no-such-charset", "送信結果:1(株)-3912"),
    ("ascii-label-rot13", b"Status: 0", "rot13", "Status: 0"),  # a bytes-to-bytes codec, not a charset
    ("ascii-label-idna", b"Status: 0", "idna", "Status: 0"),  # refuses errors="replace"
    ("ascii-label-undefined", b"Status: 0", "undefined", "Status: 0"),  # always raises
    ("ascii-label-utf-16", b"Status: 0", "utf-16", "Status: 0"),
    ("sjis-label-base64", SJIS, "base64", "送信結果:1(株)-3912"),
    ("utf7", "エラー".encode("utf-7"), "utf-7", "エラー"),
    ("latin1-stays-latin1", "entrée café".encode("latin-1"), "iso-8859-1", "entrée café"),
    ("cp1252-stays-cp1252", "wasn’t".encode("cp1252"), "windows-1252", "wasn’t"),
    ("empty", b"", "iso-2022-jp", ""),
]


@pytest.mark.parametrize(("data", "label", "expected"), _params(CHARSET_CASES))
def test_decode_bytes(data: bytes, label: str | None, expected: str) -> None:
    assert normalize_text(decode_bytes(data, label)) == expected


def test_every_double_byte_character_of_cp932_reads_as_japanese() -> None:
    """A Shift_JIS body under a Latin-1 label is read as Japanese only when every character is one Japanese mail
    uses: a character left out of that class (the box-drawing rules were) throws the whole body back to Latin-1."""
    japanese = re.compile(_JAPANESE_CLASS)
    missing = set()
    for lead in (*range(0x81, 0xA0), *range(0xE0, 0xFD)):
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFD)):
            try:
                char = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                continue
            if not 0xE000 <= ord(char) <= 0xF8FF and not japanese.fullmatch(char):  # private use: user-defined
                missing.add(char)
    assert not missing, "".join(sorted(missing))


def test_decode_bytes_is_not_normalized() -> None:
    """decode_bytes keeps the codec's characters; only normalize_text folds them (callers choose)."""
    assert decode_bytes(JIS_EXT, "iso-2022-jp") == "①②㈱Ⅲ\uff5e\uff0d"


def _b(data: bytes, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def _q(data: bytes, charset: str) -> str:
    text = "".join(chr(b) if 0x30 <= b < 0x7F and b not in b"?_=" else f"={b:02X}" for b in data)
    return f"=?{charset}?Q?{text}?="


def _raw(data: bytes) -> str:
    """A header value as compat32 returns raw 8-bit bytes: surrogate escapes."""
    return data.decode("ascii", "surrogateescape")


UTF8_SPLIT = "送信結果".encode()
HEADER_CASES = [
    ("b-iso2022jp", _b(("FAX送信が成功しました".encode("iso2022_jp")), "ISO-2022-JP") + " -> 0344772288",
     "FAX送信が成功しました -> 0344772288"),
    ("b-iso2022jp-ext", _b(b"\x1b$B-!-j\x1b(B", "iso-2022-jp"), "1(株)"),
    ("q-iso2022jp", _q(JIS_SOUSHIN, "iso-2022-jp"), "送信結果"),
    ("b-shift_jis", _b("送信結果：３９１２".encode("cp932"), "Shift_JIS"), "送信結果:3912"),
    ("q-shift_jis", _q("送信結果".encode("cp932"), "shift_jis"), "送信結果"),
    ("b-windows-31j", _b("①".encode("cp932"), "Windows-31J"), "1"),
    ("b-utf8", _b("送信結果".encode(), "UTF-8"), "送信結果"),
    ("q-utf8-underscore", "=?utf-8?Q?Delivery_Status_=E2=88=92_fail?=", "Delivery Status - fail"),
    ("q-lowercase-q", "=?utf-8?q?a=5Fb?=", "a_b"),
    ("rfc2231-language", _b("送信".encode(), "utf-8*ja"), "送信"),
    ("split-utf8-mid-character",
     _b(UTF8_SPLIT[:4], "utf-8") + "\r\n " + _b(UTF8_SPLIT[4:], "utf-8"), "送信結果"),
    ("split-iso2022jp-words",
     _b("送信".encode("iso2022_jp"), "iso-2022-jp") + "\n\t" + _b("結果".encode("iso2022_jp"), "iso-2022-jp"),
     "送信結果"),
    ("words-in-text", "Re: " + _b("送信".encode(), "utf-8") + " (2) " + _b("結果".encode(), "utf-8"),
     "Re: 送信 (2) 結果"),
    ("two-charsets-adjacent", _b("送信".encode("cp932"), "shift_jis") + " " + _b("結果".encode(), "utf-8"), "送信結果"),
    ("unknown-charset-word", _b("送信結果".encode("cp932"), "x-bogus"), "送信結果"),
    ("broken-base64", "=?utf-8?B?####?= tail", "tail"),
    ("unterminated-word", "=?utf-8?B?5pel", "=?utf-8?B?5pel"),
    ("raw-8bit-sjis", _raw("送信結果：３９１２".encode("cp932")), "送信結果:3912"),
    ("raw-8bit-utf8", _raw("送信結果".encode()), "送信結果"),
    ("raw-8bit-euc", _raw("テスト送信".encode("euc_jp")), "テスト送信"),
    ("raw-8bit-then-word", _raw("送信".encode("cp932")) + " " + _b("結果".encode(), "utf-8"), "送信 結果"),
    ("raw-jis-unencoded", JIS_SOUSHIN.decode("ascii"), "送信結果"),
    ("folding-crlf-tab", "Undelivered Mail\r\n\tReturned to Sender", "Undelivered Mail Returned to Sender"),
    ("folding-lf", "a\n b", "a b"),
    ("folding-cr", "a\r b", "a b"),
    ("fullwidth", "送信結果：３９１２－ＦＡＸ", "送信結果:3912-FAX"),
    ("nul", "a\x00b", "ab"),
    ("lone-surrogate", "a\ud800b", "a\ufffdb"),
    ("none", None, ""),
]


@pytest.mark.parametrize(("value", "expected"), _params(HEADER_CASES))
def test_decode_header_value(value: str | None, expected: str) -> None:
    assert decode_header_value(value) == expected


def test_decode_header_value_takes_compat32_header_objects() -> None:
    """compat32's Message.get returns email.header.Header for 8-bit values; str() of it would give U+FFFD."""
    msg = email.message_from_bytes("Subject: 送信結果\n\n".encode("cp932"), policy=compat32)
    header = msg.get("subject")
    assert "\ufffd" in str(header)
    assert decode_header_value(header) == "送信結果"


def test_decode_header_value_bounds_encoded_word_bombs() -> None:
    value = _b(b"x", "utf-8") * 100_000
    assert set(decode_header_value(value)) == {"x"}


NORMALIZE_CASES = [
    ("fullwidth-colon-digits", "送信結果：３９１２", "送信結果:3912"),
    ("u2212-from-python-shift_jis", b"3912\x81\x7cFAX".decode("shift_jis"), "3912-FAX"),
    ("u2212-from-python-euc_jp", b"3912\xa1\xddFAX".decode("euc_jp"), "3912-FAX"),
    ("uff0d-from-cp932", b"3912\x81\x7cFAX".decode("cp932"), "3912-FAX"),
    ("wave-dash-python-shift_jis", b"1\x81\x603".decode("shift_jis"), "1~3"),
    ("wave-dash-cp932", b"1\x81\x603".decode("cp932"), "1~3"),
    ("horizontal-bar-and-dashes", "a\u2015b\u2014c\u2013d\u2010e", "a-b-c-d-e"),
    ("prolonged-sound-mark-kept", "エラー ｴﾗｰ", "エラー エラー"),
    ("enclosed", "①㈱Ⅲ", "1(株)III"),
    ("nul", "a\x00b\x00", "ab"),
    ("crlf", "a\r\nb\r\n", "a\nb\n"),
    ("cr", "a\rb\r", "a\nb\n"),
    ("lone-surrogates", "\udc91a\ud800", "\ufffda\ufffd"),
]


@pytest.mark.parametrize(("text", "expected"), _params(NORMALIZE_CASES))
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_shipped_fold_table_is_what_this_python_computes() -> None:
    """`_fold_table.py` spares start-up a walk over the BMP; it must say exactly what the walk says (regenerate
    it with `python -m processor.parse.charset > processor/parse/_fold_table.py` when this fails)."""
    import unicodedata

    from processor.parse import _fold_table, charset

    if unicodedata.unidata_version != _fold_table.UNIDATA_VERSION:
        pytest.skip(f"table made for Unicode {_fold_table.UNIDATA_VERSION}, this Python has "
                    f"{unicodedata.unidata_version}: the classes are computed at first use instead")
    assert charset.compute_fold_classes() == (_fold_table.CHANGING, _fold_table.MARKS)
    assert charset._fold_classes() == charset.compute_fold_classes()
    assert charset.fold_table_source() == (Path(charset.__file__).with_name("_fold_table.py")
                                           .read_text(encoding="utf-8"))


_ISO2022JP_PIECES = [
    b"\x1b$B", b"\x1b$@", b"\x1b(B", b"\x1b(J", b"\x1b(I", b"\x0e", b"\x0f", b"\r\n", b"\n", b"\x1b",
    b"AB", b"%3", b"-!", b"-j", b"!!", b"~~", b"\x7f", b" ", b"x", b"\x82\xa0", b"\xe3\x81\x82", b"\x80",
    "送信結果".encode("iso2022_jp"), "成功しました".encode("iso2022_jp"),
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_ISO2022JP_PIECES), max_size=24).map(b"".join))
def test_iso2022jp_runs_decode_as_one_pair_at_a_time(data: bytes) -> None:
    """A run of JIS pairs is converted by lookup in one step; reading one pair per step (the pattern
    narrowed to a single pair) must give the same text, stray escapes, odd bytes and line ends included."""
    import re

    from processor.parse import charset

    whole = charset._decode_iso2022jp_loop(data)
    narrowed = charset._JIS_PAIRS
    try:
        charset._JIS_PAIRS = re.compile(rb"[\x21-\x7e]{2}")
        assert charset._decode_iso2022jp_loop(data) == whole
    finally:
        charset._JIS_PAIRS = narrowed


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([*_ISO2022JP_PIECES, b"\t", b"\x00", b"$", b"!A", b"!]", b"\x1b$B!1"]),
                max_size=24).map(b"".join))
def test_iso2022jp_reads_the_same_through_the_c_codec(data: bytes) -> None:
    """The stdlib's codec takes plain JIS X 0208 (`_PLAIN_ISO2022JP`): whatever it takes must read as the
    loop reads it, and whatever it refuses falls back to the loop."""
    from processor.parse import charset

    assert charset._decode_iso2022jp(data) == charset._decode_iso2022jp_loop(data)


@pytest.mark.parametrize("escape", [b"\x1b$B", b"\x1b$@"])
def test_every_jis_x0208_code_reads_the_same_through_the_c_codec(escape: bytes) -> None:
    """Its six differing characters (`_JIS_TO_CP932`) included, and the NEC and IBM rows it refuses."""
    from processor.parse import charset

    codes = [escape + bytes((j1, j2)) + b"\x1b(B" for j1 in range(0x21, 0x7F) for j2 in range(0x21, 0x7F)]
    assert [c for c in codes if charset._decode_iso2022jp(c) != charset._decode_iso2022jp_loop(c)] == []


def test_plain_jis_is_read_by_the_c_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.parse import charset

    plain = "送信結果：成功しました〜".encode("iso2022_jp") + b"\r\nFAX: 03-5555-0101\r\n"
    extended = b"\x1b$B-!\x1b(B"  # ① (NEC row 13): the codec refuses it
    expected = {data: charset._decode_iso2022jp_loop(data) for data in (plain, extended)}

    def the_loop(data: bytes) -> str:
        raise AssertionError(f"the loop read {data!r}")

    monkeypatch.setattr(charset, "_decode_iso2022jp_loop", the_loop)
    assert decode_bytes(plain, "iso-2022-jp") == expected[plain] == "送信結果：成功しました～\r\nFAX: 03-5555-0101\r\n"
    with pytest.raises(AssertionError, match="the loop read"):
        decode_bytes(extended, "iso-2022-jp")


@pytest.mark.parametrize(("data", "text"), [
    ("送信結果".encode("iso2022_jp"), "送信結果"),
    (b"\x1b$B-!-j\x1b(B", "\u2460\u3231"),  # NEC row 13 through cp932: circled one, parenthesised 株
    (b"\x1b$B%3%!\x1b(B", "\u30b3\u30a1"),
    (b"\x1b$B!A!]\x1b(B", "\uff5e\uff0d"),  # cp932's readings of JIS 0x2141 and 0x215D, not the wave dash
    (b"\x1b$B%3%\x1b(B", "\u30b3\ufffd"),  # an odd byte at the end of a run
])
def test_iso2022jp_pairs(data: bytes, text: str) -> None:
    assert decode_bytes(data, "iso-2022-jp") == text


def test_every_jis_pair_converts_as_the_arithmetic_says() -> None:
    from processor.parse import charset

    pairs = [bytes((j1, j2)) for j1 in range(0x21, 0x7F) for j2 in range(0x21, 0x7F)]
    assert [charset._jis_run_to_sjis(pair) for pair in pairs] == [charset._jis_to_sjis(*pair) for pair in pairs]
    run = b"".join(pairs)  # all 8,836 at once: the masks must choose per pair, not per run
    assert charset._jis_run_to_sjis(run) == b"".join(charset._jis_to_sjis(*pair) for pair in pairs)


@pytest.mark.parametrize(("text", "expected"), [
    ("送信\u200b結果：39\u200b12\ufeff-FAX番号", "送信結果：3912-FAX番号"),  # zero-width space, a BOM inside
    ("送信&結果".replace("&", "\u2060") + "\u00ad", "送信結果"),  # word joiner, soft hyphen
    ("\x0c送信結果: 6017\x07", " 送信結果: 6017 "),  # a form feed and a BEL are spaces
    ("a\tb\nc", "a\tb\nc"),  # TAB and LF are text
])
def test_clean_text_drops_what_shows_nothing(text: str, expected: str) -> None:
    from processor.parse.charset import clean_text

    assert clean_text(text) == expected
