"""Reading fields by their label: values as the mail writes them, tables by their header row, no guessing."""

from __future__ import annotations

import pytest

from processor.catalogues import labels
from processor.detect.labels import field_values, identifier, pick, split_code, table_rows

INTERFAX = labels("interfax")


@pytest.mark.parametrize(("text", "values"), [
    ("送信結果：３９１２－ＦＡＸ番号が使用不可です\n", ["３９１２－ＦＡＸ番号が使用不可です"]),
    ("【件名】 ①見積書 ㈱サンプル\n", ["①見積書 ㈱サンプル"]),
    ("件名\n①見積書\n", ["①見積書"]),  # the label alone on its line: the next line
    ("No.\t件名\n1\t①見積書\n", [""]),  # a header cell: the next line is a row, not its value
    ("Subject: Quarterly report\n", ["Quarterly report"]),
])
def test_field_values_are_cut_from_the_text_as_written(text: str, values: list[str]) -> None:
    assert field_values(text, INTERFAX["subject"] + INTERFAX["code"]) == values


@pytest.mark.parametrize(("value", "code", "label"), [
    ("3912-FAX番号が使用不可です", "3912", "FAX番号が使用不可です"),
    ("３９１２－ＦＡＸ番号が使用不可です", "3912", "ＦＡＸ番号が使用不可です"),
    ("6017 (話中)", "6017", "話中"),
    ("-22", "-22", None),
    ("ページ数", None, None),
])
def test_split_code(value: str, code: str | None, label: str | None) -> None:
    assert split_code(value) == (code, label)


def test_table_rows_by_header_row() -> None:
    text = "No.\t送信先\tエラーコード\t送信ID\n1\t①本社 03-5555-0101\t0\t612\n2\t\t6017-話中\t\n"
    fields = {"fax_number": INTERFAX["fax_number"], "transaction": INTERFAX["transaction"],
              "code": INTERFAX["code"] + INTERFAX["code_synonyms"]}
    assert table_rows(text, fields, "code") == [
        {"fax_number": "①本社 03-5555-0101", "code": "0", "transaction": "612"},
        {"code": "6017-話中"},
    ]


def test_a_label_value_table_is_no_list() -> None:
    text = "送信結果:\t6017-話中\tページ数:\t2\n宛先\t06-5555-0202\n"
    assert table_rows(text, {"code": INTERFAX["code"], "pages": INTERFAX["pages"]}, "code") == []


def test_a_fax_of_a_list_never_gets_another_fax_s_number() -> None:
    numbers = ["03-5555-0101", "06-5555-0202"]
    assert [pick(numbers, i, 3, own=True) for i in range(3)] == [None, None, None]
    assert [pick(numbers, i, 2, own=True) for i in range(2)] == numbers
    assert pick(["2026-11-20 10:00"], 2, 3) == "2026-11-20 10:00"  # a shared field (the list's submit time)


def test_identifier_is_ascii() -> None:
    assert identifier(" ６１２３４５６７８ ") == "612345678"
    assert identifier("") is None
