"""Webhook delivery over HTTP, signed the Standard Webhooks way (the `standardwebhooks` package signs).

Each attempt is one POST with `content-type: application/json`, `webhook-id` (the same on every attempt),
`webhook-timestamp` (this attempt's time, in seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
`id.timestamp.body` under the secret's key). A 2xx answer is a delivery; anything else, a redirect included
(the spec's receivers answer 2xx, and a POST must not silently turn into a GET), or a timeout is a failure.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from processor import __version__
from processor.config import WebhookSettings

__all__ = ["PostResult", "post", "signed_headers"]

_ANSWER_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PostResult:
    ok: bool
    status: int | None
    """The HTTP status, or None when no answer came (refused, timed out, DNS)."""
    detail: str
    """One line for the outbox and the logs: `HTTP 500: …`, `timed out after 10s`, `connection refused`."""


def signed_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    timestamp = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "content-type": "application/json",
        "user-agent": f"faxbounce/{__version__}",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError: a failed attempt


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(endpoint: WebhookSettings, message_id: str, body: str, now: datetime | None = None) -> PostResult:
    """One signed attempt; never raises for network or HTTP trouble (the result says what happened)."""
    data = body.encode("utf-8")
    request = urllib.request.Request(endpoint.url, data=data, method="POST",
                                     headers=signed_headers(endpoint.secret, message_id, body, now))
    try:
        with _OPENER.open(request, timeout=endpoint.timeout) as response:
            status = response.status
            response.read(65536)
    except urllib.error.HTTPError as exc:
        answer = _answer(exc)
        return PostResult(False, exc.code, f"HTTP {exc.code}" + (f": {answer}" if answer else ""))
    except TimeoutError:
        return PostResult(False, None, f"timed out after {endpoint.timeout:g}s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return PostResult(False, None, f"timed out after {endpoint.timeout:g}s")
        return PostResult(False, None, _one_line(getattr(reason, "strerror", None) or str(reason)))
    except (OSError, ValueError) as exc:  # a reset mid-answer, a malformed status line
        return PostResult(False, None, _one_line(f"{type(exc).__name__}: {exc}"))
    if 200 <= status < 300:
        return PostResult(True, status, f"HTTP {status}")
    return PostResult(False, status, f"HTTP {status}")


def _answer(exc: urllib.error.HTTPError) -> str:
    try:
        return _one_line(exc.read(_ANSWER_LIMIT).decode("utf-8", "replace"))
    except OSError:
        return ""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:_ANSWER_LIMIT]
