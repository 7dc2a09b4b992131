"""Dates as templates write them, and the direct reading of the common forms against the general one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.detect import dates
from processor.detect.dates import JST, parse_datetime

PLUS9 = timezone(timedelta(hours=9))


@pytest.mark.parametrize(("value", "expected"), [
    ("2024/05/01 10:23:45", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),  # no zone: the default (Japan time)
    ("2024-05-01 10:23", datetime(2024, 5, 1, 10, 23, tzinfo=JST)),
    ("2024-05-01T10:23:45", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),
    ("2024.05.01", datetime(2024, 5, 1, tzinfo=JST)),
    ("２０２４／０５／０１　１０：２３：４５", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),  # full width
    ("2024年5月1日 10時23分", datetime(2024, 5, 1, 10, 23, tzinfo=JST)),
    ("2024年5月1日(水) 10時23分45秒", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),
    ("2024/05/01 10:23:45 UTC", datetime(2024, 5, 1, 10, 23, 45, tzinfo=UTC)),
    ("2024/05/01 10:23:45 +0900", datetime(2024, 5, 1, 10, 23, 45, tzinfo=PLUS9)),
    ("Wed, 01 May 2024 10:23:45 +0900", datetime(2024, 5, 1, 10, 23, 45, tzinfo=PLUS9)),
    ("05-01-2024 10:23:45 AM", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),
    ("05/01/2024 10:23:45 PM", datetime(2024, 5, 1, 22, 23, 45, tzinfo=JST)),
    ("05-01-2024 12:05:00 AM", datetime(2024, 5, 1, 0, 5, tzinfo=JST)),  # 12 AM is midnight
    ("05-01-2024 12:05 PM", datetime(2024, 5, 1, 12, 5, tzinfo=JST)),  # 12 PM is noon
    ("05-01-2024 10:23:45", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),
    ("2024-02-30 10:00:00", None),  # no such day
    ("2024-05-01 24:00:00", None),
    ("05-01-2024 13:00:00 PM", None),  # a 12-hour clock has no 13
    ("05-01-2024 00:10:00 AM", None),
    ("2024/05/01 10:23:45 +2500", None),  # no zone is a day away: no date (this raised before)
    ("2024-05-01T10:23:45-2400", None),
    ("2024年5月1日 9時05分", datetime(2024, 5, 1, 9, 5, tzinfo=JST)),
    ("2024年12月31日 23時59分59秒", datetime(2024, 12, 31, 23, 59, 59, tzinfo=JST)),
    ("2024-05-01 10:23:45 JST", datetime(2024, 5, 1, 10, 23, 45, tzinfo=JST)),
    ("2024-05-01T10:23:45+09:00", datetime(2024, 5, 1, 10, 23, 45, tzinfo=PLUS9)),
    ("2024-05-01 10:23:45-05:30", datetime(2024, 5, 1, 10, 23, 45, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ("2024-05-01 10:23:45 GMT", datetime(2024, 5, 1, 10, 23, 45, tzinfo=UTC)),
    ("05-01-2024 24:00:00", None),
    # Zones in brackets or after GMT/UTC, ISO 8601's Z, 12-hour Japanese and English with month names:
    ("2026-11-20 01:15:00 (UTC)", datetime(2026, 11, 20, 1, 15, tzinfo=UTC)),  # not the weekday's brackets
    ("11/20/2026 01:18:30 AM (GMT)", datetime(2026, 11, 20, 1, 18, 30, tzinfo=UTC)),
    ("2026年11月20日(金) 10:15:00", datetime(2026, 11, 20, 10, 15, tzinfo=JST)),
    ("2026/11/20 10:15 GMT+9", datetime(2026, 11, 20, 10, 15, tzinfo=PLUS9)),
    ("2026/11/20 10:18:30 UTC+09:00", datetime(2026, 11, 20, 10, 18, 30, tzinfo=PLUS9)),
    ("2026-11-20T01:15:00Z", datetime(2026, 11, 20, 1, 15, tzinfo=UTC)),
    ("Nov 20, 2026 2:05 PM", datetime(2026, 11, 20, 14, 5, tzinfo=JST)),  # RFC 5322 took PM for a zone
    ("20 Nov 2026 2:05 PM", datetime(2026, 11, 20, 14, 5, tzinfo=JST)),
    ("20-Nov-2026 10:15", datetime(2026, 11, 20, 10, 15, tzinfo=JST)),
    ("2026/11/20 午前10:15", datetime(2026, 11, 20, 10, 15, tzinfo=JST)),
    ("2026/11/20 午後2:05", datetime(2026, 11, 20, 14, 5, tzinfo=JST)),
    ("2026年11月20日 午前11時58分", datetime(2026, 11, 20, 11, 58, tzinfo=JST)),
    ("2026年11月21日 午後0時03分", datetime(2026, 11, 21, 12, 3, tzinfo=JST)),  # 午後0時 is noon
    ("2026年11月21日 午前0時03分", datetime(2026, 11, 21, 0, 3, tzinfo=JST)),
    ("2026/11/20 午後13:05", None),
    ("soon", None),
    ("", None),
])
def test_template_dates(value: str, expected: datetime | None) -> None:
    assert parse_datetime(value, JST) == expected
    if expected is not None:
        assert parse_datetime(value, JST).utcoffset() == expected.utcoffset()


_PIECES = st.sampled_from(["2024", "1999", "05", "5", "01", "12", "13", "00", "24", "29", "30", "31", "59", "60",
                           "-", "/", ".", ":", " ", "T", "AM", "PM", "am", "pm", "年", "月", "日", "UTC", "+0900",
                           "1", "123"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=14).map("".join))
def test_the_direct_reading_agrees_with_the_general_one(text: str) -> None:
    """`_common_form` may decline anything, but what it reads must be what strptime's format list reads."""
    _assert_agrees(text)


def _assert_agrees(text: str) -> None:
    """What `_common_form` reads (it may decline) is what the general reading makes, zone and offset included."""
    direct = dates._common_form(text)
    if direct is not None:
        general = dates._any_form(text)
        assert general is not None, text
        assert (direct, direct.isoformat()) == (general, general.isoformat()), text


@pytest.mark.parametrize("text", ["2024/05/01 10:23:45", "2024-05-01 10:23", "2024.05.01", "2024-05-01T10:23:45",
                                  "05-01-2024 10:23:45 AM", "05/01/2024 9:05 pm", "05-01-2024 10:23:45",
                                  "05.01.2024 10:23", "2024年5月1日 10時23分", "2024年5月1日10時23分45秒",
                                  "2024/05/01 10:23:45 UTC", "2024-05-01 10:23:45 JST", "2024-05-01T10:23:45+09:00",
                                  "2024/05/01 10:23:45 +0900", "2024-05-01 10:23-0130"])
def test_the_common_forms_are_read_directly(text: str) -> None:
    assert dates._common_form(text) is not None
    _assert_agrees(text)


_TWO = st.one_of(st.integers(0, 13), st.integers(0, 99)).map("{:02d}".format)  # valid fields often
_SEP = st.sampled_from(["-", "/", ".", ":", " "])
_TIME = st.builds(lambda s, h, mi, se: f"{s}{h}:{mi}{se}", st.sampled_from([" ", "T", "  "]), _TWO, _TWO,
                  st.one_of(st.just(""), _TWO.map(":{}".format)))
_YMD_SHAPED = st.builds(lambda y, a, m, b, d, t: f"{y}{a}{m}{b}{d}{t}", st.integers(1, 9999).map("{:04d}".format),
                        _SEP, _TWO, _SEP, _TWO, st.one_of(st.just(""), _TIME))
_MDY_SHAPED = st.builds(
    lambda m, a, d, b, y, h, mi, se, p: f"{m}{a}{d}{b}{y} {h}:{mi}{se} {p}", _TWO, _SEP, _TWO, _SEP,
    st.integers(1, 9999).map("{:04d}".format), st.one_of(_TWO, st.integers(0, 9).map(str)), _TWO,
    st.one_of(st.just(""), _TWO.map(":{}".format)), st.sampled_from(["AM", "PM", "am", "pm", "Am", "XM"]))


_ZONED = st.builds(lambda date, zone: date + zone, _YMD_SHAPED, st.sampled_from(
    ["", " UTC", " JST", " GMT", " Z", "Z", "UTC", " +0900", "+0900", "-05:30", " +09:00", "+2500", " -2400", " +9",
     " +0960", "  +0900"]))
_MDY_24H = st.builds(lambda m, a, d, b, y, t: f"{m}{a}{d}{b}{y}{t}", _TWO, _SEP, _TWO, _SEP,
                     st.integers(1, 9999).map("{:04d}".format), _TIME)
_KANJI_SHAPED = st.builds(
    lambda y, m, d, gap, h, mi, se: f"{y}年{m}月{d}日{gap}{h}時{mi}分{se}", st.integers(1, 9999).map(str),
    st.integers(0, 13).map(str), st.integers(0, 32).map(str), st.sampled_from(["", " ", "  ", "(水) "]),
    st.integers(0, 25).map(str), st.one_of(_TWO, st.integers(0, 9).map(str)),
    st.one_of(st.just(""), _TWO.map("{}秒".format)))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_ZONED, _MDY_SHAPED, _MDY_24H, _KANJI_SHAPED))
def test_the_direct_reading_agrees_on_shaped_dates(text: str) -> None:
    _assert_agrees(text)


@pytest.mark.parametrize("value", ["(" * 60_000, "(1 " * 20_000, "2024/05/01 10:20:11 " + "(" * 60_000])
def test_a_value_too_long_to_be_a_date_is_none_at_once(value: str) -> None:
    """Longer than `MAX_DATE_CHARS` is no date, and is not read: `\\([^)]*\\)` over 60 KB of `(` took 1 s."""
    import time

    from processor.detect.dates import MAX_DATE_CHARS

    started = time.monotonic()
    assert len(value.strip()) > MAX_DATE_CHARS
    assert parse_datetime(value, JST) is None
    assert time.monotonic() - started < 0.5
    assert parse_datetime("  2024/05/01 10:20:11  ", JST) == datetime(2024, 5, 1, 10, 20, 11, tzinfo=JST)
