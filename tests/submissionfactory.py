"""Builders for fax submission mails and the InterFAX result mails that answer them (issue #5 tests)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid

JST = timezone(timedelta(hours=9))
_TRANSACTIONS = itertools.count(612300000)


def submission(numbers: Sequence[str] = ("03-5555-0101",), subject: str = "見積書送付の件 /b",
               when: datetime | None = None, message_id: str | None = None, header: str = "To",
               sender: str = "taro@example.co.jp", domain: str = "fax.tc") -> bytes:
    """A mail to `<number>@fax.tc` as a mailer sends it (ISO-2022-JP, 7bit), addressed in `header`
    (To, Cc, Bcc, or "" for none: the fax addresses are then only in the envelope)."""
    message = MIMEText("いつもお世話になっております。\n見積書を送付いたします。\n", "plain", "iso-2022-jp")
    message["From"] = f"{Header('山田 太郎', 'iso-2022-jp').encode()} <{sender}>"
    if header:
        message[header] = ", ".join(f"{n}@{domain}" for n in numbers)
    if header != "To":
        message["To"] = sender
    message["Subject"] = Header(subject, "iso-2022-jp")
    message["Date"] = format_datetime((when or datetime.now(UTC)).astimezone(JST))
    message["Message-ID"] = message_id or make_msgid(domain="example.co.jp")
    return message.as_bytes()


def result(number: str = "03-5555-0101", code: str = "0", label: str = "", subject: str = "見積書送付の件",
           transaction_id: str | None = "", when: datetime | None = None) -> bytes:
    """A Text-Japanese InterFAX result notification for one destination (a fresh transaction id unless
    given; None leaves the field out)."""
    when = (when or datetime.now(UTC)).astimezone(JST)
    if transaction_id == "":
        transaction_id = str(next(_TRANSACTIONS))
    ok = code == "0"
    lines = [
        "InterFAXをご利用いただきありがとうございます。",
        "FAX送信が成功しました。" if ok else "FAX送信が失敗しました。",
        "",
        f"送信先FAX番号: {number}",
        f"送信結果: {code}" + (f"-{label}" if label else ""),
    ]
    if transaction_id:
        lines.append(f"トランザクションID: {transaction_id}")
    lines += [f"受付日時: {when:%Y/%m/%d %H:%M:%S}", f"完了日時: {when + timedelta(minutes=2):%Y/%m/%d %H:%M:%S}"]
    if subject:
        lines.append(f"件名: {subject}")
    message = MIMEText("\n".join(lines) + "\n", "plain", "iso-2022-jp")
    message["From"] = "InterFAX <support@interfax.co.jp>"
    message["To"] = "taro@example.co.jp"
    verdict = "成功" if ok else "失敗"
    message["Subject"] = Header(f"FAX送信が{verdict}しました -> {number}", "iso-2022-jp")
    message["Date"] = format_datetime(when + timedelta(minutes=2))
    message["Message-ID"] = make_msgid(domain="fax.tc")
    return message.as_bytes()


def faxtc_bounce(original: bytes, cause: str = "Cannot find password in body") -> bytes:
    """A bounce from MAILER-DAEMON@fax.tc returning `original` (a submission) whole, its cause the last line."""
    return (b"From: Mail Delivery System <MAILER-DAEMON@fax.tc>\r\nTo: taro@example.co.jp\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
            b"Your message could not be faxed.\r\n\r\n*** " + cause.encode() + b" ***\r\n"
            b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--B--\r\n")
