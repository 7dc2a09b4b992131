"""Fax numbers to E.164: every way people write one number gives the same string."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.parse.faxnumber import find_fax_number, normalize_fax_number


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("03-5555-0101", "JP", "+81355550101"),
        ("0355550101", "JP", "+81355550101"),
        ("0081355550101", "JP", "+81355550101"),
        ("0081-3-55550101", "JP", "+81355550101"),
        ("+81 3 5555 0101", "JP", "+81355550101"),
        ("０３－５５５５－０１０１", "JP", "+81355550101"),
        ("(03) 5555-0101", "JP", "+81355550101"),
        ("0355550101@fax.tc", "JP", "+81355550101"),
        ("0012139999999", "JP", "+12139999999"),
        ("00-1-213-999-9999", "JP", "+12139999999"),
        ("5035550123", "US", "+15035550123"),
        ("5550000", "US", None),  # local-only: no area code
        ("", "JP", None),
        (None, "JP", None),
        ("fax", "JP", None),
        ("12", "JP", None),
    ],
)
def test_normalize(raw: str | None, country: str, expected: str | None) -> None:
    assert normalize_fax_number(raw, country) == expected


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("03-5555-0101", "03-5555-0101"),
        ("①本社 03-5555-0101", "03-5555-0101"),  # circled digit and branch name before the number
        ("０３－５５５５－０１０１", "０３－５５５５－０１０１"),  # as written; E.164 comes from normalize_fax_number
        ("株式会社サンプル 御中（03-5555-0101）", "03-5555-0101"),
        ("FAX03-5555-0101", "03-5555-0101"),
        ("03(5555)0101", "03(5555)0101"),
        ("0355550101@fax.tc", "0355550101"),  # a submission address: its local part is the number
        ("+81 (0)3-5555-0101", "+81 (0)3-5555-0101"),
        ("010-1-213-555-0108", "010-1-213-555-0108"),  # Japan's international prefix
        ("03 5555 0101 2枚", "03 5555 0101"),
        ("TEL 03-5555-0199 FAX 03-5555-0101", "03-5555-0199"),  # the first number: labels decide, not words
        ("■送信先 1", None),  # a block heading
        ("No. 2", None),  # a row counter
        ("yamada@example.co.jp", None),
        ("taro.0355550101@example.co.jp", None),  # digits inside an address's local part
        ("2026/11/20 10:15", None),
        ("2026-11-20 10:15:00", None),
        ("612345678", None),  # a transaction id: a Japanese number starts with its trunk 0
        ("12139999999", "12139999999"),  # a country code written without `+`
        ("2026112010", None),  # ten digits that no numbering plan accepts with a `+` either
        ("ABC-0355550101", None),
        ("", None),
        (None, None),
    ],
)
def test_find_fax_number(value: str | None, found: str | None) -> None:
    assert find_fax_number(value) == found


def test_find_fax_number_of_a_product_that_writes_no_trunk_prefix() -> None:
    assert find_fax_number("Fax number: 503-555-0123") is None
    assert find_fax_number("Fax number: 503-555-0123", trunk_optional=True) == "503-555-0123"
    assert find_fax_number("19005550100", trunk_optional=True) == "19005550100"  # country code without +


@pytest.mark.parametrize(("raw", "expected"), [("+81 (0)3-5555-0101", "+81355550101"),
                                               ("010-1-213-555-0108", "+12135550108"),
                                               ("03(5555)0101", "+81355550101")])
def test_normalize_more_forms(raw: str, expected: str) -> None:
    assert normalize_fax_number(raw, "JP") == expected


def _every_span(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The candidate spans before they were bounded: every span of the run's pieces (the oracle)."""
    import re

    from processor.parse.faxnumber import _unwrap

    pieces = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^ ]+", text[start:end])]
    spans = [(pieces[i][0], pieces[j - 1][1]) for i in range(len(pieces)) for j in range(len(pieces), i, -1)]
    return [_unwrap(text, s, e) for s, e in spans if text[s:e].strip("() ")]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789  --()+.ー（）０３x", max_size=60), st.booleans())
def test_bounded_candidates_find_what_every_span_finds(value: str, trunk_optional: bool) -> None:
    """Skipping the spans of more than 18 digits (or 37 pieces) skips no number: the same one is found."""
    import processor.parse.faxnumber as faxnumber

    found = find_fax_number(value, trunk_optional=trunk_optional)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(faxnumber, "_candidates", _every_span)
        assert find_fax_number(value, trunk_optional=trunk_optional) == found


def test_a_value_of_many_pieces_is_read_in_linear_time() -> None:
    """`0 0 0 …` made every span of its pieces a candidate: 112 million for 30 KB, more memory than a worker has."""
    import time

    started = time.monotonic()
    assert find_fax_number("0 " * 15_000) is None
    assert find_fax_number("03 5555 0101 " + "0 " * 15_000) == "03 5555 0101"
    assert time.monotonic() - started < 3.0
