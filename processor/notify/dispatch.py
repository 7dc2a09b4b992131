"""The dispatcher: sends what the outbox holds, webhooks and mail alike, and retries what failed.

Each attempt is booked before it is made (attempts + 1 and the next try's time, committed), then sent, then
its outcome recorded: a process killed mid-send leaves the delivery pending, and it is sent again later under
the same `webhook-id` (at least once; receivers drop repeats by id). A failure waits `delivery.first_retry`
seconds, then twice as long each time (at most `delivery.max_retry_interval`, with ±10 % jitter so that many
deliveries to one endpoint do not come back at once), until `delivery.give_up_after` has passed since the event:
then it is `failed`, logged, counted in `faxbounce_notify_deliveries{state="failed"}` and listed by
`faxbounce webhooks list`.

The daemon runs `Dispatcher.run_once` from its first worker, next to the tracking sweep; one run spends at
most `budget` seconds and tries an endpoint that has just failed no more that run, so a dead receiver cannot
hold up mail processing for long.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from processor.config import Settings, WebhookSettings
from processor.notify.mailer import MailError, send_mail
from processor.notify.webhooks import post
from processor.store.db import session_scope
from processor.store.notify import MAIL, WEBHOOK, Delivery, begin_attempt, due_deliveries, finish_attempt

__all__ = ["Dispatcher", "retry_delay"]

log = logging.getLogger(__name__)


def retry_delay(settings: Settings, attempts: int, jitter: float | None = None) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    delivery = settings.delivery
    base = min(delivery.first_retry * 2 ** max(attempts - 1, 0), delivery.max_retry_interval)
    factor = random.uniform(0.9, 1.1) if jitter is None else jitter
    return timedelta(seconds=base * factor)


class Dispatcher:
    """Sends due deliveries; `run_once` is what the daemon schedules every `delivery.interval` seconds."""

    def __init__(self, settings: Settings, budget: float = 20.0, batch: int = 200) -> None:
        self.settings = settings
        self.budget = budget
        self.batch = batch
        self.endpoints: dict[str, WebhookSettings] = {w.url: w for w in settings.webhooks}

    def run_once(self, engine: Engine, now: datetime | None = None) -> int:
        """Try every due delivery once (within the budget); returns how many were delivered."""
        started = time.monotonic()
        with session_scope(engine) as session:
            due = due_deliveries(session, now or datetime.now(UTC), self.batch)
        delivered = 0
        failing: set[tuple[str, str]] = set()
        for delivery in due:
            if time.monotonic() - started > self.budget:
                break
            if (delivery.channel, delivery.target) in failing:
                continue  # it failed a moment ago: the next run tries again
            if self.attempt(engine, delivery):
                delivered += 1
            else:
                failing.add((delivery.channel, delivery.target))
        return delivered

    def attempt(self, engine: Engine, delivery: Delivery) -> bool:
        """Book, send and record one attempt; True when delivered."""
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            begin_attempt(session, delivery.id, now, now + retry_delay(self.settings, delivery.attempts + 1))
        error = self._send(delivery, now)
        done = datetime.now(UTC)
        give_up = error is not None and done - delivery.created_at >= timedelta(
            seconds=self.settings.delivery.give_up_after)
        with session_scope(engine) as session:
            finish_attempt(session, delivery.id, done, error, give_up)
        label = f"{delivery.channel} {delivery.event_type} {delivery.event_id} to {delivery.target}"
        if error is None:
            log.info("delivered %s (attempt %d)", label, delivery.attempts + 1)
        elif give_up:
            log.error("gave up on %s after %d attempts: %s (faxbounce webhooks retry %d)", label,
                      delivery.attempts + 1, error, delivery.id)
        else:
            log.warning("%s failed (attempt %d): %s; retrying", label, delivery.attempts + 1, error)
        return error is None

    def _send(self, delivery: Delivery, now: datetime) -> str | None:
        if delivery.channel == WEBHOOK:
            endpoint = self.endpoints.get(delivery.target)
            if endpoint is None:
                return "endpoint no longer in the configuration ([[webhooks]] url)"
            result = post(endpoint, delivery.event_id, delivery.body, now)
            return None if result.ok else result.detail
        if delivery.channel == MAIL:
            try:
                send_mail(self.settings.outbound, [delivery.target], delivery.body.encode("ascii"))
            except MailError as exc:
                return str(exc)
            return None
        return f"unknown channel {delivery.channel!r}"
