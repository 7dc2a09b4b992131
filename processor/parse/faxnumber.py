"""Fax numbers: E.164 (the form every table and view stores, `+81355550101`), and the number inside a value.

`03-5555-0101`, `0355550101`, `0081355550101`, `0081-3-55550101`, `+81 3 5555 0101`, `+81 (0)3-5555-0101`,
`010-81-3-5555-0101` (Japan's international prefix) and the same in full-width digits are one number: `00` +
country code is international, a domestic `0…` number takes the configured default country. phonenumbers
does the country-specific work (trunk prefixes, lengths, which ranges exist).

`find_fax_number` is for values read under a number-like label, which are not always numbers: a block
heading (`■送信先 1`), a row counter (`No.`), a mail address, a date, a transaction id, or a cell that holds a
branch name before the number (`①本社 03-5555-0101`). Only a token that phonenumbers accepts as a number of
the region is taken, and it is returned as the mail wrote it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from types import ModuleType

from processor import regex_cache

__all__ = ["DEFAULT_COUNTRY", "find_fax_number", "normalize_fax_number"]

DEFAULT_COUNTRY = "JP"
_SEPARATORS = regex_cache.compile(r"[\s\-().\u30fc/]")
# Full-width digits, plus, hyphens and parentheses, and the dash look-alikes Japanese mailers write, to ASCII.
# Only these: circled digits (①) and other compatibility forms must not become digits (`①03-…` is not `103-…`).
_NUMBER_FOLD = str.maketrans(
    {**{chr(0xFF10 + d): str(d) for d in range(10)}, "\uff0b": "+", "\uff08": "(", "\uff09": ")", "\u3000": " ",
     **dict.fromkeys("\uff0d\u2212\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u30fc\uff70\u301c", "-")}
)
# A run that may be a phone number: an optional `+`, digits, and the separators people put between them;
# not inside a word, a mail address's domain or a longer code (`ABC-0355550101`, `no.0355`); `FAX03-…` is one.
_TOKEN_RE = regex_cache.compile(r"(?:(?<=FAX)|(?<=Fax)|(?<=fax)|(?<![A-Za-z0-9_+@.\-]))\+?\(?\d[\d\-() ]*\d\)?"
                                r"(?![A-Za-z0-9_]|\.\w|-\d)")
# What is never a fax number even when phonenumbers would read one: dates and times.
_DATE_RE = regex_cache.compile(r"\d{4}-\d{1,2}-\d{1,2}\b.*|\d{1,2}-\d{1,2}-\d{4}|.*\d:\d{2}.*")
_TRUNK_ZERO_RE = regex_cache.compile(r"^(\+\d{1,3})\s*\(0\)")


@cache
def _phonenumbers() -> ModuleType:
    """phonenumbers, imported when a number is first checked: a mail without one (and `faxbounce explain`)
    does not pay for loading its metadata."""
    import phonenumbers

    return phonenumbers


@lru_cache(maxsize=4096)
def normalize_fax_number(raw: str | None, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """E.164 for a fax number as people write it, or None when it is not a plausible number."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).translate(_NUMBER_FOLD).strip()
    text = text.split("@", 1)[0]  # 0355550101@fax.tc
    text = _TRUNK_ZERO_RE.sub(r"\1", text)  # +81 (0)3-…: the trunk zero written for domestic callers
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not re.fullmatch(r"\+?\d{5,17}", digits):
        return None
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(digits, None if digits.startswith("+") else default_country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) and _is_country_code_without_plus(digits):
        return "+" + digits
    # IS_POSSIBLE_LOCAL_ONLY (a number without its area code, as "5550000" in the US) is not a fax destination.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_fax_number(value: str | None, country: str = DEFAULT_COUNTRY, trunk_optional: bool = False) -> str | None:
    """The first token of `value` that is a valid phone number of `country` (or an international one), as
    written; None when there is none. A domestic number of a country whose trunk prefix is `0` must start
    with it (a transaction id `612345678` is no number), unless `trunk_optional` (templates of US products
    write `5035550123`). A number that is a whole address's local part (`0355550101@fax.tc`) counts."""
    if not value:
        return None
    folded = value.translate(_NUMBER_FOLD)  # same length as `value`: positions carry over
    for match in _TOKEN_RE.finditer(folded):
        for start, end in _candidates(folded, match.start(), match.end()):
            if _is_fax_number(folded[start:end], country, trunk_optional):
                return value[start:end]
    return None


#: Digits a number can have as written: `_is_fax_number` takes 17 at most once a `(0)` trunk digit is dropped.
_MAX_DIGITS = 18
#: Space-separated pieces a number can have as written: its digits, each group apart, a separator between two
#: (`0 3 - 5 5 5 5`).
_MAX_PIECES = 2 * _MAX_DIGITS + 1
_PIECE_RE = regex_cache.compile(r"[^ ]+")


def _candidates(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The whole run first, then its space-separated pieces and neighbours (`03 5555 0101 2枚`), each span from
    its first piece longest first. Only spans that can be a number: of every span of the run a line of `0 0 0 …`
    held (30 KB: 112 million spans, many GB), those of more than `_MAX_DIGITS` digits could never pass
    `_is_fax_number`, and no one writes a number in more than `_MAX_PIECES` pieces."""
    pieces = [(m.start(), m.end()) for m in _PIECE_RE.finditer(text, start, end)]
    digits = [sum(char.isdigit() for char in text[s:e]) for s, e in pieces]
    for i in range(len(pieces)):
        last, held = i, 0  # the pieces i..last-1 hold `held` digits
        while last < len(pieces) and last - i < _MAX_PIECES and held + digits[last] <= _MAX_DIGITS:
            held += digits[last]
            last += 1
        for j in range(last, i, -1):
            s, e = pieces[i][0], pieces[j - 1][1]
            if text[s:e].strip("() "):
                yield _unwrap(text, s, e)


def _unwrap(text: str, start: int, end: int) -> tuple[int, int]:
    """Without parentheses that are not the number's own: `(03-5555-0101)`, `03-5555-0101)`; `(03) 5555` stays."""
    while start < end:
        inner = text[start:end]
        if inner[0] == "(" and inner[-1] == ")" and "(" not in inner[1:-1]:
            start, end = start + 1, end - 1
        elif inner[0] == "(" and inner.count("(") > inner.count(")"):
            start += 1
        elif inner[-1] == ")" and inner.count(")") > inner.count("("):
            end -= 1
        else:
            break
    return start, end


def _is_country_code_without_plus(digits: str) -> bool:
    """`12139999999`, `81355550101`: an international number whose `+` was left out (English templates, foreign
    products). Only for ten digits or more that do not start with a trunk or international `0`, and only when
    the country's numbering plan accepts the rest, so ids (`612345678`) and dates stay out."""
    if digits.startswith(("+", "0")) or len(digits) < 10:
        return False
    phonenumbers = _phonenumbers()
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


@lru_cache(maxsize=4096)
def _is_fax_number(token: str, country: str, trunk_optional: bool) -> bool:
    if _DATE_RE.fullmatch(token):
        return False
    digits = _SEPARATORS.sub("", _TRUNK_ZERO_RE.sub(r"\1", token))
    if not re.fullmatch(r"\+?\d{5,17}", digits):
        return False
    international = digits.startswith(("+", "00"))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(digits, None if digits.startswith("+") else country)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return _is_country_code_without_plus(digits)
    if international or number.country_code != phonenumbers.country_code_for_region(country):
        return True  # `+1…`, `00…`, or the region's own international prefix (`010` in Japan)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(country)
    trunk = metadata.national_prefix if metadata is not None else None
    return trunk_optional or not trunk or digits.startswith(trunk) or _is_country_code_without_plus(digits)
