"""Small builders for test mails, so tests state only what matters to them."""

from __future__ import annotations

from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid


def interfax_failure(number: str = "03-5555-0101", code: str = "3912", label: str = "FAX番号が使用不可です",
                     charset: str = "iso-2022-jp", transaction_id: str = "123456789") -> bytes:
    """A Text-Japanese InterFAX result notification, as the service sends it."""
    body = (
        "InterFAXをご利用いただきありがとうございます。\n"
        "FAX送信が失敗しました。\n\n"
        f"送信先FAX番号: {number}\n"
        f"送信結果: {code}-{label}\n"
        f"トランザクションID: {transaction_id}\n"
        "送信ページ数: 0\n"
        "送信日時: 2026/11/20 10:15:00\n"
        "件名: 見積書送付の件\n"
    )
    message = MIMEText(body, "plain", charset)
    message["From"] = "InterFAX <noreply@interfax.jp>"
    message["To"] = "sender@example.co.jp"
    message["Subject"] = Header(f"FAX送信が失敗しました -> {number}", charset)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="fax.tc")
    return message.as_bytes()


def plain(subject: str = "hello", body: str = "just a mail\n") -> bytes:
    message = MIMEText(body, "plain", "utf-8")
    message["From"] = "someone@example.com"
    message["To"] = "other@example.com"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    return message.as_bytes()
