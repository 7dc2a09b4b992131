"""Addresses, SMTP commands, reply codes and RFC 3463 statuses found inside free text (Sisimai's choices).

Readers and the reason matcher both need them: `ADDRESS_PATTERN` is a mailbox as bounces write it,
`find_status` and `find_reply` pull codes out of a diagnostic, `prefer_status` chooses between a report's
Status: field and the code in its text, and `find_command` names the SMTP command a rejection answered
(Sisimai's `command.Find`).
"""

from __future__ import annotations

import re

from processor import regex_cache

__all__ = ["ADDRESS_PATTERN", "FIND_ADDRESS_PATTERN", "find_command", "find_reply", "find_status", "prefer_status"]

#: A mailbox as reports write it (no display name, no comments), for building the readers' patterns.
ADDRESS_PATTERN = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)+"
#: `ADDRESS_PATTERN` for searching a whole text: a match begins only where a run of local-part characters
#: begins. Unanchored, a run with no `@` after it was scanned again from each of its characters: 64 KB of
#: letters in one header took 2.7 s, and ten such headers a worker's 19 s. A match always begins there anyway
#: (any earlier character of the run would do as well), so what is found is the same (13,249 header values,
#: texts and whole mails of the corpus and the test data compared).
FIND_ADDRESS_PATTERN = r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-])" + ADDRESS_PATTERN

# --- SMTP commands named in a diagnostic (Sisimai's `command.Find`: upper case, not inside a word) -------
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("HELO", "HELO"), ("EHLO", "EHLO"), ("STARTTLS", "STARTTLS"), ("AUTH PLAIN", "AUTH"), ("AUTH LOGIN", "AUTH"),
    ("AUTH CRAM-", "AUTH"), ("AUTH DIGEST-", "AUTH"), ("MAIL F", "MAIL"), ("RCPT", "RCPT"), ("RCPT T", "RCPT"),
    ("DATA", "DATA"), ("QUIT", "QUIT"), ("XFORWARD", "XFORWARD"),
)
#: (word, its pattern, command name): the word itself is looked for first, most texts name no command.
_COMMAND_RES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (word, regex_cache.compile(rf"(?<![0-9A-Za-z@`]){re.escape(word)}" + ("" if " " in word else r"(?![0-9A-Za-z@`])")),
     name)
    for word, name in _COMMANDS
)


def find_command(text: str) -> str:
    """The SMTP command a diagnostic names (the last of HELO/EHLO/.../RCPT/DATA that occurs), or ''."""
    found: list[str] = []
    for word, pattern, name in _COMMAND_RES:
        if name not in found and word in text and pattern.search(text):
            found.append(name)
    return found[-1] if found else ""


# --- finding codes inside free text -----------------------------------------------------------------------
# Each of the three begins with the class of its first character and looks behind only after it: Python's re
# skips ahead to where such a class matches, but tries every position of a pattern that begins with `\b` or a
# look-behind (`(?<![\d.vV])[245]` is `[245](?<![\d.vV][245])`). Over the corpus's diagnostics: statuses
# 5.9 -> 2.2 ms, reply codes 9.7 -> 2.4 ms, the same matches.
_STATUS_RE = regex_cache.compile(r"([245])(?<![\d.vV][245])\.([0-7])\.(\d{1,3})(?!\d)")
_IPV4_RE = regex_cache.compile(r"\d(?<!\w\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
#: A reply code stands alone (not in a time, an address or a path); Zoho writes it as `ERROR_CODE :421,`.
_REPLY_RE = regex_cache.compile(r"[245](?:(?<=ERROR_CODE :[245])|(?<![\d.\-:/][245]))[0-5][0-9](?=[ \-,]|$|\])",
                                re.MULTILINE)


def find_status(text: str, klass: str = "") -> str:
    """The RFC 3463 status named in free text, preferring a failure to a success (class 2) and a specific
    status to `X.0.0` and `4.4.7`."""
    if len(text) < 5 or not _STATUS_RE.search(text):
        return ""  # blanking IPv4 addresses only takes statuses away (a blank stands where a separator stood)
    text = _IPV4_RE.sub(" ", text)
    found: list[str] = []
    weak = ""
    for m in _STATUS_RE.finditer(text):
        if klass and m.group(1) != klass:
            continue
        code = f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
        if code[1:] == ".0.0" or code == "4.4.7":
            weak = code
            continue
        found.append(code)
    if weak:
        found.append(weak)
    if not klass and any(code[0] != "2" for code in found):
        # a session transcript (`250 2.1.5 Ok` ... `451 4.3.0 Error`): the accepted steps are not the failure
        found = [code for code in found if code[0] != "2"]
    if not found:
        return ""
    chosen = found[0]
    for code in found[1:]:
        chosen = prefer_status(chosen, code, "")
    return chosen


def find_reply(text: str, klass: str = "") -> str:
    """The three-digit SMTP reply code in free text (of the given class when one is given)."""
    for m in _REPLY_RE.finditer(text):
        code = m.group(0)
        if code[0] not in "245":
            continue
        if klass and code[0] != klass:
            continue
        if code in ("200", "220", "221", "250", "251", "252", "253", "354") and klass != "2":
            continue
        return code
    return ""


def prefer_status(field: str, in_text: str, reply: str) -> str:
    """Choose between the Status: field and the code inside the diagnostic (Sisimai's `status.Prefer`)."""
    if not field:
        return in_text
    if not in_text or len(in_text) < 5:
        return field
    if len(field) < 5:
        return in_text
    if reply and field[0] != in_text[0]:
        if reply[0] == field[0]:
            return field
        if reply[0] == in_text[0]:
            return in_text
    if field == in_text:
        return field
    if ".0.0" in field:
        return in_text if ".0.0" not in in_text else field
    if ".0" in field and ".0" not in in_text:
        return in_text
    if ".0.0" in in_text:
        return field
    if field in ("4.4.7", "4.7.0") or field.startswith("5.3.") or field[1:4] in (".5.1", ".5.2", ".5.4", ".5.5"):
        return in_text
    if field == "5.1.1":
        return field if (".0" in in_text or in_text.startswith("5.5.")) else in_text
    if field == "5.1.3" and in_text.startswith("5.7."):
        return in_text
    return field
