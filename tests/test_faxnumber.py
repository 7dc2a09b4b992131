"""Fax numbers to E.164: every way people write one number gives the same string."""

from __future__ import annotations

import pytest

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
