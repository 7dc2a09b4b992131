"""InterFAX result notifications (送信結果通知メール) in the text and HTML formats, Japanese and English.

Recognised by the subject `FAX送信が成功しました -> NUMBER` / `FAX送信が失敗しました -> NUMBER`, or by a
`送信結果` field holding a number, or by an English `Status` field holding a number together with InterFAX
evidence (a From domain of InterFAX, or both a Transaction ID and a Destination Fax field). Only a vendor notice
makes a result: mail from InterFAX's sending domains (`vendors.toml`), or mail carrying its full labelled layout
(`LAYOUT`). A mail that merely names InterFAX, quotes a result subject or discusses a code is not claimed.
Every field is read by label (see `labels`), in the plain part first and the HTML part second. A list send
repeats the per-fax fields; the n-th value of each is paired.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

from processor.catalogues import vendor_hosts
from processor.detect.base import Detection, NeedsNoSettings
from processor.detect.codes import catalogue_entry
from processor.detect.dates import JST, parse_datetime
from processor.detect.labels import field_values, parse_int, pick, split_code
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["InterfaxResultDetector"]

log = logging.getLogger(__name__)

SUBJECT_RE = re.compile(r"FAX\s*送信が\s*(成功|失敗)\s*しました\s*(?:(?:-+|=)>|→|⇒|>)?\s*(.*)$")
INTERFAX_DOMAINS = vendor_hosts("interfax").sender_domains

CODE_JA = ("送信結果",)
CODE_EN = ("Status",)
NUMBER = ("送信先FAX番号", "送信先", "FAX番号", "宛先", "Destination Fax", "Fax Number")
PAGES = ("送信ページ数", "ページ数", "Pages Sent", "Pages")
SUBMITTED = ("送信日時", "受付日時", "Submit Time")
COMPLETED = ("完了日時", "Completion Time")
TRANSACTION = ("トランザクションID", "送信ID", "Transaction ID")
SUBJECT = ("件名", "Subject")
EVIDENCE = (TRANSACTION, ("Destination Fax", "Fax Number"))
"""Without an InterFAX From domain, an English `Status` counts only beside both a transaction id and a fax number."""
LAYOUT = (NUMBER, TRANSACTION, PAGES, SUBMITTED + COMPLETED)
LAYOUT_FIELDS = 2
"""Mail from outside InterFAX's sending domains makes a result only with InterFAX's full labelled layout: the
result code and at least two more of its field groups (number, transaction id, pages, times)."""


class InterfaxResultDetector(NeedsNoSettings):
    name: ClassVar[str] = "interfax_result"
    kind: ClassVar[Kind] = Kind.INTERFAX_RESULT

    def detect(self, mail: ParsedMail) -> Detection | None:
        subject = SUBJECT_RE.search(mail.subject)
        text = _best_text(mail)
        codes = [split_code(v) for v in field_values(text, CODE_JA)]
        if not any(code for code, _ in codes) and _english_evidence(mail, text):
            codes = [split_code(v) for v in field_values(text, CODE_EN)]
        codes = [(code, label) for code, label in codes if code is not None]
        if not codes and subject is None:
            return None
        if not _from_interfax(mail) and not _full_layout(text, codes, subject is not None):
            return None  # a person's mail that names a result (discussion, a phishing look-alike): no record
        if not codes:  # success subject alone means delivered; failure alone is a failure of unknown reason
            codes = [("0", None) if subject and subject.group(1) == "成功" else (None, None)]
        subject_number = (subject.group(2).strip() or None) if subject else None
        numbers = _values(text, NUMBER)
        pages, submitted = _values(text, PAGES), _values(text, SUBMITTED)
        completed, transactions = _values(text, COMPLETED), _values(text, TRANSACTION)
        original_subject = pick(_values(text, SUBJECT), 0, len(codes))
        results: list[FaxResult] = []
        for index, (code, label) in enumerate(codes):
            entry = catalogue_entry("interfax", code, label, log)
            results.append(FaxResult(
                vendor="interfax", outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
                detected_by=self.name, code=code, vendor_message=label,
                fax_number_raw=pick(numbers, index, len(codes)) or subject_number,
                transaction_id=pick(transactions, index, len(codes)),
                original_subject=original_subject,
                pages=parse_int(pick(pages, index, len(codes))),
                submitted_at=parse_datetime(pick(submitted, index, len(codes)), JST),
                occurred_at=parse_datetime(pick(completed, index, len(codes)), JST),
                action_ja=entry.action_ja, action_en=entry.action_en,
            ))
        return Detection.of(results)


def _best_text(mail: ParsedMail) -> str:
    """The plain part when it carries a result field, else the HTML part (HTML-only and HTML-richer mails)."""
    for text in (mail.plain_text, mail.html_text):
        if any(split_code(v)[0] for v in field_values(text, CODE_JA + CODE_EN)):
            return text
    return mail.text


def _from_interfax(mail: ParsedMail) -> bool:
    return is_domain_or_subdomain(mail.from_address.rpartition("@")[2], INTERFAX_DOMAINS)


def _english_evidence(mail: ParsedMail, text: str) -> bool:
    if _from_interfax(mail):
        return True
    return all(any(field_values(text, labels)) for labels in EVIDENCE)


def _full_layout(text: str, codes: list[tuple[str | None, str | None]], result_subject: bool) -> bool:
    """InterFAX's labelled layout, whoever sent it: a result code and at least `LAYOUT_FIELDS` more of its
    fields (the result subject counts as one)."""
    if not codes:
        return False
    present = sum(1 for labels in LAYOUT if any(field_values(text, labels))) + result_subject
    return present >= LAYOUT_FIELDS


def _values(text: str, labels: tuple[str, ...]) -> list[str]:
    return [v for v in field_values(text, labels) if v]

