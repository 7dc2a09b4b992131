"""Codes found in free text (`processor.detect.mailbounce.codes`): Sisimai's choices, and patterns written for
speed that must find exactly what their plain forms find."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.detect.mailbounce import codes
from processor.detect.mailbounce.codes import find_reply, find_status

ROOT = Path(__file__).resolve().parents[2]

#: The patterns as first written (a look-behind or `\b` first), which the shipped ones must match exactly.
PLAIN_STATUS = re.compile(r"(?<![\d.vV])([245])\.([0-7])\.(\d{1,3})(?!\d)")
PLAIN_IPV4 = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
PLAIN_REPLY = re.compile(r"(?:(?<=ERROR_CODE :)|(?<![\d.\-:/]))([245][0-5][0-9])(?=[ \-,]|$|\])", re.MULTILINE)


@pytest.mark.parametrize(("text", "klass", "status"), [
    ("550 5.1.1 <a@example.jp>: user unknown", "", "5.1.1"),
    ("host mx.example.jp[10.2.5.1] said: 550 5.7.1 denied", "", "5.7.1"),  # not 2.5.1 of the address
    ("connect to 192.0.2.5.1.1 failed", "", ""),  # inside an address-like run: no status
    ("connection to 5.1.1.10 refused; 4.4.1 no answer", "", "4.4.1"),  # an address that begins like a status
    ("timed out connecting to 2.5.1.10", "", ""),  # an address alone: no status at all
    ("Postfix v2.1.1 says 4.4.1 no answer", "", "4.4.1"),  # a version is no status
    ("250 2.1.5 Ok; 451 4.3.0 Error: queue file write error", "", "4.3.0"),  # the accepted step is not it
    ("5.0.0 and then 5.1.1 user unknown", "", "5.1.1"),  # X.0.0 is weaker than a specific status
    ("4.4.7 then 5.0.0", "", "5.0.0"),
    ("4.2.2 mailbox full; 5.1.1 unknown", "5", "5.1.1"),  # of the class asked for
    ("5.1.10 is three digits", "", "5.1.10"),
    ("5.1.1234", "", ""),
    ("", "", ""),
])
def test_find_status(text: str, klass: str, status: str) -> None:
    assert find_status(text, klass) == status


@pytest.mark.parametrize(("text", "klass", "reply"), [
    ("550 5.1.1 user unknown", "", "550"),
    ("550-5.7.1 first line of several", "", "550"),
    ("250 ok, then 550 no such user", "", "550"),  # success codes are skipped
    ("ERROR_CODE :421, try later", "", "421"),  # Zoho
    ("at 12:550 nothing", "", ""),  # a time or a port
    ("2550 x", "", ""),
    ("code [421]", "", "421"),  # in brackets, as some MTAs quote it
    ("code 421]", "", "421"),
    ("said 554", "", "554"),  # at the end of the text
    ("first\n452 4.2.2 full", "", "452"),  # at the end of a line
    ("450 later and 550 never", "5", "550"),
    ("250 2.1.5 ok", "2", "250"),
])
def test_find_reply(text: str, klass: str, reply: str) -> None:
    assert find_reply(text, klass) == reply


def _texts() -> list[str]:
    """Every line of the sample mails and of every fifth corpus mail, as written and in upper case."""
    paths = sorted((ROOT / "tests" / "data").rglob("*.eml"))
    paths += sorted((ROOT.parent / "shared" / "corpus" / "set-of-emails" / "bsd").glob("*.eml"))[::5]
    lines = {line for path in paths for line in path.read_bytes().decode("utf-8", "replace").splitlines()}
    return sorted(lines | {line.upper() for line in lines})


def _same_matches(text: str) -> None:
    assert [m.groups() for m in codes._STATUS_RE.finditer(text)] == [m.groups() for m in PLAIN_STATUS.finditer(text)]
    assert codes._IPV4_RE.sub(" ", text) == PLAIN_IPV4.sub(" ", text)
    assert [(m.group(0), m.span()) for m in codes._REPLY_RE.finditer(text)] == [
        (m.group(1), m.span(1)) for m in PLAIN_REPLY.finditer(text)]


def test_the_patterns_find_what_their_plain_forms_find() -> None:
    texts = _texts()
    assert len(texts) > 5000
    for text in texts:
        _same_matches(text)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet="0123456789245.:-/ vV]\n,ERROR_CODEx", max_size=40))
def test_the_patterns_find_what_their_plain_forms_find_anywhere(text: str) -> None:
    _same_matches(text)
    _same_matches("ERROR_CODE :" + text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet="0123456789245.: -vx", max_size=30))
def test_a_status_is_found_with_or_without_blanking_addresses_first(text: str) -> None:
    """`find_status` returns early when the text holds no status at all: blanking IPv4 addresses only takes
    statuses away, never makes one."""
    if not PLAIN_STATUS.search(text):
        assert not PLAIN_STATUS.search(PLAIN_IPV4.sub(" ", text))
    if not codes._STATUS_RE.search(text):  # the shipped patterns, and `find_status`'s early answer
        assert not codes._STATUS_RE.search(codes._IPV4_RE.sub(" ", text))
        assert find_status(text) == ""
    else:  # where a status is there, blanking may still take it away: then the answer is none too
        blanked = codes._IPV4_RE.sub(" ", text)
        assert (find_status(text) == "") is (len(text) < 5 or not codes._STATUS_RE.search(blanked))


PLAIN_CODE = re.compile(r"(?<![\d.])(?:[245]\d\d|[245]\.\d{1,3}\.\d{1,3})(?![\d.])")


def test_the_bounce_text_code_pattern_finds_what_its_plain_form_finds() -> None:
    from processor.detect.mailbounce import bounce_text

    for text in [*_texts(), "x550 5.1.1", ".550", "1550", "550.", "5.1.1", "a 4.4.7."]:
        assert [m.span() for m in bounce_text._CODE_RE.finditer(text)] == [
            m.span() for m in PLAIN_CODE.finditer(text)], text


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet="0123456789245. x", max_size=30))
def test_the_bounce_text_code_pattern_anywhere(text: str) -> None:
    from processor.detect.mailbounce import bounce_text

    assert [m.span() for m in bounce_text._CODE_RE.finditer(text)] == [m.span() for m in PLAIN_CODE.finditer(text)]
