"""Vendor marks: why a mail that no detector could read is `unrecognized` rather than `unrelated`.

A mail bears a vendor's marks when it comes from a vendor's sending or fax domain (its MAILER-DAEMON
included), or carries a result subject (`FAX送信が失敗しました`), a `送信結果` label or ends in a `*** … ***` line
(fax.tc's bounces end so; a `*** Spring sale ***` heading is no mark).
If no result could be read from such a mail, a person should look at it: it is stored with no result, warned
about once and listed as mail to look at. Vendor mail that is plainly something else stays `unrelated`:
newsletters (`List-Unsubscribe`, `List-Id`), notices of faxes *received*, and billing statements
(`PLAIN_OTHER_SUBJECT_RE`).
"""

from __future__ import annotations

import re

from processor import regex_cache
from processor.catalogues import vendor_hosts
from processor.detect.faxtc_bounce import CAUSE_RE
from processor.detect.forwards import VENDOR_DOMAINS
from processor.detect.interfax_result import CODE_JA, SUBJECT_RE
from processor.detect.labels import field_values
from processor.detect.replies import DAEMON_LOCALPARTS, is_delivery_report
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail

__all__ = ["NOT_A_RESULT_SUBJECT_RE", "PLAIN_OTHER_SUBJECT_RE", "VENDOR_DOMAINS", "plainly_other", "vendor_marks"]

_INTERFAX = vendor_hosts("interfax")
_NOT_A_RESULT = (r"FAX\s*を?\s*受信|受信\s*FAX|新着\s*FAX|received\s+(?:a\s+)?(?:new\s+)?fax|new\s+fax|incoming\s+fax"
                 r"|fax\s+received|ご利用明細|利用料金|メールマガジン")
#: Subjects of vendor mail that reports no fax sent: faxes received, the monthly statement, the newsletter.
NOT_A_RESULT_SUBJECT_RE = regex_cache.compile(_NOT_A_RESULT, re.IGNORECASE)
#: The same and bills (`請求`, `invoice`): vendor mail that bears no mark. Bills are left out of the rule above
#: because `請求書` is as likely the subject of a faxed document, which mail about the fax may repeat.
PLAIN_OTHER_SUBJECT_RE = regex_cache.compile(_NOT_A_RESULT + r"|請求|領収|invoice|billing", re.IGNORECASE)
#: The host of each link in a List-Unsubscribe header (`<https://host/…>`, `<mailto:x@host>`).
_LINK_HOST_RE = regex_cache.compile(r"<(?:[a-z][a-z0-9+.-]*://|mailto:[^@>]*@)([^/>:?#\s]+)", re.IGNORECASE)
SUBJECT_SCAN = 500
"""Characters of the subject looked at (a hostile 64 KiB subject must not cost more than a real one)."""


def vendor_marks(mail: ParsedMail) -> tuple[str, ...]:
    """The vendor marks `mail` bears, in words for the log (`sender domain fax.tc`, `送信結果 label`); empty
    for mail that bears none or is plainly something else."""
    subject = mail.subject[:SUBJECT_SCAN]
    if mail.header("list-unsubscribe") or mail.header("list-id") or PLAIN_OTHER_SUBJECT_RE.search(subject):
        return ()
    marks: list[str] = []
    local, _, domain = mail.from_address.partition("@")
    if is_domain_or_subdomain(domain, VENDOR_DOMAINS):
        fax_daemon = local in DAEMON_LOCALPARTS and is_domain_or_subdomain(domain, _INTERFAX.submission_domains)
        marks.append(f"{'MAILER-DAEMON of' if fax_daemon else 'sender domain'} {domain}")
    if SUBJECT_RE.search(subject):
        marks.append("result subject")
    text = mail.all_text
    if field_values(text, CODE_JA):
        marks.append("送信結果 label")
    if _last_line_cause(mail.text) or _last_line_cause(text):
        marks.append("*** … *** last line")
    return tuple(marks)


def plainly_other(mail: ParsedMail) -> bool:
    """Mail from a vendor's domain that says it reports no fax sent, so no detector reads it: a fax received
    (`FAX受信のお知らせ` with its `ステータス: 0`), the monthly statement (`ご利用明細`, with a CSV of the month's
    transactions), the vendor's own newsletter (List-Unsubscribe at the vendor's domain, no result subject;
    it may show a sample notice). Such labels once became results: a received fax a delivery, a newsletter's
    sample a failure that reached the stop list. Only the vendor's own mail: a person's forward may be titled
    anything, and a team's mailing list relays genuine notices with list headers of its own domain."""
    domain = mail.from_address.rpartition("@")[2]
    if not is_domain_or_subdomain(domain, VENDOR_DOMAINS) or is_delivery_report(mail):
        return False
    subject = mail.subject[:SUBJECT_SCAN]
    if SUBJECT_RE.search(subject):
        return False
    if NOT_A_RESULT_SUBJECT_RE.search(subject):
        return True
    unsubscribe = (mail.header("list-unsubscribe") or "")[:SUBJECT_SCAN]
    return any(is_domain_or_subdomain(host, VENDOR_DOMAINS) for host in _LINK_HOST_RE.findall(unsubscribe))


def _last_line_cause(text: str) -> bool:
    """The last line that is not blank is a `*** … ***` cause (read from the end: a body may have millions of
    lines)."""
    text = text.rstrip()
    return bool(text) and CAUSE_RE.fullmatch(text[text.rfind("\n") + 1 :].strip()) is not None
