"""Replies, auto-replies and forwards (processor/detect/replies.py, forwards.py): tables and edge cases."""

from __future__ import annotations

import base64
import time

import pytest
from mailfactory import interfax_failure

from processor.detect import classify
from processor.detect.forwards import forwarded_mails
from processor.detect.replies import conversation, is_delivery_report, strip_subject_prefixes, subject_prefixes
from processor.parse import parse_mail
from processor.reasons import Kind


def utf8_mail(subject: str, body: str, sender: str = "someone@example.co.jp", headers: str = "") -> bytes:
    encoded = base64.encodebytes(body.encode("utf-8")).decode()
    encoded_subject = base64.b64encode(subject.encode()).decode()
    return (f"From: {sender}\nTo: taro@example.co.jp\nSubject: =?UTF-8?B?{encoded_subject}?=\n"
            f"{headers}MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
            f"Content-Transfer-Encoding: base64\n\n{encoded}").encode()


@pytest.mark.parametrize(("subject", "prefixes", "rest"), [
    ("RE: 転送: FAX送信が失敗しました -> 03-5555-0101", ["re", "転送"], "FAX送信が失敗しました -> 03-5555-0101"),
    ("Re[2]: FAX送信が成功しました", ["re"], "FAX送信が成功しました"),
    ("AW: WG: Fax", ["aw", "wg"], "Fax"),
    ("【転送】FAX送信が失敗しました", ["転送"], "FAX送信が失敗しました"),
    ("[Fwd: FAX送信が失敗しました]", ["fwd"], "FAX送信が失敗しました]"),
    ("Automatic reply: Nyaan", ["automatic reply"], "Nyaan"),
    ("自動応答：FAX送信が失敗しました", ["自動応答"], "FAX送信が失敗しました"),
    ("  Fw : x", ["fw"], "x"),
    ("FAX送信が失敗しました -> 03-5555-0101", [], "FAX送信が失敗しました -> 03-5555-0101"),
    ("Status: ok", [], "Status: ok"),
    ("Returned mail: see transcript for details", [], "Returned mail: see transcript for details"),
    # Tags of mailing lists (fml, Mailman) and gateways before or between the prefixes are passed over.
    ("[fax-team:00123] Re: FAX送信が失敗しました", ["re"], "FAX送信が失敗しました"),
    ("[fax-team 00123] 自動応答: FAX送信が失敗しました", ["自動応答"], "FAX送信が失敗しました"),
    ("[EXTERNAL] RE: [fax-team] FW: Fax", ["re", "fw"], "Fax"),
    ("【外部】転送: FAX送信が失敗しました", ["転送"], "FAX送信が失敗しました"),
    ("[fax-team:00124] FAX送信が失敗しました -> 03-5555-0101", [], "FAX送信が失敗しました -> 03-5555-0101"),
    ("Out of Office AutoReply: FAX送信が失敗しました", ["out of office autoreply"], "FAX送信が失敗しました"),
])
def test_subject_prefixes(subject: str, prefixes: list[str], rest: str) -> None:
    assert subject_prefixes(subject) == prefixes
    assert strip_subject_prefixes(subject) == rest


def test_a_bounce_marked_auto_replied_or_titled_re_is_no_conversation() -> None:
    # Postfix marks its bounces Auto-Submitted: auto-replied; some carriers title them `Re: …`.
    bounce = parse_mail(utf8_mail("Undelivered Mail Returned to Sender", "x", "MAILER-DAEMON@mx.example.co.jp",
                                  "Auto-Submitted: auto-replied\n"))
    carrier = parse_mail(utf8_mail("Re:Nyaan", "x", "post_master@vtext.example.com"))
    bare = parse_mail(b"From: mailer-daemon\nAuto-Submitted: auto-replied\nSubject: error\n\nx\n")
    for mail in (bounce, carrier, bare):
        assert is_delivery_report(mail)
        assert conversation(mail) is None
    person = parse_mail(utf8_mail("Re: 見積", "x", headers="Auto-Submitted: auto-generated\n"))
    assert conversation(person) == "reply"
    notice = parse_mail(interfax_failure())
    assert conversation(notice) is None  # vendor notices carry auto-generated, never auto-replied


def test_a_vendor_notice_with_a_rule_or_a_quoted_block_is_read_as_the_notice() -> None:
    body = ("FAX送信が失敗しました。\n\n送信結果: 3912-FAX番号が使用不可です\n送信先FAX番号: 03-5555-0111\n"
            "トランザクションID: 700000111\n\n________________________________\n"
            "-----Original Message-----\nFrom: taro@example.co.jp\nSubject: 見積書\n\n見積書を送ります\n")
    mail = parse_mail(utf8_mail("FAX送信が失敗しました -> 03-5555-0111", body, "InterFAX <noreply@fax.tc>"))
    assert forwarded_mails(mail).mails == ()
    found = classify(mail)
    assert [(r.code, r.fax_number, r.forwarded) for r in found.results] == [("3912", "+81355550111", False)]


def test_a_rule_without_a_header_block_is_no_forward() -> None:
    mail = parse_mail(utf8_mail("議事録", "本文\n\n__________________________\n署名\n"))
    assert forwarded_mails(mail).explicit is False


def test_a_forward_whose_inside_reads_as_nothing_is_not_read_itself() -> None:
    # The forwarder's header block names `宛先:` and `送信日時:`, which are InterFAX labels too; the notice
    # inside is in no layout we know, so nothing is read: the forward is unrecognized, not a result.
    body = ("-----元のメッセージ-----\n差出人: InterFAX <noreply@fax.tc>\n送信日時: 2026年11月20日 10:15\n"
            "宛先: yamada@example.co.jp\n件名: 送信レポート\n\nジョブ 700000112 は終了しました。\n")
    found = classify(parse_mail(utf8_mail("FW: 送信レポート", body)))
    assert (found.kind, found.results, found.marks) == (Kind.UNRECOGNIZED, (), ("sender domain fax.tc",))


def test_a_forward_of_a_forward_is_read_segment_by_segment() -> None:
    # Each separator starts a segment of its own, so the notice at the bottom is read once, whatever the nesting.
    inner = ("-----Original Message-----\nFrom: InterFAX <noreply@fax.tc>\n"
             "Subject: FAX送信が失敗しました -> 03-5555-0113\n\n"
             "送信結果: 6017-話中\n送信先FAX番号: 03-5555-0113\nトランザクションID: 700000113\n")
    wrapped = inner
    for level in range(2):
        wrapped = f"-----Original Message-----\nFrom: person{level}@example.co.jp\nSubject: FW: x\n\n{wrapped}"
    found = classify(parse_mail(utf8_mail("FW: x", wrapped)))
    assert [(r.code, r.forwarded) for r in found.results] == [("6017", True)]


@pytest.mark.parametrize("hostile", [
    "Re" + " " * 60000 + "x",
    "FAX" + " " * 60000 + "受",
    "[" * 30000,
])
def test_hostile_subjects_cost_no_more_than_real_ones(hostile: str) -> None:
    mail = parse_mail(utf8_mail(hostile, "x"))
    started = time.monotonic()
    classify(mail)
    assert time.monotonic() - started < 2.0


def test_hostile_forward_text_is_read_in_linear_time() -> None:
    lines = ["original message" + " " * 20000 + "x", "_" * 20000, "> " * 20000, "From: x\n" * 2000,
             ("-" * 50 + "\n") * 2000]
    mail = parse_mail(utf8_mail("Fwd: x", "\n".join(lines) * 5))
    started = time.monotonic()
    classify(mail)
    assert time.monotonic() - started < 5.0


def test_a_notice_forwarded_inline_and_attached_at_once_is_one_result() -> None:
    notice = interfax_failure(number="03-5555-0114", transaction_id="700000114")
    inner = parse_mail(notice)
    body = (f"-----Original Message-----\nFrom: InterFAX <noreply@interfax.jp>\nSubject: {inner.subject}\n\n"
            f"{inner.plain_text}")
    boundary = "b-114"
    raw = (f"From: taro@example.co.jp\nTo: it@example.co.jp\nSubject: FW: x\nMIME-Version: 1.0\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n--{boundary}\n'
           f"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n"
           f"{base64.encodebytes(body.encode()).decode()}\n--{boundary}\nContent-Type: message/rfc822\n\n").encode()
    found = classify(parse_mail(raw + notice + f"\n--{boundary}--\n".encode()))
    assert [(r.transaction_id, r.fax_number, r.forwarded) for r in found.results] == [
        ("700000114", "+81355550114", True)]
