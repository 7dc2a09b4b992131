"""Whether a vendor notification really came through the vendor's mail servers.

Only mail that presents itself as the vendor's is checked (`claims_vendor`): results and bounces, not notices a
person forwarded, nor delivery reports that another MTA wrote about a fax address, unless that MTA's domain
imitates the fax domain (`MAILER-DAEMON@fax.tc.example.com`, `fax-tc.com`): such a sender claims the vendor.

Phishing mails that imitate InterFAX exist, and From proves nothing. A Received line proves something
only if a server we trust wrote it, so: a notification is trusted when some hop records a client in one
of the vendor's domains (`trust.vendor_hosts`) and, if `trust.relays` is set, that hop was written by one
of our relays. A hop is written by a relay when its `by` name matches the relay's host name, or when the
relay's address is the client of the next newer hop (for the newest hop: the SMTP peer that gave it to us).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from processor.catalogues import vendor_hosts
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail
from processor.parse.received import ReceivedHop
from processor.reasons import Kind
from processor.records import Classification

__all__ = ["VENDOR_KINDS", "claims_vendor", "imitates", "received_through_vendor"]

#: Kinds that claim to come from a vendor, so whose Received chain is checked (phishing look-alikes exist).
VENDOR_KINDS = frozenset({Kind.INTERFAX_RESULT, Kind.INTERFAX_BOUNCE})
_FAX_DOMAINS = vendor_hosts("interfax").submission_domains


def claims_vendor(mail: ParsedMail, classification: Classification) -> bool:
    """Whether `mail` presents itself as the vendor's own, so that its Received chain must show the vendor.

    Not for notices a person forwarded (the forwarder's servers carried them: the vendor's cannot be seen), nor
    for a delivery report about `<number>@fax.tc` written by another MTA (the sender's own Postfix, a relay,
    Gmail): only a bounce from the fax domain itself, or from a domain made to look like it, claims to be the
    vendor's."""
    if classification.kind not in VENDOR_KINDS:
        return False
    if classification.results and all(result.forwarded for result in classification.results):
        return False
    if classification.kind is Kind.INTERFAX_BOUNCE:
        domain = mail.from_address.rpartition("@")[2]
        return is_domain_or_subdomain(domain, _FAX_DOMAINS) or imitates(domain, _FAX_DOMAINS)
    return True


def imitates(domain: str, vendor_domains: Iterable[str]) -> bool:
    """Whether `domain` is not one of `vendor_domains` but spells one inside it: its labels, split on `.` and `-`,
    contain the vendor domain's labels in a row (`fax.tc.example.com`, `mail.fax-tc.com`), or one label is the
    vendor domain written without dots (`faxtc.com`). Phishing builds such names so that a reader sees `fax.tc`;
    no MTA that merely reports on a `<number>@fax.tc` recipient has one. Other resemblances (`evilfax.tc`,
    `interfax-secure.example`) are left to the detectors: matching them would distrust honest reports too."""
    labels = [label for label in re.split(r"[.\-]", domain.strip().strip(".").lower()) if label]
    for vendor in vendor_domains:
        wanted = [label for label in vendor.strip(".").lower().split(".") if label]
        if not wanted or is_domain_or_subdomain(domain, (vendor,)):
            continue
        runs = (labels[i:i + len(wanted)] for i in range(len(labels) - len(wanted) + 1))
        if "".join(wanted) in labels or any(run == wanted for run in runs):
            return True
    return False

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def received_through_vendor(
    hops: Sequence[ReceivedHop], vendor_hosts: Sequence[str], relays: Sequence[str] = (), peer_ip: str | None = None
) -> bool:
    """True when a believable Received hop shows a client in one of `vendor_hosts`.

    With `relays`, a hop is believable when one of them wrote it. Who wrote a line is never read from the line
    itself (its `by` name is the writer's own claim, and every line below the newest may be the sender's
    forgery): the newest line's writer is the peer (or, by name, its `by`), an older line's writer is the
    client the next newer line recorded: the machine that handed the mail on."""
    names = tuple(r.lower().strip(".") for r in relays if not _network(r))
    networks = tuple(n for r in relays if (n := _network(r)) is not None)
    for index, hop in enumerate(hops):
        client = _client(hop)
        if not is_domain_or_subdomain(client, vendor_hosts):
            continue
        if not relays:
            return True
        if index == 0:
            ours = is_domain_or_subdomain(hop.by_host, names) or _in_networks(peer_ip, networks)
        else:
            newer = hops[index - 1]
            ours = is_domain_or_subdomain(_client(newer), names) or _in_networks(newer.from_ip, networks)
        if ours:
            return True
    return False


def _client(hop: ReceivedHop) -> str | None:
    """The looked-up name when the receiving server recorded one (`unknown` included): the HELO name is the
    client's own claim and counts only when nothing better was written."""
    return hop.from_rdns if hop.from_rdns is not None else hop.from_host


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _in_networks(ip: str | None, networks: Sequence[Network]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)
