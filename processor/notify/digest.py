"""The daily digest: one mail a day to people (`alerts.digest_to`) with what to do, or one line saying
there is nothing to do.

Four parts: faxes to resend, numbers to verify or stop (the stop list's `check` and `stop` that failed in the
period), faxes with no result (and other account problems), and mail to look at (not understood, not
parseable, or a result that did not come the vendor's way). The daemon writes it to the outbox at
`alerts.digest_at` local time, once a day (the outbox's key is the local date, so a restart does not send it
twice), and the dispatcher sends it through `outbound.relay`, retrying like a webhook.
`faxbounce digest` prints it or sends it at once.
"""

from __future__ import annotations

import email.policy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.notify.display import local_time, national, pad, printable
from processor.notify.events import event_id
from processor.notify.messages import build_mail
from processor.ops.report import ReportItem, collect
from processor.store.db import session_scope
from processor.store.notify import enqueue_mail, has_event
from processor.store.numbers import list_numbers, refresh_open_verdicts
from processor.store.reports import MailToLookAt, mail_to_look_at

__all__ = ["Digest", "DigestScheduler", "compose_digest"]

log = logging.getLogger(__name__)

TEXT = {
    "ja": {
        "subject": "[faxbounce] FAX日次レポート {date}: {summary}",
        "nothing": "対応が必要なものはありません",
        "summary": "対応 {n} 件",
        "intro": "{since} 以降 ({zone}) の FAX 送信で、対応が必要なものです。",
        "resend": "再送が必要なFAX",
        "numbers": "番号の確認・送信停止",
        "no_result": "結果が届いていないFAX・アカウントの問題",
        "look_at": "確認が必要なメール",
        "from": "送信者",
        "subject_word": "件名",
        "why": {"unrecognized": "内容を判別できない通知", "unparseable": "解析できないメール",
                "error": "処理エラー", "untrusted": "正規の経路外から届いた結果通知 (なりすましの可能性)"},
        "verdict": {"check": "要確認", "stop": "送信停止"},
        "footer": "faxbounce report --since 24h で同じ内容を確認できます。",
    },
    "en": {
        "subject": "[faxbounce] Fax digest {date}: {summary}",
        "nothing": "nothing to do",
        "summary": "{n} to act on",
        "intro": "Faxes since {since} ({zone}) that need action.",
        "resend": "Faxes to resend",
        "numbers": "Numbers to verify or stop",
        "no_result": "Faxes with no result and account problems",
        "look_at": "Mail to look at",
        "from": "from",
        "subject_word": "subject",
        "why": {"unrecognized": "a notification faxbounce could not read", "unparseable": "not a readable mail",
                "error": "processing failed", "untrusted": "a result that did not come the vendor's way (phishing?)"},
        "verdict": {"check": "check", "stop": "stop"},
        "footer": "faxbounce report --since 24h shows the same.",
    },
}


@dataclass(frozen=True, slots=True)
class Digest:
    subject: str
    body: str
    message: EmailMessage
    actions: int
    """How many lines ask for action (0: the digest says nothing to do)."""

    @property
    def summary(self) -> str:
        return f"{self.actions} item(s) to act on" if self.actions else "nothing to do"

    def preview(self) -> str:
        """The mail as it would be sent, headers decoded, for a terminal."""
        headers = "".join(f"{name}: {printable(value, keep_newlines=False)}\n" for name, value in self.message.items())
        return headers + "\n" + printable(self.body)

    def message_bytes(self) -> bytes:
        return self.message.as_bytes(policy=email.policy.SMTP)


def compose_digest(engine: Engine, settings: Settings, since: datetime, to: Sequence[str], lang: str,
                   now: datetime | None = None) -> Digest:
    now = now or datetime.now(UTC)
    zone, country = settings.display.timezone, settings.processing.default_country
    words = TEXT[lang]
    items = collect(engine, since)
    resend = [i for i in items if i.action == "resend"]
    account = [i for i in items if i.action == "account"]
    with session_scope(engine) as session:
        refresh_open_verdicts(session, settings.numbers, country, now)
        numbers = [n for n in list_numbers(session) if n["verdict"] in ("check", "stop")
                   and (n["blocked"] or (n["last_failure_at"] and n["last_failure_at"] >= since))]
    with engine.connect() as connection:
        look_at = mail_to_look_at(connection, since)
    actions = len(resend) + len(account) + len(numbers) + len(look_at)
    date = now.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
    summary = words["nothing"] if not actions else words["summary"].format(n=actions)
    subject = words["subject"].format(date=date, summary=summary)
    if not actions:
        body = summary + "\n"
    else:
        lines = [words["intro"].format(since=local_time(since, zone), zone=zone), ""]
        lines += _section(words["resend"], [_fax_line(i, words, zone, country) for i in resend])
        lines += _section(words["numbers"], [
            f"  {words['verdict'][n['verdict']]:6s}  {pad(n['national'] or n['fax_number'], 14)}  "
            f"{n['reason'] or '-'}  {n['failures']}  {local_time(n['last_failure_at'], zone)}"
            + (f"  {n['note']}" if n["note"] else "") for n in numbers])
        lines += _section(words["no_result"], [_fax_line(i, words, zone, country) for i in account])
        lines += _section(words["look_at"], [_mail_line(m, words, zone) for m in look_at])
        lines.append(words["footer"])
        body = "\n".join(printable(line) for line in lines) + "\n"
    message = build_mail(settings.outbound.sender or "faxbounce@localhost", list(to), subject, body, now)
    return Digest(subject, body, message, actions)


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"■ {title} ({len(lines)})", *lines, ""] if lines else []


def _fax_line(item: ReportItem, words: dict[str, object], zone: str, country: str) -> str:
    number = national(item.fax_number, country) or "-"
    text = f"  {local_time(item.at, zone)}  {pad(number, 14)}  {item.reason or '-'}"
    if item.code:
        text += f" ({item.code})"
    if item.subject:
        text += f"  {words['subject_word']}: {printable(item.subject, keep_newlines=False)}"
    if item.sender:
        text += f"  {words['from']}: {printable(item.sender, keep_newlines=False)}"
    advice = item.advice_ja if words is TEXT["ja"] else item.advice_en
    if advice:
        text += f"\n      → {printable(advice, keep_newlines=False)}"
    return text


def _mail_line(mail: MailToLookAt, words: dict[str, object], zone: str) -> str:
    why = words["why"][mail.why]  # type: ignore[index]
    subject = printable(mail.subject or "-", keep_newlines=False)
    sender = printable(mail.from_address or "-", keep_newlines=False)
    return f"  {local_time(mail.received_at, zone)}  #{mail.mail_id}  {why}  {subject}  ({sender})"


class DigestScheduler:
    """Writes the day's digest to the outbox once `alerts.digest_at` has passed (local time); the
    dispatcher sends it. `run_once` returns the outbox rows it wrote."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run_once(self, engine: Engine, now: datetime | None = None) -> int:
        alerts, settings = self.settings.alerts, self.settings
        if not alerts.digest_to or not settings.outbound.relay:
            return 0
        now = now or datetime.now(UTC)
        local = now.astimezone(ZoneInfo(settings.display.timezone))
        hour, minute = (int(part) for part in alerts.digest_at.split(":"))
        if (local.hour, local.minute) < (hour, minute):
            return 0
        key = f"digest:{local:%Y-%m-%d}"
        with session_scope(engine) as session:
            if has_event(session, event_id(f"{key}:{alerts.digest_to[0]}")):
                return 0
        digest = compose_digest(engine, settings, now - timedelta(hours=24), alerts.digest_to, alerts.lang, now)
        with session_scope(engine) as session:
            written = enqueue_mail(session, key, alerts.digest_to, "digest",
                                   digest.message_bytes().decode("ascii"), now)
        log.info("daily digest for %s queued for %s: %s", local.date(), ", ".join(alerts.digest_to), digest.summary)
        return written
