"""An InterFAX HTML result whose HTML is one line of more than 998 bytes, as the service sends it.

The 999th byte falls inside a three-byte UTF-8 character: Postfix's smtp client, left at its default
`smtp_line_length_limit = 998`, breaks the line there with CRLF + space and so cuts the character in two.
"""

from __future__ import annotations

from email.header import Header
from email.utils import formatdate, make_msgid

POSTFIX_LINE_LIMIT = 998
_CELL = "style=\"padding:2px 8px;border:1px solid #999999;font-family:'MS PGothic',Osaka,sans-serif\""


def long_line_html_result(number: str = "03-5555-0105", code: str = "3912",
                          label: str = "FAX番号が使用不可です") -> bytes:
    """A Japanese HTML result (UTF-8, 8bit, the whole HTML on one line) for `number` with status `code`."""
    rows = (("送信結果", f"{code}-{label}"), ("送信先", number), ("ページ数", "0"),
            ("送信日時", "2026/11/20 10:15:00"), ("トランザクションID", "612345999"), ("件名", "見積書送付の件"))
    for pad in range(400):
        html = ('<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"><html><head>'
                '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><title>送信結果通知</title>'
                f'</head><body><p{" " * pad}>InterFAXをご利用いただき、ありがとうございます。</p><table border="1">'
                + "".join(f"<tr><th {_CELL}>{k}</th><td {_CELL}>{v}</td></tr>" for k, v in rows)
                + "</table></body></html>").encode()
        if len(html) > POSTFIX_LINE_LIMIT + 10 and 0x80 <= html[POSTFIX_LINE_LIMIT] <= 0xBF:
            break
    else:  # pragma: no cover - the template above always has Japanese text around byte 998
        raise AssertionError("no padding puts byte 998 inside a multi-byte character")
    head = (f"From: InterFAX <support@interfax.co.jp>\r\nTo: sales@example.co.jp\r\n"
            f"Subject: {Header(f'FAX送信が失敗しました -> {number}', 'utf-8').encode()}\r\n"
            f"Date: {formatdate()}\r\nMessage-ID: {make_msgid(domain='interfax.co.jp')}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode() + html + b"\r\n"
