"""The number stop list (宛先番号の除外リスト), the pure part: from a number's results to a verdict.

Verdicts: `ok`, `check` (call the number before the next send), `stop` (do not send to it). The rules are
data (`[numbers]` in the settings):

- a failure that says the number itself is wrong (`processor.tracking.rules.NUMBER_REASONS`: not a fax,
  voice answer, unusable number, …) gives `check` after `check_after` fax events and `stop` after `stop_after`;
- transient failures (retryable: busy, no answer, line errors) give `check` after `transient_check_after`
  within `transient_window_days`;
- failures older than `decay_days` stop counting; a delivery to the number resets it (only failures after
  the latest delivery count); other failures (account, document) say nothing about the number;
- a manual block always wins;
- one fax event counts once, however many mails told of it (a result mail and a bounce for the same fax
  carry the same `event` key).

No SQL here (that is `processor/store/numbers.py`), so every rule is tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum, unique

from processor.config import NumberSettings
from processor.tracking.rules import NUMBER_REASONS

__all__ = ["BLOCKED", "NumberEvent", "NumberVerdict", "Verdict", "decide_number"]

BLOCKED = "blocked"
"""The reason of a number an operator blocked."""


@unique
class Verdict(StrEnum):
    OK = "ok"
    CHECK = "check"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class NumberEvent:
    """One result about a fax number, as the rules need it."""

    event: str
    """What identifies the fax event: its submission, else its transaction id, else the result itself."""
    at: datetime
    outcome: str
    reason: str
    retryable: bool | None


@dataclass(frozen=True, slots=True)
class NumberVerdict:
    verdict: Verdict
    reason: str | None
    """`blocked`, the latest counted failure's reason, or None for `ok`."""
    failures: int
    """Fax events that count now (after the latest delivery, younger than decay_days)."""
    last_failure_at: datetime | None
    last_delivered_at: datetime | None


def decide_number(events: Iterable[NumberEvent], now: datetime, rules: NumberSettings,
                  blocked: bool = False) -> NumberVerdict:
    """The verdict for one number from every result stored about it."""
    events = sorted(events, key=lambda e: e.at)
    delivered = [e.at for e in events if e.outcome == "delivered"]
    last_delivered = delivered[-1] if delivered else None
    failed = [e for e in events if e.outcome == "failed"]
    last_failure = failed[-1].at if failed else None
    decay_cut = now - timedelta(days=rules.decay_days)
    counting = [e for e in failed if e.at > decay_cut and (last_delivered is None or e.at > last_delivered)]
    number_failures = _once_per_event(e for e in counting if e.reason in NUMBER_REASONS)
    transient_cut = now - timedelta(days=rules.transient_window_days)
    transient = _once_per_event(e for e in counting
                                if e.reason not in NUMBER_REASONS and e.retryable and e.at > transient_cut)
    failures = len(number_failures) + len(transient)
    if blocked:
        return NumberVerdict(Verdict.STOP, BLOCKED, failures, last_failure, last_delivered)
    if len(number_failures) >= rules.stop_after:
        return NumberVerdict(Verdict.STOP, number_failures[-1].reason, failures, last_failure, last_delivered)
    if len(number_failures) >= rules.check_after:
        return NumberVerdict(Verdict.CHECK, number_failures[-1].reason, failures, last_failure, last_delivered)
    if len(transient) >= rules.transient_check_after:
        return NumberVerdict(Verdict.CHECK, transient[-1].reason, failures, last_failure, last_delivered)
    return NumberVerdict(Verdict.OK, None, failures, last_failure, last_delivered)


def _once_per_event(events: Iterable[NumberEvent]) -> list[NumberEvent]:
    """The latest result of each fax event, in time order."""
    latest: dict[str, NumberEvent] = {}
    for event in events:
        latest[event.event] = event
    return sorted(latest.values(), key=lambda e: e.at)

