"""Domain names compared the way DNS compares them: case-insensitive, trailing dot ignored, and a
domain covering its subdomains (`mail1.fax.tc` is `fax.tc`; `evilfax.tc` is not)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["is_domain_or_subdomain", "normalize_domain"]


def normalize_domain(domain: str) -> str:
    """`Mail1.FAX.tc.` → `mail1.fax.tc`."""
    return domain.strip().strip(".").lower()


def is_domain_or_subdomain(domain: str | None, parents: Iterable[str]) -> bool:
    """True when `domain` is one of `parents` or below one of them; empty names match nothing."""
    name = normalize_domain(domain or "")
    if not name:
        return False
    for parent in parents:
        parent = normalize_domain(parent)
        if parent and (name == parent or name.endswith("." + parent)):
            return True
    return False
