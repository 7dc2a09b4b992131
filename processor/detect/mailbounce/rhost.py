"""Mail providers known by host name, and the reasons their own codes and wordings state (Sisimai's Rhost).

A big provider often answers with its own code (Cox `AUP#CXBL`, GoDaddy `IB607`, Facebook `RCP-P2`, La Poste
`LPN007_416`) or a wording that means something else elsewhere ("sender rejected" at Spectrum is a rate
limit). Such knowledge is data: `rhost_hosts.tsv` says which hosts are whose, `rhost_reasons.tsv` what each
provider's codes and wordings mean. A provider is found, as Sisimai does it, by the recipient's domain, then
by the remote MTA (the Remote-MTA field, or the host a diagnostic names), then by the reporting MTA (the
Reporting-MTA field, else the bounce's own Received: hops). Its rules are read before the generic phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache

from processor import regex_cache
from processor.detect.mailbounce.delivery import Delivery
from processor.detect.mailbounce.tables import (
    ProviderRule,
    ascii_lowered,
    load_provider_hosts,
    load_provider_rules,
    package_table,
    rules_out,
    twin_and_literals,
)

__all__ = ["PROVIDER_HOSTS", "host_named_in", "provider_of", "provider_reason", "provider_rules", "received_host"]

#: Provider -> its host suffixes (`.laposte.net`: any host under laposte.net).
PROVIDER_HOSTS: Mapping[str, tuple[str, ...]] = load_provider_hosts(*package_table("rhost_hosts.tsv"))


@cache
def provider_rules() -> Mapping[str, tuple[ProviderRule, ...]]:
    """Provider -> its codes and wordings, in the order they are tried (`PROVIDER_RULES`).

    Read and compiled on first use, not at import: its 390 patterns are most of the start-up time of a
    `faxbounce classify` that meets no delivery report."""
    return load_provider_rules(*package_table("rhost_reasons.tsv"), PROVIDER_HOSTS)


def __getattr__(name: str) -> object:
    if name == "PROVIDER_RULES":  # the table by its documented name, loaded when first asked for
        return provider_rules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_HOST = r"([A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63})"


@cache
def _named_host_res() -> tuple[re.Pattern[str], ...]:
    """Where the MTAs name the remote host in a diagnostic (after Sisimai's rfc1123 `Sandwiched`/`StartAfter`);
    compiled on first use, as are the tables (start-up time)."""
    return tuple(
        regex_cache.compile(p, re.IGNORECASE)
        for p in (
            rf"\bhost {_HOST}\.?\s*\[[^\]]*\]",  # Postfix `host mx.example.jp[192.0.2.1] said:`, Exim `host x [ip]:`
            rf"\bhost {_HOST}\.? said:",  # Postfix without an address
            rf"\bwhile talking to {_HOST}\.?:",  # sendmail
            rf"\bby {_HOST}\. \[",  # Gmail `... for the recipient domain example.jp by mx.example.jp. [192.0.2.1].`
            rf"\bremote system: dns;\s*{_HOST}",  # Oracle Messaging Server
            rf"\bgenerating server: {_HOST}",  # Exchange 2007 and later
        )
    )


@cache
def _named_host_twins() -> tuple[tuple[re.Pattern[str], tuple[re.Pattern[str], tuple[str, ...] | None] | None], ...]:
    """Each of `_named_host_res` with its twin and literals, looked up once (hashing a pattern hashes its program)."""
    return tuple((pattern, twin_and_literals(pattern)) for pattern in _named_host_res())


@cache
def _received_from_re() -> re.Pattern[str]:
    return regex_cache.compile(rf"^\s*from\s+{_HOST}\b", re.IGNORECASE)


def host_named_in(diagnosis: str) -> str:
    """The remote host a diagnostic names (`host mx.example.jp[192.0.2.1] said:`), lower case, or ''."""
    lowered = ascii_lowered(diagnosis)
    for pattern, twin in _named_host_twins():
        if twin is not None and lowered is not None:
            twin_pattern, literals = twin
            if rules_out(literals, lowered):
                continue  # `\bhost ` cannot skip ahead the way `host ` can: 30 µs a diagnostic before
            found = twin_pattern.search(lowered)
        else:
            found = pattern.search(diagnosis)
        if found:
            return found.group(1).lower()  # the twin's match is the pattern's, in lower case (ASCII text)
    return ""


def received_host(received: Iterable[str]) -> str:
    """The first host name in a `from` clause of the bounce's Received: headers (top down), or ''."""
    for value in received:
        found = _received_from_re().match(value)
        if found and found.group(1).lower() not in ("localhost", "localhost.localdomain"):
            return found.group(1).lower()
    return ""


def _by_suffix(hosts: Mapping[str, tuple[str, ...]]) -> tuple[dict[str, str], dict[str, str]]:
    """(host suffix -> provider, domain that some suffix lies under -> provider), first provider wins."""
    suffixes: dict[str, str] = {}
    parents: dict[str, str] = {}
    for provider, names in hosts.items():
        for name in names:
            bare = name.lstrip(".")
            suffixes.setdefault(bare, provider)
            labels = bare.split(".")
            for start in range(len(labels) - 1):  # `mx.aol.com` lies under `mx.aol.com` and `aol.com`
                parents.setdefault(".".join(labels[start:]), provider)
    return suffixes, parents


_SUFFIXES, _PARENTS = _by_suffix(PROVIDER_HOSTS)
#: Labels of the longest host suffix in the table: a longer tail of a host cannot be one of them. (Joining every
#: tail of a crafted 60 KB "host" of 30,000 labels took 3 s.)
_MAX_LABELS = max((name.count(".") + 1 for name in _SUFFIXES), default=0)


def provider_of(recipient: str, remote_host: str = "", local_host: str = "") -> str:
    """The provider whose hosts serve the recipient's domain, or answered (remote), or wrote the bounce (local)."""
    domain = recipient.rpartition("@")[2].lower()
    if "." in domain and domain in _PARENTS:
        return _PARENTS[domain]
    for host in (remote_host, local_host):
        labels = host.split(".")
        for start in range(max(0, len(labels) - _MAX_LABELS), len(labels)):  # the host, then each domain above
            if (provider := _SUFFIXES.get(".".join(labels[start:]))) is not None:
                return provider
    return ""


def provider_reason(d: Delivery) -> str:
    """The reason the provider's own code or wording states for this recipient, or ''."""
    provider = provider_of(d.recipient, d.remote_host, d.local_host)
    if not provider or not d.diagnosis:
        return ""
    lowered = ascii_lowered(d.diagnosis)
    return next((rule.reason for rule in provider_rules().get(provider, ())
                 if rule.applies(d.status, d.command, d.diagnosis, lowered)), "")
