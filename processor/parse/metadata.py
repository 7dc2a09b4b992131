"""Mail metadata read by mail-parser: addresses, the attachment list, defects and the Received chain.

mail-parser is good at these (address header repair, Received clause splitting, defect collection).
It is not used for body text. Any failure inside it becomes a defect string, never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from processor.parse.received import ReceivedHop, hop_from_clauses

__all__ = ["Attachment", "MailMetadata", "ReceivedHop", "read_metadata"]

log = logging.getLogger(__name__)
# mail-parser logs a warning for every content type it does not render; that is not our concern.
logging.getLogger("mailparser").setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment as mail-parser lists it (it also counts inline parts that carry a file name)."""

    filename: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class MailMetadata:
    """What mail-parser reads well; addresses are lower-case, hops newest first."""

    from_addresses: tuple[str, ...] = ()
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    received: tuple[ReceivedHop, ...] = ()
    defects: tuple[str, ...] = field(default_factory=tuple)


def read_metadata(raw: bytes) -> MailMetadata:
    """Metadata of a mail; pass bytes already bounded by `bound_input` (mail-parser has no limits)."""
    try:
        import mailparser  # lazily: only mails whose metadata is asked for pay its import (CLI start-up)

        parsed = mailparser.parse_from_bytes(raw)
    except Exception as exc:  # noqa: BLE001 - mail-parser raises many types on hostile input
        log.debug("mail-parser failed: %s", exc)
        return MailMetadata(defects=(f"mail-parser: {type(exc).__name__}",))
    return MailMetadata(
        from_addresses=_addresses(parsed, "from_"),
        to_addresses=_addresses(parsed, "to"),
        cc_addresses=_addresses(parsed, "cc"),
        reply_to=_addresses(parsed, "reply_to"),
        attachments=tuple(
            Attachment(a.get("filename"), str(a.get("mail_content_type") or "application/octet-stream"))
            for a in _safe(lambda: parsed.attachments, [])
        ),
        received=_hops(_safe(lambda: parsed.received, [])),
        defects=tuple(sorted(_safe(lambda: parsed.defects_categories, set()))),
    )


def _addresses(parsed: Any, name: str) -> tuple[str, ...]:
    pairs = _safe(lambda: getattr(parsed, name), [])
    out = []
    for pair in pairs or []:
        address = pair[1] if isinstance(pair, tuple | list) and len(pair) > 1 else str(pair)
        if address and "@" in address:
            out.append(address.strip().lower())
    return tuple(out)


def _hops(received: object) -> tuple[ReceivedHop, ...]:
    """Newest hop first, as the headers stand in the mail: mail-parser numbers hops from the oldest (hop 1)
    and returns them oldest first."""
    if not isinstance(received, list):
        return ()
    entries = [r for r in received if isinstance(r, dict)]
    if all(isinstance(r.get("hop"), int) for r in entries):
        entries.sort(key=lambda r: r["hop"], reverse=True)
    return tuple(_hop(r) for r in entries)


def _hop(received: dict[str, object]) -> ReceivedHop:
    return hop_from_clauses(str(received.get("from") or "").strip() or None,
                            str(received.get("by") or "").strip() or None)


def _safe(getter, default):  # type: ignore[no-untyped-def]
    try:
        value = getter()
    except Exception:  # noqa: BLE001
        return default
    return default if value is None else value
