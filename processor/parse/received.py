"""Received headers read from the headers the stdlib already parsed: the trust check's input, without a
second parse of the whole mail by mail-parser.

A Received value is `from <client> (<comments>) by <server> (<comments>) with … id … for …; <date>` (RFC 5321
4.4, with the comment forms Postfix, Exim, sendmail and Exchange write). The clauses are found at comment
depth 0, so a `with` or `by` inside a comment does not end a clause.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ReceivedHop", "hop_from_clauses", "received_hops"]

_KEYWORDS = ("from", "by", "via", "with", "id", "for")
_WORD = re.compile(r"[A-Za-z]+")
_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]|\(([0-9]{1,3}(?:\.[0-9]{1,3}){3})\)")
# "(mail1.fax.tc [203.0.113.25])" or "(unknown [198.51.100.9])": the looked-up name before the address.
_RDNS = re.compile(r"\(\s*([A-Za-z0-9][A-Za-z0-9.-]*)\s+\[")


@dataclass(frozen=True, slots=True)
class ReceivedHop:
    """One Received header, newest first as in the mail."""

    from_host: str | None
    """The name the client gave (HELO), which the client chooses."""
    from_ip: str | None
    by_host: str | None
    from_rdns: str | None = None
    """The reverse-DNS name the receiving server looked up (`unknown` when there was none): believable."""



def received_hops(values: Iterable[str]) -> tuple[ReceivedHop, ...]:
    """One hop per Received value, in the order given (newest first, as they stand in the mail)."""
    hops = []
    for value in values:
        clauses = _clauses(value)
        hops.append(hop_from_clauses(clauses.get("from") or None, clauses.get("by") or None))
    return tuple(hops)


def _clauses(value: str) -> dict[str, str]:
    """`from`, `by`, … clauses of one Received value, each with its comments."""
    text = " ".join(value.split())
    if ";" in text:
        text = text[: text.rindex(";")]
    clauses: dict[str, str] = {}
    depth, start, key, index = 0, 0, None, 0
    while index < len(text):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and (index == 0 or text[index - 1] == " "):
            word = _WORD.match(text, index)
            if word and word.group(0).lower() in _KEYWORDS and text[word.end():word.end() + 1] in (" ", ""):
                if key is not None and key not in clauses:
                    clauses[key] = text[start:index].strip()
                key, start = word.group(0).lower(), word.end()
                index = word.end()
                continue
        index += 1
    if key is not None and key not in clauses:
        clauses[key] = text[start:].strip()
    return clauses


def hop_from_clauses(from_clause: str | None, by_clause: str | None) -> ReceivedHop:
    """A hop from its `from` and `by` clauses (as we split them, or as mail-parser did)."""
    from_host = from_clause.split()[0].lower() if from_clause else None
    if from_host and (from_host.startswith("[") or from_host.startswith("(")):
        from_host = None  # an address literal (or only a comment) is no host name
    rdns = _RDNS.search(from_clause) if from_clause else None
    by_host = by_clause.split()[0].lower() if by_clause else None
    return ReceivedHop(
        from_host=from_host.rstrip(".") if from_host else None,
        from_ip=_ip_in(from_clause),
        by_host=by_host if by_host and not by_host.startswith("(") else None,
        from_rdns=rdns.group(1).lower().rstrip(".") if rdns else None,
    )


def _ip_in(clause: str | None) -> str | None:
    if not clause:
        return None
    for match in _IP.finditer(clause):
        candidate = match.group(1) or match.group(2)
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
