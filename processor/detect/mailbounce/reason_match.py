"""Status codes and diagnostic phrases to Sisimai reason words: the tables are data, the order is Sisimai's.

Why tables and not a model: the words must agree with Sisimai's, so the same evidence is read the same way.
The status table (`status_reasons.tsv`) follows Sisimai's `smtp/status`, the phrase table (`phrases.tsv`)
its `reason/why-*` lists, and `decide_reason` its trial order (`reason/find.go`: probe the status and the
diagnostic per reason in a fixed order, then fall back to weaker evidence). Before it, as in Sisimai, a
provider's own codes and wordings are read (`rhost`, Sisimai's Rhost). The first pass is one table,
`FIRST_PASS`, of (reason, check) in trial order: a reason's guards live in its own small check, and a new
reason is one row. Source: sisimai/go-sisimai (BSD 2-Clause License) at commit 02714b7.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

import ahocorasick

from processor.detect.mailbounce.delivery import Delivery
from processor.detect.mailbounce.rhost import provider_reason
from processor.detect.mailbounce.tables import (
    MAIL_REASON_WORDS,
    Phrase,
    load_phrases,
    load_pseudo_statuses,
    load_status_reasons,
    package_table,
)
from processor.errors import CatalogueError

__all__ = [
    "FALLBACK_ORDER",
    "FIRST_PASS",
    "PHRASES",
    "PHRASE_VETOES",
    "PSEUDO_STATUS",
    "STATUS_REASONS",
    "Check",
    "by_phrase",
    "by_status_or_phrase",
    "check_reason_words",
    "decide_reason",
    "includes",
    "pseudo_status",
    "status_reason",
]

#: RFC 3463 status -> reason (Sisimai's `status.Name`).
STATUS_REASONS: Mapping[str, str] = load_status_reasons(*package_table("status_reasons.tsv"))
#: Reason -> the lower-case phrases that name it in a diagnostic.
PHRASES: Mapping[str, tuple[Phrase, ...]] = load_phrases(*package_table("phrases.tsv"))
#: Reason -> Sisimai's pseudo status detail, used when the report carries no status at all.
PSEUDO_STATUS: Mapping[str, str] = load_pseudo_statuses(*package_table("pseudo_status.tsv"))

#: Phrases that cancel a reason's phrases (an address "rejected" as a recipient is not a sender refusal).
PHRASE_VETOES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "rejected": ("5.1.0 address rejected", "recipient address rejected", "sender ip address rejected"),
})
_NO_TEMPORARY_PSEUDO = frozenset({"hasmoved", "hostunknown", "userunknown"})
_TEMPORARY_FILTERED = "4.0.924"

#: A reason's test in the first pass: (delivery, lower-case diagnosis) -> does the reason apply.
Check = Callable[[Delivery, str], bool]


def status_reason(status: str) -> str:
    return STATUS_REASONS.get(status, "")


def _aligned(text: str, parts: tuple[str, ...]) -> bool:
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def includes(reason: str, text: str) -> bool:
    """Whether the lower-case diagnostic contains one of the reason's phrases (and none of its vetoes)."""
    named, vetoed = _reasons_named(text) if text else _NONE_NAMED
    return reason in named and reason not in vetoed


@lru_cache(maxsize=1024)
def _reasons_named(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the reasons one of whose phrases the text holds, the reasons one of whose vetoes it holds), from one pass
    of the phrase automaton (Aho-Corasick) over the text. One decision asks about a diagnostic for up to 30
    reasons (the first pass, vetoes, the fallback), and the same diagnostics recur from mail to mail: searching
    a reason's phrases with `in` cost 5 µs a question, a twentieth of classifying the corpus; the automaton
    finds all 662 phrases in one pass of about 2 µs. A phrase in parts (Sisimai's aligned phrases) is tried in
    order only when its first part occurs."""
    named: set[str] = set()
    vetoed: set[str] = set()
    for _end, found in _PHRASE_AUTOMATON.iter(text):
        for reason, kind, parts in found:
            if kind == _PLAIN:
                named.add(reason)
            elif kind == _VETO:
                vetoed.add(reason)
            elif reason not in named and _aligned(text, parts):
                named.add(reason)
    return frozenset(named), frozenset(vetoed)


_PLAIN, _VETO, _ALIGNED = 0, 1, 2
_NONE_NAMED: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _phrase_automaton() -> ahocorasick.Automaton:
    """Every phrase, veto and first part of a phrase in parts, each with what finding it means."""
    meanings: dict[str, list[tuple[str, int, tuple[str, ...]]]] = {}
    for reason in sorted({*PHRASES, *PHRASE_VETOES}):
        for phrase in PHRASES.get(reason, ()):
            if isinstance(phrase, str):
                meanings.setdefault(phrase, []).append((reason, _PLAIN, (phrase,)))
            else:
                meanings.setdefault(phrase[0], []).append((reason, _ALIGNED, phrase))
        for veto in PHRASE_VETOES.get(reason, ()):
            meanings.setdefault(veto, []).append((reason, _VETO, (veto,)))
    automaton = ahocorasick.Automaton()
    for key, found in meanings.items():
        automaton.add_word(key, tuple(found))
    automaton.make_automaton()
    return automaton


_PHRASE_AUTOMATON = _phrase_automaton()


# --- the first pass: one check per reason ------------------------------------------------------------------
#: SMTP commands sent before DATA: content-based reasons cannot apply to rejections there.
_BEFORE_DATA: frozenset[str] = frozenset({"CONN", "EHLO", "HELO", "MAIL", "RCPT"})
_BEFORE_MAIL: frozenset[str] = frozenset({"CONN", "EHLO", "HELO"})
#: A status that says userunknown is not believed when the text names one of these instead.
_USERUNKNOWN_VETOES: tuple[str, ...] = ("norelaying", "blocked", "mailboxfull", "hasmoved", "rejected")
#: Status reasons too vague to stop a `rejected` phrase from deciding.
_VAGUE: frozenset[str] = frozenset({"", "undefined", "onhold", "securityerror", "systemerror"})


def by_phrase(reason: str) -> Check:
    """The reason applies when the diagnostic has one of its phrases."""
    return lambda d, diag: includes(reason, diag)


def by_status_or_phrase(reason: str) -> Check:
    """The reason applies when the status alone names it, or the diagnostic has one of its phrases."""
    return lambda d, diag: status_reason(d.status) == reason or includes(reason, diag)


def _userunknown(d: Delivery, diag: str) -> bool:
    if status_reason(d.status) == "userunknown":
        return not any(includes(r, diag) for r in _USERUNKNOWN_VETOES)
    return d.command == "RCPT" and includes("userunknown", diag)


def _filtered(d: Delivery, diag: str) -> bool:
    if status_reason(d.status) != "filtered" and d.command in _BEFORE_DATA:
        return False
    return includes("filtered", diag) or includes("userunknown", diag)


def _hostunknown(d: Delivery, diag: str) -> bool:
    if status_reason(d.status) == "hostunknown":
        return not includes("networkerror", diag)
    return includes("hostunknown", diag)


def _rejected(d: Delivery, diag: str) -> bool:
    named = status_reason(d.status)
    if named == "rejected":
        return True
    if d.command == "MAIL" or (d.command == "DATA" and named != "userunknown") or named in _VAGUE:
        return includes("rejected", diag)
    return False


def _mesgtoobig(d: Delivery, diag: str) -> bool:
    named = status_reason(d.status)
    if named == "mesgtoobig":
        return True
    return named != "exceedlimit" and d.status != "5.2.3" and includes("mesgtoobig", diag)


def _spamdetected(d: Delivery, diag: str) -> bool:
    if not d.status:
        return False
    return status_reason(d.status) == "spamdetected" or (
        d.command not in _BEFORE_DATA and includes("spamdetected", diag))


def _contenterror(d: Delivery, diag: str) -> bool:
    if _spamdetected(d, diag):
        return False
    return status_reason(d.status) == "contenterror" or includes("contenterror", diag)


def _suspend(d: Delivery, diag: str) -> bool:
    return d.reply == "525" or includes("suspend", diag)


def _norelaying(d: Delivery, diag: str) -> bool:
    return d.command not in _BEFORE_MAIL and includes("norelaying", diag)


#: Sisimai's first pass, in its trial order: the first reason whose check holds wins.
FIRST_PASS: tuple[tuple[str, Check], ...] = (
    ("mailboxfull", by_status_or_phrase("mailboxfull")),
    ("mesgtoobig", _mesgtoobig),
    ("exceedlimit", by_status_or_phrase("exceedlimit")),
    ("suspend", _suspend),
    ("hasmoved", by_phrase("hasmoved")),
    ("norelaying", _norelaying),
    ("authfailure", by_status_or_phrase("authfailure")),
    ("userunknown", _userunknown),
    ("filtered", _filtered),
    ("requireptr", by_status_or_phrase("requireptr")),
    ("notcompliantrfc", by_phrase("notcompliantrfc")),
    ("badreputation", by_phrase("badreputation")),
    ("contenterror", _contenterror),
    ("rejected", _rejected),
    ("hostunknown", _hostunknown),
    ("spamdetected", _spamdetected),
    ("speeding", by_phrase("speeding")),
    ("toomanyconn", by_status_or_phrase("toomanyconn")),
    ("blocked", by_status_or_phrase("blocked")),
)
#: Phrase-only second look (Sisimai's `anotherone`), in its order.
FALLBACK_ORDER: tuple[str, ...] = (
    "mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected", "virusdetected", "policyviolation",
    "norelaying", "systemerror", "networkerror", "suspend", "contenterror", "systemfull", "notaccept", "expired",
    "failedstarttls", "securityerror", "mailererror",
)
#: Reasons weak enough that the phrases deserve a second look (Sisimai's GetRetried).
_WEAK: frozenset[str] = frozenset({
    "undefined", "onhold", "systemerror", "securityerror", "expired", "networkerror", "hostunknown", "userunknown",
})


def _fallback(d: Delivery, diag: str) -> str:
    """Sisimai's `anotherone`: phrases of the remaining reasons, then the status class and the command."""
    named = status_reason(d.status)
    if named in _WEAK or not named or d.diagnostic_type not in ("SMTP", ""):
        for reason in FALLBACK_ORDER:
            if includes(reason, diag):
                return reason
        if named:
            return named
        if d.status[:3] in ("5.6", "4.6"):
            return "contenterror"
        if d.status[:3] in ("5.7", "4.7"):
            return "securityerror"
        if d.diagnostic_type.upper().startswith("X-UNIX"):
            return "mailererror"
        if d.reply.isdigit() and (400 < int(d.reply) < 408 or 500 < int(d.reply) < 508):
            return "syntaxerror"
        if d.action in ("delayed", "expired"):
            return "expired"
        if d.command in ("EHLO", "HELO"):
            return "blocked"
    return named


def decide_reason(d: Delivery) -> str:
    """The Sisimai reason word for one recipient: a reader's own verdict first, then the provider's own
    codes and wordings (`rhost`), then status and phrases."""
    if d.reason and d.reason not in _WEAK:
        return d.reason
    if d.status.startswith("2.") or d.action == "delivered":
        return "delivered"
    if provided := provider_reason(d):
        return provided
    if d.reason and d.reason != "expired":  # a vendor's own words, except its generic "giving up"
        return d.reason
    diag = " ".join(d.diagnosis.lower().split())  # `Purported  Responsible`: phrases have single spaces
    reason = ""
    if not d.diagnostic_type.upper().startswith("X-UNIX"):
        reason = next((r for r, check in FIRST_PASS if check(d, diag)), "")
    if not reason:
        reason = _fallback(d, diag)
        if not reason and d.action == "delayed":
            reason = "expired"
        if not reason:
            if d.reason:
                return d.reason
            if includes("vacation", diag):
                return "vacation"
            reason = "onhold" if diag else "undefined"
    return reason


def pseudo_status(reason: str, temporary: bool) -> str:
    """Sisimai's internal status (`5.0.911`) for a report that gives no status code of its own."""
    if reason == "delivered":
        return "2.1.5"
    number = PSEUDO_STATUS.get(reason, "900")
    if temporary and reason == "filtered":
        return _TEMPORARY_FILTERED
    if temporary and reason not in _NO_TEMPORARY_PSEUDO:
        return f"4.0.{number}"
    return f"5.0.{number}"


def check_reason_words(where: str, words: Iterable[str]) -> None:
    """Reason words written in code (vetoes, vendor tables) must be MailReason words too, checked at import."""
    unknown = sorted(set(words) - MAIL_REASON_WORDS)
    if unknown:
        raise CatalogueError(f"{where}: {', '.join(map(repr, unknown))} not reason words of processor.reasons")


check_reason_words(__name__, [*PHRASE_VETOES, *_USERUNKNOWN_VETOES, *_VAGUE - {""}, *_NO_TEMPORARY_PSEUDO,
                              *(r for r, _check in FIRST_PASS), *FALLBACK_ORDER, *_WEAK])
