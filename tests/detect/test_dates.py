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
    direct = dates._common_form(text)
    assert direct is None or direct == dates._any_form(text), text


@pytest.mark.parametrize("text", ["2024/05/01 10:23:45", "2024-05-01 10:23", "2024.05.01", "2024-05-01T10:23:45",
                                  "05-01-2024 10:23:45 AM", "05/01/2024 9:05 pm"])
def test_the_common_forms_are_read_directly(text: str) -> None:
    assert dates._common_form(text) is not None
    assert dates._common_form(text) == dates._any_form(text)


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


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_YMD_SHAPED, _MDY_SHAPED))
def test_the_direct_reading_agrees_on_shaped_dates(text: str) -> None:
    direct = dates._common_form(text)
    assert direct is None or direct == dates._any_form(text), text
