"""Whether a vendor notification really came through the vendor's mail servers.

Only mail that presents itself as the vendor's is checked (`claims_vendor`): results and bounces, not notices a
person forwarded, nor delivery reports that another MTA wrote about a fax address.

Phishing mails that imitate InterFAX exist, and From proves nothing. A Received line proves something
only if a server we trust wrote it, so: a notification is trusted when some hop records a client in one
of the vendor's domains (`trust.vendor_hosts`) and, if `trust.relays` is set, that hop was written by one
of our relays. A hop is written by a relay when its `by` name matches the relay's host name, or when the
relay's address is the client of the next newer hop (for the newest hop: the SMTP peer that gave it to us).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from processor.catalogues import vendor_hosts
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail
from processor.parse.received import ReceivedHop
from processor.reasons import Kind
from processor.records import Classification

__all__ = ["VENDOR_KINDS", "claims_vendor", "received_through_vendor"]

#: Kinds that claim to come from a vendor, so whose Received chain is checked (phishing look-alikes exist).
VENDOR_KINDS = frozenset({Kind.INTERFAX_RESULT, Kind.INTERFAX_BOUNCE})
_FAX_DOMAINS = vendor_hosts("interfax").submission_domains


def claims_vendor(mail: ParsedMail, classification: Classification) -> bool:
    """Whether `mail` presents itself as the vendor's own, so that its Received chain must show the vendor.

    Not for notices a person forwarded (the forwarder's servers carried them: the vendor's cannot be seen), nor
    for a delivery report about `<number>@fax.tc` written by another MTA (the sender's own Postfix, a relay,
    Gmail): only a bounce from the fax domain itself claims to be the vendor's."""
    if classification.kind not in VENDOR_KINDS:
        return False
    if classification.results and all(result.forwarded for result in classification.results):
        return False
    if classification.kind is Kind.INTERFAX_BOUNCE:
        return is_domain_or_subdomain(mail.from_address.rpartition("@")[2], _FAX_DOMAINS)
    return True

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def received_through_vendor(
    hops: Sequence[ReceivedHop], vendor_hosts: Sequence[str], relays: Sequence[str] = (), peer_ip: str | None = None
) -> bool:
    """True when a believable Received hop shows a client in one of `vendor_hosts`."""
    names = tuple(r.lower().strip(".") for r in relays if not _network(r))
    networks = tuple(n for r in relays if (n := _network(r)) is not None)
    for index, hop in enumerate(hops):
        # The looked-up name when the receiving server recorded one (`unknown` included): the HELO name is
        # the client's own claim and counts only when nothing better was written.
        client = hop.from_rdns if hop.from_rdns is not None else hop.from_host
        if not is_domain_or_subdomain(client, vendor_hosts):
            continue
        if not relays:
            return True
        writer_ip = peer_ip if index == 0 else hops[index - 1].from_ip
        if is_domain_or_subdomain(hop.by_host, names) or _in_networks(writer_ip, networks):
            return True
    return False


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
