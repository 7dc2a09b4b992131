"""The mail-bounce family's tables: loaded as data, checked against MailReason, shipped in the wheel.

Bad tables are fed to the real loaders (a typo must fail at import, naming file and line, never become a
silent "no match"); the shipped tables are checked against RFC 3463 and Sisimai's published words.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.detect.mailbounce import reason_match
from processor.detect.mailbounce.reason_match import (
    FALLBACK_ORDER,
    FIRST_PASS,
    PHRASES,
    PSEUDO_STATUS,
    STATUS_REASONS,
    check_reason_words,
    includes,
    pseudo_status,
)
from processor.detect.mailbounce.rhost import PROVIDER_HOSTS, PROVIDER_RULES, host_named_in, provider_of
from processor.detect.mailbounce.tables import (
    load_end_markers,
    load_phrases,
    load_provider_hosts,
    load_provider_rules,
    load_pseudo_statuses,
    load_status_reasons,
    load_vendor_reasons,
    package_table,
)
from processor.errors import CatalogueError
from processor.reasons import MailReason

ROOT = Path(__file__).resolve().parents[2]
Loader = Callable[[str, str], Mapping[str, object]]

#: Reasons that are never a failure's cause, so need no pseudo status.
NOT_FAILURES = {"delivered", "vacation", "feedback"}

# (loader, table text, the error it must raise: file:line and the problem)
BAD_TABLES: list[tuple[str, Loader, str, str]] = [
    ("status: unknown reason", load_status_reasons,
     "# header\n5.1.1\tuserunknown\tBad destination mailbox address\n5.2.2\tmailboxful\tMailbox full\n",
     r"^bad\.tsv:3: 'mailboxful' is not a reason word of processor\.reasons\.MailReason$"),
    ("status: fax word", load_status_reasons, "5.1.1\tinvalid_number\tBad destination mailbox address\n",
     r"^bad\.tsv:1: 'invalid_number' is not a reason word"),
    ("status: not a status", load_status_reasons, "\n5.1\tuserunknown\tBad destination mailbox address\n",
     r"^bad\.tsv:2: '5\.1' is not an RFC 3463 status"),
    ("status: twice", load_status_reasons, "5.1.1\tuserunknown\ta\n5.1.1\tuserunknown\tb\n",
     r"^bad\.tsv:2: status 5\.1\.1 is listed twice$"),
    ("status: no description", load_status_reasons, "5.1.1\tuserunknown\n",
     r"^bad\.tsv:1: expected 3 to 3 non-empty tab-separated fields, found 2$"),
    ("phrases: unknown reason", load_phrases, "userunknown\tno such user\nspam\tspam detected\n",
     r"^bad\.tsv:2: 'spam' is not a reason word"),
    ("phrases: upper case", load_phrases, "userunknown\tNo such user\n",
     r"^bad\.tsv:1: phrases are compared with the lower-cased diagnostic"),
    ("phrases: twice", load_phrases, "userunknown\tno such user\nuserunknown\t\"no such user\"\n",
     r"^bad\.tsv:2: phrase 'no such user' is listed twice for userunknown$"),
    ("phrases: empty part", load_phrases, "userunknown\tno such\t\n",
     r"^bad\.tsv:1: expected 2 to 8 non-empty"),
    ("pseudo: unknown reason", load_pseudo_statuses, "userunknown\t911\nuserunknwon\t912\n",
     r"^bad\.tsv:2: 'userunknwon' is not a reason word"),
    ("pseudo: not 9xx", load_pseudo_statuses, "userunknown\t511\n", r"^bad\.tsv:1: '511' is not a three-digit"),
    ("hosts: upper case", load_provider_hosts, "Cox\tcox.net\nTencent\t.QQ.com\n",
     r"^bad\.tsv:2: '\.QQ\.com' is not a lower-case host name"),
    ("rules: unknown provider", lambda t, f: load_provider_rules(t, f, {"Cox": ()}),
     "Cox\tblocked\t*\taup#cxbl\nCocks\tblocked\t*\taup#cdrbl\n",
     r"^bad\.tsv:2: provider 'Cocks' has no hosts in the provider host table$"),
    ("rules: bad regex", lambda t, f: load_provider_rules(t, f, {"Cox": ()}), "Cox\tblocked\t*\taup#(cxbl\n",
     r"^bad\.tsv:1: pattern 'aup#\(cxbl' is not a regular expression"),
    ("rules: bad when", lambda t, f: load_provider_rules(t, f, {"Cox": ()}), "Cox\tblocked\t5.0\tx\n",
     r"^bad\.tsv:1: '5\.0' is not an RFC 3463 status"),
    ("rules: bad command", lambda t, f: load_provider_rules(t, f, {"Cox": ()}), "Cox\tblocked\t5.0.0 rcpt\tx\n",
     r"^bad\.tsv:1: 'rcpt' is not an SMTP command word"),
    ("rules: twice", lambda t, f: load_provider_rules(t, f, {"Cox": ()}), "Cox\tblocked\t*\tx\nCox\tblocked\t*\tx\n",
     r"^bad\.tsv:2: this rule of Cox is listed twice$"),
    ("vendor: bad pseudo", load_vendor_reasons, "expired\t-\tenvelope expired\nexpired\tlater\tx\n",
     r"^bad\.tsv:2: pseudo 'later' is not one of -, onhold, temporary$"),
    ("vendor: bad regex", load_vendor_reasons, "expired\t-\tenvelope (expired\n",
     r"^bad\.tsv:1: pattern 'envelope \(expired' is not a regular expression"),
    ("vendor: bad regex, no twin", load_vendor_reasons, "expired\t-\tEnvelope (expired\n",
     r"^bad\.tsv:1: pattern 'Envelope \(expired' is not a regular expression"),
    ("vendor: unknown reason", load_vendor_reasons, "expird\t-\tenvelope expired\n", r"^bad\.tsv:1: 'expird' is not"),
    ("markers: bad kind", load_end_markers, "announce\t^-+ original message\nstart\t^received:\n",
     r"^bad\.tsv:2: kind 'start' is not `announce` or `original`$"),
    ("rules: unknown reason", lambda t, f: load_provider_rules(t, f, {"Cox": ()}), "Cox\tblokced\t*\tx\n",
     r"^bad\.tsv:1: 'blokced' is not a reason word"),
]


@pytest.mark.parametrize(("loader", "text", "error"), [c[1:] for c in BAD_TABLES], ids=[c[0] for c in BAD_TABLES])
def test_a_bad_table_fails_naming_file_and_line(loader: Loader, text: str, error: str) -> None:
    with pytest.raises(CatalogueError, match=error):
        loader(text, "bad.tsv")


def test_a_bad_shipped_table_fails_the_import(tmp_path: Path) -> None:
    """The package's own check at import: with one misspelt word, a worker's modules must not import (`classify`
    loads the readers on its first report; a worker loads them when it starts)."""
    copy = tmp_path / "processor"
    shutil.copytree(ROOT / "processor", copy, ignore=shutil.ignore_patterns("__pycache__"))
    phrases = copy / "detect" / "mailbounce" / "phrases.tsv"
    lines = phrases.read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("mailboxfull\t"))
    lines[first] = lines[first].replace("mailboxfull", "mailbox_full", 1)
    phrases.write_text("\n".join(lines), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", "import processor.run.pipeline"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert f"phrases.tsv:{first + 1}: 'mailbox_full' is not a reason word" in done.stderr
    assert "CatalogueError" in done.stderr and str(copy) in done.stderr  # the copy, not the installed package


def test_every_provider_has_hosts_and_rules() -> None:
    """A provider with hosts but no rules (or the reverse) is a table out of step with itself."""
    assert set(PROVIDER_HOSTS) == set(PROVIDER_RULES)


# (recipient, remote host, local host, provider): rhost_hosts.tsv read as Sisimai's RhostClass
PROVIDERS = [
    ("a@laposte.net", "", "", "FrancePTT"),  # the recipient's domain is one of the provider's
    ("a@secureserver.net", "", "", "GoDaddy"),  # ... or a domain its hosts lie under
    ("a@example.com", "mx1.qq.com", "", "Tencent"),  # the remote MTA lies under a suffix
    ("a@example.com", "", "server-7.bemta-12.messagelabs.com", "MessageLabs"),  # the reporting MTA
    ("a@example.com", "smtp.secureserver.net", "", "GoDaddy"),  # a host named without a leading dot
    ("a@example.com", "mx.notcox.net", "", ""),  # not under cox.net, only ending like it
    ("a@net", "", "", ""),  # a top-level domain is nobody's
    ("a@example.com", "mx.example.com", "mail.example.org", ""),
]


@pytest.mark.parametrize(("recipient", "remote", "local", "provider"), PROVIDERS)
def test_provider_of(recipient: str, remote: str, local: str, provider: str) -> None:
    assert provider_of(recipient, remote, local) == provider


@pytest.mark.parametrize(("diagnosis", "host"), [
    ("host mx.example.jp[192.0.2.1] said: 550 5.1.1 unknown", "mx.example.jp"),  # Postfix
    ("host mx.example.jp [192.0.2.1]: SMTP error from remote mail server after RCPT TO", "mx.example.jp"),  # Exim
    ("... while talking to mx.example.jp.: >>> DATA", "mx.example.jp"),  # sendmail
    ("550 5.1.1 User unknown", ""),
])
def test_host_named_in(diagnosis: str, host: str) -> None:
    assert host_named_in(diagnosis) == host


def test_quoted_parts_keep_their_spaces() -> None:
    table = load_phrases('hasmoved\t" has been replaced by "\nmailboxfull\t"mailbox "\tfull\n', "t.tsv")
    assert table == {"hasmoved": (" has been replaced by ",), "mailboxfull": (("mailbox ", "full"),)}


def test_loaded_tables_are_read_only() -> None:
    for table in (STATUS_REASONS, PHRASES, PSEUDO_STATUS):
        with pytest.raises(TypeError):
            table["5.9.9"] = "userunknown"  # type: ignore[index]


def test_every_reason_word_in_the_tables_and_checks_is_a_mail_reason() -> None:
    words = {r.value for r in MailReason}
    used = {*STATUS_REASONS.values(), *PHRASES, *PSEUDO_STATUS, *(r for r, _ in FIRST_PASS), *FALLBACK_ORDER,
            *reason_match.PHRASE_VETOES}
    assert used - words == set()
    with pytest.raises(CatalogueError, match=r"^here: 'nosuchreason' not reason words"):
        check_reason_words("here", ["userunknown", "nosuchreason"])


def test_every_failure_reason_has_one_pseudo_status() -> None:
    """A report without a status still gets a code, and no two reasons share one (Sisimai's 5.0.9xx)."""
    assert set(PSEUDO_STATUS) == {r.value for r in MailReason} - NOT_FAILURES
    assert len(set(PSEUDO_STATUS.values())) == len(PSEUDO_STATUS)


def test_every_checked_reason_has_phrases() -> None:
    """A reason the matcher tries by phrase but the table has no phrase for could never be found."""
    tried = {r for r, _ in FIRST_PASS} | set(FALLBACK_ORDER)
    assert {r for r in tried if not PHRASES.get(r)} == set()
    assert len({r for r, _ in FIRST_PASS}) == len(FIRST_PASS)


def test_status_codes_are_rfc3463_shaped() -> None:
    """class 2, 4 or 5; subject 0-7 (RFC 3463 section 3 defines subjects 0 to 7); no X.0.0 catch-alls."""
    for status in STATUS_REASONS:
        klass, subject, detail = status.split(".")
        assert klass in "245" and 0 <= int(subject) <= 7 and not (subject == "0" and detail == "0"), status


# (status, RFC 3463 / RFC 5248 registry description, Sisimai's reason for it)
PUBLISHED = [
    ("5.1.1", "Bad destination mailbox address", "userunknown"),
    ("5.1.2", "Bad destination system address", "hostunknown"),
    ("5.2.2", "Mailbox full", "mailboxfull"),
    ("4.2.2", "Mailbox full", "mailboxfull"),
    ("5.3.4", "Message too big for system", "mesgtoobig"),
    ("4.4.7", "Delivery time expired", "expired"),
    ("5.7.1", "Delivery not authorized, message refused", "securityerror"),
    ("5.1.10", "Recipient address has null MX", "notaccept"),
    ("5.7.26", "Multiple authentication checks failed", "authfailure"),
]


@pytest.mark.parametrize(("status", "description", "reason"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_codes(status: str, description: str, reason: str) -> None:
    text, name = package_table("status_reasons.tsv")
    assert f"\n{status}\t{reason}\t{description}\n" in text, name
    assert STATUS_REASONS[status] == reason


# (lower-case diagnostic, reason, whether its phrases name it): aligned parts, vetoes, plain phrases
PHRASE_CASES = [
    ("550 5.2.2 mailbox is full for this user", "mailboxfull", True),  # aligned ("mailbox ", "full")
    ("550 5.2.2 full mailbox", "mailboxfull", True),
    ("550 full of mailbox", "mailboxfull", False),  # parts out of order
    ("sender rejected", "rejected", True),
    ("recipient address rejected: sender rejected", "rejected", False),  # veto: about the recipient
    ("no such user here", "userunknown", True),
    ("", "userunknown", False),
]


@pytest.mark.parametrize(("diagnosis", "reason", "named"), PHRASE_CASES, ids=[c[0] or "empty" for c in PHRASE_CASES])
def test_includes(diagnosis: str, reason: str, named: bool) -> None:
    assert includes(reason, diagnosis) is named


def _includes_by_scan(reason: str, text: str) -> bool:
    """`includes` as the phrase table defines it: no veto in the text, and one phrase (its parts in order)."""
    if not text or any(veto in text for veto in reason_match.PHRASE_VETOES.get(reason, ())):
        return False
    return any(phrase in text if isinstance(phrase, str) else reason_match._aligned(text, phrase)
               for phrase in PHRASES.get(reason, ()))


_REASONS_WITH_PHRASES = sorted({*PHRASES, *reason_match.PHRASE_VETOES})
_PIECES = sorted({piece for phrases in PHRASES.values() for phrase in phrases
                  for piece in ((phrase,) if isinstance(phrase, str) else phrase)}
                 | {veto for vetoes in reason_match.PHRASE_VETOES.values() for veto in vetoes})


def test_includes_answers_every_reason_as_a_scan_of_its_phrases() -> None:
    """The phrase automaton answers for each reason what a search of that reason's phrases answers, for a text
    holding each phrase, each phrase's parts reversed, and each piece cut short by one character."""
    texts = [f"550 {p if isinstance(p, str) else ' x '.join(p)} here" for ps in PHRASES.values() for p in ps]
    texts += [" ".join(reversed(p)) for ps in PHRASES.values() for p in ps if not isinstance(p, str)]
    texts += [piece[:-1] for piece in _PIECES] + [piece[1:] + " and " + piece for piece in _PIECES[::7]]
    for text in texts:
        for reason in [*_REASONS_WITH_PHRASES, "delivered"]:
            assert includes(reason, text) is _includes_by_scan(reason, text), (reason, text)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(alphabet=" .:-<>@5abcdeinorstu\udcff", max_size=6)),
                max_size=8))
def test_includes_on_any_mix_of_phrases_and_noise(pieces: list[str]) -> None:
    text = "".join(pieces)
    for reason in _REASONS_WITH_PHRASES:
        assert includes(reason, text) is _includes_by_scan(reason, text), (reason, text)


@pytest.mark.parametrize(("reason", "temporary", "expected"), [
    ("userunknown", False, "5.0.911"), ("userunknown", True, "5.0.911"),  # never temporary
    ("mailboxfull", True, "4.0.922"), ("filtered", True, "4.0.924"), ("delivered", False, "2.1.5"),
])
def test_pseudo_status(reason: str, temporary: bool, expected: str) -> None:
    assert pseudo_status(reason, temporary) == expected


def test_the_package_data_goes_into_the_build(tmp_path: Path) -> None:
    """setuptools' build_py (what the wheel is made of), run on a copy: every data file must be there."""
    from packagebuild import build_package

    build = build_package(tmp_path)
    data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "processor").rglob("*")
            if p.suffix in (".tsv", ".toml") and "__pycache__" not in p.parts}
    assert {d for d in data if not (build / d).is_file()} == set()
    assert {"processor/detect/mailbounce/phrases.tsv", "processor/catalogues/retry.tsv"} <= data


@pytest.mark.parametrize(("source", "twin"), [
    ("mailbox is full", True),
    (r"[A-Za-z0-9]+@\S+ \D\b", True),  # A-Za-z in a class and upper-case escapes are safe
    ("[^A-Za-z]|[]A-Za-z]", True),
    ("A-Za-z", False),  # outside a class these are letters
    ("Mailbox", False),
    ("[A-F]", False),  # would miss `a`-`f` in the lower-cased text
    (r"\x41", False),
    (r"(a)\1", False),
    ("(?-i:abc)", False),
    (r"a\\S", False),
    ("ménage", False),
])
def test_case_sensitive_twin_only_when_sure(source: str, twin: bool) -> None:
    import re

    from processor.detect.mailbounce.tables import case_sensitive_twin

    assert (case_sensitive_twin(re.compile(source, re.IGNORECASE)) is not None) is twin


def test_twins_find_what_the_shipped_patterns_find() -> None:
    """`found_in` through the case-sensitive twin over `text.lower()` must agree with the pattern itself, for
    every shipped pattern, on every diagnostic-like line of the sample mails, as written and in upper case."""
    import re

    from processor.detect.mailbounce import bounce_text, rhost
    from processor.detect.mailbounce.tables import ascii_lowered, case_sensitive_twin, found_in

    patterns = [r.pattern for r in bounce_text.VENDOR_REASONS]
    patterns += [r.pattern for rules in rhost.PROVIDER_RULES.values() for r in rules]
    patterns += list(rhost._named_host_res())
    assert all(case_sensitive_twin(p) is not None for p in patterns)  # else the speed-up silently goes
    patterns += list(bounce_text.END_MARKERS)
    lines = {line.strip() for path in sorted((ROOT / "tests" / "data").rglob("*.eml"))
             for line in path.read_text(encoding="ascii", errors="replace").splitlines() if line.isascii()}
    lines |= {line.upper() for line in lines}
    lines |= {"SMTP error from remote mail server after MAIL FROM:", "Mailbox is FULL", "retry timeout exceeded",
              "AUP#CXBL", "host not reachable", "(state 13).", "550 5.1.1 (state 13)"}
    for pattern in patterns:
        for line in lines:
            assert found_in(pattern, line, ascii_lowered(line)) == bool(pattern.search(line)), (pattern, line)
    wordings = [r.wording for r in bounce_text.VENDOR_REASONS]
    wordings += [r.wording for rules in rhost.PROVIDER_RULES.values() for r in rules]
    for wording in wordings:  # as the tables run them
        for line in lines:
            assert wording.found_in(line, ascii_lowered(line)) == bool(wording.pattern.search(line)), (wording, line)
    for line in lines:  # the host named is the same, in lower case
        found = next((m.group(1).lower() for p in rhost._named_host_res() if (m := p.search(line))), "")
        assert rhost.host_named_in(line) == found, line
    assert found_in(re.compile("straße", re.IGNORECASE), "STRASSE", None) is False  # non-ASCII: the pattern
    # Text that is not ASCII: the twin, over the folded text, only rules a match out; the pattern decides.
    sample = sorted(lines)[::8]  # the IGNORECASE patterns are slow to run on all of them
    foreign = {prefix + line for line in sample for prefix in ("é ", "\u0130\u0131\u017f\u212a ")}
    foreign |= {line.replace("k", "\u212a").replace("s", "\u017f").replace("i", "\u0131") + " é" for line in sample}
    for pattern in patterns:
        for line in foreign:
            assert found_in(pattern, line, None) == bool(pattern.search(line)), (pattern, line)
    for wording in wordings:
        for line in foreign:
            assert wording.found_in(line, None) == bool(wording.pattern.search(line)), (wording, line)


def _sample_lines() -> list[str]:
    """Every line of the sample mails that holds a letter, as written, in upper case and with letters outside
    ASCII put in (the texts a wording must read alike through its literals, its twin and itself)."""
    lines = {line.strip() for path in sorted((ROOT / "tests" / "data").rglob("*.eml"))
             for line in path.read_bytes().decode("utf-8", "replace").splitlines() if any(c.isalpha() for c in line)}
    lines |= {line.upper() for line in lines}
    lines |= {"é " + line for line in sorted(lines)[::5]}
    lines |= {line.replace("k", "\u212a").replace("s", "\u017f") for line in sorted(lines)[::9]}
    return sorted(lines)


def test_a_wording_index_finds_the_first_wording_that_finds_a_text() -> None:
    """`WordingIndex.first` tries only the wordings one of whose literals the text holds: the same answer as
    trying every wording in table order, for the shipped tables and for wordings without literals among them."""
    from processor.detect.mailbounce import bounce_text, rhost
    from processor.detect.mailbounce.tables import Wording, WordingIndex, ascii_lowered

    wordings = [r.wording for r in bounce_text.VENDOR_REASONS]
    wordings += [r.wording for rules in rhost.PROVIDER_RULES.values() for r in rules]
    wordings.insert(40, Wording(r"\d{3} Straße"))  # no sure twin: always tried
    wordings.insert(7, Wording(r"x*y?"))  # no literal: always tried
    for table in (wordings, wordings[:40], bounce_text.VENDOR_REASONS):
        table = [getattr(w, "wording", w) for w in table]
        index = WordingIndex(table)
        for line in _sample_lines():
            lowered = ascii_lowered(line)
            expected = next((i for i, w in enumerate(table) if w.found_in(line, lowered)), None)
            assert index.first(line, lowered) == expected, line
    assert WordingIndex([]).first("text", "text") is None


@pytest.mark.parametrize("source", [r"mailbox (?:is )?full", r"Mailbox full", r"\x4dailbox full",
                                    r"(?i)mailbox full", "straße", r"^(?!.*\bnot\b).*full$"])
def test_a_wording_finds_what_its_case_insensitive_pattern_finds(source: str) -> None:
    import re

    from processor.detect.mailbounce.tables import Wording, ascii_lowered

    wording, pattern = Wording(source), re.compile(source, re.IGNORECASE)
    for text in ("Mailbox full", "MAILBOX IS FULL", "mailbox is not full", "STRASSE", "Straße voll", "STRAẞE",
                 "Ünbekannt: mailbox full", ""):
        assert wording.found_in(text, ascii_lowered(text)) == bool(pattern.search(text)), (source, text)
    assert (wording.pattern.pattern, wording.pattern.flags & re.IGNORECASE) == (source, re.IGNORECASE)
    assert Wording(source) == wording and len({Wording(source), wording}) == 1


def _shipped_wordings() -> list:
    from processor.detect.mailbounce.rhost import PROVIDER_HOSTS
    from processor.detect.mailbounce.tables import load_provider_rules, load_vendor_reasons, package_table

    wordings = [r.wording for r in load_vendor_reasons(*package_table("vendor_reasons.tsv"))]
    providers = load_provider_rules(*package_table("rhost_reasons.tsv"), PROVIDER_HOSTS)
    return wordings + [r.wording for rules in providers.values() for r in rules]


def test_the_shipped_wordings_compile_only_when_a_text_holds_their_literals() -> None:
    """Loading the provider and MTA tables compiles none of their patterns: each row's twin is compiled when a text
    first holds one of its literals, and the case-insensitive pattern only for a text that needs it."""
    from processor.detect.mailbounce.tables import ascii_lowered

    wordings = _shipped_wordings()
    assert len(wordings) > 350
    assert [w.source for w in wordings if not w._sure] == []  # every shipped row has a sure twin
    assert [w.source for w in wordings if w._twin is not None or w._pattern is not None] == []
    text = "Hello, this is an ordinary line of text with nothing to report."
    assert {w.source for w in wordings if w.found_in(text, ascii_lowered(text))} == {"."}  # the catch-all rows
    assert [w.source for w in wordings if w._pattern is not None] == []
    compiled = [w for w in wordings if w._twin is not None]
    assert all(w.literals is None or any(x in text.lower() for x in w.literals) for w in compiled)
    assert len(compiled) < len(wordings) // 4


def test_a_wording_reads_the_same_from_the_cache_as_without_it(tmp_path: Path) -> None:
    """The cache file gives every shipped wording the twin and literals worked out without it; an entry it cannot
    read is worked out anew, and a source that is no regular expression is not kept."""
    import marshal

    from processor.detect.mailbounce.tables import Wording, WordingCache, _analysed

    sources = sorted({w.source for w in _shipped_wordings()})
    path = tmp_path / "wordings.marshal"
    writer = WordingCache(path)
    for source in sources:
        writer.analysis(source)
    assert writer.write() == path
    reader = WordingCache(path)
    assert sorted(reader.kept()) == sources
    assert all(reader.analysis(s) == _analysed(s) for s in sources)
    assert any(reader.analysis(s)[1] for s in sources)  # literals, not only twins, come from the file
    stamp, entries = marshal.loads(path.read_bytes())
    damaged = {source: ("x", "not a tuple") for source in entries} | {"(unclosed": (False, None)}
    path.write_bytes(marshal.dumps((stamp, damaged)))
    again = WordingCache(path)
    assert all(again.analysis(s) == _analysed(s) for s in sources[:20])
    assert again.analysis("(unclosed") == (False, None)  # as the file says: the pattern itself is compiled
    with pytest.raises(re.error):
        Wording("(unclosed")
    assert again.write() == path and "(unclosed" not in WordingCache(path).kept()


@pytest.mark.parametrize(("source", "literals"), [
    ("mailbox is full", ("mailbox is full",)),
    ("as their mailbox is full|mailbox is full", ("as their mailbox is full", "mailbox is full")),
    (r"^(?!.*\b[245]\.[1-9]\.[1-9]).*\(state [69]\)\.?$", ("(state ",)),  # the look-ahead and classes break runs
    (r"dns type 'mx' lookup of .* (?:responded with code nxdomain|had no relevant answers)",
     ("dns type 'mx' lookup of ",)),  # the longest shortest string wins: 24 characters against 23
    (r"dns .* (?:responded with code nxdomain|had no relevant answers)",
     ("responded with code nxdomain", "had no relevant answers")),  # 23 against 4
    (r"your message was not delivered within \d+ days", ("your message was not delivered within ",)),
    (r"(?:abc)+d", ("abc",)),  # a repeat of at least one is required
    (r"(?:ab|cd)?ef", ("ef",)),  # an optional group is not
    (r"a(?:bcd|)e", ("a",)),  # an empty branch requires nothing
    (r"(?:ab|c)de", ("de",)),  # a one-character branch (`c`) is shorter than `de`
    ("x*", None),
    (".", None),
    (r"(a)\1", ("a",)),
])
def test_required_literals(source: str, literals: tuple[str, ...] | None) -> None:
    import re

    from processor.detect.mailbounce.tables import required_literals

    assert required_literals(re.compile(source)) == literals
    assert required_literals(re.compile(source, re.IGNORECASE)) is None  # only for case-sensitive twins


def _shipped_twins() -> list[re.Pattern[str]]:
    from processor.detect.mailbounce import bounce_text, rhost
    from processor.detect.mailbounce.tables import case_sensitive_twin_of

    patterns = [r.pattern for r in bounce_text.VENDOR_REASONS]
    patterns += [r.pattern for rules in rhost.PROVIDER_RULES.values() for r in rules]
    return [twin for p in patterns if (twin := case_sensitive_twin_of(p)) is not None]


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_match_of_a_shipped_pattern_holds_one_of_its_literals(data: st.DataObject) -> None:
    """`found_in` skips a pattern when none of its literals is in the text: that must never skip a match."""
    from processor.detect.mailbounce.tables import required_literals

    twin = data.draw(st.sampled_from(_shipped_twins()))
    text = data.draw(st.from_regex(twin))
    literals = required_literals(twin)
    assert twin.search(text)
    assert literals is None or any(literal in text for literal in literals), (twin.pattern, text, literals)


def test_the_letters_ignorecase_takes_for_ascii_are_the_four_folded() -> None:
    """`IGNORECASE_ASCII` is every character outside ASCII that the running engine matches with an ASCII letter
    under IGNORECASE, each mapped to that letter."""
    import re
    import sys

    from processor.detect.mailbounce.tables import IGNORECASE_ASCII

    letter = re.compile("[a-z]", re.IGNORECASE)
    found = {cp: chr(cp).lower() if chr(cp).lower().isascii() else "" for cp in range(0x80, sys.maxunicode + 1)
             if letter.fullmatch(chr(cp))}
    found = {cp: next(x for x in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch(x, chr(cp), re.IGNORECASE))
             for cp in found}
    assert found == IGNORECASE_ASCII


@pytest.mark.parametrize("klass", [r"\w", r"\W", r"\s", r"\S", r"\d", r"\D", r".", r"[^a-z]", r"[a-z0-9._-]"])
def test_folding_keeps_every_character_in_the_classes_a_twin_holds(klass: str) -> None:
    """What a pattern's class matches under IGNORECASE, the twin's class matches once folded (`tables._folded`):
    so a twin that finds nothing in the folded text proves the pattern finds nothing either."""
    import re
    import sys

    from processor.detect.mailbounce.tables import _folded

    insensitive, sensitive = re.compile(klass, re.IGNORECASE), re.compile(klass)
    escaped = [hex(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF
               and insensitive.fullmatch(chr(cp)) and not sensitive.fullmatch(_folded(chr(cp)))]
    assert escaped == []


def test_a_recipient_line_reads_alike_in_lower_case() -> None:
    """`_recipient_on` reads an ASCII line through the patterns' twins in lower case: the same address (taken in
    lower case), the same pattern and so the same kind of line as the case-insensitive patterns on the line."""
    from processor.detect.mailbounce import bounce_text

    def by_patterns(line: str, excluded: frozenset[str]) -> tuple[str, bool]:
        if "@" not in line or len(line) > 400:
            return "", False
        for number, pattern in enumerate(bounce_text._recipient_patterns()):
            if match := pattern.search(line):
                address = match.group(1).strip(".").lower()
                if number < bounce_text._WEAK_FROM or address not in excluded:
                    return address, number == bounce_text._WHOLE_LINE
        return "", False

    lines = [line for line in _sample_lines() if "@" in line]
    lines += ["  <User.Name@Example.JP>:", "550 <ABC@EXAMPLE.COM>... User unknown", "Unknown user: X@Y.ORG",
              "FROM: A@B.CO", "Recipients: <Q@R.NET>", "delivered to <é@x.jp>"]
    assert len(lines) > 200
    read = 0
    for line in lines:
        for excluded in (frozenset(), frozenset(a for a, _ in [by_patterns(line, frozenset())] if a)):
            assert bounce_text._recipient_on(line, excluded) == by_patterns(line, excluded), line
            read += bool(by_patterns(line, excluded)[0])
    assert read > 50
