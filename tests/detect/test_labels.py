"""Reading fields by their label: values as the mail writes them, tables by their header row, no guessing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.catalogues import labels
from processor.detect.labels import field_values, identifier, may_hold_labels, pick, split_code, table_rows
from processor.parse.charset import fold_text

INTERFAX = labels("interfax")


@pytest.mark.parametrize(("text", "values"), [
    ("送信結果：３９１２－ＦＡＸ番号が使用不可です\n", ["３９１２－ＦＡＸ番号が使用不可です"]),
    ("【件名】 ①見積書 ㈱サンプル\n", ["①見積書 ㈱サンプル"]),
    ("件名\n①見積書\n", ["①見積書"]),  # the label alone on its line: the next line
    ("No.\t件名\n1\t①見積書\n", [""]),  # a header cell: the next line is a row, not its value
    ("Subject: Quarterly report\n", ["Quarterly report"]),
    ("件名：\n\n━━━━━━━━━━\nInterFAX サポート\n", [""]),  # empty, then a signature's rule: no value
    ("件名\n-----\n", [""]),
    # Labels spaced out to a column's width, as Japanese templates and documents write short ones.
    ("件　　名：①見積書\n", ["①見積書"]),
    ("件 名: 見積書\n", ["見積書"]),
    ("送　信　結　果：6017-話中\n", ["6017-話中"]),
    # ... but spaced-out prose is no label: only a separator after a spaced label makes it one
    ("件 名 が 長 い 場 合 は 省 略 さ れ ま す\n件名：見積書\n", ["見積書"]),
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


@pytest.mark.parametrize("value", ["件名", "Subject", "-", "N/A", "――"])
def test_a_value_without_a_digit_is_no_id(value: str) -> None:
    """A layout that puts a neighbouring label in the id's place must not make it an event key."""
    assert identifier(value) is None


CODE_LABELS = ("送信結果", "エラーコード", "結果コード", "ステータス", "Status", "Error Code")


@pytest.mark.parametrize("text", [
    "送信結果: 3912",
    "送信結果 3912",
    "■ 送信結果：３９１２",
    "【ステータス】3912",
    "ｽﾃｰﾀｽ: 3912",  # half-width katakana folds to ステータス
    "ＳＴＡＴＵＳ: 6017",
    "status=6017",
    "\u017ftatus: 6017",  # long s: IGNORECASE matches it to `s`
    "ErrorCode: 3912",
    "Error_Code: 3912",
    "No.\t送 信 結 果\tFAX番号\n1\t3912\t0355550101",  # a header cell read without its spacing
    "No.\tError  Code\tFAX番号\n1\t3912\t0355550101",
])
def test_may_hold_labels_says_yes_wherever_a_reader_finds_one(text: str) -> None:
    found = field_values(text, CODE_LABELS) or table_rows(text, {"code": CODE_LABELS, "fax_number": ("FAX番号",)},
                                                          "code")
    assert found, "the case must be one a reader finds"
    assert may_hold_labels(text, CODE_LABELS)


@pytest.mark.parametrize("text", ["", "Delivery to the following recipient failed permanently", "結果は後ほど",
                                  "State of the art"])
def test_may_hold_labels_says_no_without_a_label(text: str) -> None:
    assert not may_hold_labels(text, ("送信結果", "ステータス", "Status"))


_PIECES = st.sampled_from([
    "送信結果", "送 信 結 果", "ステータス", "ｽﾃｰﾀｽ", "Status", "STATUS", "St atus", "Error Code", "Error_Code",
    "ErrorCode", ":", "：", "=", "\t", "\n", " ", "　", "【", "】", "■", "3912", "６０１７", "No.", "FAX番号",
    "0355550101", "x", "結果", "コード",
])


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_may_hold_labels_never_hides_what_a_reader_finds(text: str) -> None:
    found = field_values(text, CODE_LABELS) or table_rows(text, {"code": CODE_LABELS, "fax_number": ("FAX番号",)},
                                                          "code")
    assert not found or may_hold_labels(text, CODE_LABELS)


def _ignorecase_reference(text: str, labels: tuple[str, ...]) -> bool:
    """What may_hold_labels promised before it searched the lower-cased text: its keys, IGNORECASE, over the
    folded text."""
    keys = [re.sub(r"[\s_]", "", fold_text(label)) for label in labels if label.strip()]
    pattern = "|".join(r"[\s_]*".join(re.escape(char) for char in key) for key in keys)
    return re.search(pattern, fold_text(text), re.IGNORECASE) is not None


_CASED_LABELS = ("Station ID", "Error Code", "送信結果")


@pytest.mark.parametrize("text", [
    "STATİON ID: 1",  # dotted capital I: IGNORECASE takes it for i, str.lower makes it i + a combining dot
    "statıon id: 1",  # dotless i: IGNORECASE takes it for i, str.lower keeps it
    "\u212arror code",  # the Kelvin sign is no E: no
    "ERROR \u212aODE",  # no K in the label either
    "error code",
    "ＥＲＲＯＲ　ＣＯＤＥ",
    "\u017ftation id",  # long s
    "Σtation id",
    "送信結果",
])
def test_may_hold_labels_answers_as_a_case_insensitive_search(text: str) -> None:
    assert may_hold_labels(text, _CASED_LABELS) == _ignorecase_reference(text, _CASED_LABELS)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["Station", "STAT", "İ", "ı", "I", "i", "ON", "on", "ID", " ", "_", "\n", "ſ",
                                 "\u212a", "Error", "CODE", "送信", "結果", "ß", "ẞ", "x"]), max_size=12).map("".join))
def test_may_hold_labels_agrees_with_a_case_insensitive_search(text: str) -> None:
    assert may_hold_labels(text, _CASED_LABELS) == _ignorecase_reference(text, _CASED_LABELS)


@pytest.mark.parametrize("text", ["GRÜNDE: 1", "gründe: 1", "GRUNDE: 1", "x"])
def test_a_label_with_a_cased_letter_outside_ascii_is_searched_ignoring_case(text: str) -> None:
    labels = ("Gründe", "送信結果")
    assert may_hold_labels(text, labels) == _ignorecase_reference(text, labels)
