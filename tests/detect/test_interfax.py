"""InterFAX result notifications: text, HTML, CSV and XML, in every charset a Japanese mailer uses."""

from __future__ import annotations

import base64
import csv
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from processor.detect import DETECTORS, Detector, classify
from processor.detect.interfax_csv import InterfaxCsvDetector
from processor.detect.interfax_result import InterfaxResultDetector
from processor.detect.interfax_xml import InterfaxXmlDetector
from processor.parse import parse_mail
from processor.reasons import Kind, Outcome
from processor.records import Classification

JST = timezone(timedelta(hours=9))
R, B = "interfax_result", "interfax_bounce"

# (file, kind, result count, code, reason, fax number E.164, transaction id) of the first result
FIXTURES = [
    ("interfax/text-ja-01.eml", R, 1, "3912", "invalid_number", "+81355550101", "612345678"),  # ISO-2022-JP, CRLF
    ("interfax/text-ja-02.eml", R, 1, "3912", "invalid_number", "+81355550101", "612345678"),  # Shift_JIS 8bit
    ("interfax/text-ja-03.eml", R, 1, "3912", "invalid_number", "+81355550101", "612345678"),  # Shift_JIS base64
    ("interfax/text-ja-04.eml", R, 1, "3912", "invalid_number", "+81355550101", "612345678"),  # UTF-8 QP
    ("interfax/text-ja-05.eml", R, 1, "0", "delivered", "+81355550102", None),  # success subject only
    ("interfax/text-ja-06.eml", R, 3, "0", "delivered", "+81355550101", "700000001"),  # list send, 【label】
    ("interfax/text-ja-07.eml", R, 1, "99999", "unknown", "+81355550101", "612345699"),  # unpublished code
    ("interfax/html-ja-01.eml", R, 1, "0", "delivered", "+81355550104", "612345700"),  # text + HTML alternative
    ("interfax/html-ja-02.eml", R, 1, "6017", "busy", "+81655550202", "612345701"),  # HTML only, full-width
    ("interfax/text-en-01.eml", R, 1, "8021", "no_answer", "+12139999999", "612345800"),
    ("interfax/html-en-01.eml", R, 1, "0", "delivered", "+12139999998", "612345801"),
    ("interfax/csv-01.eml", R, 3, "0", "delivered", "+81355550101", "612345900"),  # Shift_JIS CSV attachment
    ("interfax/csv-02.eml", R, 1, "6017", "busy", "+12139999999", "612346000"),  # CSV body with BOM
    ("interfax/xml-01.eml", R, 2, "0", "delivered", "+81355550101", "612346100"),  # application/xml attachment
    ("interfax/xml-02.eml", R, 1, "-22", "credit_hold", "+81355550105", "612346200"),  # text/xml body, namespace
    # Attachments sent as application/octet-stream and named in RFC 2047 words (送信結果.csv / .xml), as Japanese
    # mailers and gateways name files: the type says nothing, the decoded name does.
    ("interfax/csv-03.eml", R, 2, "6017", "busy", "+81355558001", "612348001"),  # Shift_JIS, ISO-2022-JP name
    ("interfax/xml-03.eml", R, 2, "6002", "line_error", "+81355558801", "612348801"),  # UTF-8 name
    ("interfax/csv-04.eml", R, 3, "0", "delivered", "+81355550100", "612351000"),  # the CSV in text and HTML <pre>
]
# not/submission-copy-01.eml is a fax submission since issue #5: tests/tracking/test_submission_detector.py.
NOT_OURS = ["not/phishing-01.eml", "not/phishing-02.eml", "not/receipt-01.eml", "not/newsletter-01.eml"]
MY_DETECTORS = (InterfaxResultDetector(), InterfaxCsvDetector(), InterfaxXmlDetector())


def classify_file(data_dir: Path, name: str) -> Classification:
    return classify(parse_mail((data_dir / name).read_bytes()))


def jp_mail(body: str, subject: str = "FAX送信結果", sender: str = "support@interfax.co.jp",
            ctype: str = "text/plain") -> bytes:
    encoded = base64.encodebytes(body.encode("utf-8")).decode()
    return (f"From: {sender}\r\nTo: taro@example.co.jp\r\nSubject: =?UTF-8?B?"
            f"{base64.b64encode(subject.encode()).decode()}?=\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {ctype}; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}").encode()


@pytest.mark.parametrize(("name", "kind", "count", "code", "reason", "fax_number", "transaction_id"), FIXTURES,
                         ids=[row[0] for row in FIXTURES])
def test_fixture_table(data_dir: Path, name: str, kind: str, count: int, code: str, reason: str,
                       fax_number: str, transaction_id: str | None) -> None:
    result = classify_file(data_dir, name)
    assert result.kind == kind
    assert len(result.results) == count
    first = result.results[0]
    assert (first.code, first.reason, first.fax_number, first.transaction_id) == (code, reason, fax_number,
                                                                                transaction_id)
    assert first.vendor == "interfax"
    assert first.detected_by == result.detected_by
    assert first.fax_number_raw and first.action_ja and first.action_en


@pytest.mark.parametrize("name", NOT_OURS)
def test_look_alikes_and_unrelated_mail_are_not_claimed(data_dir: Path, name: str) -> None:
    assert classify_file(data_dir, name).kind == Kind.UNRELATED


def test_detectors_follow_the_protocol() -> None:
    for detector in DETECTORS:
        assert isinstance(detector, Detector)
    assert [d.name for d in MY_DETECTORS] == ["interfax_result", "interfax_csv", "interfax_xml"]


def test_japanese_text_fields(data_dir: Path) -> None:
    (result,) = classify_file(data_dir, "interfax/text-ja-01.eml").results
    assert result.vendor_message == "FAX番号が使用不可です"
    assert result.outcome is Outcome.FAILED and result.retryable is False
    assert result.fax_number_raw == "03-5555-0101"
    assert result.pages == 2
    assert result.submitted_at == datetime(2024, 5, 1, 10, 20, 11, tzinfo=JST)
    assert result.occurred_at == datetime(2024, 5, 1, 10, 35, 40, tzinfo=JST)
    assert result.original_subject == "①見積書送付の件 ㈱サンプル商事"  # ① ㈱ survive ISO-2022-JP, stored unfolded
    assert "電話" in (result.action_ja or "")


def test_same_notification_in_four_charsets_gives_identical_results(data_dir: Path) -> None:
    names = ["interfax/text-ja-01.eml", "interfax/text-ja-02.eml", "interfax/text-ja-03.eml", "interfax/text-ja-04.eml"]
    results = [[r.to_json() for r in classify_file(data_dir, name).results] for name in names]
    assert all(other == results[0] for other in results[1:])


@pytest.mark.parametrize("name", [row[0] for row in FIXTURES])
def test_crlf_and_lf_give_identical_results(data_dir: Path, name: str) -> None:
    raw = (data_dir / name).read_bytes()
    lf = raw.replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    assert classify(parse_mail(lf)) == classify(parse_mail(crlf))


def test_html_alternative_and_html_only(data_dir: Path) -> None:
    (html,) = classify_file(data_dir, "interfax/html-ja-01.eml").results
    assert (html.outcome, html.pages, html.original_subject) == (Outcome.DELIVERED, 3, "請求書 & 納品書")
    (only,) = classify_file(data_dir, "interfax/html-ja-02.eml").results
    assert (only.code, only.vendor_message, only.pages, only.retryable) == ("6017", "話中", 2, True)


@pytest.mark.parametrize("line", ["送信結果：３９１２", "送信結果 : 3912 - FAX番号が使用不可です", "【送信結果】3912",
                                  "送信結果\t3912", "■送信結果= 3912-FAX番号が使用不可です"])
def test_code_label_spellings(line: str) -> None:
    body = f"InterFAXをご利用いただき…\n{line}\n宛先：０３－５５５５－０１０１\n"
    (result,) = classify(parse_mail(jp_mail(body))).results
    assert (result.code, result.reason, result.fax_number) == ("3912", "invalid_number", "+81355550101")


def test_number_comes_from_the_subject_when_the_body_has_none() -> None:
    raw = jp_mail("送信結果: 6017-話中\n", subject="FAX送信が失敗しました　－＞　０６５５５５０２０２")
    (result,) = classify(parse_mail(raw)).results
    assert (result.fax_number_raw, result.fax_number, result.reason) == ("0655550202", "+81655550202", "busy")


def test_failure_subject_without_code_is_an_unknown_failure() -> None:
    (result,) = classify(parse_mail(jp_mail("本文なし\n", subject="FAX送信が失敗しました -> 0355550101"))).results
    assert (result.code, result.outcome, result.reason) == (None, Outcome.FAILED, "unknown")


def test_unknown_codes_are_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        (result,) = classify(parse_mail(jp_mail("送信結果: 424242\n"))).results
    assert (result.code, result.outcome, result.reason, result.retryable) == ("424242", Outcome.FAILED, "unknown",
                                                                             False)
    assert "424242" in caplog.text
    (pending,) = classify(parse_mail(jp_mail("送信結果: -99\n"))).results
    assert (pending.outcome, pending.reason, pending.retryable) == (Outcome.PENDING, "in_progress", None)


def test_list_sends_give_several_results(data_dir: Path) -> None:
    text = classify_file(data_dir, "interfax/text-ja-06.eml").results
    assert [(r.code, r.outcome, r.transaction_id, r.fax_number) for r in text] == [
        ("0", Outcome.DELIVERED, "700000001", "+81355550101"),
        ("6017", Outcome.FAILED, "700000002", "+81655550202"),
        ("-3", Outcome.PENDING, "700000003", "+81455550303"),
    ]
    assert {r.original_subject for r in text} == {"月次ご案内 (5月号)"}
    rows = classify_file(data_dir, "interfax/csv-01.eml").results
    assert [(r.code, r.reason) for r in rows] == [
        ("0", "delivered"), ("3912", "invalid_number"), ("-22", "credit_hold"),
    ]
    assert rows[0].original_subject == "見積書, 第2版 ①"  # comma inside a quoted CSV field; ① stored as written
    assert rows[0].occurred_at == datetime(2024, 5, 4, 9, 1, 10, tzinfo=JST)
    assert rows[0].detected_by == "interfax_csv"
    xml = classify_file(data_dir, "interfax/xml-01.eml").results
    assert [(r.code, r.reason, r.pages) for r in xml] == [("0", "delivered", 1), ("204000", "render_failed", 0)]
    assert xml[0].original_subject == "ご案内 & 申込書"
    assert xml[0].detected_by == "interfax_xml"


def test_english_text_times_keep_their_zone(data_dir: Path) -> None:
    (result,) = classify_file(data_dir, "interfax/text-en-01.eml").results
    assert result.submitted_at == datetime(2024, 5, 3, 8, 0, tzinfo=UTC)
    assert result.vendor_message == "No answer (timed out)"
    assert result.original_subject == "Purchase order, rev 2"


def test_xml_with_a_dtd_is_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            "<r><TransactionID>1</TransactionID><CSID/><PagesSent>1</PagesSent><Status>&b;</Status>"
            "<OriginalSubject/><DestinationFax>0355550101</DestinationFax><Duration/><SubmitTime/>"
            "<CompletionTime/><Contact/></r>")
    raw = f"From: a@interfax.net\nSubject: x\nContent-Type: text/xml\n\n{bomb}".encode()
    assert InterfaxXmlDetector().detect(parse_mail(raw)) is None


# ---------------------------------------------------------------- every published code, in every format

def codes(shared_dir: Path) -> list[dict[str, str]]:
    path = shared_dir / "reference" / "interfax-status-codes.tsv"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


FIELDS = "TransactionID,CSID,PagesSent,Status,OriginalSubject,DestinationFax,Duration,SubmitTime,CompletionTime,Contact"


def synthesize(fmt: str, code: str, label: str) -> bytes:
    if fmt == "text-ja":
        return jp_mail(f"送信結果: {code}-{label}\n送信先: 03-5555-0101\nトランザクションID: 1\n" if label else
                       f"送信結果: {code}\n送信先: 03-5555-0101\nトランザクションID: 1\n")
    if fmt == "html-ja":
        return jp_mail(f"<table><tr><td>送信結果</td><td>{code}</td></tr><tr><td>送信先</td><td>0355550101</td></tr>"
                       "<tr><td>送信ID</td><td>1</td></tr></table>", ctype="text/html")
    if fmt == "text-en":
        return jp_mail(f"Transaction ID: 1\nDestination Fax: 0355550101\nStatus: {code}\n", sender="no@interfax.net")
    if fmt == "csv":
        return jp_mail(f'{FIELDS}\n1,,1,{code},"a, b",0355550101,0,2024/05/01 10:00:00,,\n', ctype="text/csv")
    values = {"TransactionID": "1", "Status": code, "DestinationFax": "0355550101"}
    body = "".join(f"<{f}>{values.get(f, '')}</{f}>" for f in FIELDS.split(","))
    return jp_mail(f'<?xml version="1.0"?><Results><Fax>{body}</Fax></Results>', ctype="application/xml")


@pytest.mark.parametrize("fmt", ["text-ja", "html-ja", "text-en", "csv", "xml"])
def test_every_published_code_is_recognised(shared_dir: Path, fmt: str) -> None:
    for row in codes(shared_dir):
        result = classify(parse_mail(synthesize(fmt, row["code"], row["meaning_ja"])))
        assert result.kind == Kind.INTERFAX_RESULT, (fmt, row["code"])
        (fax,) = result.results
        number = int(row["code"])
        expected = Outcome.DELIVERED if number == 0 else Outcome.PENDING if number < 0 else Outcome.FAILED
        assert (fax.code, fax.outcome, fax.reason) == (row["code"], expected, row["proposed_reason"]), fmt
        assert fax.retryable == {"yes": True, "no": False, "-": None}[row["retry"]], (fmt, row["code"])
        assert (fax.fax_number, fax.transaction_id) == ("+81355550101", "1")
        if fmt == "text-ja" and row["meaning_ja"]:
            assert fax.vendor_message == row["meaning_ja"]


@pytest.mark.parametrize("raw", [b"", b"garbage", b"Subject: x\n\n\x00\xff\xfe", b"Content-Type: text/csv\n\n" +
                                 FIELDS.encode() + b"\n", b"Content-Type: text/xml\n\n<Results><Status>1</Status",
                                 "Subject: FAX送信が失敗しました\n\n送信結果:\n".encode()])
def test_odd_input_never_raises(raw: bytes) -> None:
    mail = parse_mail(raw)
    for detector in MY_DETECTORS:
        detector.detect(mail)
