"""Received headers read from the headers the stdlib already parsed: the trust check's input, without a
second parse of the whole mail by mail-parser.

A Received value is `from <client> (<comments>) by <server> (<comments>) with … id … for …; <date>` (RFC 5321
4.4, with the comment forms Postfix, Exim, sendmail and Exchange write). The clauses are found at comment
depth 0, so a `with` or `by` inside a comment does not end a clause.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from processor import regex_cache

__all__ = ["ReceivedHop", "hop_from_clauses", "received_hops"]

_KEYWORDS = ("from", "by", "via", "with", "id", "for")
# A parenthesis, or a keyword standing alone (after a space or at the start, before a space or at the end).
_TOKEN = regex_cache.compile(rf"[()]|(?:(?<= )|^)(?ai:{'|'.join(_KEYWORDS)})(?= |$)")
_IP = regex_cache.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]|\(([0-9]{1,3}(?:\.[0-9]{1,3}){3})\)")
# "(mail1.fax.tc [203.0.113.25])" or "(unknown [198.51.100.9])": the looked-up name before the address.
_RDNS = regex_cache.compile(r"\(\s*([A-Za-z0-9][A-Za-z0-9.-]*)\s+\[")


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
    """`from`, `by`, … clauses of one Received value, each with its comments. Only parentheses and words that
    may be keywords (a keyword alone, after a space or at the start) are visited, not every character: the
    trust check reads every Received header of every vendor notice."""
    text = " ".join(value.split())
    if ";" in text:
        text = text[: text.rindex(";")]
    clauses: dict[str, str] = {}
    depth, start, key = 0, 0, None
    for token in _TOKEN.finditer(text):
        mark = token.group(0)
        if mark == "(":
            depth += 1
        elif mark == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            if key is not None and key not in clauses:
                clauses[key] = text[start : token.start()].strip()
            key, start = mark.lower(), token.end()
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
        if (address := _address(match.group(1) or match.group(2))) is not None:
            return address
    return None


@lru_cache(maxsize=4096)
def _address(candidate: str) -> str | None:
    """The address in its normal form, or None. Cached: a deployment's mail comes through the same few relays,
    and `ipaddress` takes longer than the rest of a hop's reading."""
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
