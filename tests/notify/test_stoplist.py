"""The number stop list: the rules (pure), the verdict rows kept with the results, the view and the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from submissionfactory import result

from processor.cli import main
from processor.config import NumberSettings, Settings
from processor.notify.stoplist import NumberEvent, decide_number
from processor.run.pipeline import process_message
from processor.store.db import create_db_engine
from processor.store.inbound import Envelope, RawStore

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
RULES = NumberSettings()
STOPLIST_COLUMNS = ["fax_number", "national", "verdict", "reason", "failures", "last_failure_at",
                    "last_delivered_at", "blocked", "note"]


def ev(days_ago: float, outcome: str = "failed", reason: str = "invalid_number", retryable: bool | None = False,
       event: str | None = None) -> NumberEvent:
    at = NOW - timedelta(days=days_ago)
    return NumberEvent(event or f"e{days_ago}{reason}", at, outcome, reason, retryable)


RULE_TABLE = [
    ("nothing", [], False, ("ok", None, 0)),
    ("one number failure: check", [ev(1)], False, ("check", "invalid_number", 1)),
    ("two number failures: stop", [ev(2), ev(1, reason="voice_answer")], False, ("stop", "voice_answer", 2)),
    ("two mails about one fax count once", [ev(2, event="tx1"), ev(1, event="tx1")], False,
     ("check", "invalid_number", 1)),
    ("a delivery since resets", [ev(3), ev(2), ev(1, "delivered", "delivered", None)], False, ("ok", None, 0)),
    ("failures after the delivery count", [ev(4, "delivered", "delivered", None), ev(3), ev(2)], False,
     ("stop", "invalid_number", 2)),
    ("older than decay_days no longer count", [ev(120), ev(91)], False, ("ok", None, 0)),
    ("one old, one young: check", [ev(120), ev(5)], False, ("check", "invalid_number", 1)),
    ("busy twice: ok", [ev(2, reason="busy", retryable=True), ev(1, reason="busy", retryable=True)], False,
     ("ok", None, 2)),
    ("busy three times in a week: check", [ev(d, reason=r, retryable=True) for d, r in
                                           ((5, "busy"), (3, "no_answer"), (1, "busy"))], False,
     ("check", "busy", 3)),
    ("busy three times over a month: ok", [ev(d, reason="busy", retryable=True) for d in (20, 12, 1)], False,
     ("ok", None, 1)),
    ("account failures say nothing of the number", [ev(2, reason="credit_limit"), ev(1, reason="credit_limit")],
     False, ("ok", None, 0)),
    ("a block wins over a delivery", [ev(1, "delivered", "delivered", None)], True, ("stop", "blocked", 0)),
]


@pytest.mark.parametrize(("events", "blocked", "expected"), [c[1:] for c in RULE_TABLE], ids=[c[0] for c in RULE_TABLE])
def test_rules(events: list[NumberEvent], blocked: bool, expected: tuple[str, str | None, int]) -> None:
    verdict = decide_number(events, NOW, RULES, blocked=blocked)
    assert (str(verdict.verdict), verdict.reason, verdict.failures) == expected


def test_rules_are_settings() -> None:
    strict = NumberSettings(stop_after=1, transient_check_after=2)
    assert decide_number([ev(1)], NOW, strict).verdict == "stop"
    busy = [ev(2, reason="busy", retryable=True), ev(1, reason="busy", retryable=True)]
    assert decide_number(busy, NOW, strict).verdict == "check"


def _process(engine: Engine, raw: bytes, settings: Settings | None = None) -> int:
    stored = RawStore(engine).put(raw, Envelope("", ("copy@faxbounce.test",)))
    process_message(engine, stored.id, settings or Settings())
    return stored.id


def _stoplist(engine: Engine) -> dict[str, sa.Row]:
    with engine.connect() as connection:
        return {r.fax_number: r for r in connection.execute(sa.text("SELECT * FROM number_stoplist"))}


def test_view_follows_the_results(engine: Engine) -> None:
    now = datetime.now(UTC)
    _process(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です", when=now - timedelta(hours=3)))
    with engine.connect() as connection:
        assert list(connection.execute(sa.text("SELECT * FROM number_stoplist")).keys()) == STOPLIST_COLUMNS
    row = _stoplist(engine)["+81655550202"]
    assert (row.national, row.verdict, row.reason, row.failures, bool(row.blocked)) == (
        "06-5555-0202", "check", "invalid_number", 1, False)
    _process(engine, result("06-5555-0202", "3936", "音声応答", when=now - timedelta(hours=2)))
    assert _stoplist(engine)["+81655550202"].verdict == "stop"
    _process(engine, result("06-5555-0202", "0", when=now - timedelta(hours=1)))
    row = _stoplist(engine)["+81655550202"]
    assert (row.verdict, row.failures) == ("ok", 0)
    assert row.last_delivered_at is not None and row.last_failure_at is not None


def test_number_stopped_event_once(engine: Engine) -> None:
    from processor.config import WebhookSettings

    settings = Settings(webhooks=(WebhookSettings(url="http://127.0.0.1:9/x", secret="whsec_" + "A" * 44),))
    now = datetime.now(UTC)
    for hours in (3, 2, 1):
        _process(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です", when=now - timedelta(hours=hours)),
                 settings)
    with engine.connect() as connection:
        types = [r.event_type for r in connection.execute(sa.text("SELECT event_type FROM notify_outbox ORDER BY id"))]
        body = json.loads(connection.scalar(sa.text(
            "SELECT body FROM notify_outbox WHERE event_type = 'number.stopped'")))
    assert types == ["fax.failed", "fax.failed", "number.stopped", "fax.failed"]
    assert body["data"]["fax_number"] == "+81655550202" and body["data"]["failures"] == 2


def test_cli_block_list_export_unblock(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    engine = create_db_engine(db_url)
    _process(engine, result("045-555-0303", "3912", "FAX番号が使用不可です"))
    engine.dispose()
    assert main(["numbers", "block", "03-5555-0101", "--note", "=cmd|' /C calc'!A0 先方FAX廃止"]) == 0
    capsys.readouterr()
    assert main(["numbers", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["fax_number"], r["national"], r["verdict"], r["reason"], r["blocked"]) for r in listed] == [
        ("+81355550101", "03-5555-0101", "stop", "blocked", True),
        ("+81455550303", "045-555-0303", "check", "invalid_number", False)]
    assert list(listed[0]) == STOPLIST_COLUMNS
    assert main(["numbers", "list", "--verdict", "stop"]) == 0
    table = capsys.readouterr().out
    assert "03-5555-0101" in table and "045-555-0303" not in table and "+8135" not in table
    assert main(["numbers", "export"]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert rows[0]["note"].startswith("'=cmd")  # a formula made inert
    assert main(["numbers", "unblock", "+81355550101"]) == 0
    assert main(["numbers", "unblock", "+81355550101"]) == 1
    assert main(["numbers", "block", "not-a-number"]) == 2
    capsys.readouterr()
    assert main(["numbers", "list", "--json", "--verdict", "stop"]) == 0
    assert capsys.readouterr().out == ""


def test_ageing_turns_old_verdicts_ok_and_prunes_old_deliveries(engine: Engine) -> None:
    from processor.notify.ageing import VerdictAgeing
    from processor.store.db import session_scope

    _process(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です"))
    with session_scope(engine) as session:  # a verdict from before the stop list existed: no row yet
        session.execute(sa.text("DELETE FROM number_verdicts"))
        session.execute(sa.text(
            "INSERT INTO notify_outbox (event_id, channel, target, event_type, body, created_at, state, attempts, "
            "next_attempt_at, delivered_at) VALUES ('msg_old', 'webhook', 'http://x', 'fax.failed', '{}', "
            ":t, 'delivered', 1, :t, :t)"), {"t": datetime(2026, 1, 1, 0, 0)})
    ageing = VerdictAgeing(Settings())
    assert ageing.run_once(engine) == 1  # backfilled: check
    assert _stoplist(engine)["+81655550202"].verdict == "check"
    assert ageing.run_once(engine, datetime.now(UTC) + timedelta(days=91)) == 1  # aged out
    assert _stoplist(engine)["+81655550202"].verdict == "ok"
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM notify_outbox")) == 0
