"""Fax numbers to E.164, the form every table and view stores (`+81355550101`).

`03-5555-0101`, `0355550101`, `0081355550101`, `0081-3-55550101` and `+81 3 5555 0101` are one number:
`00` + country code is international, a domestic `0…` number takes the configured default country.
phonenumbers does the country-specific work (trunk prefixes, lengths).
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

__all__ = ["DEFAULT_COUNTRY", "normalize_fax_number"]

DEFAULT_COUNTRY = "JP"
_SEPARATORS = re.compile(r"[\s\-().\u30fc/]")


def normalize_fax_number(raw: str | None, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """E.164 for a fax number as people write it, or None when it is not a plausible number."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    text = text.split("@", 1)[0]  # 0355550101@fax.tc
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not re.fullmatch(r"\+?\d{5,17}", digits):
        return None
    try:
        number = phonenumbers.parse(digits, None if digits.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE_LOCAL_ONLY (a number without its area code, as "5550000" in the US) is not a fax destination.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
