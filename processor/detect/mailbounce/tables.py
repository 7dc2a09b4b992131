"""The package's tab-separated tables (status codes, phrases, pseudo statuses), loaded once, read-only.

Vendor and RFC knowledge lives in the `.tsv` files next to this module, not in code, so that a new phrase is
one line of data. Every reason word is checked against `MailReason` when the table loads: a typo raises
CatalogueError naming the file and line at import, never a silent "no match" at classification time.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import ahocorasick

from processor import regex_cache
from processor.cachefile import KeptCache
from processor.errors import CatalogueError
from processor.reasons import MailReason

try:  # the stdlib's own regular-expression parser, private: `required_literals` only, and optional there
    from re import _constants as _sre
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - a Python that moved it: patterns then simply run
    _sre = _sre_parser = None  # type: ignore[assignment]

__all__ = [
    "MAIL_REASON_WORDS",
    "Phrase",
    "ProviderRule",
    "TableRow",
    "VendorReason",
    "Wording",
    "WordingCache",
    "WordingIndex",
    "ascii_lowered",
    "case_sensitive_twin",
    "case_sensitive_twin_of",
    "compile_twins",
    "found_in",
    "load_end_markers",
    "load_phrases",
    "load_provider_hosts",
    "load_provider_rules",
    "load_pseudo_statuses",
    "load_status_reasons",
    "load_vendor_reasons",
    "package_table",
    "read_rows",
    "reason_word",
    "required_literals",
    "rules_out",
    "twin_and_literals",
    "wordings_cache_path",
    "write_wordings",
]

#: One phrase, or parts that must occur in this order (Sisimai's aligned phrases).
Phrase = str | tuple[str, ...]

_STATUS_RE = regex_cache.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_PSEUDO_RE = regex_cache.compile(r"9\d\d")
MAIL_REASON_WORDS = frozenset(r.value for r in MailReason)
_IGNORECASE = int(re.IGNORECASE)  # int arithmetic: a RegexFlag operand makes every `&` an enum operation


@dataclass(frozen=True, slots=True)
class TableRow:
    """One data line of a table, with where it came from for error messages."""

    filename: str
    line: int
    fields: tuple[str, ...]

    def error(self, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.filename}:{self.line}: {problem}")


def package_table(name: str) -> tuple[str, str]:
    """(text, file name) of a table shipped inside this package."""
    try:
        return Path(__file__).with_name(name).read_text(encoding="utf-8"), name
    except OSError as exc:
        raise CatalogueError(f"{name}: cannot read the table ({exc}); reinstall faxbounce") from exc


def read_rows(text: str, filename: str, least: int, most: int) -> Iterator[TableRow]:
    """Data lines split on tabs; `#` lines and blank lines are skipped, a wrong field count is an error."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = tuple(_unquote(f) for f in line.split("\t"))
        row = TableRow(filename, number, fields)
        if not least <= len(fields) <= most or not all(fields):
            raise row.error(f"expected {least} to {most} non-empty tab-separated fields, found {len(fields)}")
        yield row


def reason_word(row: TableRow, index: int = 0) -> str:
    """The row's reason word, checked against MailReason (kept a plain str, as stored in the database)."""
    word = row.fields[index]
    if word not in MAIL_REASON_WORDS:
        raise row.error(f"{word!r} is not a reason word of processor.reasons.MailReason")
    return word


def load_status_reasons(text: str, filename: str) -> Mapping[str, str]:
    """RFC 3463 status -> reason; columns: status, reason, description."""
    table: dict[str, str] = {}
    for row in read_rows(text, filename, 3, 3):
        status = row.fields[0]
        if not _STATUS_RE.fullmatch(status):
            raise row.error(f"{status!r} is not an RFC 3463 status (class.subject.detail)")
        if status in table:
            raise row.error(f"status {status} is listed twice")
        table[status] = reason_word(row, 1)
    return MappingProxyType(table)


def load_phrases(text: str, filename: str) -> Mapping[str, tuple[Phrase, ...]]:
    """Reason -> its phrases; columns: reason, then one phrase or its ordered parts."""
    table: dict[str, list[Phrase]] = {}
    seen: set[tuple[str, Phrase]] = set()
    for row in read_rows(text, filename, 2, 8):
        reason = reason_word(row)
        parts = row.fields[1:]
        if any(p != p.lower() for p in parts):
            raise row.error("phrases are compared with the lower-cased diagnostic: write them in lower case")
        phrase: Phrase = parts[0] if len(parts) == 1 else parts
        if (reason, phrase) in seen:
            raise row.error(f"phrase {phrase!r} is listed twice for {reason}")
        seen.add((reason, phrase))
        table.setdefault(reason, []).append(phrase)
    return MappingProxyType({reason: tuple(phrases) for reason, phrases in table.items()})


def load_pseudo_statuses(text: str, filename: str) -> Mapping[str, str]:
    """Reason -> Sisimai's three-digit pseudo detail (`911` for userunknown); columns: reason, detail."""
    table: dict[str, str] = {}
    for row in read_rows(text, filename, 2, 2):
        reason, detail = reason_word(row), row.fields[1]
        if not _PSEUDO_RE.fullmatch(detail):
            raise row.error(f"{detail!r} is not a three-digit pseudo detail 9xx")
        if reason in table:
            raise row.error(f"reason {reason} is listed twice")
        table[reason] = detail
    return MappingProxyType(table)


class Wording:
    """A table's regular expression, found case-insensitively. `found_in` runs its case-sensitive twin over an
    ASCII text's lower case when that twin is sure (every shipped pattern), after `in` found one of the literals
    every match holds; the case-insensitive `pattern` is compiled only when a non-ASCII text asks for it. The
    twin's source and literals come from the installation's cache (`WordingCache`), and the twin is compiled
    when a text first holds one of its literals: a process that reads one bounce compiles the few rows it tries,
    not the provider and MTA tables' 394."""

    __slots__ = ("_literals", "_pattern", "_sure", "_twin", "source")

    def __init__(self, source: str) -> None:
        """Raises re.error for a source that is not a regular expression."""
        self.source = source
        self._sure, self._literals = _WORDINGS.analysis(source)
        self._twin: re.Pattern[str] | None = None
        self._pattern = None if self._sure else regex_cache.compile(source, re.IGNORECASE)

    @property
    def pattern(self) -> re.Pattern[str]:
        """The source compiled case-insensitively."""
        if self._pattern is None:
            self._pattern = regex_cache.compile(self.source, re.IGNORECASE)
        return self._pattern

    @property
    def twin(self) -> re.Pattern[str] | None:
        """The case-sensitive twin (`case_sensitive_twin`), or None when it would not be sure."""
        if self._twin is None and self._sure:
            self._twin = regex_cache.compile(self.source)
        return self._twin

    @property
    def literals(self) -> tuple[str, ...] | None:
        """The literals one of which every match holds (`required_literals` of the twin); None when no literal
        can rule the wording out (no sure twin, or no literal every match needs)."""
        return self._literals

    def found_in(self, text: str, lowered: str | None) -> bool:
        """`self.pattern.search(text)`, as `found_in(pattern, text, lowered)` finds it."""
        if self._sure:
            if rules_out(self._literals, lowered if lowered is not None else _folded(text)):
                return False  # what `_twin_decides` says then, before the twin is compiled
            twin = self.twin
            assert twin is not None  # a sure wording has one
            if (decided := _twin_decides(twin, None, text, lowered)) is not None:
                return decided
        return self.pattern.search(text) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Wording) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Wording({self.source!r})"


_Analysis = tuple[bool, tuple[str, ...] | None]


def wordings_cache_path() -> Path | None:
    """The package's wording cache file; None when the interpreter keeps no byte code caches."""
    tag = sys.implementation.cache_tag
    return None if tag is None else Path(__file__).parent / "__pycache__" / f"wordings.{tag}.marshal"


class WordingCache(KeptCache[str, _Analysis]):
    """What a `Wording` works out from its source before it reads any text, kept per installation as compiled
    patterns are (`processor.regex_cache`): whether it has a sure twin (`case_sensitive_twin`: the same source
    without IGNORECASE) and the literals one of
    which every match holds (`required_literals`, read with the stdlib's own regular expression parser, in
    Python). For the provider and MTA tables' 394 wordings that took 18 ms of every process that judged a bounce,
    3 % of classifying the 629 corpus mails in one process. An entry is written only for a source that compiles,
    and is keyed by the whole source, so it cannot be stale; `sys.version` in the stamp, as the parser may read a
    pattern differently in another release."""

    stamp = ("faxbounce-wordings-1", sys.version)

    def analysis(self, source: str) -> _Analysis:
        """(whether the wording has a sure twin, its literals or None); raises re.error for a source that is not
        a regular expression (a cached source compiled when it was kept)."""
        kept = self.kept().get(source)
        if (isinstance(kept, tuple) and len(kept) == 2 and isinstance(kept[0], bool)
                and isinstance(kept[1], tuple | None)):
            return kept
        found = _analysed(source)
        self.remember_missed(source)
        return found

    def _entry(self, key: str, kept: _Analysis | None) -> _Analysis | None:
        try:
            return _analysed(key)  # always anew: a file's entry is not trusted to be this parser's
        except re.error:
            return None

    def _is_key(self, key: object) -> bool:
        return isinstance(key, str)


def _analysed(source: str) -> _Analysis:
    """`WordingCache.analysis` worked out: compiles the source (its twin when it has one) to check it."""
    if not _has_sure_twin(source, _IGNORECASE):
        regex_cache.compile(source, re.IGNORECASE)
        return False, None
    return True, required_literals(regex_cache.compile(source))


_WORDINGS = WordingCache(wordings_cache_path())
write_wordings = _WORDINGS.write


def compile_twins() -> None:
    """Compile the twin of every wording this process analysed or found in the cache, through
    `processor.regex_cache`: what `processor.caches` runs, so that a twin a text needs later is found there."""
    for source in {*_WORDINGS.kept(), *_WORDINGS.missed}:
        if _WORDINGS.analysis(source)[0]:
            regex_cache.compile(source)


class WordingIndex:
    """A table's wordings in order, searched together: one Aho-Corasick automaton over their literals tells in one
    pass over a text which wordings may find it, and only those are tried, in table order. Trying the MTA table's
    wordings one by one, each looking for its literals with `in`, took 15 µs a diagnostic (19 wordings tried on
    average over the corpus), the index 5 µs."""

    __slots__ = ("_always", "_automaton", "_wordings")

    def __init__(self, wordings: Sequence[Wording]) -> None:
        self._wordings = tuple(wordings)
        by_literal: dict[str, list[int]] = {}
        always: list[int] = []
        for index, wording in enumerate(self._wordings):
            if wording.literals is None:
                always.append(index)  # no literal rules it out: always tried
            else:
                for literal in wording.literals:
                    by_literal.setdefault(literal, []).append(index)
        self._always = frozenset(always)
        self._automaton: ahocorasick.Automaton | None = None
        if by_literal:
            self._automaton = ahocorasick.Automaton()
            for literal, indexes in by_literal.items():
                self._automaton.add_word(literal, tuple(indexes))
            self._automaton.make_automaton()

    def first(self, text: str, lowered: str | None) -> int | None:
        """The index of the first wording that `found_in(text, lowered)`, or None; as trying each in turn finds
        it: a wording left out holds literals none of which is in the text its `found_in` looks in."""
        candidates = set(self._always)
        if self._automaton is not None:
            for _end, indexes in self._automaton.iter(lowered if lowered is not None else _folded(text)):
                candidates.update(indexes)
        return next((i for i in sorted(candidates) if self._wordings[i].found_in(text, lowered)), None)


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """One provider wording: the reason it names, the status (and command) it is limited to, its wording."""

    reason: str
    status: str
    command: str
    wording: Wording

    @property
    def pattern(self) -> re.Pattern[str]:
        return self.wording.pattern

    def applies(self, status: str, command: str, diagnosis: str, lowered: str | None = None) -> bool:
        """`lowered`: `ascii_lowered(diagnosis)`, when the caller tries many rules on one diagnostic."""
        if self.status and status != self.status and not (
                self.status.startswith("x.") and status[1:] == self.status[1:] and status[:1] in "45"):
            return False
        if self.command and command != self.command:
            return False
        return self.wording.found_in(diagnosis, lowered)


_HOST_SUFFIX_RE = regex_cache.compile(r"\.?[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?")
_COMMAND_WORD_RE = regex_cache.compile(r"[A-Z]{4,8}")


def load_provider_hosts(text: str, filename: str) -> Mapping[str, tuple[str, ...]]:
    """Provider -> its host suffixes; columns: provider, suffix (lower case, `.` first for "under")."""
    table: dict[str, list[str]] = {}
    for row in read_rows(text, filename, 2, 2):
        provider, suffix = row.fields
        if not _HOST_SUFFIX_RE.fullmatch(suffix):
            raise row.error(f"{suffix!r} is not a lower-case host name or `.domain` suffix")
        table.setdefault(provider, []).append(suffix)
    return MappingProxyType({provider: tuple(suffixes) for provider, suffixes in table.items()})


def load_provider_rules(
    text: str, filename: str, providers: Mapping[str, object]
) -> Mapping[str, tuple[ProviderRule, ...]]:
    """Provider -> its wordings in file order; columns: provider, reason, when (`*`, `status`, `status CMD`), regex."""
    table: dict[str, list[ProviderRule]] = {}
    seen: set[tuple[str, ProviderRule]] = set()
    for row in read_rows(text, filename, 4, 4):
        provider, _reason, when, pattern = row.fields
        if provider not in providers:
            raise row.error(f"provider {provider!r} has no hosts in the provider host table")
        status, _, command = ("", "", "") if when == "*" else when.partition(" ")
        if status and not _STATUS_RE.fullmatch(status.replace("x.", "4.", 1)):
            raise row.error(f"{status!r} is not an RFC 3463 status (class.subject.detail, class x: 4 or 5) or `*`")
        if command and not _COMMAND_WORD_RE.fullmatch(command):
            raise row.error(f"{command!r} is not an SMTP command word such as RCPT or DATA")
        rule = ProviderRule(reason_word(row, 1), status, command, _wording(row, pattern))
        if (provider, rule) in seen:
            raise row.error(f"this rule of {provider} is listed twice")
        seen.add((provider, rule))
        table.setdefault(provider, []).append(rule)
    return MappingProxyType({provider: tuple(rules) for provider, rules in table.items()})


@dataclass(frozen=True, slots=True)
class VendorReason:
    """An MTA's own wording: the reason it states, how to make a status without one, its pattern."""

    reason: str
    pseudo: str
    wording: Wording

    @property
    def pattern(self) -> re.Pattern[str]:
        return self.wording.pattern


_PSEUDO_KINDS = frozenset({"-", "temporary", "onhold"})


def load_vendor_reasons(text: str, filename: str) -> tuple[VendorReason, ...]:
    """MTA wordings in file order; columns: reason, pseudo (`-`, `temporary`, `onhold`), regex."""
    rules: list[VendorReason] = []
    for row in read_rows(text, filename, 3, 3):
        _reason, pseudo, pattern = row.fields
        if pseudo not in _PSEUDO_KINDS:
            raise row.error(f"pseudo {pseudo!r} is not one of {', '.join(sorted(_PSEUDO_KINDS))}")
        rules.append(VendorReason(reason_word(row), pseudo, _wording(row, pattern)))
    return tuple(rules)


def load_end_markers(text: str, filename: str) -> tuple[tuple[re.Pattern[str], bool], ...]:
    """(pattern, announces the original) in file order; columns: kind (`announce`, `original`), regex."""
    markers: list[tuple[re.Pattern[str], bool]] = []
    for row in read_rows(text, filename, 2, 2):
        kind, pattern = row.fields
        if kind not in ("announce", "original"):
            raise row.error(f"kind {kind!r} is not `announce` or `original`")
        markers.append((_compiled(row, pattern), kind == "announce"))
    return tuple(markers)


def ascii_lowered(text: str) -> str | None:
    """`text` in lower case when it is ASCII (most diagnostics are), for `found_in`; else None."""
    return text.lower() if text.isascii() else None


def found_in(pattern: re.Pattern[str], text: str, lowered: str | None) -> bool:
    """`pattern.search(text)`, through the pattern's case-sensitive twin over `lowered` (`ascii_lowered(text)`)
    when it has one. Python's `re` scans case-insensitive alternatives of words one position at a time, while a
    case-sensitive pattern skips ahead to where a word can start: the tables' patterns run 2-3 times faster.
    Before the twin runs, `in` looks for the literals one of which its every match holds (`required_literals`):
    most diagnostics hold none of a row's words, and patterns that begin with `^` or `.*` scan them whole."""
    twin = twin_and_literals(pattern)
    if twin is not None and (decided := _twin_decides(*twin, text, lowered)) is not None:
        return decided
    return pattern.search(text) is not None


def _twin_decides(twin: re.Pattern[str], literals: tuple[str, ...] | None, text: str,
                  lowered: str | None) -> bool | None:
    """What the pattern finds, when its twin can say: over an ASCII text's lower case (`lowered`) always, over
    any other text only that it finds nothing (`_folded`); None when the pattern itself must look."""
    if lowered is not None:
        return _twin_finds(twin, literals, lowered)
    return None if _twin_finds(twin, literals, _folded(text)) else False


#: The characters outside ASCII that `re.IGNORECASE` takes for an ASCII letter (Python's `re._casefix` and the
#: simple lower-case mapping: nothing else lowers to ASCII), each as that letter. `tests/detect` checks the set
#: against the running interpreter's engine.
IGNORECASE_ASCII = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


@lru_cache(maxsize=64)
def _folded(text: str) -> str:
    """A text that is not ASCII, in lower case and with the four letters above made ASCII: what a twin reads
    to say that the pattern does not match. Whatever the pattern finds in the text, its twin finds here: a
    twin names lower-case ASCII letters only, which IGNORECASE matches in exactly the characters folded to
    them, and lower-casing keeps a character in or out of every class a twin may hold (a letter stays a
    letter, white space and digits stay, the rest stays out of `a-z`). Not the other way round, so a twin's
    match is confirmed by the pattern itself. Before, every one of the tables' patterns ran on such a text,
    and a few of them take quadratic time (`MAX_DIAGNOSIS`): a 4.5 MB report of 2,000 crafted diagnostics took
    8.9 s, and 1.6 s this way."""
    return text.translate(IGNORECASE_ASCII).lower()


def _twin_finds(twin: re.Pattern[str], literals: tuple[str, ...] | None, lowered: str) -> bool:
    return not rules_out(literals, lowered) and twin.search(lowered) is not None


def rules_out(literals: tuple[str, ...] | None, scanned: str) -> bool:
    """None of `literals` (`required_literals` of a twin, one of which its every match holds) is in `scanned`, the
    text the twin would read: it cannot match there. False when there are no literals to go by."""
    return literals is not None and not any(literal in scanned for literal in literals)


_TWINS: dict[re.Pattern[str], tuple[re.Pattern[str], tuple[str, ...] | None] | None] = {}
_UNSAFE_ESCAPES = frozenset("xuUN0123456789\\")


def case_sensitive_twin_of(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """`case_sensitive_twin(pattern)`, made once per pattern."""
    twin = twin_and_literals(pattern)
    return None if twin is None else twin[0]


def twin_and_literals(pattern: re.Pattern[str]) -> tuple[re.Pattern[str], tuple[str, ...] | None] | None:
    """(`case_sensitive_twin(pattern)`, its `required_literals`), made once per pattern; None without a twin. Keyed
    by the pattern, whose hash is its whole program's: a hot caller keeps what this returns."""
    try:
        return _TWINS[pattern]
    except KeyError:
        compiled = case_sensitive_twin(pattern)
        twin = _TWINS[pattern] = None if compiled is None else (compiled, required_literals(compiled))
        return twin


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings of which every match of the case-sensitive `pattern` holds at least one; None when the pattern
    names none. A run of plain characters in sequence is required, so are a group's and those of a repeat of
    at least one, and an alternation requires one of each branch's. The pattern is read with the stdlib's own
    parser (`re._parser`, private): should it change, this answers None and the twin simply runs."""
    if pattern.flags & re.IGNORECASE or _sre_parser is None:
        return None
    try:
        return _sequence_literals(_sre_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - an optimisation only: any surprise in the private parser means "none"
        return None


def _sequence_literals(items: Iterable[tuple[Any, Any]]) -> tuple[str, ...] | None:
    """The required literals of one sequence of parsed items whose shortest string is longest."""
    candidates: list[tuple[str, ...] | None] = []
    run: list[str] = []
    for op, arg in items:
        if op is _sre.LITERAL:
            run.append(chr(arg))
            continue
        candidates.append(("".join(run),))
        run = []
        if op is _sre.SUBPATTERN and not arg[1] and not arg[2]:  # (group, add flags, del flags, body)
            candidates.append(_sequence_literals(arg[3]))
        elif op is _sre.ATOMIC_GROUP:
            candidates.append(_sequence_literals(arg))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and arg[0] >= 1:  # (min, max, body)
            candidates.append(_sequence_literals(arg[2]))
        elif op is _sre.BRANCH:  # (None, branches)
            branches = [_sequence_literals(branch) for branch in arg[1]]
            candidates.append(None if None in branches else tuple(
                dict.fromkeys(literal for branch in branches if branch for literal in branch)))
    candidates.append(("".join(run),))
    usable = [c for c in candidates if c and all(c)]
    return max(usable, key=lambda c: min(map(len, c))) if usable else None


def case_sensitive_twin(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern without IGNORECASE, which finds in an ASCII text's lower case exactly what the pattern finds in
    the text; None when that cannot be sure from its source. Sure means: ASCII source, no upper-case letter (but
    `A-Za-z` in a class and the escapes `\\S \\W \\D \\B \\A \\Z`, which lower-casing the text leaves true),
    no escape that names a character by number (`\\x41`), no back-reference, no inline flag. Then every letter the
    pattern names is lower case, and in ASCII text IGNORECASE means no more than "the same in lower case"."""
    return _sure_twin(pattern.pattern, pattern.flags)


def _sure_twin(source: str, flags: int) -> re.Pattern[str] | None:
    """`case_sensitive_twin` of `re.compile(source, flags)`, from the source alone."""
    return regex_cache.compile(source, int(flags) & ~_IGNORECASE) if _has_sure_twin(source, int(flags)) else None


def _has_sure_twin(source: str, flags: int) -> bool:
    """Whether `_sure_twin` has a twin for the source (the same text, compiled without IGNORECASE)."""
    if not flags & _IGNORECASE or not source.isascii() or re.search(r"\(\?(?:[aiLmsux-]|P=)", source):
        return False
    index = 0
    in_class = False
    while index < len(source):
        char = source[index]
        if char == "\\":
            escaped = source[index + 1 : index + 2]
            if not escaped or escaped in _UNSAFE_ESCAPES or (escaped.isupper() and escaped not in "SWDBAZ"):
                return False
            index += 2
        elif in_class and source.startswith("A-Za-z", index):
            index += 6
        elif "A" <= char <= "Z":
            return False
        elif char == "[" and not in_class:
            in_class = True
            index += 1
            index += source.startswith("^", index)
            index += source.startswith("]", index)  # a `]` first in a class is one of its characters
        else:
            in_class = in_class and char != "]"
            index += 1
    return True


def _wording(row: TableRow, pattern: str) -> Wording:
    try:
        return Wording(pattern)
    except re.error as exc:
        raise row.error(f"pattern {pattern!r} is not a regular expression ({exc})") from exc


def _compiled(row: TableRow, pattern: str) -> re.Pattern[str]:
    try:
        return regex_cache.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise row.error(f"pattern {pattern!r} is not a regular expression ({exc})") from exc


def _unquote(field: str) -> str:
    """`"mailbox "` -> `mailbox `: quotes keep a part's leading or trailing spaces visible and safe."""
    return field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field
