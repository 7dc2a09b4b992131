"""Dates as fax notification templates write them: RFC 5322, `2024/05/01 10:23:45 JST`,
`2024年5月1日 10時23分`, `2024/05/01 午後2:05`, `05-01-2024 10:23:45 AM`, `Nov 20, 2026 2:05 PM`, with a zone or
none (`GMT+9`, `(UTC)`, `Z`). InterFAX writes Japan time without a zone (`JST`)."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from processor import regex_cache
from processor.parse.charset import fold_text

__all__ = ["JST", "parse_datetime"]

JST = timezone(timedelta(hours=9), "JST")
_ZONES: Mapping[str, tzinfo] = {"JST": JST, "UTC": UTC, "GMT": UTC, "Z": UTC}
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
    "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %H:%M",
)


MAX_DATE_CHARS = 256
"""Longer is no date: the longest the readers met in the corpus and the test data is 31 characters. Bounded for
hostile values, which some of `_parse_local`'s patterns read in quadratic time (60 KB of `(`: 1 s)."""


def parse_datetime(value: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """The instant a template wrote, `default_tz` when it names no zone; None when it is no date."""
    if not value:
        return None
    text = fold_text(value).strip()  # `２０２４年５月１日` as written by a full-width template
    if len(text) > MAX_DATE_CHARS:
        return None
    parsed = _common_form(text)
    if parsed is None:
        parsed = _any_form(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None and default_tz is not None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


# The zone a template may write after the time (`_parse_local` reads the same): an offset or a name.
_ZONE = r"(?:(?: ?([+-])(\d\d):?(\d\d))| (JST|UTC|GMT))?"
_YMD = regex_cache.compile(r"(\d{4})[-/.](\d\d)[-/.](\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?" + _ZONE, re.ASCII)
_MDY = regex_cache.compile(r"(\d\d)[-/.](\d\d)[-/.](\d{4}) (\d\d):(\d\d)(?::(\d\d))?", re.ASCII)
_MDY_12H = regex_cache.compile(r"(\d\d)[-/.](\d\d)[-/.](\d{4}) (\d\d?):(\d\d)(?::(\d\d))? ([AaPp][Mm])", re.ASCII)
_KANJI = regex_cache.compile(r"(\d{4})年(\d\d?)月(\d\d?)日 ?(\d\d?)時(\d\d?)分(?:(\d\d?)秒)?", re.ASCII)


def _common_form(text: str) -> datetime | None:
    """The forms InterFAX's templates and result files write (`2024/05/01 10:23:45`, `05-01-2024 10:23:45 AM`,
    `2024年5月1日 10時23分`, with or without a zone) read directly: `_any_form` tries an RFC 5322 reading and then
    strptime with one format after another, and every failed strptime raises (15 to 72 us for these forms). None
    when unsure: `_any_form` then reads it."""
    try:
        if match := _YMD.fullmatch(text):
            year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
            return datetime(year, month, day, hour, minute, second, tzinfo=_zone(*match.groups()[6:]))
        if match := _MDY.fullmatch(text):
            month, day, year, hour, minute, second = (int(g or 0) for g in match.groups())
            return datetime(year, month, day, hour, minute, second)
        if match := _MDY_12H.fullmatch(text):
            month, day, year, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
            if not 1 <= hour <= 12:
                return None  # strptime's %I refuses it; let it say so
            hour = hour % 12 + (12 if match.group(7).lower() == "pm" else 0)
            return datetime(year, month, day, hour, minute, second)
        if match := _KANJI.fullmatch(text):
            year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
            return datetime(year, month, day, hour, minute, second)
    except ValueError:  # 2024-02-30, 25:00, +2500: let `_any_form` decide
        return None
    return None


def _zone(sign: str | None, hours: str | None, minutes: str | None, name: str | None) -> tzinfo | None:
    """The zone `_parse_local` makes of the same suffix (None: none written)."""
    if name:
        return _ZONES[name]
    if sign and hours and minutes:
        return timezone((-1 if sign == "-" else 1) * timedelta(hours=int(hours), minutes=int(minutes)))
    return None


def _any_form(text: str) -> datetime | None:
    if not _MERIDIEM.search(text):  # RFC 5322 reads `2:05 PM` as 2:05 in an unknown zone `PM`
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed
    return _parse_local(text)


#: 12-hour time: Japanese `午前`/`午後` before it, `AM`/`PM` (`a.m.`) after it.
_MERIDIEM = regex_cache.compile(r"午前|午後|(?<![A-Za-z])[AaPp]\.?[Mm]\.?(?![A-Za-z])")
#: A zone in brackets (`(JST)`, `(UTC)`, `(GMT+9)`) is kept; other brackets are a weekday (`(金)`, `(Fri)`).
_BRACKETED = regex_cache.compile(r"\(([^()]*)\)")
_ZONE_IN_BRACKETS = regex_cache.compile(r"\s*(?:JST|UTC|GMT)(?:\s*[+-]\d{1,2}(?::?\d\d)?)?\s*|\s*[+-]\d\d:?\d\d\s*")
#: The zone after the time: `GMT+9`, `UTC+09:00`, `+0900`, `JST`, `UTC`, and ISO 8601's `Z` right after the time.
_TRAILING_ZONE = regex_cache.compile(
    r"\s*(?:(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d\d))?|([+-])(\d\d):?(\d\d)|\b(JST|UTC|GMT)|(?<=\d)(Z))\s*$")
#: With the month's name (`Nov 20, 2026 2:05`, `20-Nov-2026 10:15`), after the separators became `-`.
_NAMED_MONTH_FORMATS = tuple(f"{day} {time}" for day in ("%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d %b %Y", "%d %B %Y")
                             for time in ("%H:%M:%S", "%H:%M"))


def _parse_local(text: str) -> datetime | None:
    """The forms `_common_form` does not read: era-less Japanese with `午前`/`午後`, a weekday or zone in brackets,
    `GMT+9`, ISO 8601's `Z`, English month names, 12-hour times. A time read as 12-hour is made 24-hour after."""
    text = _BRACKETED.sub(lambda m: f" {m.group(1)} " if _ZONE_IN_BRACKETS.fullmatch(m.group(1)) else " ", text)
    meridiem = None
    if match := _MERIDIEM.search(text):
        meridiem = match.group(0)
        text = text[: match.start()] + " " + text[match.end():]
    zone: tzinfo | None = None
    if zone_match := _TRAILING_ZONE.search(text):
        gmt_sign, gmt_hours, gmt_minutes, sign, hours, minutes, name, z = zone_match.groups()
        try:
            if name or z:
                zone = _ZONES[name or z]
            elif gmt_sign:
                zone = _offset(gmt_sign, gmt_hours, gmt_minutes or "0")
            else:
                zone = _offset(sign, hours, minutes)
        except ValueError:  # +2500: no zone is a day or more away, so this is no date
            return None
        text = text[: zone_match.start()]
    text = re.sub(r"[年月/.]", "-", text)
    text = re.sub(r"日\s*", " ", text)
    text = re.sub(r"[時分]", ":", text).replace("秒", "")
    text = re.sub(r"\s+", " ", text).strip().rstrip(":")
    for fmt in (*_DATE_FORMATS, *_NAMED_MONTH_FORMATS):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if meridiem is not None:
            twenty_four = _twenty_four_hour(parsed, meridiem)
            return None if twenty_four is None else twenty_four.replace(tzinfo=zone) if zone else twenty_four
        return parsed.replace(tzinfo=zone) if zone else parsed
    return None


def _twenty_four_hour(parsed: datetime, meridiem: str) -> datetime | None:
    """`2:05 PM` is 14:05 and `12:05 AM` 00:05 (an English clock runs 1 to 12: `13:00 PM` is no time); `午後0時`
    is noon and `午前0時` midnight (a Japanese one runs 0 to 11, or to 12)."""
    japanese = meridiem in ("午前", "午後")
    if not (0 if japanese else 1) <= parsed.hour <= 12:
        return None
    afternoon = meridiem == "午後" or meridiem[:1] in "Pp"
    return parsed.replace(hour=parsed.hour % 12 + (12 if afternoon else 0))


def _offset(sign: str, hours: str, minutes: str) -> tzinfo:
    return timezone((-1 if sign == "-" else 1) * timedelta(hours=int(hours), minutes=int(minutes)))
