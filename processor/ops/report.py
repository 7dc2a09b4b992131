"""`faxbounce report`: what needs action now, grouped by action, in Japanese or English.

Read from the public views only (queries in `processor/store/reports.py`). Three piles, in this order:

- `verify_number`: numbers that failed for a reason a resend will not fix (one line per number);
- `resend`: faxes that failed for a passing reason or because of the document, not delivered since;
- `account`: faxes held or never answered (credit, sender registration, notification settings);
- `look_at`: mail a person should read (`mail_to_look_at`: unrecognized vendor mail, mail that could not be
  processed).

For people (table, CSV): times in `display.timezone`, numbers as they write them (`03-5555-0101`), each
piece of advice once per group, results from an untrusted path marked, every text made safe for a terminal
or a spreadsheet (`processor.notify.display`). For programs (JSON): UTC and E.164, as in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from processor.notify.display import csv_text, local_time, national, pad, printable
from processor.store.lookat import MailToLookAt, mail_to_look_at
from processor.store.reports import action_rows, deliveries_by_number, untracked_failures
from processor.tracking.rules import action_group

__all__ = ["ACTIONS", "EXIT_ACTION_NEEDED", "ReportItem", "collect", "render"]

ACTIONS = ("verify_number", "resend", "account", "look_at")
EXIT_ACTION_NEEDED = 3
"""`faxbounce report --exit-status` exits with this when something needs action (0 when nothing does)."""
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
NOTHING = {"ja": "対応が必要なものはありません。", "en": "Nothing needs action."}
WORDS = {
    "ja": {"subject": "件名", "sender": "送信者", "untracked": "(送信記録なし)", "untrusted": "[要注意: 正規の経路外]",
           "times": "件", "zone": "時刻"},
    "en": {"subject": "subject", "sender": "from", "untracked": "(no submission seen)",
           "untrusted": "[CAUTION: not via the vendor]", "times": "x", "zone": "times in"},
}
FIELDS = ("action", "state", "reason", "code", "fax_number", "national", "subject", "sender", "at", "count",
          "tracked", "trusted", "submission_id", "result_id", "advice_ja", "advice_en", "mail_id")


@dataclass(frozen=True, slots=True)
class ReportItem:
    action: str
    state: str
    reason: str | None
    code: str | None
    fax_number: str | None
    subject: str | None
    sender: str | None
    """The mailbox the fax was sent from (known when faxbounce saw the submission)."""
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
    """False: the result mail did not come through the vendor's servers (possible phishing): check it."""
    mail_id: int | None = None
    """For `look_at`: the mail (`inbound_messages.id`)."""


def collect(engine: Engine, since: datetime) -> list[ReportItem]:
    """Everything that needs action among faxes that failed (or changed state) since `since`."""
    items: list[ReportItem] = []
    with engine.connect() as connection:
        for row in action_rows(connection, since):
            items.append(ReportItem(
                action=row.action or action_group(row.state, row.reason) or "resend", state=row.state,
                reason=row.reason, code=row.code, fax_number=row.fax_number, subject=row.subject,
                sender=row.sender, at=row.state_at, advice_ja=row.action_ja, advice_en=row.action_en,
                submission_id=row.submission_id, result_id=row.result_id, trusted=_flag(row.trusted)))
        for row in untracked_failures(connection, since):
            items.append(ReportItem(
                action=action_group("failed", row.reason) or "resend", state="failed", reason=row.reason,
                code=row.code, fax_number=row.fax_number, subject=row.subject, sender=None, at=row.failed_at,
                advice_ja=row.action_ja, advice_en=row.action_en, tracked=False, result_id=row.result_id,
                trusted=_flag(row.trusted)))
        delivered = deliveries_by_number(connection, (i.fax_number for i in items if i.fax_number))
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
        # One untrusted mail among them is enough to say "look before you act".
        trusted = False if any(i.trusted is False for i in group) else latest.trusted
        kept.append(ReportItem(**{**asdict(latest), "count": len(group), "trusted": trusted}))
    order = {action: index for index, action in enumerate(ACTIONS)}
    return sorted(kept, key=lambda i: (order.get(i.action, len(order)), -i.at.timestamp(), i.fax_number or ""))


def render(items: Sequence[ReportItem], fmt: str = "table", lang: str = "ja", since: datetime | None = None,
           timezone: str = "Asia/Tokyo", country: str = "JP") -> str:
    if fmt == "json":
        groups = {action: [_json(i, country) for i in items if i.action == action] for action in ACTIONS}
        document = {"since": since.isoformat() if since else None, "generated_at": datetime.now(UTC).isoformat(),
                    "lang": lang, "titles": TITLES[lang], "groups": groups}
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        rows = []
        for item in items:
            values = _json(item, country)
            values["at"] = item.at.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
            rows.append([values[f] for f in FIELDS])
        return csv_text(FIELDS, rows)
    return _table(items, lang, timezone, country)


def _table(items: Sequence[ReportItem], lang: str, timezone: str, country: str) -> str:
    if not items:
        return NOTHING[lang] + "\n"
    words = WORDS[lang]
    lines = [f"{words['zone']} {timezone}", ""]
    for action in ACTIONS:
        group = [i for i in items if i.action == action]
        if not group:
            continue
        lines.append(f"{TITLES[lang][action]} ({len(group)})")
        by_advice: dict[str, list[ReportItem]] = {}
        for item in group:
            by_advice.setdefault((item.advice_ja if lang == "ja" else item.advice_en) or "", []).append(item)
        for advice, same in by_advice.items():
            if advice:
                lines.append(f"  → {printable(advice, keep_newlines=False)}")
            for item in same:
                lines.extend(_item_lines(item, lang, timezone, country))
        lines.append("")
    return "\n".join(lines)


def _item_lines(item: ReportItem, lang: str, timezone: str, country: str) -> list[str]:
    words = WORDS[lang]
    number = national(item.fax_number, country) or "-"
    count = f"  {item.count}{words['times']}" if item.count > 1 else ""
    marks = ("  " + words["untracked"] if not item.tracked else "") + (
        "  " + words["untrusted"] if item.trusted is False else "")
    code = f" ({item.code})" if item.code else ""
    head = (f"    {local_time(item.at, timezone)}  {pad(number, 14)}  {item.state:9s}  {item.reason or '-'}{code}"
            f"{count}{marks}")
    lines = [printable(head, keep_newlines=False)]
    details = []
    if item.subject:
        details.append(f"{words['subject']}: {item.subject}")
    if item.sender:
        details.append(f"{words['sender']}: {item.sender}")
    if details:
        lines.append(printable("        " + "  ".join(details), keep_newlines=False))
    return lines


def _json(item: ReportItem, country: str) -> dict[str, object]:
    values = asdict(item)
    values["at"] = item.at.isoformat()
    values["national"] = national(item.fax_number, country)
    return values
