"""Our container reader (`processor.parse.mime.read_message`) must build the very tree compat32's feedparser
builds: for every mail we have, for the edge cases of RFC 2046 and of the feedparser's own ways, and for random
MIME trees. Where it declines (None), `_message_from_bytes` uses the stdlib, so a decline is never wrong; the
common shapes must not be declined, or the reader is no faster than the stdlib."""

from __future__ import annotations

import email
import random
import re
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.parse.mail import (
    _charset,
    _charset_label,
    _message_from_bytes,
    _raw_header,
    _repair_folds,
    bound_input,
)
from processor.parse.mime import _boundary, _content_type, plain_params, read_message

ROOT = Path(__file__).resolve().parents[2]


def _tree(message: Message) -> list[tuple[object, ...]]:
    """Everything the feedparser decides, part by part in `walk` order (the payload lengths pin the tree)."""
    parts = []
    for part in message.walk():
        payload = part._payload
        parts.append((
            part.get_unixfrom(),
            list(part.raw_items()),
            [(name, str(value)) for name, value in part.items()],
            part.preamble,
            part.epilogue,
            part.get_default_type(),
            part.get_content_type(),
            part.is_multipart(),
            payload if not isinstance(payload, list) else [type(sub).__name__ for sub in payload],
            [(type(defect).__name__, str(defect)) for defect in part.defects],
        ))
    return parts


def _text(message: Message) -> str:
    """`as_string()`, or how it fails. A multipart with an empty boundary gets a random one (seeded here)."""
    random.seed(0)
    try:
        return message.as_string()
    except Exception as exc:  # noqa: BLE001 - the stdlib's generator fails on some trees: both must fail alike
        return repr(exc)


def _source(raw: bytes) -> bytes:
    return bound_input(_repair_folds(raw)[0])[0]


def _check(source: bytes) -> bool:
    """Assert our reader's tree (when it accepts) and `_message_from_bytes`'s equal the stdlib's; True when the
    reader accepted."""
    stdlib = email.message_from_bytes(source, policy=compat32)
    tree = _tree(stdlib)
    text = _text(stdlib)  # after `_tree`: the generator may set a boundary
    ours = read_message(source)
    if ours is not None:
        assert _tree(ours) == tree
        assert _text(ours) == text
    via_mail = _message_from_bytes(source)
    assert _tree(via_mail) == tree
    assert _text(via_mail) == text
    return ours is not None


def test_every_mail_we_have_reads_as_the_stdlib_does(shared_dir: Path) -> None:
    """Every file of the shared corpus (the few that are not mails too: any bytes must read alike), and our
    samples."""
    mails = sorted(path for path in (shared_dir / "corpus").rglob("*") if path.is_file())
    mails += sorted((ROOT / "tests" / "data").rglob("*.eml"))
    assert len(mails) > 700
    accepted = sum(_check(_source(path.read_bytes())) for path in mails)
    # The corpus is bounces and notices: multipart/report, alternatives, attachments, nested messages. The reader
    # takes all of them today; a few declines would be fine, many would mean it lost its point.
    assert accepted >= 0.95 * len(mails), f"reader declined {len(mails) - accepted} of {len(mails)} mails"


def _mp(boundary: str, body: str, ctype: str = "multipart/mixed", extra: str = "") -> str:
    return f"Content-Type: {ctype}; boundary=\"{boundary}\"\n{extra}\n{body}"


# name: (mail, whether the reader must accept it: True, or None when declining is fine)
EDGE_CASES: dict[str, tuple[str, bool | None]] = {
    "plain multipart": (_mp("b", "pre\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\n--b--\nepi\n"), True),
    "no start boundary": (_mp("b", "just text\n--c\nmore\n"), True),
    "only the close boundary": (_mp("b", "text\n--b--\nafter\n"), True),
    "no close boundary": (_mp("b", "--b\n\none\n--b\n\ntwo\n"), True),
    "inner close missing, outer ends it": (
        _mp("o", "--o\n" + _mp("i", "--i\n\ninner\n") + "--o\n\nsecond\n--o--\n"), True),
    "inner preamble ended by outer": (_mp("o", "--o\n" + _mp("i", "no start\n") + "--o--\n"), True),
    "boundary with trailing blanks": (_mp("b", "--b \t\n\none\n--b\t\n\ntwo\n--b-- \n"), True),
    "close then epilogue": (_mp("b", "--b\n\none\n--b--\nepilogue\nlines\n"), True),
    "empty preamble and epilogue": (_mp("b", "\n--b\n\none\n--b--\n\n"), True),
    "no preamble, close at end without line end": (_mp("b", "--b\n\none\n--b--"), True),
    "part without headers": (_mp("b", "--b\n\nbody\n--b--\n"), True),
    "part headers without empty line": (_mp("b", "--b\nContent-Type: text/plain\n--b--\n"), True),
    "part with headers then body line": (_mp("b", "--b\nX-A: 1\nnot a header\n--b--\n"), True),
    "boundary that is a prefix of another": (_mp("b", "--bb\n--b\n\none\n--bb\n--b--\n"), True),
    "quoted boundary with spaces": (_mp("a b c", "--a b c\n\none\n--a b c--\n"), True),
    "boundary mid-line": (_mp("b", "--b\n\nx --b\n --b\n--b--\n"), True),
    "boundary followed by text": (_mp("b", "--b\n\none\n--bx\n--b--x\n--b--\n"), True),
    "repeated delimiters": (_mp("b", "--b\n--b\n--b--\n\none\n--b--\n"), True),
    "repeated delimiters at the end": (_mp("b", "--b\n\none\n--b\n--b\n"), True),
    "text after close that looks like a boundary": (_mp("b", "--b\n\none\n--b--\n--b\n--b--\n"), True),
    "digest": (_mp("d", "--d\n\nSubject: one\n\nbody\n--d\nContent-Type: text/plain\n\ntwo\n--d--\n",
                   "multipart/digest"), True),
    "empty digest part": (_mp("d", "--d\n--d--\n", "multipart/digest"), True),
    "message/rfc822 inside multipart": (
        _mp("b", "--b\nContent-Type: message/rfc822\n\nSubject: in\n\ninner body\n\n--b--\n"), True),
    "message/rfc822 holding a multipart": (
        _mp("b", "--b\nContent-Type: message/rfc822\n\n" + _mp("c", "--c\n\nx\n--c--\n") + "--b--\n"), True),
    "delivery-status, several blocks, trailing empty lines": (
        _mp("b", "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; a\n\n"
                 "Final-Recipient: rfc822; x@y\nAction: failed\n\n\n\n--b--\n", "multipart/report"), True),
    "delivery-status with continuation lines": (
        _mp("b", "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;\n a.example\n\n"
                 "Diagnostic-Code: smtp; 550\n\tno such user\n--b--\n", "multipart/report"), True),
    "delivery-status with a non-header line": (
        "Content-Type: message/delivery-status\n\nAction: failed\nnot a header\nmore\n\nStatus: 5.0.0\n", True),
    "delivery-status block starting with an empty line": (
        "Content-Type: message/delivery-status\n\n\n\nAction: failed\n", True),
    "delivery-status empty": ("Content-Type: message/delivery-status\n\n", True),
    "text/rfc822-headers": (
        _mp("b", "--b\nContent-Type: text/rfc822-headers\n\nSubject: x\nFrom: a@b\n\n--b--\n",
            "multipart/report"), True),
    "base64 on a multipart": (
        _mp("b", "--b\n\none\n--b--\n", extra="Content-Transfer-Encoding: base64\n"), True),
    "two Content-Type headers": (
        "Content-Type: multipart/mixed; boundary=a\nContent-Type: text/plain\n\n--a\n\nx\n--a--\n", True),
    "From line at the top": ("From someone Mon Jan 1 00:00:00 2024\n" + _mp("b", "--b\n\nx\n--b--\n"), True),
    "From line last in a part's headers": (_mp("b", "--b\nX-A: 1\nFrom x\n\nbody\n--b--\n"), None),
    "misplaced From line": (_mp("b", "--b\nX-A: 1\nFrom x\nX-B: 2\n\nbody\n--b--\n"), True),
    "first header line is a continuation": (_mp("b", "--b\n folded\nX-A: 1\n\nbody\n--b--\n"), True),
    "header line without a name": (_mp("b", "--b\n: nameless\nX-A: 1\n\nbody\n--b--\n"), True),
    "RFC 2231 boundary": (
        "Content-Type: multipart/mixed; boundary*=us-ascii''a%20b\n\n--a b\n\nx\n--a b--\n", True),
    "RFC 2231 continued boundary": (
        "Content-Type: multipart/mixed;\n boundary*0=ab; boundary*1=cd\n\n--abcd\n\nx\n--abcd--\n", True),
    "multipart without boundary": ("Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n", True),
    "nested multipart without boundary": (_mp("b", "--b\nContent-Type: multipart/alternative\n\nx\n\n--b--\n"), True),
    "empty boundary": ("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n----\nepi\n", True),
    "boundary with a colon": (_mp("a:b", "--a:b\nX: 1\n--a:b\n\nx\n--a:b--\n"), True),
    "same boundary nested": (_mp("b", "--b\n" + _mp("b", "--b\n\nx\n--b--\n") + "--b--\n"), True),
    "folded content type": ("Content-Type: multipart/mixed;\n\tboundary=\"b\"\n\n--b\n\nx\n--b--\n", True),
    "empty body": ("Content-Type: multipart/mixed; boundary=b\n\n", True),
    "no empty line after headers": ("Content-Type: multipart/mixed; boundary=b\n", True),
    "a part that is just a line end": (_mp("b", "--b\n\n\n--b--\n"), True),
    "no final line end": (_mp("b", "--b\n\nlast line"), True),
    "8-bit bytes": (_mp("b", "--b\nSubject: caf\udce9\n\n\udce9t\udce9\n--b--\n"), True),
    "8-bit content type": ("Content-Type: multipart/mixed; boundary=\"\udce9\"\n\n--\udce9\n\nx\n--\udce9--\n", True),
    "message/global-delivery-status": ("Content-Type: message/global-delivery-status\n\nAction: x\n\nA: b\n", True),
    "message/rfc822 without headers": ("Content-Type: message/rfc822\n\njust a body\n", True),
    "message/rfc822 empty": ("Content-Type: message/rfc822\n", True),
    "alternative in mixed with attachment": (
        _mp("m", "--m\n" + _mp("a", "--a\nContent-Type: text/plain\n\nhi\n--a\nContent-Type: text/html\n\n<p>hi\n"
                                  "--a--\n", "multipart/alternative") +
            "\n--m\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\nAAAA\n--m--\n"),
        True),
}


@pytest.mark.parametrize(("mail", "accept"), EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_read_as_the_stdlib_does(mail: str, accept: bool | None) -> None:
    accepted = _check(_source(mail.encode("ascii", "surrogateescape")))
    if accept:
        assert accepted, "the reader declined a shape it must read"


def test_a_delimiter_at_depth_30_is_found() -> None:
    body = "x\n"
    for level in range(29, -1, -1):
        body = _mp(f"b{level}", f"--b{level}\n{body}--b{level}--\n")
    assert _check(_source(body.encode()))


# ---- random MIME trees

_BOUNDARIES = st.sampled_from(["b", "bb", "b-", "b--", "=_x", "a b", "x:y", "b1", "B"])
_LINES = st.lists(st.sampled_from(["text", "", "--b", "--b--", "--bb", "--b-- ", "-- ", "--", "--x:y", "--a b",
                                   "From x", "a: b", " cont", "\t", "--=_x", "--b1--", "\udcff"]), max_size=4)
_HEADER_LINES = st.lists(st.sampled_from(["X-A: 1", "Subject: s", " folded", "From x", "not a header", ": no name",
                                          "Content-Transfer-Encoding: base64", "Content-Type: text/plain"]),
                         max_size=3)


@st.composite
def _headers(draw: st.DrawFn, ctype: str | None) -> list[str]:
    lines = draw(_HEADER_LINES)
    if ctype is not None:
        lines.insert(draw(st.integers(0, len(lines))), f"Content-Type: {ctype}")
    return lines


def _leaf() -> st.SearchStrategy[list[str]]:
    return st.builds(lambda head, body, blank: [*head, *([""] if blank else []), *body],
                     _headers(None), _LINES, st.booleans())


def _container(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    @st.composite
    def multipart(draw: st.DrawFn) -> list[str]:
        boundary = draw(_BOUNDARIES)
        subtype = draw(st.sampled_from(["mixed", "alternative", "report", "digest"]))
        quoted = draw(st.sampled_from([f'"{boundary}"', boundary if " " not in boundary else f'"{boundary}"']))
        fold = draw(st.sampled_from(["; ", ";\n\t"]))
        lines = [*draw(_headers(f"multipart/{subtype}{fold}boundary={quoted}")), "", *draw(_LINES)]
        for child in draw(st.lists(children, max_size=3)):
            lines += [f"--{boundary}" + draw(st.sampled_from(["", " ", "\t "])), *child]
        if draw(st.booleans()):
            lines += [f"--{boundary}--" + draw(st.sampled_from(["", " "])), *draw(_LINES)]
        return lines

    @st.composite
    def message(draw: st.DrawFn) -> list[str]:
        return [*draw(_headers("message/rfc822")), "", *draw(children)]

    @st.composite
    def status(draw: st.DrawFn) -> list[str]:
        blocks = draw(st.lists(st.lists(st.sampled_from(["Action: failed", "Status: 5.1.1", " cont", "", "text"]),
                                        max_size=3), max_size=3))
        return [*draw(_headers("message/delivery-status")), "", *(line for block in blocks for line in [*block, ""])]

    return st.one_of(multipart(), message(), status())


_TREES = st.recursive(_leaf(), _container, max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES, st.booleans(), st.booleans())
def test_random_trees_read_as_the_stdlib_does(lines: list[str], unixfrom: bool, final_eol: bool) -> None:
    text = "\n".join((["From sender Mon Jan  1 00:00:00 2024"] if unixfrom else []) + lines)
    _check((text + ("\n" if final_eol else "")).encode("ascii", "surrogateescape"))


_PARAM_PIECES = st.lists(st.sampled_from([
    "multipart/mixed", "Multipart/Alternative", "text/plain", "; ", ";", "\n\t", " ", "boundary", "BOUNDARY",
    "boundary*", "boundary*0*", "name", "=", '"', "\\", "<", ">", "a", "b c", "''", "%20", "*", "\udce9",
]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_PARAM_PIECES)
def test_content_type_and_boundary_read_as_the_stdlib_reads_them(pieces: list[str]) -> None:
    """The reader takes the type and the boundary from the Content-Type value itself where that is plain."""
    value = "".join(pieces)
    message = Message()
    message["Content-Type"] = value
    assert _content_type(message, value) == message.get_content_type()
    try:
        expected: object = message.get_boundary()
    except Exception as exc:  # noqa: BLE001 - the stdlib raises on some values: so must we (then the reader declines)
        expected = type(exc)
    try:
        ours: object = _boundary(message, value)
    except Exception as exc:  # noqa: BLE001
        ours = type(exc)
    assert ours == expected


_CHARSET_PIECES = st.lists(st.sampled_from([
    "text/plain", "Text/HTML", "; ", ";", "\n\t", " ", "charset", "CharSet", "charset*", "charset*0*", "format",
    "=", '"', "\\", "'", "utf-8", "ISO-2022-JP", "b c", "''", "%20", "*", "\udce9", "\x00",
]), max_size=12)


def _charset_as_the_stdlib_reads_it(part: Message) -> str | None:
    """`_charset` as it was before `plain_params`: every value through `Message.get_param`."""
    content_type = _raw_header(part, "content-type")
    try:
        charset = part.get_param("charset") if "charset" in content_type.lower() else None
    except Exception:  # noqa: BLE001
        charset = None
    return _charset_label(charset, content_type)


@settings(max_examples=1000, deadline=None)
@given(_CHARSET_PIECES)
def test_a_charset_reads_as_get_param_reads_it(pieces: list[str]) -> None:
    """`_charset` reads plain parameters itself (`plain_params`): what it finds is what `get_param` finds."""
    value = "".join(pieces)
    message = Message()
    message["Content-Type"] = value
    assert _charset(message) == _charset_as_the_stdlib_reads_it(message)


@pytest.mark.parametrize(("value", "plain"), [
    ('text/plain; charset="ISO-2022-JP"', True),
    ("text/plain; format=flowed; CHARSET=Shift_JIS", True),
    ("text/plain; charset*=utf-8''x", False),  # RFC 2231: the stdlib reads it
    ('text/plain; charset="a\\"b"', False),  # quoting with a backslash
    ("charset; charset=x", False),  # get_param reads the type as a parameter too
])
def test_plain_params_declines_what_it_does_not_read_as_the_stdlib(value: str, plain: bool) -> None:
    assert (plain_params(value, "charset") is not None) is plain
    message = Message()
    message["Content-Type"] = value
    assert _charset(message) == _charset_as_the_stdlib_reads_it(message)


def _header_blocks() -> list[str]:
    """Header blocks as bounces quote them: each sample mail's and corpus mail's own block, whole, cut short in
    the middle of a field, and without its last line end."""
    paths = sorted((ROOT / "tests" / "data").rglob("*.eml"))
    paths += sorted((ROOT.parent / "shared" / "corpus" / "set-of-emails" / "bsd").glob("*.eml"))[::3]
    blocks = []
    for path in paths:
        text = path.read_bytes().replace(b"\r\n", b"\n").decode("ascii", "replace")
        head = text.split("\n\n", 1)[0] + "\n"
        blocks += [head, head[: len(head) // 2], head.rstrip("\n"), head + "\nbody after the block\n"]
    return blocks


def test_a_quoted_header_block_reads_as_the_stdlib_reads_it() -> None:
    """`parse_header_block` reads ASCII blocks with our container reader: the same headers as the feedparser."""
    from processor.parse.mail import _header_block_by_stdlib, parse_header_block

    blocks = _header_blocks()
    assert len(blocks) > 400
    read = [b for b in blocks if b.isascii() and read_message(b.split("\n\n")[0].encode() + b"\n") is not None]
    assert len(read) > len(blocks) * 3 // 4  # the reader, not the fallback, reads most of them
    for block in blocks:
        assert dict(parse_header_block(block).items()) == dict(_header_block_by_stdlib(block).items()), block


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(
    st.sampled_from(["Subject: a b", "Message-ID: <x@y>", "From: a@b", " folded on", "\tand on", "To:", "",
                     "Not a header", "X-Weird : v", ":no name", "From nobody Mon", "Content-Type: multipart/mixed; "
                     "boundary=b", "--b", "Subject: =?utf-8?b?6KaL56mN?="]),
    st.text(alphabet="abcXYZ:- \t<>@=?", max_size=12)), max_size=10))
def test_any_ascii_header_block_reads_as_the_stdlib_reads_it(lines: list[str]) -> None:
    from processor.parse.mail import _header_block_by_stdlib, parse_header_block

    text = "\n".join(lines)
    assert dict(parse_header_block(text).items()) == dict(_header_block_by_stdlib(text).items()), text


_HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _header_end_by_pattern(raw: bytes) -> int:
    found = _HEADER_END.search(raw)
    return found.end() if found else -1


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary().map(lambda b: bytes(b"\r\n a:"[x % 5] for x in b)))
def test_the_header_end_is_where_the_first_empty_line_ends(raw: bytes) -> None:
    from processor.parse.mail import header_end

    assert header_end(raw) == _header_end_by_pattern(raw)


def test_the_header_end_of_every_sample_mail_and_its_line_end_variants() -> None:
    from processor.parse.mail import header_end

    for path in sorted((ROOT / "tests" / "data").rglob("*.eml")):
        raw = path.read_bytes()
        for variant in (raw, raw.replace(b"\n", b"\r\n"), raw.replace(b"\n", b"\r"), raw[:200], b"a: b\r\n" + raw):
            assert header_end(variant) == _header_end_by_pattern(variant), path
