"""Events, the pure part: their types, their ids, and the bodies webhooks receive.

A webhook body is `{"type": …, "timestamp": …, "data": {…}}` (Standard Webhooks). For a fax result, `data`
holds the result under exactly the keys of `classify --json` (`FaxResult.to_json`), plus `mail_id`, `trusted`,
`forwarded`, `state` (the fax's tracking state), `submission` (`id`, `mailbox`, `subject`, `submitted_at`) and
`number` (the stop list's `verdict`, `reason`, `failures`), each null when unknown.

An event's id is a digest of what the event is about (`event_key`), never a random value: a mail processed
again, or a result recomputed after a crash, gives the same id, so nothing is sent twice under two ids and a
receiver that keeps the ids it has seen drops a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from processor.config import WEBHOOK_EVENTS, WebhookSettings

__all__ = [
    "FAX_DELIVERED",
    "FAX_FAILED",
    "FAX_NO_RESULT",
    "FAX_UNRECOGNIZED",
    "NUMBER_STOPPED",
    "TEST",
    "event_id",
    "wants",
    "webhook_body",
]

FAX_FAILED, FAX_DELIVERED, FAX_NO_RESULT, FAX_UNRECOGNIZED, NUMBER_STOPPED = WEBHOOK_EVENTS
TEST = "faxbounce.test"
"""The type of `faxbounce webhooks test`'s event (sent at once, never stored)."""
UNRECOGNIZED_KIND = "unrecognized"
"""The mail kind (issue: accuracy) of a mail that looks like a fax notification but that no detector read."""


def event_id(key: str) -> str:
    """`msg_` and 26 base32 characters of the key's SHA-256: stable across reprocessing and restarts."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The JSON body, as signed and sent (UTF-8, Japanese kept as is)."""
    return json.dumps({"type": event_type, "timestamp": _iso(timestamp), "data": data}, ensure_ascii=False,
                      separators=(",", ":"), default=_iso)


def wants(endpoint: WebhookSettings, event_type: str) -> bool:
    return not endpoint.events or event_type in endpoint.events


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {type(value).__name__}")
