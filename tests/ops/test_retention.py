"""Retention on SQLite and PostgreSQL: purge drops old raw bytes only; dry-run changes nothing; reprocess skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mailfactory import interfax_failure, plain
from sqlalchemy.engine import Engine

from processor.cli import main
from processor.config import Settings, load_settings
from processor.ops.retention import PURGE_INTERVAL, purge_due, purge_raw
from processor.run.pipeline import process_message
from processor.run.worker import housekeeping_jobs
from processor.store.inbound import Envelope, RawStore

NOW = datetime.now(UTC)


def _state(engine: Engine) -> dict[int, tuple[bool, str, str | None, int]]:
    """id -> (raw kept, status, subject, results)"""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT m.id, EXISTS (SELECT 1 FROM inbound_raw w WHERE w.inbound_message_id = m.id) AS kept, "
            "m.status, m.subject, "
            "(SELECT count(*) FROM fax_results r WHERE r.inbound_message_id = m.id) AS results "
            "FROM inbound_messages m ORDER BY m.id"))
        return {r.id: (bool(r.kept), r.status, r.subject, int(r.results)) for r in rows}


@pytest.fixture
def aged(engine: Engine) -> dict[str, int]:
    """Mails of several ages: two old processed ones, an old one never processed, a recent one."""
    store, settings = RawStore(engine), Settings()
    ids = {
        "old_failure": store.put(interfax_failure(code="3912"), Envelope("", ("a@x",), received_at=NOW - timedelta(
            days=120))).id,
        "old_plain": store.put(plain("old"), Envelope("", ("a@x",), received_at=NOW - timedelta(days=91))).id,
        "old_waiting": store.put(plain("waiting"), Envelope("", ("a@x",), received_at=NOW - timedelta(days=100))).id,
        "recent": store.put(interfax_failure(code="6017", label="話中", transaction_id="2"),
                            Envelope("", ("a@x",), received_at=NOW - timedelta(days=89))).id,
    }
    for name in ("old_failure", "old_plain", "recent"):
        process_message(engine, ids[name], settings)
    return ids


def test_dry_run_changes_nothing_and_purge_keeps_rows_and_results(engine: Engine, aged: dict[str, int]) -> None:
    before = _state(engine)
    report = purge_raw(engine, 90, dry_run=True)
    assert (report.mails, report.dry_run) == (2, True)
    assert report.bytes > 0 and "would drop the raw bytes of 2 mail(s)" in report.describe()
    assert _state(engine) == before

    report = purge_raw(engine, 90, batch=1)  # batches of one: the loop, not one big statement
    assert (report.mails, report.dry_run) == (2, False)
    after = _state(engine)
    for name in ("old_failure", "old_plain"):
        kept, status, subject, results = after[aged[name]]
        assert not kept
        assert (status, subject, results) == before[aged[name]][1:]  # row, header summary and results stay
    assert after[aged["old_failure"]][3] == 1
    assert after[aged["old_waiting"]] == before[aged["old_waiting"]]  # never processed: never purged
    assert after[aged["recent"]] == before[aged["recent"]]
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM failures")) == 2

    again = purge_raw(engine, 90)
    assert again.mails == 0 and again.describe().startswith("nothing to purge")


def test_purge_and_reprocess_commands(engine: Engine, aged: dict[str, int], monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    before = _state(engine)
    assert main(["purge", "--dry-run"]) == 0
    assert "would drop the raw bytes of 2 mail(s)" in capsys.readouterr().out
    assert _state(engine) == before
    assert main(["purge", "--days", "100", "--unrelated-days", "0", "--dry-run"]) == 0
    assert "would drop the raw bytes of 1 mail(s)" in capsys.readouterr().out  # old_failure, 120 days
    assert main(["purge", "--days", "100", "--dry-run"]) == 0  # and old_plain: unrelated, over 7 days
    assert "would drop the raw bytes of 2 mail(s)" in capsys.readouterr().out
    assert main(["purge"]) == 0
    assert "dropped the raw bytes of 2 mail(s)" in capsys.readouterr().out
    monkeypatch.setenv("FAXBOUNCE_RETENTION_RAW_DAYS", "0")
    monkeypatch.setenv("FAXBOUNCE_RETENTION_UNRELATED_RAW_DAYS", "0")
    assert main(["purge"]) == 0
    assert "kept forever" in capsys.readouterr().out

    purged = _state(engine)
    assert main(["reprocess", "--all"]) == 0
    out = capsys.readouterr().out
    assert "       2  reprocessed" in out  # old_waiting and recent
    assert "       2  skipped (raw bytes purged by retention; results kept)" in out
    after = _state(engine)
    for name in ("old_failure", "old_plain"):
        assert after[aged[name]] == purged[aged[name]]  # not turned into "raw bytes no longer stored" errors
    assert after[aged["old_waiting"]][1] == "processed"


def test_the_daemon_runs_it_once_a_day(engine: Engine, aged: dict[str, int]) -> None:
    settings = load_settings(environ={})
    (job,) = [job for job in housekeeping_jobs(settings) if job.name == "retention"]
    assert job.interval == PURGE_INTERVAL == 24 * 3600
    report = job.run(engine)
    assert report is not None and report.mails == 2
    report = job.run(engine)  # a second run (or a restarted worker): idempotent, finds nothing more
    assert report is not None and report.mails == 0
    off = load_settings(environ={"FAXBOUNCE_RETENTION_RAW_DAYS": "0", "FAXBOUNCE_RETENTION_UNRELATED_RAW_DAYS": "0"})
    assert purge_due(engine, off) is None


def test_unrelated_mail_loses_its_raw_bytes_after_a_week_fax_mail_keeps_them(engine: Engine) -> None:
    """Private by default (issue #14): a BCC recipe copies every outgoing mail; what is not about a fax is kept
    raw for `retention.unrelated_raw_days` (7) only, fax mail for `retention.raw_days` (90)."""
    store, settings = RawStore(engine), load_settings(environ={})
    assert (settings.retention.raw_days, settings.retention.unrelated_raw_days) == (90, 7)
    ids = {
        "unrelated_8d": store.put(plain("lunch?"), Envelope("", ("a@x",), received_at=NOW - timedelta(days=8))).id,
        "unrelated_6d": store.put(plain("minutes"), Envelope("", ("a@x",), received_at=NOW - timedelta(days=6))).id,
        "fax_30d": store.put(interfax_failure(code="3912"), Envelope("", ("a@x",), received_at=NOW - timedelta(
            days=30))).id,
        "waiting_8d": store.put(plain("not yet"), Envelope("", ("a@x",), received_at=NOW - timedelta(days=8))).id,
    }
    for name in ("unrelated_8d", "unrelated_6d", "fax_30d"):
        process_message(engine, ids[name], settings)
    before = _state(engine)
    report = purge_due(engine, settings)
    assert report is not None and report.mails == 1
    after = _state(engine)
    assert after[ids["unrelated_8d"]] == (False, *before[ids["unrelated_8d"]][1:])  # row and headers stay
    for name in ("unrelated_6d", "fax_30d", "waiting_8d"):
        assert after[ids[name]] == before[ids[name]], name
    with pytest.raises(ValueError):
        purge_raw(engine, 0)  # both rules off: nothing a purge may do
    assert purge_raw(engine, 0, unrelated_raw_days=5).mails == 1  # raw_days 0 keeps fax mail forever, not this
    assert _state(engine)[ids["fax_30d"]][0]


def test_a_negative_unrelated_retention_is_refused_in_one_line() -> None:
    from processor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"retention\.unrelated_raw_days"):
        load_settings(environ={"FAXBOUNCE_RETENTION_UNRELATED_RAW_DAYS": "-1"})
