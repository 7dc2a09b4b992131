"""Mail that people (or their mailboxes) write about fax results: replies, auto-replies and forwards.

A reply (`Re: FAX送信が失敗しました -> 03-…`) or an out-of-office answer (`自動応答: …`, RFC 3834
`Auto-Submitted: auto-replied`) quotes or repeats a notice's subject, but it reports nothing: only the vendor's
own notice does. A forward (`Fwd:`, `転送:`) carries the notice inside; `forwards` reads it from there.

Subject prefixes are compared case-insensitively, with a half- or full-width colon, a `[n]`/`(n)` counter
(`Re[2]:`) and in the languages mailers write them (after Wikipedia's "List of email subject abbreviations").
Tags in brackets before or between them are passed over: mailing lists (fml's `[fax-team:00123]`, Mailman's
`[fax-team]`) and mail gateways (`[EXTERNAL]`, `【外部】`) put them in front of a member's `Re:`, and a reply
that went through a list is still a reply.
A delivery report is never a reply or an auto-reply here: Postfix and others mark their bounces
`Auto-Submitted: auto-replied`, and a bounce is a result.
"""

from __future__ import annotations

import re
from functools import lru_cache

from processor import regex_cache
from processor.parse import ParsedMail
from processor.parse.mail import address_of

__all__ = [
    "AUTO_REPLY_PREFIXES",
    "FORWARD_PREFIXES",
    "REPLY_PREFIXES",
    "conversation",
    "has_forward_prefix",
    "is_auto_reply",
    "is_delivery_report",
    "is_read_receipt",
    "is_reply",
    "strip_subject_prefixes",
    "subject_prefixes",
]

#: Reply abbreviations: English/Latin `Re`, German `AW`, Nordic `SV`/`VS`, Dutch `Antw`, Polish `Odp`, French `Réf`,
#: Italian `R`/`RIF`, Turkish `YNT`, Greek `ΑΠ`/`ΣΧΕΤ`, Chinese `回复`/`回覆`/`答复`, Japanese `返信`.
REPLY_PREFIXES: frozenset[str] = frozenset({
    "re", "aw", "sv", "vs", "antw", "odp", "ref", "réf", "r", "rif", "ynt", "απ", "σχετ",
    "回复", "回覆", "答复", "返信",
})
#: Forward abbreviations: `Fw`/`Fwd`, German `WG`, French `TR`, Spanish `RV`, Italian `I`, Finnish `VL`, Dutch
#: `Doorst`, Portuguese `Enc`, Polish `PD`, Turkish `İLT`, Chinese `转发`/`轉寄`, Japanese `転送`.
FORWARD_PREFIXES: frozenset[str] = frozenset({
    "fw", "fwd", "wg", "tr", "rv", "i", "vl", "doorst", "enc", "pd", "ilt", "i̇lt", "转发", "轉寄", "転送",
})
#: Auto-reply subject prefixes written by Exchange/Outlook, Gmail, Japanese groupware and vacation programs.
AUTO_REPLY_PREFIXES: frozenset[str] = frozenset({
    "自動応答", "自動返信", "自动回复", "不在", "不在通知", "out of office", "out of the office", "automatic reply",
    "auto reply", "auto-reply", "autoreply", "auto response", "abwesend", "abwesenheitsnotiz", "automatische antwort",
    "réponse automatique", "respuesta automática", "risposta automatica", "resposta automática",
    "automatisch antwoord", "autosvar", "out of office autoreply", "out of office reply", "auto-response",
})
#: Read-receipt subject prefixes (Outlook and others: `Read:`, `Not read:`, `開封済み:`, `未開封:`, `既読:`).
RECEIPT_PREFIXES: frozenset[str] = frozenset({
    "read", "not read", "開封済み", "開封確認", "未開封", "既読", "gelesen", "ungelesen", "lu", "non lu", "leído",
    "no leído", "letto", "已读", "已讀",
})
#: RFC 3834 headers and their common non-standard relatives that mark an automatic answer to a person's mail.
AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-vacation", "x-mail-autoreply")
DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "post_master", "mail-daemon", "mailerdaemon"})
#: From headers of mail systems rather than people (their bounces may be titled `Re:` or marked `auto-replied`).
MAIL_SYSTEM_SENDER_RE = regex_cache.compile(r"mailer-daemon|post_?master|mail delivery (?:subsystem|system)|"
                                            r"mail administrator|mdaemon", re.IGNORECASE)
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_KNOWN_PREFIXES = REPLY_PREFIXES | FORWARD_PREFIXES | AUTO_REPLY_PREFIXES | RECEIPT_PREFIXES

_PREFIX_RE = regex_cache.compile(r"[\[【(]?([^\s:：\[\]【】()]{1,12}(?:[ \t][^\s:：\[\]【】()]{1,10}){0,3})"
                                 r"(?:[ \t]*(?:\[\d{1,3}\]|\(\d{1,3}\)))?[ \t]*[:：]")
_BRACKET_RE = regex_cache.compile(r"[\[【]([^\]】]{1,12})[\]】]")
#: A list's or gateway's tag: passed over when it is no prefix itself (`[fax-team:00123] Re: …`).
_TAG_RE = regex_cache.compile(r"[\[【][^\]】\n]{1,40}[\]】]")
SUBJECT_SCAN = 500
_MAX_PREFIXES = 10


def subject_prefixes(subject: str) -> list[str]:
    """The known reply, forward and auto-reply prefixes at the start of `subject`, outermost first, casefolded:
    `RE: 転送: FAX送信が失敗しました` → `["re", "転送"]`, `[fax-team:00123] Re: …` → `["re"]`. Stops at the first
    word that is no known prefix; bracketed tags on the way are passed over."""
    return list(_split_prefixes(subject)[0])


def strip_subject_prefixes(subject: str) -> str:
    """`Fwd: RE: FAX送信が失敗しました -> 03-5555-0101` → `FAX送信が失敗しました -> 03-5555-0101`."""
    return _split_prefixes(subject)[1].strip()


@lru_cache(maxsize=256)
def _split_prefixes(subject: str) -> tuple[tuple[str, ...], str]:
    """The prefixes and the rest; kept for the last subjects, which a mail's checks ask about up to three
    times (auto-reply, reply, forward) and a mailbox's notices repeat."""
    found: list[str] = []
    head = subject[:SUBJECT_SCAN]  # prefixes stand at the start: a hostile 64 KiB subject costs no more
    position = 0
    while len(found) < _MAX_PREFIXES:
        position += len(head) - len(head.lstrip())
        head = head.lstrip()
        match = _PREFIX_RE.match(head) or _BRACKET_RE.match(head)
        if match is None or match.group(1).strip().casefold() not in _KNOWN_PREFIXES:
            if (match := _TAG_RE.match(head)) is None:
                break
            position += match.end()  # a tag: neither a prefix nor the subject itself
            head = head[match.end():]
            continue
        found.append(match.group(1).strip().casefold())
        position += match.end()
        head = head[match.end():]
    return tuple(found), subject[position:]


def is_read_receipt(mail: ParsedMail) -> bool:
    """A read receipt (RFC 8098 MDN: `report-type=disposition-notification`, Outlook's `Read:`/`開封済み:`), which
    says a person opened or deleted a mail: no delivery report, and no result."""
    if _has_disposition_notification(mail):
        return True
    prefixes = _split_prefixes(mail.subject)[0]
    return bool(prefixes) and prefixes[0] in RECEIPT_PREFIXES and not mail.header("x-failed-recipients")


def _has_disposition_notification(mail: ParsedMail) -> bool:
    """An RFC 8098 MDN part: the mark of a read receipt, whatever its subject."""
    return any(part.content_type == "message/disposition-notification" for part in mail.parts)


def is_delivery_report(mail: ParsedMail) -> bool:
    """A bounce or delivery report: multipart/report, a delivery-status part, `X-Failed-Recipients`, or mail from a
    mail system (`MAILER-DAEMON`, `postmaster`, `Mail Delivery Subsystem` …), also one that titles its bounce
    `Re: …` or marks it `auto-replied`. Not a read receipt, which is a multipart/report too."""
    if _has_disposition_notification(mail):
        return False
    if mail.content_type == "multipart/report" or mail.header("x-failed-recipients"):
        return True
    if any(part.content_type in _STATUS_TYPES for part in mail.parts):
        return True
    if _sender_local_part(mail) in DAEMON_LOCALPARTS:
        return True
    return bool(MAIL_SYSTEM_SENDER_RE.search(mail.header("from") or ""))


def _sender_local_part(mail: ParsedMail) -> str:
    """The From address's local part, also for a bare `MAILER-DAEMON` with no domain (some MTAs write that)."""
    if mail.from_address:
        return mail.from_address.partition("@")[0]
    _name, address = address_of(mail.header("from") or "")
    return address.strip().lower().partition("@")[0]


def is_reply(mail: ParsedMail) -> bool:
    """A person's reply: the outermost subject prefix is a reply prefix (`Re:`, `AW:`, `返信:` …)."""
    prefixes = _split_prefixes(mail.subject)[0]
    return bool(prefixes) and prefixes[0] in REPLY_PREFIXES and not is_delivery_report(mail)


def is_auto_reply(mail: ParsedMail) -> bool:
    """An automatic answer to a person's mail (RFC 3834 `Auto-Submitted: auto-replied`, `X-Autoreply`,
    `Precedence: auto_reply`, or an out-of-office subject prefix). `auto-generated` is not an answer: vendor
    notices carry it."""
    if is_read_receipt(mail):
        return True
    if is_delivery_report(mail):
        return False
    if (mail.header("auto-submitted") or "").strip().lower().startswith("auto-replied"):
        return True
    if any(mail.header(name) for name in AUTO_REPLY_HEADERS):
        return True
    if (mail.header("precedence") or "").strip().lower() == "auto_reply":
        return True
    prefixes = _split_prefixes(mail.subject)[0]
    return bool(prefixes) and prefixes[0] in AUTO_REPLY_PREFIXES


def has_forward_prefix(mail: ParsedMail) -> bool:
    """The outermost subject prefix is a forward prefix (`Fwd:`, `FW:`, `転送:`, `WG:` …)."""
    prefixes = _split_prefixes(mail.subject)[0]
    return bool(prefixes) and prefixes[0] in FORWARD_PREFIXES


def conversation(mail: ParsedMail) -> str | None:
    """`auto_reply` or `reply` for mail that answers a person and so reports no result, else None."""
    if is_auto_reply(mail):
        return "auto_reply"
    if is_reply(mail):
        return "reply"
    return None
