"""What an installation keeps beside the sources so that no command pays for it at start: the catalogues' parsed
TOML (`processor.catalogues.parsed`), the compiled regular expressions (`processor.regex_cache`), the record
classes' generated methods (`processor.dataclass_cache`) and what the bounce tables' wordings need before they run
(`processor.detect.mailbounce.tables.WordingCache`). Byte code is `compileall`'s. `make install` runs
`python -m processor.caches`; the caches are also written by any run that found them missing, unless
PYTHONDONTWRITEBYTECODE says not to.

Most patterns are compiled when their module is imported; the rest when a path first needs them (the bounce
tables' wordings, the label patterns of each vendor format, the charset guesser's). So the cache is filled by
importing every module and then judging a few built-in mails, one per kind of path: a delivery status report, a
plain-text bounce with the returned mail below it, an InterFAX result in ISO-2022-JP, an HTML one, a fax.tc
bounce, NET SatisFAXtion notices in their layouts and a result whose long line a relay broke. They are not
fixtures and nothing checks their results: they only walk the code. A pattern no warm-up path compiles is
compiled by each process that needs it, where the installation is not writable (a `pip install` run as a
service user), in every process.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from pathlib import Path

import processor
from processor import dataclass_cache, regex_cache
from processor.catalogues.parsed import write_caches as write_catalogue_caches
from processor.detect.mailbounce import tables

__all__ = ["WARM_UP_MAILS", "warm_up", "write_caches"]

_DSN = b"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: sender@example.co.jp
Subject: Undelivered Mail Returned to Sender
Date: Wed, 01 May 2024 10:35:41 +0900
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<user@example.org>: host gmail-smtp-in.l.google.com[192.0.2.25] said: 550 5.1.1
    <user@example.org>: Recipient address rejected: User unknown (in reply to
    RCPT TO command)

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Wed,  1 May 2024 10:35:40 +0900 (JST)

Final-Recipient: rfc822; user@example.org
Original-Recipient: rfc822;user@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com
Diagnostic-Code: smtp; 550 5.1.1 <user@example.org>: Recipient address rejected: User unknown

--B1
Content-Type: message/rfc822-headers

From: sender@example.co.jp
To: user@example.org
Subject: =?UTF-8?B?6KaL56mN5pu4?=
Message-ID: <m1@example.co.jp>

--B1--
"""

_PLAIN_BOUNCE = b"""\
Received: from mail.example.com (mail.example.com [192.0.2.8])
\tby mx.example.co.jp (Postfix) with ESMTP id 4VXk2p1ZzXz9sT; Wed,  1 May 2024 10:35:42 +0900 (JST)
From: MAILER-DAEMON@mail.example.com
To: sender@example.co.jp
Subject: failure notice
Date: 1 May 2024 01:35:41 -0000

Hi. This is the qmail-send program at mail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@example.com>:
192.0.2.8 does not like recipient.
Remote host said: 550 5.7.1 Mailbox unavailable: mailbox full, quota exceeded
Giving up on 192.0.2.8.

--- Below this line is a copy of the message.

Return-Path: <sender@example.co.jp>
From: sender@example.co.jp
To: nobody@example.com
Subject: test

""" + "見積書をお送りします。".encode("shift_jis") + b"\n"  # 8-bit text without a charset: the guesser

_INTERFAX_RESULT = """\
From: InterFAX <support@interfax.co.jp>
To: taro@example.co.jp
Subject: =?ISO-2022-JP?B?RkFYGyRCQXc/LjdrMkwkTiQqQ04kaSQ7GyhC?=
Date: Wed, 01 May 2024 10:35:41 +0900
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

■送信結果のお知らせ
送信先: 03-5555-0101
送信日時: 2024/05/01 10:30:00
ページ数: 2
送信結果: 3912 (話中)
トランザクションID: 612345901
""".encode("iso-2022-jp")

_HTML_RESULT = """\
From: InterFAX <support@interfax.co.jp>
To: taro@example.co.jp
Subject: FAX transmission result
Date: Wed, 01 May 2024 10:35:41 +0900
MIME-Version: 1.0
Content-Type: text/html; charset=Shift_JIS

<html><body><table>
<tr><td>送信先</td><td>06-5555-0202</td></tr>
<tr><td>送信結果</td><td>6017</td></tr>
<tr><td>Transaction ID</td><td>612345902</td></tr>
</table><p>&nbsp;お問い合わせ&amp;サポート</p></body></html>
""".encode("shift_jis")

_FAXTC_BOUNCE = b"""\
From: MAILER-DAEMON@fax.tc
To: taro@example.co.jp
Subject: Returned mail
Date: Wed, 01 May 2024 10:35:41 +0900

Your message to 0355550101@fax.tc could not be processed.

*** No recipients found ***
"""

def _satisfaxtion(sender: str, subject: str, body: str) -> bytes:
    """A NET SatisFAXtion notice: its server's plain-text mail to the fax's sender."""
    return (f"From: {sender}\nTo: taro@example.co.jp\nSubject: {subject}\nDate: Wed, 01 May 2024 10:35:41 +0900\n"
            f"Content-Type: text/plain; charset=us-ascii\n\n{body}").encode()


_RESULTS_LINE = "  5035550123^COMPANY=Example^NOCOVER@fax.example.com -- "
_SATISFAXTION = _satisfaxtion("NET SatisFAXtion <faxserver@example.com>", "Fax to Example Corp failed", f"""\
Your fax message could not be delivered.

Subject: Quarterly report
Receiver: Example Corp
Fax number: 503-555-0109
MESSAGE_COMPLETION_CODE: 28026
Completion String: No Answer
Status Num: 28026
Pages: 3
Date Submitted: 2024/05/01 10:30:00
Completion Time: 2024/05/01 10:35:00
Message Handle: 0001A2C9

Results of your fax:

{_RESULTS_LINE}No Answer
""")
_SATISFAXTION_LIST = _satisfaxtion("faxserver@example.com", "Fax results", f"""\
Results of your fax:

{_RESULTS_LINE}Ok
  5035550125^NOCOVER@fax.example.com -- No Dial Tone (phone cord disconnected)
""")
_SATISFAXTION_DELIVERED = _satisfaxtion("faxserver@example.com", "Fax delivered", """\
All recipients of your fax were reached.

Completion Code: 0 (Ok)
Fax Number: 503-555-0199
Pages: 2
""")

# A body line of 998 bytes broken by a relay (CRLF + SPACE): the fold repair's pattern.
_RELAY_FOLDED = (b"From: InterFAX <support@interfax.co.jp>\nTo: taro@example.co.jp\nSubject: FAX result\n"
                 b"Content-Type: text/plain; charset=utf-8\n\n" + b"x" * 998 + b"\r\n " + "送信結果: 3912\n".encode())

#: One mail per kind of path through parse and detect (see the module's docstring).
WARM_UP_MAILS: tuple[bytes, ...] = (_DSN, _PLAIN_BOUNCE, _INTERFAX_RESULT, _HTML_RESULT, _FAXTC_BOUNCE, _SATISFAXTION,
                                    _SATISFAXTION_LIST, _SATISFAXTION_DELIVERED, _RELAY_FOLDED)


def warm_up() -> None:
    """Import every module of the package and judge the warm-up mails, compiling what those paths compile."""
    for module in pkgutil.walk_packages(processor.__path__, "processor."):
        if module.name != "processor.__main__":
            importlib.import_module(module.name)
    from processor.config import Settings
    from processor.run.judge import classify_bytes, trusted

    settings = Settings()
    for raw in WARM_UP_MAILS:
        mail, classification = classify_bytes(raw, settings.processing, settings.tracking)
        trusted(mail, classification, settings)


def write_caches() -> list[Path]:
    """Write the catalogue caches and, after a warm-up, the regular expression and record class caches; the files
    written."""
    written = write_catalogue_caches()
    logging.disable(logging.CRITICAL)  # the warm-up mails' verdicts are nobody's business
    try:
        warm_up()
    finally:
        logging.disable(logging.NOTSET)
    tables.compile_twins()  # compiled when a text first needs them: here, every table's, for the cache
    for write in (regex_cache.write, dataclass_cache.write, tables.write_wordings):
        if (path := write()) is not None:
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_caches():
        print(path, file=sys.stderr)
