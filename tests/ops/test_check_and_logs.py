"""`faxbounce check` exit codes, and JSON log lines that carry the mail id and never a mail body."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from daemonctl import Daemon, free_port, wait_until
from mailfactory import interfax_failure, plain

from processor.cli import main
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.setenv("FAXBOUNCE_METRICS_PORT", str(free_port()))  # nothing listens there
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    return db_url


def test_check_offline(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    engine = create_db_engine(env)
    assert main(["check", "--offline"]) == 1  # not migrated
    out = capsys.readouterr().out  # SQLite: no file yet; PostgreSQL: an empty schema
    assert "FAIL  database  no database file" in out or "FAIL  database  schema at nothing" in out
    migrate(engine)
    assert main(["check", "--offline"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["ok", "config"], ["ok", "database"], ["ok", "backlog"]]

    RawStore(engine).put(plain(), Envelope("", ("a@x",)))
    monkeypatch.setenv("FAXBOUNCE_METRICS_MAX_BACKLOG", "1")
    assert main(["check", "--offline", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["failing"] == ["backlog"]
    assert document["checks"]["backlog"]["data"] == {"messages": 1, "max": 1}
    engine.dispose()


def test_check_without_a_daemon_fails_on_the_worker(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    migrate(create_db_engine(env))
    assert main(["check"]) == 1
    assert "FAIL  worker    daemon not reachable at http://127.0.0.1:" in capsys.readouterr().out


def test_check_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[metrics]\nport = 70000\n")
    assert main(["--config", str(path), "check"]) == 2
    assert "metrics.port" in capsys.readouterr().err
    path.write_text('[logging]\nformat = "xml"\n')
    assert main(["--config", str(path), "check", "--offline"]) == 2
    assert "logging.format" in capsys.readouterr().err
    missing = tmp_path / "none.sqlite3"
    path.write_text(f'[database]\nurl = "sqlite:///{missing}"\n')
    assert main(["--config", str(path), "check", "--offline"]) == 1
    assert "no database file" in capsys.readouterr().out
    assert not missing.exists()  # a check never creates a database


def test_check_asks_the_running_daemon(db_url: str, daemon_factory: Callable[..., Daemon],
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if "postgresql" in db_url:
        pytest.skip("the daemon round trip does not depend on the backend (covered by test_metrics)")
    daemon = daemon_factory(db_url, ("--log-format", "json"))
    env = {"FAXBOUNCE_DATABASE_URL": db_url, "FAXBOUNCE_METRICS_PORT": str(daemon.metrics_port)}
    result = subprocess.run([sys.executable, "-m", "processor", "check"], env={**_base_env(), **env},
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    worker    alive (daemon at http://127.0.0.1:" in result.stdout
    assert "same database)" in result.stdout

    # JSON logs: one object per line, the mail id on lines about a mail, no mail body.
    marker = "body-marker-7f3a"
    failure = interfax_failure(code="3912")
    assert daemon.send(failure)[0] == 250
    assert daemon.send(failure)[0] == 250  # "delivered again", logged by the SMTP side
    assert daemon.send(plain("a subject", body=f"secret {marker}\n"))[0] == 250
    assert wait_until(lambda: "message 2 processed" in daemon.log.read_text())
    assert daemon.stop() == 0
    text = daemon.log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(records) >= 6
    assert not [line for line in text.splitlines() if line.strip() and not line.startswith("{")
                and "warnings.warn" not in line]
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record)
    processed = {r["mail_id"]: r for r in records if re.match(r"message \d+ processed", r["message"])}
    assert set(processed) == {1, 2}
    assert processed[1]["process"].startswith("worker") and processed[1]["logger"] == "processor.run.pipeline"
    again = [r for r in records if "delivered again" in r["message"]]
    assert again and again[0]["mail_id"] == 1 and again[0]["logger"] == "processor.receive.smtp"
    assert marker not in text and "FAX番号" not in text


def test_check_notices_a_daemon_that_serves_another_database(
        db_url: str, daemon_factory: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #14 (c): two instances on one host; this configuration's metrics.port reaches the other one."""
    if "postgresql" in db_url:
        pytest.skip("the identity of each backend is tested in tests/store/test_stats.py")
    daemon = daemon_factory(db_url)
    ours = f"sqlite:///{tmp_path / 'ours.sqlite3'}"
    migrate(create_db_engine(ours))
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    monkeypatch.setenv("FAXBOUNCE_METRICS_PORT", str(daemon.metrics_port))
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", ours)
    assert main(["check"]) == 1
    worker = capsys.readouterr().out.splitlines()[-1]
    assert worker.startswith("FAIL  worker    the daemon at http://127.0.0.1:")
    assert "serves another database" in worker and "metrics.port" in worker
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url.replace("sqlite:///", "sqlite:///" + "/."))  # same file
    assert main(["check"]) == 0
    assert "same database)" in capsys.readouterr().out


def test_cli_json_logs(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    if "postgresql" in db_url:
        pytest.skip("log format does not depend on the backend")
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.setenv("FAXBOUNCE_LOGGING_FORMAT", "json")  # the config key, as well as --log-format
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    eml = tmp_path / "one.eml"
    eml.write_bytes(interfax_failure(code="3912"))
    assert main(["ingest", str(eml)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(r.get("mail_id") == 1 and "processed" in r["message"] for r in lines)


def _base_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("FAXBOUNCE_CONFIG", None)
    return env
