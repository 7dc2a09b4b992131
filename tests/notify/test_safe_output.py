"""Safe and readable human output: terminal escapes, CSV formulas, untrusted results, local times (#13, #15)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from submissionfactory import result

from processor.config import Settings
from processor.notify.display import csv_cell, csv_text, local_time, national, printable
from processor.ops.report import ReportItem, collect, render
from processor.run.pipeline import process_message
from processor.store.inbound import Envelope, RawStore

ESC = "\x1b"
HOSTILE = (f"{ESC}]52;c;ZXZpbA=={ESC}\\"          # OSC 52: writes the terminal's clipboard
           f"{ESC}]8;;http://evil.example/{ESC}\\見積書{ESC}]8;;{ESC}\\"  # OSC 8: a hidden link
           f"{ESC}[2J\x9b31m\x9d0;title\x07"      # CSI clear screen, C1 CSI and C1 OSC
           "\rfake line\u202e")                    # carriage-return overwrite, bidi override


@pytest.mark.parametrize("dangerous", [ESC, "\x9b", "\x9d", "\x07", "\r", "\x00", "\x7f", "\u202e"])
def test_printable_removes_every_control_character(dangerous: str) -> None:
    assert dangerous not in printable(f"a{dangerous}b")
    assert printable("a\tb\nc") == "a\tb\nc"  # TAB and LF stay
    assert printable("a\tb\nc", keep_newlines=False) == "a b c"


CELLS = [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\ufffd=1+1"),
    ("+81355550101", "+81355550101"),  # a number alone is no formula
    ("-3", "-3"),
    ("見積書 = 3枚", "見積書 = 3枚"),
    (None, ""),
    (True, "True"),
]


@pytest.mark.parametrize(("value", "expected"), CELLS)
def test_csv_cell_follows_owasp(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


def test_csv_text_has_a_bom_and_quotes_properly() -> None:
    text = csv_text(["a", "b"], [["x,y", "=1"]])
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [["a", "b"], ["x,y", "'=1"]]


def test_local_time_and_national_numbers() -> None:
    moment = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert local_time(moment, "Asia/Tokyo") == "2026-11-30 08:30"
    assert local_time(moment, "UTC") == "2026-11-29 23:30"
    assert (national("+81355550101"), national("+81455550303"), national("+12125550100")) == (
        "03-5555-0101", "045-555-0303", "+1 212-555-0100")


def _item(**changes: object) -> ReportItem:
    values: dict[str, object] = {
        "action": "resend", "state": "failed", "reason": "busy", "code": "6017", "fax_number": "+81455550303",
        "subject": HOSTILE, "sender": f"taro{ESC}[31m@example.co.jp", "at": datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        "advice_ja": f"時間をおいて再送してください{ESC}[8m", "advice_en": "Resend later.", "trusted": False}
    values.update(changes)
    return ReportItem(**values)  # type: ignore[arg-type]


def test_report_table_has_no_escape_and_marks_untrusted() -> None:
    for lang in ("ja", "en"):
        table = render([_item()], "table", lang)
        assert not any(c in table for c in (ESC, "\x9b", "\x9d", "\x07", "\r", "\u202e"))
        assert ("[要注意: 正規の経路外]" if lang == "ja" else "[CAUTION: not via the vendor]") in table
        assert "2026-11-29 10:00" in table and "045-555-0303" in table  # Asia/Tokyo, as written in Japan


def test_report_csv_and_json_flag_untrusted_and_neutralise_formulas() -> None:
    items = [_item(subject="=HYPERLINK(\"http://evil.example\",\"見積書\")"), _item(trusted=True,
                                                                                 fax_number="+81355550101")]
    rows = list(csv.DictReader(io.StringIO(render(items, "csv", "ja").removeprefix("\ufeff"))))
    assert rows[0]["subject"].startswith("'=HYPERLINK")
    assert [r["trusted"] for r in rows] == ["False", "True"]
    document = json.loads(render(items, "json", "en"))
    assert [i["trusted"] for i in document["groups"]["resend"]] == [False, True]
    assert document["groups"]["resend"][0]["fax_number"] == "+81455550303"  # E.164 for programs


def test_each_advice_once_per_group() -> None:
    items = [_item(fax_number=f"+8145555030{n}", at=datetime(2026, 11, 29, n, 0, tzinfo=UTC)) for n in range(5)]
    table = render(items, "table", "ja")
    assert table.count("時間をおいて再送してください") == 1
    assert table.count("045-555-030") == 5


def _process(engine: Engine, raw: bytes) -> None:
    stored = RawStore(engine).put(raw, Envelope("", ("copy@faxbounce.test",)))
    process_message(engine, stored.id, Settings())


def test_since_is_when_the_fax_failed_not_when_the_mail_came(engine: Engine) -> None:
    # A notification that arrives now about a fax that failed three days ago.
    _process(engine, result("045-555-0303", "6017", "話中", when=datetime.now(UTC) - timedelta(days=3)))
    assert collect(engine, datetime.now(UTC) - timedelta(hours=24)) == []
    (item,) = collect(engine, datetime.now(UTC) - timedelta(days=4))
    assert (item.fax_number, item.trusted) == ("+81455550303", False)  # no Received hop from the vendor
