"""The public views (documented columns, both backends), `faxbounce report`, and the tracking settings."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from submissionfactory import result, submission

from processor.cli import main
from processor.config import Settings, TrackingSettings, load_settings
from processor.errors import ConfigError
from processor.ops.report import collect, render
from processor.run.pipeline import process_message
from processor.store.db import create_db_engine
from processor.store.inbound import Envelope, RawStore

ROOT = Path(__file__).resolve().parents[2]
FAX_STATUS_COLUMNS = [
    "submission_id", "inbound_message_id", "submitted_at", "received_at", "sender", "return_path", "message_id",
    "subject", "subject_base", "fax_number", "fax_number_raw", "recipient", "state", "state_at", "reason", "code",
    "retryable", "action", "action_ja", "action_en", "result_id", "match_method", "match_confidence",
    "transaction_id",
]
NUMBER_HEALTH_COLUMNS = [
    "fax_number", "submissions", "results", "deliveries", "failures", "number_failures", "retryable_failures",
    "other_failures", "no_results", "last_outcome", "last_reason", "last_result_at", "last_submitted_at", "verdict",
]
DAILY_SUMMARY_COLUMNS = ["day", "state", "reason", "faxes", "numbers"]


def _process(engine: Engine, raw: bytes, mail_from: str = "") -> int:
    stored = RawStore(engine).put(raw, Envelope(mail_from, ("copy@faxbounce.test",)))
    process_message(engine, stored.id, Settings())
    return stored.id


def _query(engine: Engine, sql: str) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql)))


def _scenario(engine: Engine) -> None:
    """Four numbers: delivered, invalid twice (check_number), busy (retry_later), and one silent fax."""
    now = datetime.now(UTC)
    for minutes, number in ((50, "03-5555-0101"), (40, "06-5555-0202"), (30, "06-5555-0202"),
                            (20, "045-555-0303"), (180, "011-555-0404")):
        when = now - timedelta(minutes=minutes)
        _process(engine, submission([number], f"件名{minutes} /b", when=when), "taro@example.co.jp")
        code, label = {"03-5555-0101": ("0", ""), "06-5555-0202": ("3912", "FAX番号が使用不可です"),
                       "045-555-0303": ("6017", "話中")}.get(number, (None, ""))
        if code is not None:
            _process(engine, result(number, code, label, subject=f"件名{minutes}", when=when + timedelta(seconds=20)))
    _process(engine, result("092-555-0505", "3936", "音声応答"))  # a result whose submission was never seen


def test_views_have_the_documented_columns_and_values(engine: Engine) -> None:
    _scenario(engine)
    with engine.connect() as connection:
        assert list(connection.execute(sa.text("SELECT * FROM fax_status")).keys()) == FAX_STATUS_COLUMNS
        assert list(connection.execute(sa.text("SELECT * FROM number_health")).keys()) == NUMBER_HEALTH_COLUMNS
        assert list(connection.execute(sa.text("SELECT * FROM daily_summary")).keys()) == DAILY_SUMMARY_COLUMNS
    status = {r.fax_number: (r.state, r.reason, r.action) for r in _query(engine, "SELECT * FROM fax_status")}
    assert status == {
        "+81355550101": ("delivered", "delivered", None),
        "+81655550202": ("failed", "invalid_number", "verify_number"),
        "+81455550303": ("failed", "busy", "resend"),
        "+81115550404": ("no_result", "no_result", "account"),
    }
    health = {r.fax_number: r for r in _query(engine, "SELECT * FROM number_health")}
    assert {n: h.verdict for n, h in health.items()} == {
        "+81355550101": "ok", "+81655550202": "check_number", "+81455550303": "retry_later",
        "+81115550404": "ok", "+81925550505": "ok",
    }
    invalid = health["+81655550202"]
    assert (invalid.submissions, invalid.results, invalid.failures, invalid.number_failures, invalid.deliveries,
            invalid.last_reason) == (2, 2, 2, 2, 0, "invalid_number")
    assert (health["+81115550404"].no_results, health["+81115550404"].results) == (1, 0)
    assert (health["+81455550303"].retryable_failures, health["+81925550505"].submissions) == (1, 0)
    # Summed over days: the scenario reaches three hours back, so just after midnight UTC its two invalid-number
    # faxes (40 and 30 minutes ago) are two days' rows. Each (state, reason) here is about one number.
    summary = {(r.state, r.reason): (r.faxes, r.numbers) for r in _query(
        engine, "SELECT state, reason, sum(faxes) AS faxes, max(numbers) AS numbers FROM daily_summary "
                "GROUP BY state, reason")}
    assert summary[("failed", "invalid_number")] == (2, 1)
    assert summary[("failed", "voice_answer")] == (1, 1)  # untracked result counted on its own
    assert summary[("no_result", "no_result")] == (1, 1)
    assert sum(faxes for faxes, _ in summary.values()) == 6


def test_check_number_clears_after_a_delivery(engine: Engine) -> None:
    for _ in range(2):
        _process(engine, result("06-5555-0202", "3936", "音声応答"))
    assert _query(engine, "SELECT verdict FROM number_health")[0].verdict == "check_number"
    _process(engine, result("06-5555-0202", "0", when=datetime.now(UTC) + timedelta(minutes=5)))
    assert _query(engine, "SELECT verdict FROM number_health")[0].verdict == "ok"


def test_report_groups_by_action(engine: Engine) -> None:
    _scenario(engine)
    items = collect(engine, datetime.now(UTC) - timedelta(hours=24))
    assert [(i.action, i.fax_number, i.reason, i.count, i.tracked) for i in items] == [
        ("verify_number", "+81925550505", "voice_answer", 1, False),  # newest first
        ("verify_number", "+81655550202", "invalid_number", 2, True),
        ("resend", "+81455550303", "busy", 1, True),
        ("account", "+81115550404", "no_result", 1, True),
    ]
    table_ja = render(items, "table", "ja")
    for title in ("番号の確認が必要 (2)", "再送が必要なFAX (1)", "アカウントの問題 (1)"):
        assert title in table_ja
    assert "送信許可" in table_ja and "(送信記録なし)" in table_ja
    assert "06-5555-0202" in table_ja and "+81655550202" not in table_ja  # numbers as people write them
    assert "taro@example.co.jp" in table_ja  # the mailbox the fax was sent from
    table_en = render(items, "table", "en")
    assert "Numbers to verify (2)" in table_en and "authorised sender" in table_en
    document = json.loads(render(items, "json", "en"))
    assert [i["fax_number"] for i in document["groups"]["verify_number"]] == ["+81925550505", "+81655550202"]
    assert document["groups"]["account"][0]["state"] == "no_result"
    text = render(items, "csv", "ja")
    assert text.startswith("\ufeff")  # UTF-8 with BOM: Excel on Japanese Windows reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [r["action"] for r in rows] == ["verify_number", "verify_number", "resend", "account"]
    assert rows[1]["national"] == "06-5555-0202" and rows[1]["fax_number"] == "+81655550202"
    assert rows[0]["at"].endswith("+09:00")
    assert render([], "table", "en") == "Nothing needs action.\n"


def test_report_leaves_out_resends_already_delivered(engine: Engine) -> None:
    _process(engine, result("045-555-0303", "6017", "話中", when=datetime.now(UTC) - timedelta(minutes=30)))
    _process(engine, result("045-555-0303", "0", when=datetime.now(UTC) - timedelta(minutes=10)))
    assert collect(engine, datetime.now(UTC) - timedelta(hours=1)) == []


def test_report_command(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    engine = create_db_engine(db_url)
    _process(engine, result("06-5555-0202", "3912", "FAX番号が使用不可です"))
    engine.dispose()
    capsys.readouterr()
    assert main(["report", "--since", "1h", "--format", "json", "--lang", "en"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["groups"]["verify_number"][0]["reason"] == "invalid_number"
    assert main(["report", "--lang", "ja"]) == 0
    assert "番号の確認が必要 (1)" in capsys.readouterr().out
    assert main(["report", "--format", "csv", "--since", "2000-01-01"]) == 0
    assert capsys.readouterr().out.startswith("\ufeffaction,state,reason")
    assert main(["report", "--exit-status"]) == 3
    assert main(["report", "--exit-status", "--since", "2099-01-01"]) == 0


def test_tracking_settings_env_and_validation(tmp_path: Path) -> None:
    assert load_settings(environ={}).tracking == TrackingSettings()
    assert load_settings(environ={"FAXBOUNCE_RESULT_TIMEOUT": "120"}).tracking.result_timeout == 120
    both = {"FAXBOUNCE_RESULT_TIMEOUT": "120", "FAXBOUNCE_TRACKING_RESULT_TIMEOUT": "300"}
    assert load_settings(environ=both).tracking.result_timeout == 300
    env = {"FAXBOUNCE_TRACKING_FAX_DOMAINS": "fax.tc, efax.example", "FAXBOUNCE_TRACKING_NOTIFICATIONS": "failure_only"}
    tracking = load_settings(environ=env).tracking
    assert (tracking.fax_domains, tracking.notifications) == (("fax.tc", "efax.example"), "failure_only")
    for text, key in (("[tracking]\nnotifications = \"sometimes\"\n", "tracking.notifications"),
                      ("[tracking]\nresult_timeout = 0\n", "tracking.result_timeout"),
                      ("[tracking]\nnumber_pattern = \"(\"\n", "tracking.number_pattern"),
                      ("[tracking]\nnumber_pattern = \"(\\\\d+)@\"\n", "tracking.number_pattern"),
                      ("[tracking]\nfax_domains = [\"not a domain\"]\n", "tracking.fax_domains[0]"),
                      ("[tracking]\nresult_timout = 5\n", "did you mean 'result_timeout'")):
        path = tmp_path / "f.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(key)):
            load_settings(path, environ={})
    with pytest.raises(ConfigError, match=r"tracking\.result_timeout"):
        load_settings(environ={"FAXBOUNCE_RESULT_TIMEOUT": "soon"})


def test_shipped_file_documents_every_tracking_key_with_its_default() -> None:
    shipped = tomllib.loads((ROOT / "config" / "faxbounce.toml").read_text(encoding="utf-8"))["tracking"]
    defaults = TrackingSettings()
    assert set(shipped) == {f.name for f in dataclasses.fields(defaults)}
    for name, value in shipped.items():
        assert (tuple(value) if isinstance(value, list) else value) == getattr(defaults, name), name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in shipped:
        assert f"`tracking.{name}`" in readme, name
    assert "FAXBOUNCE_RESULT_TIMEOUT" in readme
