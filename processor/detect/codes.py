"""Vendor codes to catalogue entries: a code the vendor has not published is recorded, never dropped."""

from __future__ import annotations

import dataclasses
import logging

from processor.catalogues import CatalogueEntry, lookup, reason_action, unknown_entry
from processor.reasons import FaxReason, Outcome

__all__ = ["catalogue_entry"]


def catalogue_entry(catalogue: str, key: str | None, label: str | None, log: logging.Logger) -> CatalogueEntry:
    """The catalogue row for a code, or an `unknown` failure (logged); unknown negatives are pending."""
    if key is not None and (entry := lookup(catalogue, key)) is not None:
        return entry
    entry = unknown_entry(catalogue, key or "", label or "")
    if key and key.startswith("-") and key[1:].isdigit():  # InterFAX: negative = still in process
        action_ja, action_en = reason_action(catalogue, FaxReason.IN_PROGRESS)
        return dataclasses.replace(entry, outcome=Outcome.PENDING, reason=FaxReason.IN_PROGRESS.value,
                                   retryable=None, action_ja=action_ja, action_en=action_en)
    log.warning("unknown %s code %r (%s): recorded as a failure of unknown reason", catalogue, key, label or "")
    return entry
