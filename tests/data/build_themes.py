"""Builds the fixtures of issue #10, themes 3, 4, 5 and 10: `numbers/`, `tables/`, `folds/`, `stored/`.

Run it from the repository root (`.venv/bin/python tests/data/build_themes.py`) after changing a fixture here;
the `.eml` files and their `.expected.json` sidecars are committed, so the tests never depend on this script.

Every mail follows a published format (shared/reference/formats.md: subjects, the `送信結果:` field with a
code and its label, the label synonyms, list sends, the CSV/XML fields, NET SatisFAXtion's completion codes) and
the byte-level facts of transport (Postfix's `smtp_line_length_limit` of 998 breaks a longer line with CRLF +
SPACE). Every expectation is written by hand from those facts: a code's reason and outcome from
shared/reference/interfax-status-codes.tsv (the test checks each against it), a number's E.164 form from the
number as written. None is taken from what faxbounce prints.
"""

from __future__ import annotations

import base64
import json
import quopri
from email.header import Header
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRLF = b"\r\n"
LIMIT = 998  # Postfix smtp_line_length_limit


def encoded_subject(text: str, charset: str = "utf-8") -> str:
    return Header(text, charset).encode(maxlinelen=76)


def mail(subject: str, body: bytes, *, sender: str = "InterFAX <support@interfax.co.jp>",
         ctype: str = "text/plain", charset: str | None = "utf-8", cte: str = "8bit",
         subject_charset: str = "utf-8", extra: str = "", message_id: str = "") -> bytes:
    """A notification as the vendor sends it: CRLF line ends, RFC 2047 subject, one body part."""
    content_type = f"{ctype}; charset={charset}" if charset else ctype
    headers = [
        "Return-Path: <>",
        f"From: {sender}",
        "To: taro@example.co.jp",
        f"Subject: {encoded_subject(subject, subject_charset)}",
        "Date: Fri, 20 Nov 2026 10:20:00 +0900",
        f"Message-ID: <{message_id or 'n'}@interfax.co.jp>",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
        f"Content-Transfer-Encoding: {cte}",
    ]
    if extra:
        headers.extend(extra.split("\n"))
    if cte == "base64":
        body = base64.encodebytes(body)
    elif cte == "quoted-printable":
        body = quopri.encodestring(body)
    return CRLF.join(h.encode("ascii") for h in headers) + CRLF + CRLF + body.replace(b"\r\n", b"\n").replace(
        b"\n", CRLF)


def multipart(subject: str, parts: list[tuple[str, bytes, dict[str, str]]], *,
              sender: str = "InterFAX <support@interfax.co.jp>") -> bytes:
    boundary = "==faxbounce-theme=="
    lines = [
        "Return-Path: <>", f"From: {sender}", "To: taro@example.co.jp",
        f"Subject: {encoded_subject(subject)}", "Date: Fri, 20 Nov 2026 10:20:00 +0900",
        "Message-ID: <m@interfax.co.jp>", "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"', "",
    ]
    out = CRLF.join(line.encode() for line in lines) + CRLF
    for ctype, data, headers in parts:
        out += f"--{boundary}".encode() + CRLF + f"Content-Type: {ctype}".encode() + CRLF
        for name, value in headers.items():
            out += f"{name}: {value}".encode() + CRLF
        out += b"Content-Transfer-Encoding: base64" + CRLF + CRLF + base64.encodebytes(data).replace(b"\n", CRLF)
    return out + f"--{boundary}--".encode() + CRLF


def relay_fold(line: bytes, limit: int = LIMIT) -> bytes:
    """What Postfix sends for a body line over `limit` bytes: the first `limit` bytes, then CRLF + SPACE and
    the rest, broken again whenever a continuation (its SPACE included) reaches `limit`."""
    out = [line[:limit]]
    rest = line[limit:]
    while rest:
        out.append(b" " + rest[: limit - 1])
        rest = rest[limit - 1 :]
    return CRLF.join(out)


def pad_to_split(prefix: bytes, target: bytes, into: int, limit: int = LIMIT) -> bytes:
    """`prefix` plus filler so that byte `limit` of the line falls `into` bytes into `target`."""
    filler = limit - len(prefix) - into
    assert filler > 0, "prefix too long"
    return prefix + b"<!--" + b"x" * (filler - 7) + b"-->" + target


def ja_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def write(folder: str, name: str, raw: bytes, expected: dict[str, object]) -> None:
    directory = HERE / folder
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.eml").write_bytes(raw)
    (directory / f"{name}.expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def failed(code: str, reason: str, number: str | None, **more: object) -> dict[str, object]:
    return {"vendor": "interfax", "code": code, "outcome": "failed", "reason": reason, "fax_number": number,
            **more}


def delivered(number: str | None, **more: object) -> dict[str, object]:
    return {"vendor": "interfax", "code": "0", "outcome": "delivered", "reason": "delivered", "fax_number": number,
            **more}


GREETING = "InterFAXをご利用いただき、ありがとうございます。"
R = "interfax_result"


def numbers() -> None:
    """Theme 3: the value under a number label is not always a number."""
    body = ja_text([GREETING, "FAX送信が失敗しました。", "", "■送信先 1", "FAX番号: 03-5555-0301",
                    "送信結果: 3912-FAX番号が使用不可です", "ページ数: 0", "送信ID: 612340301", "件名: 見積書送付の件"])
    write("numbers", "heading-iso2022jp",
          mail("FAX送信が失敗しました -> 0355550301", _iso2022jp_ms(body), charset="iso-2022-jp",
               cte="7bit", subject_charset="iso-2022-jp"),
          {"kind": R, "note": "`■送信先 1` is a block heading, not the number",
           "results": [failed("3912", "invalid_number", "+81355550301", transaction_id="612340301",
                              fax_number_raw="03-5555-0301", retryable=False)]})

    body = ja_text([GREETING, "宛先: yamada@example.co.jp 様", "送信結果: 6017-話中", "送信先FAX番号: 06-5555-0302",
                    "送信ID: 612340302"])
    write("numbers", "address-first-qp",
          mail("FAX送信が失敗しました -> 0655550302", body.encode(), cte="quoted-printable"),
          {"kind": R, "note": "a mail address under 宛先 is no fax number",
           "results": [failed("6017", "busy", "+81655550302", retryable=True, fax_number_raw="06-5555-0302")]})

    body = ja_text([GREETING, "送信結果: 0", "送信先: ①本社 03-5555-0303", "ページ数: 2", "送信ID: 612340303"])
    write("numbers", "branch-in-cell-sjis",
          mail("FAX送信が成功しました -> 0355550303", body.encode("cp932"), charset="shift_jis"),
          {"kind": R, "note": "a circled digit and a branch name before the number in one value",
           "results": [delivered("+81355550303", fax_number_raw="03-5555-0303", pages=2)]})

    body = ja_text([GREETING, "送信結果：０", "送信先：０３－５５５５－０３０４",
                    "送信日時：２０２６年１１月２０日 １０：１５", "送信ID：６１２３４０３０４"])
    write("numbers", "full-width-iso2022jp",
          mail("FAX送信が成功しました -> 0355550304", _iso2022jp_ms(body), charset="iso-2022-jp",
               cte="7bit", subject_charset="iso-2022-jp"),
          {"kind": R, "note": "full-width digits and dashes; the date is no number; the id is compared in ASCII",
           "results": [delivered("+81355550304", fax_number_raw="０３－５５５５－０３０４", transaction_id="612340304",
                                 submitted_at="2026-11-20T10:15:00+09:00")]})

    body = ja_text([GREETING, "送信結果: 8021-無応答", "送信先: 本社 営業部", "送信ID: 612340305"])
    write("numbers", "subject-fallback-b64",
          mail("FAX送信が失敗しました -> 0355550305", body.encode(), cte="base64"),
          {"kind": R, "note": "no number in the body: the subject's `-> NUMBER`",
           "results": [failed("8021", "no_answer", "+81355550305", retryable=True)]})

    html = ("<html><body><p>" + GREETING + "</p><table>"
            "<tr><td>送信結果:</td><td>0</td></tr><tr><td>送信先</td><td>0081-3-5555-0306</td></tr>"
            "<tr><td>送信ID</td><td>612340306</td></tr></table></body></html>")
    write("numbers", "zero-zero-81-html",
          mail("FAX送信が成功しました -> 0081355550306", html.encode(), ctype="text/html"),
          {"kind": R, "note": "00 + 81, InterFAX's international form",
           "results": [delivered("+81355550306", fax_number_raw="0081-3-5555-0306")]})

    body = "\n".join(["Dear customer,", "", "Transaction ID: 612340307", "Destination Fax: +81 (0)3-5555-0307",
                      "Status: 3224 - The remote fax machine failed to respond", "Pages Sent: 0",
                      "Submit Time: 2026-11-20 01:00:00 UTC", ""])
    write("numbers", "trunk-zero-in-parentheses-en",
          mail("Fax failed: +81 (0)3-5555-0307", body.encode("ascii"), sender="InterFAX <noreply@interfax.net>",
               charset="us-ascii"),
          {"kind": R, "note": "+81 (0)3: the trunk zero written for domestic callers",
           "results": [failed("3224", "communication_error", "+81355550307", transaction_id="612340307")]})

    body = ja_text([GREETING, "送信結果: 6017-話中", "送信先: 010-1-213-555-0108", "送信ID: 612340308"])
    write("numbers", "japan-international-prefix",
          mail("FAX送信が失敗しました -> 01012135550108", body.encode(), cte="base64"),
          {"kind": R, "note": "010 is Japan's international prefix",
           "results": [failed("6017", "busy", "+12135550108")]})

    body = "\n".join(["Your fax message could not be delivered.", "", "Subject: Quarterly report",
                      "Receiver: Acme Corp", "Fax number: 503-555-0109", "MESSAGE_COMPLETION_CODE: 28026",
                      "Completion String: No Answer", "Pages: 3", "Message Handle: 0001A2C9", ""])
    write("numbers", "satisfaxtion-fax-number-line",
          mail("Fax to Acme Corp failed", body.encode("ascii"), sender="NET SatisFAXtion <faxserver@company.com>",
               charset="us-ascii"),
          {"kind": "satisfaxtion_result", "default_country": "US",
           "note": "the receiver's name first, the number on the `Fax number:` line (formats.md §4: 28026 no answer)",
           "results": [{"vendor": "satisfaxtion", "code": "28026", "outcome": "failed", "reason": "no_answer",
                        "fax_number": "+15035550109", "fax_number_raw": "503-555-0109"}]})

    body = ja_text([GREETING, "送信結果: 3938-FAX番号が使用不可です", "宛先: 株式会社サンプル 御中（03-5555-0310）",
                    "送信日時: 2026/11/20 10:15", "送信ID: 612340310"])
    write("numbers", "name-and-parentheses",
          mail("FAX送信が失敗しました -> 0355550310", body.encode("cp932"), charset="shift_jis"),
          {"kind": R, "note": "the number inside parentheses after the recipient's name",
           "results": [failed("3938", "invalid_number", "+81355550310", fax_number_raw="03-5555-0310")]})


def more_numbers() -> None:
    """Theme 3, continued: a prefix glued to the number, Japanese area-code parentheses."""
    body = ja_text([GREETING, "送信結果: 6017-話中", "送信先: 株式会社サンプル FAX03(5555)0311", "送信ID: 612340311"])
    write("numbers", "fax-prefix-area-parentheses",
          mail("FAX送信が失敗しました -> 0355550311", body.encode(), cte="base64"),
          {"kind": R, "note": "`FAX03(5555)0311`: the prefix is no part of the number, 03(5555) is Japanese style",
           "results": [failed("6017", "busy", "+81355550311", fax_number_raw="03(5555)0311")]})

    body = "\n".join(["Dear customer,", "", "Transaction ID: 612340316", "Destination Fax: 12135550316",
                      "Status: 6018 - No answer", "Pages Sent: 0", ""])
    write("numbers", "en-country-code-without-plus",
          mail("Fax failed", body.encode("ascii"), sender="InterFAX <noreply@interfax.net>", charset="us-ascii"),
          {"kind": R, "note": "an English template writes the US number with its country code but no `+`",
           "results": [failed("6018", "no_answer", "+12135550316", transaction_id="612340316")]})


def tables() -> None:
    """Theme 4: list tables read by their header row, one result per row; エラーコード/結果コード labels."""
    html = ("<html><body><p>" + GREETING + "</p><p>リスト送信の結果は以下の通りです。</p><table border=1>"
            "<tr><td>No.</td><td>送信先</td><td>送信結果</td><td>ページ数</td><td>送信ID</td></tr>"
            "<tr><td>1</td><td>03-5555-0401</td><td>0</td><td>2</td><td>612340401</td></tr>"
            "<tr><td>2</td><td>06-5555-0402</td><td>6017-話中</td><td>0</td><td>612340402</td></tr>"
            "<tr><td>3</td><td>045-555-0403</td><td>3912-FAX番号が使用不可です</td><td>0</td><td>612340403</td></tr>"
            "</table></body></html>")
    write("tables", "list-html-utf8", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html", cte="base64"),
          {"kind": R, "note": "header row with a row counter; one result per destination row",
           "results": [delivered("+81355550401", transaction_id="612340401", pages=2),
                       failed("6017", "busy", "+81655550402", transaction_id="612340402", vendor_message="話中"),
                       failed("3912", "invalid_number", "+81455550403", transaction_id="612340403",
                              vendor_message="FAX番号が使用不可です")]})

    html = ("<html><head><meta charset=\"Shift_JIS\"></head><body><table>"
            "<tr><th>送信先FAX番号</th><th>エラーコード</th><th>送信日時</th></tr>"
            "<tr><td>03-5555-0404</td><td>3224-通信エラー</td><td>2026/11/20 10:00</td></tr>"
            "<tr><td>03-5555-0405</td><td>6031-その他のエラー</td><td>2026/11/20 10:01</td></tr>"
            "</table></body></html>")
    write("tables", "error-code-header-sjis",
          mail("FAX送信が失敗しました", html.encode("cp932"), ctype="text/html", charset="shift_jis"),
          {"kind": R, "note": "エラーコード as the code column (the guide calls the 送信結果 value so)",
           "results": [failed("3224", "communication_error", "+81355550404",
                              submitted_at="2026-11-20T10:00:00+09:00"),
                       failed("6031", "communication_error", "+81355550405",
                              submitted_at="2026-11-20T10:01:00+09:00")]})

    body = ja_text([GREETING, "エラーコード: 3912-FAX番号が使用不可です", "送信先: 03-5555-0406", "送信ID: 612340406"])
    write("tables", "error-code-label-iso2022jp",
          mail("FAX送信が失敗しました -> 0355550406", _iso2022jp_ms(body), charset="iso-2022-jp", cte="7bit",
               subject_charset="iso-2022-jp"),
          {"kind": R, "note": "`エラーコード:` read as the code label",
           "results": [failed("3912", "invalid_number", "+81355550406", transaction_id="612340406")]})

    html = ("<html><body><p>Thank you for using InterFAX.</p><table>"
            "<tr><th>Destination Fax</th><th>Status</th><th>Pages Sent</th><th>Transaction ID</th></tr>"
            "<tr><td>+1 213 555 0407</td><td>0</td><td>1</td><td>612340407</td></tr>"
            "<tr><td>+1 213 555 0408</td><td>263</td><td>0</td><td>612340408</td></tr>"
            "</table></body></html>")
    write("tables", "list-html-en",
          mail("Fax results", html.encode("ascii"), ctype="text/html", charset="us-ascii",
               sender="InterFAX <noreply@interfax.net>"),
          {"kind": R, "note": "English list table from an InterFAX domain",
           "results": [delivered("+12135550407", transaction_id="612340407"),
                       failed("263", "busy", "+12135550408", transaction_id="612340408")]})

    html = ("<html><body><table>"
            "<tr><th>送信先</th><th>送信結果</th><th>送信ID</th><th>備考</th></tr>"
            "<tr><td>①本社 03-5555-0409</td><td>0</td><td>612340409</td><td></td></tr>"
            "<tr><td>②大阪支店 06-5555-0410</td><td>8021-無応答</td><td></td><td>再送信してください</td></tr>"
            "</table></body></html>")
    write("tables", "empty-cells-circled",
          mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html", cte="quoted-printable"),
          {"kind": R, "note": "an empty cell keeps the columns aligned; names and circled digits in number cells",
           "results": [delivered("+81355550409", transaction_id="612340409"),
                       failed("8021", "no_answer", "+81655550410", transaction_id=None)]})

    html = ("<html><body><table><tr><td>結果コード</td><td>6017-話中</td></tr>"
            "<tr><td>送信先</td><td>03-5555-0411</td></tr><tr><td>ページ数</td><td>0</td></tr></table></body></html>")
    write("tables", "result-code-label-value",
          mail("FAX送信が失敗しました -> 0355550411", html.encode(), ctype="text/html"),
          {"kind": R, "note": "結果コード in a label/value table (not a list table)",
           "results": [failed("6017", "busy", "+81355550411")]})

    html = ("<html><body><table><thead><tr><th>No.</th><th>送信先</th><th>FAX番号</th><th>送信結果</th></tr></thead>"
            "<tbody><tr><td>1</td><td>株式会社エー</td><td>03-5555-0414</td><td>0</td></tr>"
            "<tr><td>2</td><td>株式会社ビー</td><td>06-5555-0415</td><td>3936</td></tr></tbody></table></body></html>")
    write("tables", "name-and-number-columns",
          mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "note": "送信先 holds the name, FAX番号 the number: both name the destination",
           "results": [delivered("+81355550414"), failed("3936", "voice_answer", "+81655550415")]})

    body = ja_text(["システム監視からのお知らせです。", "", "ステータス: 500", "エラーコード: 1024-接続できません",
                    "宛先: ops@example.co.jp"])
    write("tables", "generic-error-code-not-interfax",
          mail("【監視】バッチ処理エラー", body.encode(), sender="monitor@example.co.jp"),
          {"kind": "unrelated", "results": [],
           "note": "エラーコード, ステータス are generic: no InterFAX domain, subject or fields, no result"})

    body = ja_text([GREETING, "", "送信先\t送信結果\tページ数\t送信ID", "03-5555-0412\t0\t1\t612340412",
                    "03-5555-0413\t3935\t0\t612340413"])
    write("tables", "tab-table-text",
          mail("FAX送信結果のお知らせ", body.encode(), cte="base64"),
          {"kind": R, "note": "a TAB-separated list in a text part",
           "results": [delivered("+81355550412", transaction_id="612340412"),
                       failed("3935", "no_answer", "+81355550413", transaction_id="612340413")]})


def folds() -> None:
    """Theme 5: lines folded by a relay (CRLF + SPACE after 998 bytes), stray escapes in Shift_JIS."""
    head = "<html><body><p>" + GREETING + "</p>"
    result = "<table><tr><td>送信結果:</td><td>3912-FAX番号が使用不可です</td></tr>"
    rest = ("<tr><td>送信先</td><td>03-5555-0501</td></tr><tr><td>送信ID</td><td>612340501</td></tr>"
            "</table></body></html>")
    line = pad_to_split(head.encode(), (result + rest).encode(), len("<table><tr><td>送".encode()) + 1)
    write("folds", "utf8-html-fold-in-label",
          mail("FAX送信が失敗しました -> 0355550501", relay_fold(line), ctype="text/html"),
          {"kind": R, "note": "the fold falls inside 信 of 送信結果 (UTF-8, 8bit)",
           "results": [failed("3912", "invalid_number", "+81355550501", transaction_id="612340501")]})

    tail = ("<table><tr><td>送信結果:</td><td>6017-話中</td></tr><tr><td>送信先</td><td>03-5555-0502</td></tr>"
            "<tr><td>送信ID</td><td>612340502</td></tr></table></body></html>")
    target = tail.encode()
    line = pad_to_split(head.encode(), target, target.index(b"03-55") + 4)
    write("folds", "utf8-html-fold-in-number",
          mail("FAX送信結果のお知らせ", relay_fold(line), ctype="text/html"),
          {"kind": R, "note": "the fold falls inside the fax number and the subject has none",
           "results": [failed("6017", "busy", "+81355550502", fax_number_raw="03-5555-0502",
                              transaction_id="612340502")]})

    tail = ("<table><tr><td>送信結果：</td><td>６０１７－話中</td></tr><tr><td>送信先</td><td>06-5555-0503</td></tr>"
            "</table></body></html>")
    target = tail.encode("cp932")
    line = pad_to_split(("<html><body><p>" + GREETING + "</p>").encode("cp932"), target,
                        len("<table><tr><td>送信".encode("cp932")) + 1)
    write("folds", "sjis-html-fold-in-label",
          mail("FAX送信が失敗しました -> 0655550503", relay_fold(line), ctype="text/html", charset="shift_jis"),
          {"kind": R, "note": "Shift_JIS: the fold splits the two bytes of 結",
           "results": [failed("6017", "busy", "+81655550503")]})

    before = ja_text([GREETING, "送信結果: 8021-無応答", "送信先: 03-5555-0504"]).encode("cp932")
    stray = "件名: ".encode("cp932") + "見積書".encode("iso2022_jp") + b"\n"
    after = ja_text(["送信ID: 612340504"]).encode("cp932")
    write("folds", "sjis-with-stray-escape",
          mail("FAX送信が失敗しました -> 0355550504", before + stray + after, charset="shift_jis"),
          {"kind": R, "note": "a Shift_JIS body with one ISO-2022-JP escape run",
           "results": [failed("8021", "no_answer", "+81355550504", original_subject="見積書",
                              transaction_id="612340504")]})

    rows = "".join(f"<tr><td>{n}</td><td>03-5555-05{n:02d}</td><td>{code}</td><td>6123405{n:02d}</td></tr>"
                   for n, code in ((5, "0"), (6, "6017-話中"), (7, "3912-FAX番号が使用不可です")))
    line = ("<html><body><p>" + GREETING + "。" * 300 + "</p><table><tr><td>No.</td><td>送信先</td><td>送信結果</td>"
            "<td>送信ID</td></tr>" + rows + "</table><p>" + "ご利用ありがとうございました。" * 40
            + "</p></body></html>").encode()
    assert len(line) > 2 * LIMIT
    write("folds", "utf8-list-folded-twice",
          mail("FAX送信結果のお知らせ", relay_fold(line), ctype="text/html"),
          {"kind": R, "note": "a line over 2000 bytes folded twice; the list still gives three results",
           "results": [delivered("+81355550505", transaction_id="612340505"),
                       failed("6017", "busy", "+81355550506", transaction_id="612340506"),
                       failed("3912", "invalid_number", "+81355550507", transaction_id="612340507")]})

    body = (ja_text([GREETING]).encode("iso2022_jp") + "送信結果: 3224-通信エラー\n".encode("cp932")
            + ja_text(["送信先: 03-5555-0508", "送信ID: 612340508"]).encode("iso2022_jp"))
    write("folds", "iso2022jp-with-8bit-run",
          mail("FAX送信が失敗しました -> 0355550508", body, charset="iso-2022-jp", subject_charset="iso-2022-jp"),
          {"kind": R, "note": "ISO-2022-JP with one Shift_JIS line pasted in as 8-bit bytes",
           "results": [failed("3224", "communication_error", "+81355550508", transaction_id="612340508")]})

    # A gateway's text rendering of the HTML table: one line, cells joined by TAB (formats.md: a field is found
    # by its label wherever it stands). A long note cell pushes 送信結果 to the fold.
    cells = "送信結果\t0\t送信先\t03-5555-0509\t送信ID\t612340509".encode()
    note = "備考\t".encode()
    line = note + "ご".encode() * ((LIMIT - len(note) - 20) // 3) + b"\t"
    line += b"-" * (LIMIT - len(line) - 4) + cells  # the fold splits 結's three bytes
    write("folds", "utf8-text-fold",
          mail("FAX送信が成功しました -> 0355550509", ja_text([GREETING]).encode() + relay_fold(line) + b"\n"),
          {"kind": R, "note": "a text/plain line of TAB-joined cells folded inside a character of 送信結果",
           "results": [delivered("+81355550509", transaction_id="612340509")]})


def stored() -> None:
    """Theme 10: values are stored as the mail writes them; only matching folds them."""
    body = ja_text([GREETING, "送信結果: 3912-FAX番号が使用不可です", "送信先: 03-5555-0511",
                    "件名: ①見積書 ㈱サンプル商事 御中"])
    write("stored", "circled-iso2022jp",
          mail("FAX送信が失敗しました -> 0355550511", _iso2022jp_ms(body), charset="iso-2022-jp", cte="7bit",
               subject_charset="iso-2022-jp"),
          {"kind": R, "results": [failed("3912", "invalid_number", "+81355550511",
                                         original_subject="①見積書 ㈱サンプル商事 御中",
                                         vendor_message="FAX番号が使用不可です")]})

    html = ("<html><body><table><tr><td>送信結果</td><td>6017-話中</td></tr><tr><td>宛先</td><td>06-5555-0512</td></tr>"
            "<tr><td>件名</td><td>Ⅲ期 ご請求書（№１２）</td></tr></table></body></html>")
    write("stored", "roman-numeral-html",
          mail("FAX送信が失敗しました -> 0655550512", html.encode(), ctype="text/html", cte="base64"),
          {"kind": R, "results": [failed("6017", "busy", "+81655550512", original_subject="Ⅲ期 ご請求書（№１２）",
                                         vendor_message="話中")]})

    csv_text = ("TransactionID,CSID,PagesSent,Status,OriginalSubject,DestinationFax,Duration,SubmitTime,"
                "CompletionTime,Contact\r\n"
                '612340513,,2,0,"①見積書, 第２版",0355550513,45,2026-11-20 10:00:00,2026-11-20 10:01:00,\r\n')
    write("stored", "csv-circled",
          multipart("FAX送信結果", [("text/plain; charset=utf-8", "結果を添付します。\n".encode(), {}),
                                    ("text/csv; charset=utf-8", csv_text.encode(),
                                     {"Content-Disposition": 'attachment; filename="result.csv"'})]),
          {"kind": R, "results": [delivered("+81355550513", original_subject="①見積書, 第２版",
                                            transaction_id="612340513", pages=2)]})

    xml = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><FaxResults><Transaction>"
           "<TransactionID>612340514</TransactionID><CSID></CSID><PagesSent>0</PagesSent><Status>6017</Status>"
           "<OriginalSubject>ＡＢＣ商事 見積書</OriginalSubject><DestinationFax>0355550514</DestinationFax>"
           "<Duration>0</Duration><SubmitTime>2026-11-20 10:00:00</SubmitTime>"
           "<CompletionTime>2026-11-20 10:12:00</CompletionTime><Contact></Contact></Transaction></FaxResults>")
    write("stored", "xml-full-width",
          mail("FAX送信結果", xml.encode(), ctype="text/xml"),
          {"kind": R, "results": [failed("6017", "busy", "+81355550514", original_subject="ＡＢＣ商事 見積書",
                                         transaction_id="612340514")]})

    body = ja_text([GREETING, "送信結果：８０２１－無応答", "送信先：０３－５５５５－０５１５", "件名：ｶﾞｲﾄﾞ送付の件"])
    write("stored", "half-width-kana-sjis",
          mail("FAX送信が失敗しました -> 0355550515", body.encode("cp932"), charset="shift_jis"),
          {"kind": R, "results": [failed("8021", "no_answer", "+81355550515", original_subject="ｶﾞｲﾄﾞ送付の件",
                                         fax_number_raw="０３－５５５５－０５１５", vendor_message="無応答")]})


def attached() -> None:
    """A notice carried as a text file beside an empty body: a scanner or gateway that mails the notice on as
    `送信結果.txt`, "forward as attachment" of Japanese webmail that attaches the text rather than the mail.
    With no inline text at all, the attached text/plain or text/html is the body a person reads; a body with
    words of its own is read instead of any attachment."""
    attachment = 'attachment; filename="=?UTF-8?B?6YCB5L+h57WQ5p6c?=.txt"'  # 送信結果.txt
    body = ja_text([GREETING, "下記のFAX送信は、再送信を行いましたが送信できませんでした。", "",
                    "送信結果：3912-FAX番号が使用不可です", "送信先FAX番号：03-5555-0601", "送信ページ数：2",
                    "トランザクションID：612340601", "件名：見積書送付の件"])
    write("attached", "txt-sjis-empty-body",
          multipart("FAX送信が失敗しました -> 03-5555-0601",
                    [("text/plain; charset=utf-8", b"", {}),
                     ("text/plain; charset=shift_jis", body.encode("cp932"), {"Content-Disposition": attachment})]),
          {"kind": R, "results": [failed("3912", "invalid_number", "+81355550601", transaction_id="612340601",
                                         original_subject="見積書送付の件")]})

    html = ("<html><body><p>" + GREETING + "</p><table><tr><td>送信結果</td><td>6017-話中</td></tr>"
            "<tr><td>送信先FAX番号</td><td>06-5555-0602</td></tr><tr><td>トランザクションID</td>"
            "<td>612340602</td></tr></table></body></html>")
    write("attached", "html-file-blank-body",
          multipart("FAX送信が失敗しました -> 06-5555-0602",
                    [("text/plain; charset=utf-8", b"\r\n\r\n", {}),
                     ("text/html; charset=utf-8", html.encode(),
                      {"Content-Disposition": 'attachment; filename="notice.html"'})]),
          {"kind": R, "results": [failed("6017", "busy", "+81655550602", retryable=True,
                                         transaction_id="612340602")]})

    body = ja_text([GREETING, "送信結果：8021-無応答", "送信先FAX番号：045-555-0603", "トランザクションID：612340603"])
    write("attached", "txt-only-part",  # the whole mail is one text/plain part with a file name
          mail("FAX送信が失敗しました -> 045-555-0603", body.encode("utf-8"), cte="base64",
               extra='Content-Disposition: attachment; filename="result.txt"'),
          {"kind": R, "results": [failed("8021", "no_answer", "+81455550603", retryable=True,
                                         transaction_id="612340603")]})

    body = ja_text([GREETING, "送信結果：0-正常終了", "送信先FAX番号：03-5555-0604", "トランザクションID：612340604"])
    write("attached", "txt-delivered-no-body-part",  # multipart/mixed holding only the file
          multipart("FAX送信結果", [("text/plain; charset=iso-2022-jp", body.encode("iso-2022-jp"),
                                    {"Content-Disposition": 'attachment; filename="result.txt"'})]),
          {"kind": R, "results": [delivered("+81355550604", transaction_id="612340604")]})

    xml = ("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<FaxResults><Transaction>"
           "<TransactionID>612340605</TransactionID><CSID></CSID><PagesSent>0</PagesSent><Status>3935</Status>"
           "<OriginalSubject>ご案内</OriginalSubject><DestinationFax>0355550605</DestinationFax>"
           "<Duration>0</Duration><SubmitTime>2026-11-20 10:00:00</SubmitTime>"
           "<CompletionTime>2026-11-20 10:12:00</CompletionTime><Contact></Contact></Transaction></FaxResults>")
    write("attached", "xml-utf16-no-charset",  # XML 1.0 4.3.3: the byte order mark says UTF-16; no label does
          multipart("FAX送信結果", [("text/plain; charset=utf-8", "結果を添付します。\n".encode(), {}),
                                    ("application/xml", xml.encode("utf-16"),
                                     {"Content-Disposition": 'attachment; filename="result.xml"'})]),
          {"kind": R, "results": [failed("3935", "no_answer", "+81355550605", transaction_id="612340605",
                                         original_subject="ご案内")]})

    minutes = ja_text(["営業会議 議事録", "日時：2026/11/20 10:00", "出席者：山田、佐藤", "1. 来期予算について"])
    write("attached", "txt-not-a-notice",  # a colleague's file beside an empty body: nothing about a fax
          multipart("議事録", [("text/plain; charset=utf-8", b"", {}),
                             ("text/plain; charset=utf-8", minutes.encode(),
                              {"Content-Disposition": 'attachment; filename="minutes.txt"'})],
                    sender="Hanako Sato <hanako@example.co.jp>"),
          {"kind": "unrelated", "results": []})

    note = ja_text(["お疲れさまです。", "FAX送信結果のメモを添付します。", "佐藤"])
    write("attached", "txt-beside-own-words",  # a body with words of its own is what is read
          multipart("メモ", [("text/plain; charset=utf-8", note.encode(), {}),
                           ("text/plain; charset=utf-8", body.encode(),
                            {"Content-Disposition": 'attachment; filename="memo.txt"'})],
                    sender="Hanako Sato <hanako@example.co.jp>"),
          {"kind": "unrelated", "results": []})


def spaced_soft_breaks() -> None:
    """Theme 5, continued: quoted-printable whose soft line breaks (`=` at a line's end) a relay or a mailer's
    line wrapper left white space after (`= ` then the line end). RFC 2045 6.7: "any trailing white space on
    a line must be deleted", so `= ` + line end is still a soft break. Kept, it cut a UTF-8 or Shift_JIS
    character in two at each break and the body lost its labels."""
    def spaced(body: bytes, pad: bytes = b" ") -> bytes:
        encoded = quopri.encodestring(body)  # soft breaks at 76 columns, some inside multi-byte characters
        return encoded.replace(b"=\n", b"=" + pad + b"\n")

    body = ja_text([GREETING, "下記のFAX送信は、再送信を行いましたが送信できませんでした。",
                    "送信結果：8021-無応答", "送信先FAX番号：03-5555-0521", "トランザクションID：612340521",
                    "件名：見積書送付の件"])
    write("folds", "qp-space-after-soft-break",
          mail("FAX送信が失敗しました -> 03-5555-0521", spaced(body.encode()), cte="7bit",
               extra="X-Note: quoted-printable below").replace(b"Content-Transfer-Encoding: 7bit",
                                                              b"Content-Transfer-Encoding: quoted-printable"),
          {"kind": R, "results": [failed("8021", "no_answer", "+81355550521", retryable=True,
                                         transaction_id="612340521", original_subject="見積書送付の件")]})

    body = ja_text([GREETING, "送信結果：204000-解析エラー", "送信先FAX番号：06-5555-0522",
                    "トランザクションID：612340522", "件名：請求書（11月分）"])
    write("folds", "qp-tabs-after-soft-break-sjis",
          mail("FAX送信が失敗しました -> 06-5555-0522", spaced(body.encode("cp932"), b" \t"), charset="shift_jis",
               cte="7bit").replace(b"Content-Transfer-Encoding: 7bit",
                                   b"Content-Transfer-Encoding: quoted-printable"),
          {"kind": R, "results": [failed("204000", "render_failed", "+81655550522", transaction_id="612340522",
                                         original_subject="請求書（11月分）")]})

    csv_text = ("TransactionID,CSID,PagesSent,Status,OriginalSubject,DestinationFax,Duration,SubmitTime,"
                "CompletionTime,Contact\n"
                "612340523,,0,6017,見積書送付の件,0355550523,0,2026-11-20 10:00:00,2026-11-20 10:12:00,\n")
    boundary = "==faxbounce-qp=="
    raw = (f"Return-Path: <>\r\nFrom: InterFAX <support@interfax.co.jp>\r\nTo: taro@example.co.jp\r\n"
           f"Subject: {encoded_subject('FAX送信結果')}\r\nDate: Fri, 20 Nov 2026 10:20:00 +0900\r\n"
           f"Message-ID: <qp23@interfax.co.jp>\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n結果を添付します。\r\n"
           f"--{boundary}\r\nContent-Type: text/csv; charset=utf-8\r\n"
           f'Content-Disposition: attachment; filename="result.csv"\r\n'
           f"Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode()
    raw += spaced(csv_text.encode()).replace(b"\n", CRLF) + f"\r\n--{boundary}--\r\n".encode()
    write("folds", "qp-space-after-soft-break-csv", raw,
          {"kind": R, "results": [failed("6017", "busy", "+81355550523", retryable=True,
                                         transaction_id="612340523", original_subject="見積書送付の件")]})


def stored_through_forwards() -> None:
    """Theme 10, continued: a notice forwarded inline, and a bounce's returned original, keep what they write
    (`２０２６`, `０３－…`, `①`) in the values that are stored, as a notice sent directly does."""
    notice = ja_text([GREETING, "送信結果: 3912-FAX番号が使用不可です", "送信先FAX番号: ０３－５５５５－０５３１",
                      "トランザクションID: 612340531", "件名: 【至急】２０２６年度下期カタログ"])
    outlook = ja_text(["お疲れ様です。転送します。", "", "-----Original Message-----",
                       "差出人: InterFAX <support@interfax.co.jp>", "送信日時: 2026年11月20日 10:15",
                       "宛先: yamada@example.co.jp", "件名: FAX送信が失敗しました -> 03-5555-0531", ""]) + notice
    expected = failed("3912", "invalid_number", "+81355550531", fax_number_raw="０３－５５５５－０５３１",
                      original_subject="【至急】２０２６年度下期カタログ", transaction_id="612340531", forwarded=True)
    write("stored", "forward-outlook-full-width",
          mail("FW: FAX送信が失敗しました -> 03-5555-0531", outlook.encode(),
               sender="Taro Yamada <yamada@example.co.jp>"),
          {"kind": R, "results": [expected]})

    quoted = ja_text(["転送します。", "", "-------- 転送メッセージ --------",
                      "件名: FAX送信が失敗しました -> 03-5555-0531", "日付: Fri, 20 Nov 2026 10:15:00 +0900",
                      "差出人: InterFAX <support@interfax.co.jp>", "宛先: yamada@example.co.jp", ""])
    quoted += "".join(f"> {line}\n" for line in notice.splitlines())
    write("stored", "forward-quoted-full-width",
          mail("Fwd: FAX送信が失敗しました -> 03-5555-0531", quoted.encode(), cte="base64",
               sender="Taro Yamada <yamada@example.co.jp>"),
          {"kind": R, "results": [expected]})

    body = ja_text([GREETING, "送信結果：3912-FAX番号が使用不可です", "宛　　先：０３－５５５５－０５３４",
                    "送 信 Ｉ Ｄ：612340534", "件　　名：①見積書送付の件"])
    write("stored", "justified-labels",  # short labels spaced out to the column's width (均等割り付け)
          mail("FAX送信が失敗しました", body.encode("cp932"), charset="shift_jis"),
          {"kind": R, "results": [failed("3912", "invalid_number", "+81355550534",
                                         fax_number_raw="０３－５５５５－０５３４", transaction_id="612340534",
                                         original_subject="①見積書送付の件")]})

    boundary = "==faxbounce-stored=="
    original_subject = "=?UTF-8?B?" + base64.b64encode("①見積書 ㈱サンプル商事 御中".encode()).decode() + "?="
    bounce = (f"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@fax.tc>\r\n"
              f"To: yamada@example.co.jp\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              f"Date: Fri, 20 Nov 2026 10:20:00 +0900\r\nMessage-ID: <b532@fax.tc>\r\nMIME-Version: 1.0\r\n"
              f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
              f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
              f"Your message could not be delivered.\r\n\r\n*** No recipients found ***\r\n"
              f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
              f"From: yamada@example.co.jp\r\nTo: 0355550532@fax.tc\r\nSubject: {original_subject}\r\n"
              f"Date: Fri, 20 Nov 2026 10:19:00 +0900\r\nMessage-ID: <o532@example.co.jp>\r\n\r\n"
              f"(fax body)\r\n--{boundary}--\r\n")
    quoting = (f"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@fax.tc>\r\n"
               f"To: yamada@example.co.jp\r\nSubject: Undelivered Mail Returned to Sender\r\n"
               f"Date: Fri, 20 Nov 2026 10:20:00 +0900\r\nMessage-ID: <b533@fax.tc>\r\n\r\n"
               f"Your message could not be delivered.\r\n\r\n------ Original message ------\r\n"
               f"From: yamada@example.co.jp\r\nTo: 0355550533@fax.tc\r\nSubject: {original_subject}\r\n"
               f"Date: Fri, 20 Nov 2026 10:19:00 +0900\r\n\r\n(fax body)\r\n\r\n"
               f"*** No recipients found ***\r\n")
    write("stored", "faxtc-bounce-quoted-circled-original-subject", quoting.encode(),
          {"kind": "interfax_bounce", "results": [
              {"vendor": "interfax", "code": "No recipients found", "outcome": "failed",
               "reason": "no_recipients", "fax_number": "+81355550533",
               "original_subject": "①見積書 ㈱サンプル商事 御中"}]})
    write("stored", "faxtc-bounce-circled-original-subject", bounce.encode(),
          {"kind": "interfax_bounce", "results": [
              {"vendor": "interfax", "code": "No recipients found", "outcome": "failed",
               "reason": "no_recipients", "fax_number": "+81355550532",
               "original_subject": "①見積書 ㈱サンプル商事 御中"}]})


def false_base64() -> None:
    """Theme 5, continued: `Content-Transfer-Encoding: base64` on a body that is not base64 (a broken gateway
    relabels a part, keeping its 8-bit text): decoding it makes noise, reading it as it is gives the notice.
    A true base64 body with a plain footer appended by a gateway is still base64."""
    def relabelled(raw: bytes) -> bytes:
        return raw.replace(b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: base64")

    body = ja_text([GREETING, "送信結果：3912-FAX番号が使用不可です", "送信先FAX番号：03-5555-0541",
                    "トランザクションID：612340541", "件名：見積書送付の件"])
    write("folds", "base64-declared-utf8-text",
          relabelled(mail("FAX送信が失敗しました -> 03-5555-0541", body.encode())),
          {"kind": R, "results": [failed("3912", "invalid_number", "+81355550541", transaction_id="612340541",
                                         original_subject="見積書送付の件")]})

    body = ja_text([GREETING, "送信結果：6017-話中", "送信先FAX番号：06-5555-0542", "トランザクションID：612340542"])
    write("folds", "base64-declared-sjis-text",
          relabelled(mail("FAX送信が失敗しました -> 06-5555-0542", body.encode("cp932"), charset="shift_jis")),
          {"kind": R, "results": [failed("6017", "busy", "+81655550542", retryable=True,
                                         transaction_id="612340542")]})

    body = ja_text([GREETING, "送信結果：8021-無応答", "送信先FAX番号：03-5555-0543", "トランザクションID：612340543"])
    footer = b"\r\n-- \r\nThis message was scanned by MailGuard.\r\n"
    write("folds", "base64-with-plain-footer",
          mail("FAX送信が失敗しました -> 03-5555-0543", body.encode(), cte="base64") + footer,
          {"kind": R, "results": [failed("8021", "no_answer", "+81355550543", retryable=True,
                                         transaction_id="612340543")]})


def tables_as_builders_write_them() -> None:
    """Theme 4, continued: list tables and notices as e-mail builders lay them out. A `<tfoot>` summary that
    HTML 4 puts before the rows, a group heading between rows, and a responsive template that writes the notice
    twice (desktop table, mobile cards; one hidden by a style sheet's class, which a text reading cannot see)."""
    head = "<tr><th>送信先FAX番号</th><th>送信結果</th><th>トランザクションID</th></tr>"
    rows = ["<tr><td>03-5555-0551</td><td>0-正常終了</td><td>612340551</td></tr>",
            "<tr><td>06-5555-0552</td><td>3912-FAX番号が使用不可です</td><td>612340552</td></tr>",
            "<tr><td>052-555-0553</td><td>8021-無応答</td><td>612340553</td></tr>"]
    expected = [delivered("+81355550551", transaction_id="612340551"),
                failed("3912", "invalid_number", "+81655550552", transaction_id="612340552"),
                failed("8021", "no_answer", "+81525550553", transaction_id="612340553", retryable=True)]
    html = (f"<html><body><p>{GREETING}</p><table border=1><thead>{head}</thead>"
            "<tfoot><tr><td colspan=2>合計</td><td>3件</td></tr></tfoot>"
            f"<tbody>{''.join(rows)}</tbody></table></body></html>")
    write("tables", "list-tfoot-before-rows", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "note": "a browser draws the tfoot below the rows", "results": expected})

    html = (f"<html><body><p>{GREETING}</p><table border=1>{head}"
            "<tr><td colspan=3>■ 送信できた宛先</td></tr>" + rows[0]
            + "<tr><td colspan=3>■ 送信できなかった宛先</td></tr>" + "".join(rows[1:]) + "</table></body></html>")
    write("tables", "list-group-headings", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "note": "each group heading is one cell across the table", "results": expected})

    card = ("<div class=\"mobile\"><p><b>送信結果</b><br>6017-話中</p><p><b>送信先FAX番号</b><br>03-5555-0554</p>"
            "<p><b>トランザクションID</b><br>612340554</p></div>")
    desktop = ("<table class=\"desktop\"><tr><td>送信結果</td><td>6017-話中</td></tr>"
               "<tr><td>送信先FAX番号</td><td>03-5555-0554</td></tr>"
               "<tr><td>トランザクションID</td><td>612340554</td></tr></table>")
    html = ("<html><head><style>@media (max-width: 600px) { .desktop { display: none } }"
            " @media (min-width: 601px) { .mobile { display: none } }</style></head>"
            f"<body><p>{GREETING}</p>{desktop}{card}</body></html>")
    write("tables", "responsive-desktop-and-mobile", mail("FAX送信が失敗しました", html.encode(), ctype="text/html"),
          {"kind": R, "note": "one notice written twice: one result",
           "results": [failed("6017", "busy", "+81355550554", transaction_id="612340554", retryable=True)]})

    table = ("<table><tr><td>送信結果</td><td>0-正常終了</td></tr><tr><td>送信先FAX番号</td><td>052-555-0555</td></tr>"
             "<tr><td>トランザクションID</td><td>612340555</td></tr></table>")
    html = (f"<html><head><style>.m {{ display: none }}</style></head><body><p>{GREETING}</p>{table}"
            f"<div class=\"m\">{table}</div></body></html>")
    write("tables", "responsive-table-twice", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "results": [delivered("+81525550555", transaction_id="612340555")]})


def tables_and_their_neighbours() -> None:
    """Theme 4, continued: what follows a list must not become rows of it (a contact table, a price list, a
    summary), and a list's own heading and total lines, however many, must not end it."""
    head = "<tr><th>No.</th><th>送信先FAX番号</th><th>送信結果</th></tr>"
    rows = ["<tr><td>1</td><td>03-5555-0561</td><td>3912-FAX番号が使用不可です</td></tr>",
            "<tr><td>2</td><td>06-5555-0562</td><td>0-正常終了</td></tr>"]
    expected = [failed("3912", "invalid_number", "+81355550561"), delivered("+81655550562")]
    contact = ("<p>お問い合わせ</p><table><tr><td>営業部</td><td>03-5555-0199</td><td>12 (内線)</td></tr>"
               "<tr><td>受付</td><td>0120-555-010</td><td>10:00-18:00</td></tr></table>")
    html = f"<html><body><p>{GREETING}</p><table>{head}{''.join(rows)}</table>{contact}</body></html>"
    write("tables", "list-then-contact-table", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "note": "the contact table's numbers and extensions are no rows", "results": expected})

    html = (f"<html><body><p>{GREETING}</p><table>{head}{rows[0]}"
            "<tr><td colspan=3>■ 送信できた宛先</td></tr><tr><td colspan=3>以下の宛先には送信できました。</td></tr>"
            f"<tr><td colspan=3>(1件)</td></tr>{rows[1]}</table></body></html>")
    write("tables", "list-heading-of-three-lines", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "results": expected})

    html = (f"<html><body><p>{GREETING}</p><table><thead>{head}</thead><tfoot>"
            "<tr><td colspan=3>合計 2件</td></tr><tr><td colspan=3>成功 1件</td></tr>"
            f"<tr><td colspan=3>失敗 1件</td></tr></tfoot><tbody>{''.join(rows)}</tbody></table></body></html>")
    write("tables", "list-tfoot-of-three-rows", mail("FAX送信結果のお知らせ", html.encode(), ctype="text/html"),
          {"kind": R, "results": expected})

    body = ja_text([GREETING, "送信結果：6017-話中", "送信先FAX番号：03-5555-0563", "トランザクションID：612340563"])
    write("folds", "base64-declared-first-line-words",  # `InterFAX をご利用…`: a space, then kana
          mail("FAX送信が失敗しました", body.replace("InterFAXを", "InterFAX を").encode()).replace(
              b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: base64"),
          {"kind": R, "results": [failed("6017", "busy", "+81355550563", retryable=True,
                                         transaction_id="612340563")]})

    notice = ja_text([GREETING, "送信結果: 8021-無応答", "送信先FAX番号: ０３－５５５５－０５６４",
                      "トランザクションID: 612340564"])
    forward = ja_text(["転送します。", "", "-----Original Message-----", "差 出 人: InterFAX <support@interfax.co.jp>",
                       "送信日時: 2026年11月20日 10:15", "宛　　先: yamada@example.co.jp",
                       "件　　名: FAX送信が失敗しました -> 03-5555-0564", ""]) + notice
    quoted = ja_text(["転送します。", "", "-------- 転送メッセージ --------",
                      "件名: FAX送信が失敗しました -> 03-5555-0565", "差出人: InterFAX <support@interfax.co.jp>",
                      "宛先: yamada@example.co.jp", ""])
    quoted += "".join(f"＞ {line}\n" for line in notice.replace("0564", "0565").replace("０５６４", "０５６５")
                      .replace("612340564", "612340565").splitlines())
    write("stored", "forward-full-width-quote-marks",  # a Japanese mailer quoting with `＞ `
          mail("Fwd: FAX送信が失敗しました", quoted.encode(), sender="Taro Yamada <yamada@example.co.jp>"),
          {"kind": R, "results": [failed("8021", "no_answer", "+81355550565", retryable=True,
                                         fax_number_raw="０３－５５５５－０５６５", transaction_id="612340565",
                                         forwarded=True)]})
    write("stored", "forward-justified-header-names",  # the forward's own header block, its names spaced out
          mail("FW: FAX送信が失敗しました", forward.encode(), sender="Taro Yamada <yamada@example.co.jp>"),
          {"kind": R, "results": [failed("8021", "no_answer", "+81355550564", retryable=True,
                                         fax_number_raw="０３－５５５５－０５６４", transaction_id="612340564",
                                         original_subject=None, forwarded=True)]})


def _iso2022jp_ms(text: str) -> bytes:
    """ISO-2022-JP as Japanese Windows mailers write it (CP50221): NEC row 13 (①, ㈱) as JIS X 0208 codes."""
    out = bytearray()
    in_jis = False
    for char in text:
        if char.isascii():
            if in_jis:
                out += b"\x1b(B"
                in_jis = False
            out += char.encode("ascii")
            continue
        s1, s2 = char.encode("cp932")
        j1 = ((s1 - (0x70 if s1 < 0xA0 else 0xB0)) << 1) - (1 if s2 < 0x9F else 0)
        j2 = s2 - (0x1F if s2 < 0x7F else 0x20 if s2 < 0x9F else 0x7E)
        if not in_jis:
            out += b"\x1b$B"
            in_jis = True
        out += bytes((j1, j2))
    return bytes(out + (b"\x1b(B" if in_jis else b""))


if __name__ == "__main__":
    numbers()
    more_numbers()
    tables()
    tables_as_builders_write_them()
    tables_and_their_neighbours()
    folds()
    spaced_soft_breaks()
    false_base64()
    stored()
    stored_through_forwards()
    attached()
