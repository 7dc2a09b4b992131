"""`faxbounce report`: what needs action now, grouped by action, in Japanese or English.

Read from the public views only (`fax_status`, `failures`, `number_health`), so the report says nothing
that a plain SQL query could not. Three piles, in this order:

- `verify_number`: numbers that failed for a reason a resend will not fix (one line per number);
- `resend`: faxes that failed for a passing reason or because of the document, not delivered since;
- `account`: faxes held or never answered (credit, sender registration, notification settings);
- `look_at`: mail a person should read (`mail_to_look_at`: unrecognized vendor mail, mail that could not be
  processed).

A failure whose notice did not come through the vendor's servers (`trusted` false: possible phishing) is marked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.store.lookat import MailToLookAt, mail_to_look_at
from processor.store.models import UTCDateTime
from processor.tracking.rules import action_group

__all__ = ["ACTIONS", "ReportItem", "collect", "render"]

ACTIONS = ("verify_number", "resend", "account", "look_at")
TITLES = {
    "ja": {"verify_number": "番号の確認が必要", "resend": "再送が必要なFAX", "account": "アカウントの問題",
           "look_at": "確認が必要なメール"},
    "en": {"verify_number": "Numbers to verify", "resend": "Faxes to resend", "account": "Account problems",
           "look_at": "Mail to look at"},
}
LOOK_AT_ADVICE = {
    "unrecognized": ("FAXサービスからのメールと思われますが、結果を読み取れませんでした。"
                     "内容を確認してください(メールID {id})。",
                     "Looks like fax service mail, but no result could be read from it: read it (mail id {id})."),
    "unparseable": ("メールとして解析できませんでした。原文は保存されています(メールID {id})。",
                    "Could not be parsed as a mail; the raw bytes are kept (mail id {id})."),
    "error": ("処理に失敗しました。原因を直して faxbounce reprocess を実行してください(メールID {id})。",
              "Processing failed: fix the cause and run faxbounce reprocess (mail id {id})."),
}
UNTRUSTED = {"ja": "  (送信元未確認: なりすましの可能性)", "en": "  (unverified sender: possible phishing)"}
NOTHING = {"ja": "対応が必要なものはありません。", "en": "Nothing needs action."}
FIELDS = ("action", "state", "reason", "code", "fax_number", "subject", "sender", "at", "count", "tracked",
          "submission_id", "result_id", "advice_ja", "advice_en", "trusted", "mail_id")


@dataclass(frozen=True, slots=True)
class ReportItem:
    action: str
    state: str
    reason: str | None
    code: str | None
    fax_number: str | None
    subject: str | None
    sender: str | None
    at: datetime
    advice_ja: str | None
    advice_en: str | None
    count: int = 1
    """For `verify_number`: how many faxes to this number failed in the period."""
    tracked: bool = True
    """False for a failure whose submission faxbounce never saw (no BCC copy)."""
    submission_id: int | None = None
    result_id: int | None = None
    trusted: bool | None = None
    """False when the notice came through no trusted relay or vendor host (possible phishing)."""
    mail_id: int | None = None
    """For `look_at`: the mail (`inbound_messages.id`)."""


_STATUS = sa.text(
    "SELECT submission_id, result_id, state, state_at, reason, code, fax_number, subject_base AS subject, sender, "
    "action, action_ja, action_en, (SELECT r.trusted FROM fax_results r WHERE r.id = fax_status.result_id) AS trusted "
    "FROM fax_status "
    "WHERE state IN ('failed', 'no_result', 'pending') AND state_at >= :since"
).bindparams(sa.bindparam("since", type_=UTCDateTime())).columns(state_at=UTCDateTime())
_UNTRACKED = sa.text(
    "SELECT f.result_id, f.reason, f.code, f.fax_number, f.original_subject AS subject, f.mail_from_address, "
    "f.failed_at, f.action_ja, f.action_en, f.trusted FROM failures f "
    "WHERE f.kind <> 'dsn' AND f.received_at >= :since "
    "AND NOT EXISTS (SELECT 1 FROM fax_matches x WHERE x.result_id = f.result_id)"
).bindparams(sa.bindparam("since", type_=UTCDateTime())).columns(failed_at=UTCDateTime())
_DELIVERIES = sa.text(
    "SELECT fax_number, max(at) AS at FROM ("
    " SELECT s.fax_number, s.state_at AS at FROM fax_submissions s WHERE s.state = 'delivered'"
    " UNION ALL"
    " SELECT r.fax_number, COALESCE(r.occurred_at, m.received_at) AS at FROM fax_results r"
    " JOIN inbound_messages m ON m.id = r.inbound_message_id WHERE r.outcome = 'delivered'"
    ") d WHERE fax_number IS NOT NULL GROUP BY fax_number"
).columns(at=UTCDateTime())


def collect(engine: Engine, since: datetime) -> list[ReportItem]:
    """Everything that needs action among faxes that changed state (or failed) since `since`."""
    items: list[ReportItem] = []
    with engine.connect() as connection:
        for row in connection.execute(_STATUS, {"since": since}):
            items.append(ReportItem(
                action=row.action or action_group(row.state, row.reason) or "resend", state=row.state,
                reason=row.reason, code=row.code, fax_number=row.fax_number, subject=row.subject,
                sender=row.sender, at=row.state_at, advice_ja=row.action_ja, advice_en=row.action_en,
                submission_id=row.submission_id, result_id=row.result_id, trusted=_flag(row.trusted)))
        for row in connection.execute(_UNTRACKED, {"since": since}):
            items.append(ReportItem(
                action=action_group("failed", row.reason) or "resend", state="failed", reason=row.reason,
                code=row.code, fax_number=row.fax_number, subject=row.subject, sender=None, at=row.failed_at,
                advice_ja=row.action_ja, advice_en=row.action_en, tracked=False, result_id=row.result_id,
                trusted=_flag(row.trusted)))
        delivered = {row.fax_number: row.at for row in connection.execute(_DELIVERIES)}
        items.extend(_look_at(mail) for mail in mail_to_look_at(connection, since))
    return _condense(items, delivered)


def _flag(value: object) -> bool | None:
    """A boolean read by plain SQL (SQLite gives 0/1)."""
    return None if value is None else bool(value)


def _look_at(mail: MailToLookAt) -> ReportItem:
    advice_ja, advice_en = LOOK_AT_ADVICE.get(mail.problem, LOOK_AT_ADVICE["error"])
    return ReportItem(action="look_at", state=mail.problem, reason=None, code=None, fax_number=None,
                      subject=mail.subject, sender=mail.from_address, at=mail.received_at,
                      advice_ja=advice_ja.format(id=mail.inbound_message_id),
                      advice_en=advice_en.format(id=mail.inbound_message_id), mail_id=mail.inbound_message_id)


def _condense(items: Iterable[ReportItem], delivered: dict[str, datetime]) -> list[ReportItem]:
    """Drop resends already done (the number took a fax later); one line per number to verify."""
    kept: list[ReportItem] = []
    per_number: dict[str, list[ReportItem]] = {}
    for item in sorted(items, key=lambda i: (i.at, i.submission_id or 0, i.result_id or 0)):
        if item.action == "resend" and item.fax_number and delivered.get(item.fax_number, item.at) > item.at:
            continue
        if item.action == "verify_number" and item.fax_number:
            per_number.setdefault(item.fax_number, []).append(item)
            continue
        kept.append(item)
    for group in per_number.values():
        latest = group[-1]
        kept.append(ReportItem(**{**asdict(latest), "count": len(group)}))
    order = {action: index for index, action in enumerate(ACTIONS)}
    return sorted(kept, key=lambda i: (order.get(i.action, len(order)), -i.at.timestamp(), i.fax_number or ""))


def render(items: Sequence[ReportItem], fmt: str = "table", lang: str = "ja", since: datetime | None = None) -> str:
    if fmt == "json":
        groups = {action: [_json(i) for i in items if i.action == action] for action in ACTIONS}
        document = {"since": since.isoformat() if since else None, "generated_at": datetime.now(UTC).isoformat(),
                    "lang": lang, "titles": TITLES[lang], "groups": groups}
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for item in items:
            values = _json(item)
            writer.writerow(["" if values[f] is None else values[f] for f in FIELDS])
        return out.getvalue()
    return _table(items, lang)


def _table(items: Sequence[ReportItem], lang: str) -> str:
    if not items:
        return NOTHING[lang] + "\n"
    lines: list[str] = []
    for action in ACTIONS:
        group = [i for i in items if i.action == action]
        if not group:
            continue
        lines.append(f"{TITLES[lang][action]} ({len(group)})")
        for item in group:
            count = (f"  {item.count}件" if lang == "ja" else f"  {item.count}x") if item.count > 1 else ""
            untracked = ("  (送信記録なし)" if lang == "ja" else "  (no submission seen)") if not item.tracked else ""
            if item.trusted is False:
                untracked += UNTRUSTED[lang]
            lines.append(f"  {item.at.astimezone(UTC):%Y-%m-%d %H:%M}Z  {item.fax_number or '-':14s}  {item.state:9s}  "
                         f"{item.reason or '-'}{f' ({item.code})' if item.code else ''}{count}{untracked}")
            if item.subject:
                lines.append(f"      {'件名' if lang == 'ja' else 'subject'}: {item.subject}"
                             + (f"  ({item.sender})" if item.sender else ""))
            advice = item.advice_ja if lang == "ja" else item.advice_en
            if advice:
                lines.append(f"      → {advice}")
        lines.append("")
    return "\n".join(lines)


def _json(item: ReportItem) -> dict[str, object]:
    values = asdict(item)
    values["at"] = item.at.isoformat()
    return values
