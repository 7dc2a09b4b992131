"""Hostile and broken input: parse_mail raises only ParseError, stays bounded in time, and every string it hands
out can be stored in PostgreSQL (valid UTF-8: no NUL, no lone surrogates)."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.errors import ParseError
from processor.parse import ParsedMail, parse_mail
from processor.parse.charset import decode_bytes, decode_header_value, normalize_text
from processor.parse.html import html_to_text
from processor.parse.mail import MAX_DEPTH, parse_header_block

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _strings(mail: ParsedMail) -> list[str]:
    out = [mail.subject, mail.text, mail.all_text, mail.from_address, mail.message_id or "", *mail.defects]
    for name, values in mail.headers.items():
        out += [name, *values]
    for part in mail.parts:
        out += [part.content_type, part.filename or "", part.charset or "", part.text or ""]
    for emb in mail.embedded:
        out.append(emb.text)
        for name, values in emb.headers.items():
            out += [name, *values]
    return out


def _assert_storable(mail: ParsedMail) -> None:
    for text in _strings(mail):
        assert isinstance(text, str)
        assert "\x00" not in text
        text.encode("utf-8")  # raises on lone surrogates, as PostgreSQL would refuse them


def _parse(raw: bytes) -> ParsedMail | None:
    try:
        mail = parse_mail(raw)
    except ParseError:
        return None
    _assert_storable(mail)
    return mail


# Building blocks for structured garbage: header lines, boundaries, bodies, in the charsets mail uses.
_CHARSETS = st.sampled_from(
    ["iso-2022-jp", "shift_jis", "euc-jp", "utf-8", "us-ascii", "iso-8859-1", "windows-31j", "x-bogus", "rot13",
     "utf-16", "undefined", "", '"', "unknown-8bit", "\udcff"]
)
_TYPES = st.sampled_from(
    ["text/plain", "text/html", "multipart/mixed", "multipart/alternative", "message/rfc822", "text/rfc822-headers",
     "message/delivery-status", "application/pdf", "text/plain\n charset=iso-2022-jp", "garbage", ""]
)
_CTE = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "bogus"])
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["送信結果：3912－FAX番号", "①㈱Ⅲ", "=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "=?utf-8?Q?=E3=81?=", "\x00", "--B",
     "--B--"]
)
_ENCODINGS = st.sampled_from(["utf-8", "cp932", "euc_jp", "iso2022_jp", "latin-1"])


@st.composite
def _mime(draw: st.DrawFn, depth: int = 0) -> bytes:
    ctype = draw(_TYPES)
    boundary = draw(st.sampled_from(["B", "B", "C", "", "B B"]))
    enc = draw(_ENCODINGS)
    headers = [
        f"Content-Type: {ctype}; charset={draw(_CHARSETS)}; boundary=\"{boundary}\"",
        f"Content-Transfer-Encoding: {draw(_CTE)}",
        f"Subject: {draw(_TEXT)}",
        f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline', '']))}; filename=\"{draw(_TEXT)}\"",
    ]
    head = "\n".join(draw(st.permutations(headers))[: draw(st.integers(0, 4))]).encode(enc, "backslashreplace")
    if ctype.startswith("multipart/") and depth < 3:
        children = draw(st.lists(st.deferred(lambda: _mime(depth + 1)), max_size=3))
        opener = draw(st.sampled_from([f"--{boundary}", "--B", "--X", ""])).encode()
        closer = draw(st.sampled_from([f"--{boundary}--", "", "--B--", "--X--"])).encode()
        body = b"".join(opener + b"\n" + child + b"\n" for child in children) + closer
    else:
        body = draw(_TEXT).encode(enc, "backslashreplace") + draw(st.binary(max_size=30))
    return head + b"\n\n" + body


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    _parse(raw)


@FAST
@given(_mime(), st.integers(min_value=0, max_value=400), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_broken_mime(raw: bytes, cut: int, eol: bytes) -> None:
    """Structured garbage, truncated anywhere, with any line ends: missing and duplicate boundaries included."""
    raw = raw.replace(b"\n", eol)
    _parse(raw)
    _parse(raw[: len(raw) - cut] if cut < len(raw) else raw[:cut])


@FAST
@given(st.binary(max_size=300), _CHARSETS)
def test_decode_bytes_never_raises(data: bytes, label: str) -> None:
    text = normalize_text(decode_bytes(data, label))
    assert "\x00" not in text
    text.encode("utf-8")


@FAST
@given(st.text(max_size=200))
def test_str_inputs_with_lone_surrogates(text: str) -> None:
    """str entry points (header values, quoted header blocks, HTML) never pass surrogates or NUL through."""
    for out in (decode_header_value(text), normalize_text(text), normalize_text(html_to_text(text))):
        assert "\x00" not in out
        out.encode("utf-8")
    for name, values in parse_header_block(text).items():
        for out in (name, *values):
            assert "\x00" not in out
            out.encode("utf-8")


def test_lone_surrogates_explicitly() -> None:
    assert decode_header_value("a\ud800b\udfff") == "a\ufffdb\ufffd"  # not surrogate escapes: not bytes
    assert decode_header_value("\ud800 " + "送信".encode("cp932").decode("ascii", "surrogateescape")) == "\ufffd 送信"
    assert normalize_text(html_to_text("<td>\ud800</td>")) == "\ufffd"
    assert parse_header_block("Subject: \ud800x\n")["subject"] == ("\ufffdx",)


def _nested(levels: int) -> bytes:
    out = [b"Subject: bomb\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n"]
    out += [b"--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n" % (i - 1, i) for i in range(1, levels)]
    out.append(b"--b%d\nContent-Type: text/plain\n\ndeepest\n" % (levels - 1))
    out += [b"--b%d--\n" % i for i in range(levels - 1, 0, -1)]
    out.append(b"--b0\nContent-Type: text/plain\n\nafter the bomb\n--b0--\n")
    return b"".join(out)


BOMBS = [
    ("multipart-10000", _nested(10_000)),
    ("multipart-no-blank-lines", _nested(10_000).replace(b"\"\n\n--", b"\"\n--")),
    ("rfc822-10000", b"Subject: r\n" + b"Content-Type: message/rfc822\n\n" * 10_000 + b"Subject: inner\n\nx\n"),
    ("same-boundary-10000", b"Content-Type: multipart/mixed; boundary=x\n\n"
     + b"--x\nContent-Type: multipart/mixed; boundary=x\n\n" * 10_000),
    ("siblings-100000", b"Content-Type: multipart/mixed; boundary=x\n\n"
     + b"--x\nContent-Type: text/plain\n\nhi\n" * 100_000 + b"--x--\n"),
    ("header-1MB", b"Subject: " + b"a" * 1_000_000 + b"\nX-Long: " + b"b " * 500_000 + b"\n\nbody\n"),
    ("encoded-words-100000", b"Subject: " + b"=?utf-8?B?5pel?= " * 100_000 + b"\n\nbody\n"),
    ("encoded-words-folded", b"Subject: " + b"=?iso-2022-jp?B?GyRCJUYbKEI=?=\n " * 100_000 + b"\n\nbody\n"),
    ("nul-flood", b"Subject: \x00\x00\n\n" + b"\x00" * 1_000_000),
    # Content-Type's parameters continued by a line of blanks, then text: backtracking through the blanks took
    # 2 s for 30 KB (quadratic) before the parameter pattern's runs were possessive.
    ("content-type-blank-continuation", b"Content-Type: text/plain; charset=utf-8\n" + b" " * 60_000
     + b"Content-Transfer-Encoding: 7bit\n\nbody\n"),
    ("content-type-tab-continuation", b"Content-Type: multipart/mixed; boundary=b\n" + b"\t" * 60_000
     + b"x\n\n--b\n\nbody\n--b--\n"),
    # A quoted-printable message/rfc822 is decoded from its parsed text, written without the stdlib's Generator,
    # whose header folding is quadratic (a 60 KB header of words: 43 s; a fuzzed 32 KB 8-bit one: 4.7 s).
    ("qp-rfc822-long-header", b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: message/rfc822\n"
     b"Content-Transfer-Encoding: quoted-printable\n\nFrom: a@b.c\nSubject: " + b"a " * 30_000
     + b"\n\nbody=3D=\nmore\n--B--\n"),
    # format=flowed: one paragraph of 400,000 soft-broken lines is joined once, not line by line (quadratic).
    ("flowed-one-paragraph", b"Content-Type: text/plain; charset=us-ascii; format=flowed; delsp=yes\n\n"
     + b"abcdefghij \n" * 400_000),
]


@pytest.mark.parametrize("raw", [pytest.param(c[1], id=c[0]) for c in BOMBS])
def test_bombs_are_bounded(raw: bytes) -> None:
    """compat32's feedparser recurses per level (RecursionError near 1000) and mail-parser is quadratic in
    encoded words: both are fed bounded bytes, so parsing and metadata finish quickly."""
    started = time.monotonic()
    mail = _parse(raw)
    assert mail is not None
    assert isinstance(mail.metadata.defects, tuple)  # mail-parser may fail on these (a defect), but not hang
    assert time.monotonic() - started < 3.0


HTML_BOMBS = [  # each ~2-4 MB: quadratic reading would take hours
    ("unclosed-quotes", '<a "' * 500_000),
    ("unclosed-comments", "<!--" * 500_000),
    ("unclosed-end-tags", "</a" * 500_000),
    ("unclosed-sections", "<![CDATA[" * 300_000),
    ("long-tag-name", "<a" + "b" * 3_000_000),
    ("unclosed-script", "<script>" + "</scrip <" * 300_000),
    ("many-tags", "<td>x</td>" * 300_000),
    # Spanning cells repeat their text below and add empty cells: bounded (64 columns or rows, 256 characters).
    ("spans", "<table>" + ("<tr><td rowspan=999>" + "x" * 300 + "</td><td colspan=999>y</td></tr>") * 20_000),
    ("hidden-in-hidden", '<div style="display:none">' * 200_000 + "x" + "</div>" * 200_000),
    ("cells-of-breaks", "<table><tr><td>a</td><td>" + "b<br>" * 500_000 + "</td></tr></table>"),
]


@pytest.mark.parametrize("html", [pytest.param(c[1], id=c[0]) for c in HTML_BOMBS])
def test_html_to_text_is_linear(html: str) -> None:
    """Every construct of the HTML reader moves forward, and a search for an end that failed is not repeated."""
    started = time.monotonic()
    text = html_to_text(html)
    assert time.monotonic() - started < 3.0
    assert len(text) <= len(html) + 1_000_000  # spanning cells add at most a million characters


def test_nesting_bomb_records_a_defect_and_keeps_the_rest() -> None:
    mail = parse_mail(_nested(10_000))
    assert f"NestingTooDeep(>{MAX_DEPTH})" in mail.defects
    assert mail.subject == "bomb"
    assert max(p.depth for p in mail.parts) <= MAX_DEPTH


def test_nesting_within_limit_is_untouched() -> None:
    mail = parse_mail(_nested(MAX_DEPTH - 1))
    assert not any(d.startswith("NestingTooDeep") for d in mail.defects)
    assert [p.text for p in mail.parts] == ["deepest", "after the bomb"]


def test_too_deep_part_is_dropped_but_siblings_after_it_survive() -> None:
    mail = parse_mail(_nested(MAX_DEPTH + 5))
    assert f"NestingTooDeep(>{MAX_DEPTH})" in mail.defects
    assert "after the bomb" in [p.text for p in mail.parts]
    assert "deepest" not in [p.text for p in mail.parts]


def test_huge_header_is_cut_with_defect() -> None:
    mail = parse_mail(BOMBS[6][1])
    assert any(d.startswith("HeaderTooLong") for d in mail.defects)
    assert mail.subject.count("日") > 3000  # only the word cut in half at the limit stays undecoded


def test_unparseable_input_type() -> None:
    with pytest.raises(ParseError):
        parse_mail(None)  # type: ignore[arg-type]
