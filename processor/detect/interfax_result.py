"""InterFAX result notifications (送信結果通知メール) in the text and HTML formats, Japanese and English.

Recognised by the subject `FAX送信が成功しました -> NUMBER` / `FAX送信が失敗しました -> NUMBER`, or by a `送信結果`
field holding a number, or by a generic code label (`エラーコード`, `結果コード`, `ステータス`, English
`Status`) holding a number together with InterFAX evidence (its result subject, a From domain of
InterFAX, or both a transaction id and a fax number field). Labels are catalogue data
(`interfax.toml` `[labels]`); a list table is read by its header row, one result per row. Only a
vendor notice makes a result: mail from InterFAX's sending domains (`vendors.toml`), or mail
carrying its full labelled layout (`LAYOUT`). A mail that merely names InterFAX, quotes a result
subject or discusses a code is not claimed. Every field is read by label (see `labels`), in the
plain part first and the HTML part second. A list send repeats the per-fax fields; the n-th
value of each is paired.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from processor import regex_cache
from processor.catalogues import labels, vendor_hosts
from processor.detect.base import Detection, NeedsNoSettings
from processor.detect.codes import catalogue_entry
from processor.detect.dates import JST, parse_datetime
from processor.detect.labels import (
    field_values,
    identifier,
    may_hold_labels,
    parse_int,
    pick,
    split_code,
    table_rows,
)
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail
from processor.parse.faxnumber import find_fax_number
from processor.reasons import Kind
from processor.records import FaxResult

__all__ = ["InterfaxResultDetector"]

log = logging.getLogger(__name__)

SUBJECT_RE = regex_cache.compile(r"FAX\s*送信が\s*(成功|失敗)\s*しました\s*(?:(?:-+|=)>|→|⇒|>)?\s*(.*)$")
INTERFAX_DOMAINS = vendor_hosts("interfax").sender_domains

LABELS = labels("interfax")
CODE_JA, CODE_SYNONYMS, CODE_EN = LABELS["code"], LABELS["code_synonyms"], LABELS["code_en"]
NUMBER, PAGES, SUBMITTED = LABELS["fax_number"], LABELS["pages"], LABELS["submitted"]
COMPLETED, TRANSACTION, SUBJECT = LABELS["completed"], LABELS["transaction"], LABELS["subject"]
EVERY_CODE = CODE_JA + CODE_SYNONYMS + CODE_EN
EVIDENCE = (LABELS["transaction"], LABELS["fax_number"])
"""Without an InterFAX From domain or result subject, an English `Status` or a generic code label (`エラーコード`)
counts only beside both a transaction id and a fax number."""
TABLE_FIELDS = {name: LABELS[name] for name in ("fax_number", "pages", "submitted", "completed", "transaction",
                                                "subject")}
LAYOUT = (NUMBER, TRANSACTION, PAGES, SUBMITTED + COMPLETED)
LAYOUT_FIELDS = 2
"""Mail from outside InterFAX's sending domains makes a result only with InterFAX's full labelled layout: the
result code and at least two more of its field groups (number, transaction id, pages, times)."""


class InterfaxResultDetector(NeedsNoSettings):
    name: ClassVar[str] = "interfax_result"
    kind: ClassVar[Kind] = Kind.INTERFAX_RESULT

    def detect(self, mail: ParsedMail) -> Detection | None:
        subject = SUBJECT_RE.search(mail.subject)
        if subject is None and not any(may_hold_labels(text, EVERY_CODE)
                                       for text in (mail.plain_source, mail.html_source)):
            return None  # no result subject and no code label anywhere: no result can be read
        text = _best_text(mail)
        evidence = subject is not None or _vendor_evidence(mail, text)
        code_ja = CODE_JA + CODE_SYNONYMS if evidence else CODE_JA
        rows = table_rows(text, {**TABLE_FIELDS, "code": code_ja + CODE_EN if evidence else code_ja}, "code")
        if rows:  # a list table: one result per destination row
            codes = [split_code(row.get("code")) for row in rows]
        else:
            codes = [split_code(v) for v in field_values(text, code_ja)]
            if not any(code for code, _ in codes) and evidence:
                codes = [split_code(v) for v in field_values(text, CODE_EN)]
            codes = [(code, label) for code, label in codes if code is not None]
        if not codes and subject is None:
            return None
        if not _from_interfax(mail) and not _full_layout(text, codes, subject is not None):
            return None  # a person's mail that names a result (discussion, a phishing look-alike): no record
        if not codes:  # success subject alone means delivered; failure alone is a failure of unknown reason
            codes = [("0", None) if subject and subject.group(1) == "成功" else (None, None)]
        subject_number = find_fax_number(subject.group(2)) if subject else None

        def column(name: str, labels: tuple[str, ...]) -> list[str]:
            return [row.get(name) or "" for row in rows] if rows else _values(text, labels)

        numbers = [find_fax_number(v) or "" for v in column("fax_number", NUMBER)]
        if not rows:
            numbers = [n for n in numbers if n]  # headings, counters and addresses under a number label
        if not any(numbers) and subject_number and len(codes) == 1:
            numbers = [subject_number]  # no number in the body: the subject's `-> NUMBER`
        pages, submitted = column("pages", PAGES), column("submitted", SUBMITTED)
        completed, transactions = column("completed", COMPLETED), column("transaction", TRANSACTION)
        original_subject = pick(column("subject", SUBJECT), 0, len(codes))
        results: list[FaxResult] = []
        for index, (code, label) in enumerate(codes):
            entry = catalogue_entry("interfax", code, label, log)
            results.append(FaxResult(
                vendor="interfax", outcome=entry.outcome, reason=entry.reason, retryable=entry.retryable,
                detected_by=self.name, code=code, vendor_message=label,
                fax_number_raw=pick(numbers, index, len(codes), own=True) or None,
                transaction_id=identifier(pick(transactions, index, len(codes), own=True)),
                original_subject=original_subject or None,
                pages=parse_int(pick(pages, index, len(codes))),
                submitted_at=parse_datetime(pick(submitted, index, len(codes)), JST),
                occurred_at=parse_datetime(pick(completed, index, len(codes)), JST),
                action_ja=entry.action_ja, action_en=entry.action_en,
            ))
        return Detection.of(results)


def _best_text(mail: ParsedMail) -> str:
    """The plain part when it carries a result field, else the HTML part (HTML-only and HTML-richer mails);
    unfolded, so that stored values keep what the mail says."""
    for text in (mail.plain_source, mail.html_source):
        if any(split_code(v)[0] for v in field_values(text, EVERY_CODE)) or table_rows(
                text, {"code": EVERY_CODE, "fax_number": NUMBER}, "code"):
            return text
    return mail.plain_source if mail.plain_text.strip() else mail.html_source


def _from_interfax(mail: ParsedMail) -> bool:
    return is_domain_or_subdomain(mail.from_address.rpartition("@")[2], INTERFAX_DOMAINS)


def _full_layout(text: str, codes: list[tuple[str | None, str | None]], result_subject: bool) -> bool:
    """InterFAX's labelled layout, whoever sent it: a result code and at least `LAYOUT_FIELDS` more of its
    fields (the result subject counts as one)."""
    if not codes:
        return False
    present = sum(1 for labels in LAYOUT if any(field_values(text, labels))) + result_subject
    return present >= LAYOUT_FIELDS


def _vendor_evidence(mail: ParsedMail, text: str) -> bool:
    """InterFAX's sender domain, or both a transaction id and a fax number field."""
    if _from_interfax(mail):
        return True
    return all(any(field_values(text, labels)) for labels in EVIDENCE)


def _values(text: str, labels: tuple[str, ...]) -> list[str]:
    return [v for v in field_values(text, labels) if v]

