"""Vendor knowledge as data: one TOML file per catalogue, loaded once into read-only mappings.

Vendor mail hosts (`vendors.toml`, read by `vendor_hosts`) are the one place the services' domains are
named: submission and bounce domains, notification senders, trusted relays, the submission address form.

Catalogues:
- `interfax`: InterFAX status codes (`送信結果` / `Status`), from InterFAX's published list and its
  Japanese error-handling guide.
- `faxtc`: the `*** … ***` last lines of bounces from MAILER-DAEMON@fax.tc (same guide).
- `satisfaxtion`: NET SatisFAXtion CAS error codes (STATUS_NUM / MESSAGE_COMPLETION_CODE) and the
  completion strings (`Busy`, `No Answer`, ...).
- `mail`: default actions for Sisimai's reason words, for generic delivery reports.

`retry.tsv` is not a catalogue: it is the retry policy (reason -> may a resend help), read by
`processor.reasons.retryable_for`, which every catalogue entry without its own `retryable` defers to.

File shape (every key is checked at load time; a bad file raises CatalogueError naming file and key):

    vendor = "interfax"
    source = "where the rows come from"
    [reasons.busy]                   # default action for every entry with this reason
    action_ja = "…"
    action_en = "…"
    [[entry]]
    key = "6017"                     # code or message, as the vendor writes it
    label_en = "Busy"
    label_ja = "話中"                # may be empty
    outcome = "failed"               # delivered | failed | pending
    reason = "busy"                  # a word of processor.reasons
    retryable = true                 # optional: else the reason's row of retry.tsv (reasons.retryable_for)
    action_ja = "…"                  # optional: overrides the reason's default
    action_en = "…"

A vendor's result formats name their fields by labels; every synonym is data too, in the catalogue's
`[labels]` table: one list per field (`code = ["送信結果", "エラーコード", …]`), read by `labels(catalogue)`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from processor import regex_cache
from processor.catalogues.parsed import read_toml
from processor.errors import CatalogueError
from processor.reasons import Outcome, is_known_reason, retryable_for
from processor.text import INVISIBLE_CHARACTERS

__all__ = [
    "CATALOGUES",
    "CatalogueEntry",
    "VendorHosts",
    "entries",
    "labels",
    "lookup",
    "normalize_key",
    "reason_action",
    "search",
    "unknown_entry",
    "vendor_hosts",
]

CATALOGUES: tuple[str, ...] = ("interfax", "faxtc", "satisfaxtion", "mail")
#: The catalogue files, next to this module (importlib.resources would add to the start-up time).
_HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    catalogue: str
    vendor: str
    key: str
    label_en: str
    label_ja: str
    outcome: Outcome
    reason: str
    retryable: bool | None
    action_ja: str
    action_en: str

    def to_json(self) -> dict[str, object]:
        return {
            "catalogue": self.catalogue,
            "vendor": self.vendor,
            "key": self.key,
            "label_en": self.label_en,
            "label_ja": self.label_ja,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "retryable": self.retryable,
            "action_ja": self.action_ja,
            "action_en": self.action_en,
        }


@dataclass(frozen=True, slots=True)
class _Catalogue:
    vendor: str
    by_key: Mapping[str, CatalogueEntry]
    actions: Mapping[str, tuple[str, str]]
    labels: Mapping[str, tuple[str, ...]]
    whole_mail: frozenset[str] = frozenset()
    """Reasons that say the whole mail was refused (`whole_mail = true` in the reason's table)."""


@dataclass(frozen=True, slots=True)
class VendorHosts:
    """A fax service's mail domains and submission address form (`vendors.toml`); each domain covers its
    subdomains."""

    vendor: str
    submission_domains: tuple[str, ...]
    """`<number>@<domain>` is a fax submission; the service's MAILER-DAEMON there refuses one."""
    sender_domains: tuple[str, ...]
    """From domains of the service's result notifications."""
    relay_domains: tuple[str, ...]
    """Hosts whose Received hops make a notification genuine."""
    number_pattern: str
    """Regular expression for a submission address's local part; group `number` is the fax number."""


@cache
def vendor_hosts(vendor: str) -> VendorHosts:
    """The `[vendor]` table of vendors.toml; a missing or malformed key raises CatalogueError naming it."""
    filename = "vendors.toml"
    data = read_toml(_HERE / filename)
    table = data.get(vendor)
    if not isinstance(table, dict):
        raise CatalogueError(f"{filename}: no table [{vendor}]; known: {', '.join(sorted(data))}")
    where = f"{filename}: {vendor}"
    return VendorHosts(
        vendor=vendor,
        submission_domains=_domains(table, "submission_domains", where),
        sender_domains=_domains(table, "sender_domains", where),
        relay_domains=_domains(table, "relay_domains", where),
        number_pattern=_string(table, "number_pattern", where),
    )


def _domains(table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(d, str) and d.strip() for d in value):
        raise CatalogueError(f"{where}.{key} must be a non-empty list of domain names")
    return tuple(d.strip().lower() for d in value)


def normalize_key(key: str) -> str:
    """Codes and messages compare width-, case-, space- and asterisk-insensitively: `*** No  Recipients found ***`,
    `３９１２`; `_` is a space (`MESSAGE_COMPLETION_CODE`, `SESSION_TIMEOUT`), and characters that show nothing
    (a zero-width space inside the digits of a pasted code) are none."""
    text = unicodedata.normalize("NFKC", key).translate(_KEY_FOLD).strip().strip("*").strip()
    return re.sub(r"\s+", " ", text).casefold()


#: Minus signs and dashes a code may be pasted with (`−22`: U+2212 from a word processor; NFKC keeps them).
_MINUS_SIGNS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63"
_KEY_FOLD = str.maketrans({"_": " ", **dict.fromkeys(INVISIBLE_CHARACTERS), **dict.fromkeys(_MINUS_SIGNS, "-")})


def lookup(catalogue: str, key: str) -> CatalogueEntry | None:
    return _load(catalogue).by_key.get(normalize_key(key))


def entries(catalogue: str | None = None) -> tuple[CatalogueEntry, ...]:
    names = CATALOGUES if catalogue is None else (catalogue,)
    return tuple(entry for name in names for entry in _load(name).by_key.values())


def labels(catalogue: str) -> Mapping[str, tuple[str, ...]]:
    """Field name → every label the vendor's formats write for it (the catalogue's `[labels]` table)."""
    return _load(catalogue).labels


_CODE_LINE_RE = regex_cache.compile(r"^\s*(-?\d{1,9})(?:\s*[-:/(]\s*|\s+)?(.*?)\)?\s*$")


def search(query: str) -> tuple[CatalogueEntry, ...]:
    """Every entry a person may mean by `query`, as a Japanese or English user copies it: a code (also full
    width), a whole result line (`送信結果：３９１２－FAX番号が使用不可です`), a code's Japanese or English
    label, a bounce message, or a reason word. Keys first, then labels, then reasons; each entry once."""
    text = _without_field_label(normalize_key(query))
    if not text:
        return ()
    code = _CODE_LINE_RE.match(text)  # `3912-FAX番号が使用不可です`: the code decides, the label is its echo
    keys = dict.fromkeys((text, code.group(1)) if code else (text,))  # the whole text first: `5.1.1` is a key
    if code:  # a guide cell naming several codes: `204000/204001-解析エラー`
        at = code.end(1)
        while listed := _LISTED_CODE_RE.match(text, at):
            keys[listed.group(1)] = None
            at = listed.end()
    keyed = (entry for key in keys for name in CATALOGUES if (entry := lookup(name, key)) is not None)
    labelled = (entry for entry in entries() if text in _label_keys(entry))
    by_reason = (entry for entry in entries() if normalize_key(entry.reason) == text)
    found: dict[tuple[str, str], CatalogueEntry] = {}
    for entry in (*keyed, *labelled, *by_reason, *_reason_defaults(text)):
        found.setdefault((entry.catalogue, entry.key), entry)
    return tuple(found.values()) or _codes_inside(text)


#: Further codes right after a line's first, each after `/`, `, `, `、` or `・`: of three digits or more, so that
#: a date (`2026/12/01`), a fraction or a thousands separator (`1,263`) lists none.
_LISTED_CODE_RE = regex_cache.compile(r"\s*(?:[/、・]|,\s)\s*(-?\d{3,9})(?![\d/.:])")
#: A code standing alone in a longer paste: three digits or more, or signed (`-22`); not part of a dotted status
#: (`5.1.1`), a date (`2026/11/20`), a time, a price (`1,263`), a group of a number written in groups
#: (`03-5555-0101`, `0120 263 403`) or a longer run of digits.
_CODE_INSIDE_RE = regex_cache.compile(r"(?<![\d.:/,-])(?<!\d )([+-]?)0*(\d{1,9})(?![\d.:/,]|-\d| \d)")


def _codes_inside(text: str) -> tuple[CatalogueEntry, ...]:
    """What nothing else found: the codes a paste holds among other words (`エラー 3912`, `Error 6017`), written
    with a plus or leading zeros (`+3912`, `03912`, as spreadsheets and some systems show them)."""
    found: dict[tuple[str, str], CatalogueEntry] = {}
    for sign, digits in _CODE_INSIDE_RE.findall(text):
        key = ("-" if sign == "-" else "") + digits
        if len(digits) < 3 and not key.startswith("-"):
            continue
        for name in CATALOGUES:
            if (entry := lookup(name, key)) is not None:
                found.setdefault((entry.catalogue, entry.key), entry)
    return tuple(found.values())


def _reason_defaults(reason: str) -> tuple[CatalogueEntry, ...]:
    """A reason word's default action where a catalogue has it but no entry of it (`mail`: Sisimai's words).
    Whether resending helps is left open (None): for a delivery report it depends on the report's status."""
    found = []
    for name in CATALOGUES:
        catalogue = _load(name)
        if reason in catalogue.actions and not any(e.reason == reason for e in catalogue.by_key.values()):
            outcome = Outcome.DELIVERED if reason == "delivered" else Outcome.FAILED
            action_ja, action_en = catalogue.actions[reason]
            found.append(CatalogueEntry(name, catalogue.vendor, reason, "", "", outcome, reason, None,
                                        action_ja, action_en))
    return tuple(found)


def _without_field_label(text: str) -> str:
    """`送信結果: 6017-話中` → `6017-話中`: a field label of any catalogue before `:`, `=` or a space is dropped."""
    field_labels = {normalize_key(label) for name in CATALOGUES for group in _load(name).labels.values()
                    for label in group}
    for label in sorted(field_labels, key=len, reverse=True):
        if text.startswith(label) and (after := _AFTER_LABEL_RE.match(text, len(label))) is not None:
            return text[after.end():].strip()  # `送信結果 : 3912`, `Completion Code = 28024`: any spacing
    return text


_AFTER_LABEL_RE = regex_cache.compile(r"\s*[:=]\s*|\s+")


def _label_keys(entry: CatalogueEntry) -> frozenset[str]:
    """An entry's labels as a query may give them: whole, or without a parenthesised note
    (`Phone number not operational (no fax answer; …)`)."""
    keys = set()
    for label in (entry.label_ja, entry.label_en):
        if label:
            keys.update((normalize_key(label), normalize_key(re.sub(r"\s*\([^)]*\)\s*$", "", label))))
            if name := _ERROR_NAME_RE.match(label):  # NET SatisFAXtion's `SESSION_TIMEOUT: description`
                keys.add(normalize_key(name.group(1)))
    return frozenset(keys - {""})


_ERROR_NAME_RE = regex_cache.compile(r"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*:")


def whole_mail_reasons() -> frozenset[str]:
    """Reasons, of every catalogue, that say a refused submission mail was refused whole (`whole_mail = true`)."""
    return frozenset(reason for name in CATALOGUES for reason in _load(name).whole_mail)


def reason_action(catalogue: str, reason: str) -> tuple[str, str]:
    """(action_ja, action_en) for a reason, from the catalogue's defaults, else the `unknown` default."""
    actions = _load(catalogue).actions
    return actions.get(reason) or actions.get("unknown") or actions.get("undefined") or ("", "")


def unknown_entry(catalogue: str, key: str, label: str = "") -> CatalogueEntry:
    """The entry for a code the vendor has not published: a failure of reason `unknown`, never dropped."""
    cat = _load(catalogue)
    reason = "unknown" if catalogue != "mail" else "undefined"
    action_ja, action_en = reason_action(catalogue, reason)
    return CatalogueEntry(catalogue, cat.vendor, key, label, "", Outcome.FAILED, reason,
                          retryable_for(reason, Outcome.FAILED), action_ja, action_en)


@cache
def _load(catalogue: str) -> _Catalogue:
    if catalogue not in CATALOGUES:
        raise CatalogueError(f"no catalogue named {catalogue!r}; known: {', '.join(CATALOGUES)}")
    filename = f"{catalogue}.toml"
    data = read_toml(_HERE / filename)
    vendor = _string(data, "vendor", filename)
    actions: dict[str, tuple[str, str]] = {}
    whole_mail: set[str] = set()
    for reason, table in (data.get("reasons") or {}).items():
        where = f"{filename}: reasons.{reason}"
        if not is_known_reason(reason):
            raise CatalogueError(f"{where}: {reason!r} is not a reason word of processor.reasons")
        actions[reason] = (_string(table, "action_ja", where), _string(table, "action_en", where))
        if not isinstance(flag := table.get("whole_mail", False), bool):
            raise CatalogueError(f"{where}: whole_mail must be true or false")
        if flag:
            whole_mail.add(reason)
    by_key: dict[str, CatalogueEntry] = {}
    for index, row in enumerate(data.get("entry") or []):
        where = f"{filename}: entry[{index}]"
        key = _string(row, "key", where)
        reason = _string(row, "reason", where)
        if not is_known_reason(reason):
            raise CatalogueError(f"{where} ({key}): reason {reason!r} is not a reason word of processor.reasons")
        try:
            outcome = Outcome(_string(row, "outcome", where))
        except ValueError as exc:
            raise CatalogueError(f"{where} ({key}): outcome must be delivered, failed or pending") from exc
        retryable = row.get("retryable", retryable_for(reason, outcome))
        if outcome is not Outcome.FAILED:
            retryable = None
        elif not isinstance(retryable, bool):
            raise CatalogueError(f"{where} ({key}): retryable must be true or false")
        default_ja, default_en = actions.get(reason, ("", ""))
        entry = CatalogueEntry(
            catalogue=catalogue,
            vendor=vendor,
            key=key,
            label_en=str(row.get("label_en", "")),
            label_ja=str(row.get("label_ja", "")),
            outcome=outcome,
            reason=reason,
            retryable=retryable,
            action_ja=str(row.get("action_ja") or default_ja),
            action_en=str(row.get("action_en") or default_en),
        )
        if not entry.action_ja or not entry.action_en:
            raise CatalogueError(f"{where} ({key}): no action_ja/action_en and no default for reason {reason!r}")
        normalized = normalize_key(key)
        if normalized in by_key:
            raise CatalogueError(f"{where}: duplicate key {key!r}")
        by_key[normalized] = entry
    return _Catalogue(vendor, MappingProxyType(by_key), MappingProxyType(actions),
                      MappingProxyType(_labels(data.get("labels"), filename)), frozenset(whole_mail))


def _labels(table: object, filename: str) -> dict[str, tuple[str, ...]]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise CatalogueError(f"{filename}: labels must be a table of lists of labels")
    result: dict[str, tuple[str, ...]] = {}
    for name, values in table.items():
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise CatalogueError(f"{filename}: labels.{name} must be a non-empty list of non-empty strings")
        result[name] = tuple(v.strip() for v in values)
    return result


def _string(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: {key} must be a non-empty string")
    return value
