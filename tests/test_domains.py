"""Domain comparison and the one list of vendor hosts behind the documented config defaults."""

from __future__ import annotations

import pytest

from processor.catalogues import vendor_hosts
from processor.config import TrackingSettings, TrustSettings
from processor.domains import is_domain_or_subdomain


@pytest.mark.parametrize(("domain", "expected"), [
    ("fax.tc", True), ("FAX.TC", True), ("fax.tc.", True), ("mail1.fax.tc", True), ("a.b.fax.tc", True),
    ("evilfax.tc", False), ("fax.tc.evil.example", False), ("tc", False), ("", False), (None, False),
])
def test_domain_or_subdomain(domain: str | None, expected: bool) -> None:
    assert is_domain_or_subdomain(domain, ("fax.tc",)) is expected


def test_empty_parents_match_nothing() -> None:
    assert not is_domain_or_subdomain("fax.tc", ())
    assert not is_domain_or_subdomain("fax.tc", ("", " "))
    assert is_domain_or_subdomain("mx.interfax.net", ("fax.tc", "Interfax.NET."))


def test_config_defaults_are_the_documented_ones_from_the_vendor_list() -> None:
    # README.md, Configuration: trust.vendor_hosts, tracking.fax_domains and tracking.number_pattern.
    assert TrustSettings().vendor_hosts == ("fax.tc", "interfax.net", "interfax.co.jp")
    assert TrackingSettings().fax_domains == ("fax.tc",)
    assert TrackingSettings().number_pattern == r"(?P<number>\+?[0-9][0-9-]*[0-9])"
    interfax = vendor_hosts("interfax")
    assert TrustSettings().vendor_hosts == interfax.relay_domains
    assert TrackingSettings().fax_domains == interfax.submission_domains


def test_every_domain_the_detectors_believe_is_trusted() -> None:
    # Issue #10, theme 9: interfax.co.jp was a sender domain of the detectors but no trusted host, so genuine
    # notices were stored trusted = false and warned about on every mail.
    interfax = vendor_hosts("interfax")
    assert set(interfax.sender_domains) <= set(TrustSettings().vendor_hosts)


def test_an_unknown_vendor_is_a_catalogue_error() -> None:
    from processor.errors import CatalogueError

    with pytest.raises(CatalogueError, match="no table \\[efax\\]"):
        vendor_hosts("efax")
