"""Vendor mail that says it reports no fax sent is read by no detector; vendor mail nobody can read is flagged.

Each case is an InterFAX notice with the labels a detector knows (`送信結果: 3912`, a number, a transaction id),
sent as the vendor's other mail would be: what decides is what the mail says it is (README "Never silent").
"""

from __future__ import annotations

from email.header import Header
from email.mime.text import MIMEText

import pytest

from processor.detect import classify
from processor.detect.marks import plainly_other
from processor.parse import parse_mail
from processor.reasons import Kind

BODY = ("下記の通りお知らせいたします。\n\n送信先FAX番号: 03-5555-0101\n送信結果: 3912-FAX番号が使用不可です\n"
        "トランザクションID: 612349001\n送信ページ数: 1\n")


def vendor_mail(subject: str, sender: str = "InterFAX <support@interfax.co.jp>", body: str = BODY,
                **headers: str) -> bytes:
    message = MIMEText(body, "plain", "utf-8")
    message["From"] = sender
    message["To"] = "taro@example.co.jp"
    message["Subject"] = Header(subject, "utf-8")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message.as_bytes()


VENDOR_LIST = "<https://www.interfax.co.jp/unsubscribe?id=1>, <mailto:leave@interfax.co.jp>"
TEAM_LIST = "<mailto:fax-team-leave@lists.example.co.jp>"

# (case, mail, plainly other, kind)
CASES = [
    ("received fax", vendor_mail("FAX受信のお知らせ"), True, Kind.UNRELATED),
    ("new fax, English", vendor_mail("New fax received from +81355550199"), True, Kind.UNRELATED),
    ("monthly statement", vendor_mail("【InterFAX】2026年11月分 ご利用明細のお知らせ"), True, Kind.UNRELATED),
    ("the vendor's newsletter", vendor_mail("送信結果通知メールの見方", List_Unsubscribe=VENDOR_LIST), True,
     Kind.UNRELATED),
    # Genuine notices stay results:
    ("a notice", vendor_mail("FAX送信が失敗しました -> 03-5555-0101"), False, Kind.INTERFAX_RESULT),
    ("a notice relayed by a team's list", vendor_mail("[fax-team] FAX送信が失敗しました -> 03-5555-0101",
                                                      List_Unsubscribe=TEAM_LIST, List_Id="<fax-team.example>"),
     False, Kind.INTERFAX_RESULT),
    ("a result subject wins over list headers", vendor_mail("FAX送信が失敗しました -> 03-5555-0101",
                                                            List_Unsubscribe=VENDOR_LIST), False,
     Kind.INTERFAX_RESULT),
    # A bill's word may be the faxed document's own subject, which mail about the fax can repeat:
    ("請求 in another subject", vendor_mail("請求書送付の件: 送信結果"), False, Kind.INTERFAX_RESULT),
    ("a fax.tc bounce naming an invoice",
     vendor_mail("Undeliverable: 請求書送付の件", sender="MAILER-DAEMON@fax.tc",
                 body="Your message could not be sent.\n\nTo: 0355550101@fax.tc\n\n*** No recipients found ***\n"),
     False, Kind.INTERFAX_BOUNCE),
    # Not the vendor's own mail: a person may title a forward anything.
    ("a person's mail titled as a received fax", vendor_mail("FAX受信のお知らせ", sender="yamada@example.co.jp"), False,
     None),
]


@pytest.mark.parametrize(("case", "raw", "other", "kind"), CASES, ids=[row[0] for row in CASES])
def test_vendor_mail_that_reports_no_fax_sent(case: str, raw: bytes, other: bool, kind: Kind | None) -> None:
    mail = parse_mail(raw)
    assert plainly_other(mail) is other
    if kind is not None:
        assert classify(mail).kind == kind
