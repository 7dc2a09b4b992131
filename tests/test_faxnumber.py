"""Fax numbers to E.164: every way people write one number gives the same string."""

from __future__ import annotations

import pytest

from processor.parse.faxnumber import normalize_fax_number


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
