"""Dates as fax notification templates write them: RFC 5322, `2024/05/01 10:23:45 JST`,
`2024年5月1日 10時23分`, `05-01-2024 10:23:45 AM`. InterFAX writes Japan time without a zone (`JST`)."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from processor.parse.charset import fold_text

__all__ = ["JST", "parse_datetime"]

JST = timezone(timedelta(hours=9), "JST")
_ZONES: Mapping[str, tzinfo] = {"JST": JST, "UTC": UTC, "GMT": UTC, "Z": UTC}
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
    "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %I:%M:%S %p", "%m-%d-%Y %H:%M", "%m-%d-%Y %I:%M %p",
)


def parse_datetime(value: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """The instant a template wrote, `default_tz` when it names no zone; None when it is no date."""
    if not value:
        return None
    text = fold_text(value).strip()  # `２０２４年５月１日` as written by a full-width template
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        parsed = _parse_local(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None and default_tz is not None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


def _parse_local(text: str) -> datetime | None:
    text = re.sub(r"[年月/.]", "-", text)
    text = re.sub(r"日\s*", " ", text)
    text = re.sub(r"[時分]", ":", text).replace("秒", "")
    text = re.sub(r"\([^)]*\)", " ", text)  # weekday (水) or (JST)
    zone: tzinfo | None = None
    zone_match = re.search(r"\s*(?:([+-])(\d{2}):?(\d{2})|\b(JST|UTC|GMT|Z))\s*$", text)
    if zone_match:
        if zone_match.group(4):
            zone = _ZONES[zone_match.group(4)]
        else:
            sign = -1 if zone_match.group(1) == "-" else 1
            zone = timezone(sign * timedelta(hours=int(zone_match.group(2)), minutes=int(zone_match.group(3))))
        text = text[: zone_match.start()]
    text = re.sub(r"\s+", " ", text).strip().rstrip(":")
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone) if zone else parsed
    return None
