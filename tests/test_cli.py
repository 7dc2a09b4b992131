"""The `faxbounce` command: classify's JSON contract, explain, ingest, reprocess, migrate."""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import free_port
from mailfactory import interfax_failure, plain

from processor.cli import main
from processor.store.db import create_db_engine

CONTRACT_KEYS = {"vendor", "code", "vendor_message", "outcome", "reason", "retryable", "fax_number", "recipient",
                 "transaction_id", "original_message_id"}


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    return db_url


def _rows(url: str, query: str) -> list[sa.Row]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)))
    finally:
        engine.dispose()


def test_classify_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failure, other = tmp_path / "failure.eml", tmp_path / "other.eml"
    failure.write_bytes(interfax_failure(number="0355550101", code="6017", label="話中"))
    other.write_bytes(plain())
    assert main(["classify", "--json", str(failure), str(other)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["source"] == str(failure) and first["kind"] == "interfax_result"
    assert len(first["results"]) == 1
    result = first["results"][0]
    assert set(result) >= CONTRACT_KEYS
    assert (result["vendor"], result["code"], result["outcome"], result["reason"], result["retryable"],
            result["fax_number"]) == ("interfax", "6017", "failed", "busy", True, "+81355550101")
    assert second == {"source": str(other), "kind": "unrelated", "detected_by": None, "trusted": None, "results": []}


def test_classify_reports_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(tmp_path / "missing.eml")]) == 1
    assert "missing.eml" in capsys.readouterr().err


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "3912", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert (entry["vendor"], entry["reason"], entry["retryable"]) == ("interfax", "invalid_number", False)
    assert main(["explain", "*** No recipients found ***"]) == 0
    assert "no_recipients" in capsys.readouterr().out
    assert main(["explain", "999999"]) == 1


def test_ingest_eml_mbox_maildir_and_skip_duplicates(cli_db: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(interfax_failure(code="3912"))
    box = mailbox.mbox(tmp_path / "box.mbox")
    box.add(interfax_failure(code="6017", label="話中", transaction_id="2"))
    box.add(plain("mbox mail"))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(interfax_failure(code="8021", label="無応答", transaction_id="3"))
    maildir.close()
    paths = [str(eml), str(tmp_path / "box.mbox"), str(tmp_path / "Maildir")]
    assert main(["ingest", *paths]) == 0
    assert main(["ingest", *paths]) == 0  # a second run stores nothing new
    out = capsys.readouterr().out
    assert "4  skipped (already stored)" in out
    rows = _rows(cli_db, "SELECT reason FROM failures ORDER BY reason")
    assert [r.reason for r in rows] == ["busy", "invalid_number", "no_answer"]
    assert len(_rows(cli_db, "SELECT id FROM inbound_messages")) == 4


def test_reprocess_is_idempotent(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(interfax_failure(code="3912"))
    assert main(["ingest", "--no-process", str(eml)]) == 0
    assert _rows(cli_db, "SELECT status FROM inbound_messages")[0].status == "received"
    assert main(["reprocess"]) == 0  # default: mail not yet processed successfully
    assert main(["reprocess", "--all"]) == 0
    assert main(["reprocess", "--since", "1h"]) == 0
    assert "1  reprocessed" in capsys.readouterr().out
    assert len(_rows(cli_db, "SELECT id FROM fax_results")) == 1
    assert _rows(cli_db, "SELECT status FROM inbound_messages")[0].status == "processed"


def test_bad_since_is_a_clear_error(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reprocess", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err


def test_bad_config_stops_with_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[smtp]\nport = -1\n")
    assert main(["--config", str(path), "serve"]) == 2
    assert "smtp.port" in capsys.readouterr().err


def test_hash_password_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from processor.receive.auth import verify_password

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["hash-password", "fax"]) == 0
    user, _, hashed = capsys.readouterr().out.strip().partition(":")
    assert user == "fax" and verify_password(b"s3cret", hashed)


# --- One line and the right exit code for every error a newcomer meets (issue #14 D6) ---------------------

def _faxbounce(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess, with no FAXBOUNCE_* setting inherited from the test run."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAXBOUNCE_") or k == "FAXBOUNCE_MIGRATIONS"}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "processor", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("faxbounce: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def _pg(url_tail: str, postgres_url: str) -> str:
    """A URL on the test server with another role or database (`role@/db`)."""
    from sqlalchemy.engine import make_url

    role, _, database = url_tail.partition("@/")
    return make_url(postgres_url).set(username=role, database=database).render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("faxbounce_no_such_role@/test", 'role faxbounce_no_such_role does not exist: create it (README "PostgreSQL")'),
        ("postgres@/faxbounce_no_such_db", "database faxbounce_no_such_db does not exist: createdb it"),
    ],
)
def test_missing_role_or_database_is_one_line(postgres_url: str, tmp_path: Path, tail: str, expected: str) -> None:
    for command in ("migrate", "serve"):
        result = _faxbounce(command, cwd=tmp_path, FAXBOUNCE_DATABASE_URL=_pg(tail, postgres_url))
        assert result.returncode == 2, result.stderr
        assert expected in _one_error_line(result)


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://faxbounce@127.0.0.1:{free_port()}/faxbounce"  # nothing listens there
    result = _faxbounce("migrate", cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url)
    assert result.returncode == 1
    assert _one_error_line(result) == (f"faxbounce: database {url}: not answering: start it or fix the host and "
                                       "port in database.url")


def test_schema_behind_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    for command in ("serve", "report"):
        result = _faxbounce(command, cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url, FAXBOUNCE_SMTP_PORT=str(free_port()))
        assert result.returncode == 2, result.stderr
        assert "run `faxbounce migrate`" in _one_error_line(result)


def test_port_in_use_is_one_line_and_spawns_no_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    assert _faxbounce("migrate", cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url).returncode == 0
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _faxbounce("serve", cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url, FAXBOUNCE_SMTP_PORT=str(port),
                            FAXBOUNCE_METRICS_PORT="0", FAXBOUNCE_PROCESSING_WORKERS="2")
    assert result.returncode == 1
    assert _one_error_line(result) == (f"faxbounce: smtp: cannot listen on 127.0.0.1 port {port}: Address already "
                                       "in use: stop the other process or set smtp.port")
    assert "worker" not in result.stdout + result.stderr  # none was spawned, so none crashed


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "cannot read: Is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00"), "not UTF-8 text (byte 0): is this the TOML settings file?"),
        (lambda p: None, "file not found"),
    ],
    ids=["directory", "binary", "missing"],
)
def test_unreadable_config_is_one_line(tmp_path: Path, make: Callable[[Path], object], expected: str) -> None:
    path = tmp_path / "faxbounce.toml"
    make(path)
    result = _faxbounce("--config", str(path), "check", "--offline", cwd=tmp_path)
    assert result.returncode == 2
    assert _one_error_line(result) == f"faxbounce: config: {path}: {expected}"


def test_misspelt_environment_variable_stops_start_up(tmp_path: Path) -> None:
    result = _faxbounce("serve", cwd=tmp_path, FAXBOUNCE_DATABSE_URL="postgresql+psycopg://x@db/faxbounce")
    assert result.returncode == 2
    assert _one_error_line(result) == ("faxbounce: config: FAXBOUNCE_DATABSE_URL: unknown environment variable "
                                       "(did you mean 'FAXBOUNCE_DATABASE_URL'?)")
    assert not (tmp_path / "var").exists()  # and no SQLite file was made in its place


def test_debug_log_level_shows_the_traceback(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://faxbounce@127.0.0.1:{free_port()}/faxbounce"
    result = _faxbounce("--log-level", "debug", "migrate", cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and result.stderr.splitlines()[-1].startswith("faxbounce: database ")


def test_check_says_where_the_settings_came_from(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text("[smtp]\nport = 2600\n")
    result = _faxbounce("--config", str(path), "check", "--offline", cwd=tmp_path,
                        FAXBOUNCE_DATABASE_URL=f"sqlite:///{tmp_path / 'none.sqlite3'}", FAXBOUNCE_METRICS_PORT="0")
    assert (f"ok    config    valid (defaults + {path} + environment: FAXBOUNCE_DATABASE_URL, FAXBOUNCE_METRICS_PORT)"
            in result.stdout.splitlines())


def test_help_lists_every_command() -> None:
    from processor.cli import _parser

    parser = _parser()
    commands = set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
    assert {"serve", "classify", "report", "webhooks", "numbers", "digest"} <= commands
    description = " ".join((parser.description or "").split())
    assert {c for c in commands if c not in description} == set()


#: Command lines, good and bad: the parser made for one command must read each as the whole parser does.
COMMAND_LINES = [
    ["classify", "a.eml"], ["classify", "--json", "a.eml", "b.eml"], ["--config", "c.toml", "classify", "-"],
    ["--config=c.toml", "--log-level", "debug", "explain", "3912"], ["--log-format", "json", "report", "--since", "7d"],
    ["webhooks", "retry", "--failed"], ["numbers", "block", "+81355550101", "--note", "closed"],
    ["reprocess", "--all"], ["digest", "--to", "a@example.com", "--to", "b@example.com"],
    ["--conf", "c.toml", "classify", "a.eml"],  # an abbreviation: argparse reads it, so the whole parser is made
    ["classify"], ["classify", "--jsn", "a.eml"], ["clasify", "a.eml"], ["webhooks"], ["webhooks", "resend"],
    ["--log-format", "xml", "classify", "a.eml"], ["report", "--format", "pdf"], ["--config"], [],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=[" ".join(a) or "(none)" for a in COMMAND_LINES])
def test_the_parser_for_one_command_reads_as_the_whole_parser(argv: list[str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from processor.cli import _parser, _parser_for

    def read(parser: argparse.ArgumentParser) -> tuple[object, str]:
        try:
            return vars(parser.parse_args(argv)), capsys.readouterr().err
        except SystemExit as exit_:
            return exit_.code, capsys.readouterr().err

    assert read(_parser_for(argv)) == read(_parser())


def test_the_parser_for_a_command_makes_only_its_parser() -> None:
    from processor.cli import _parser_for

    parser = _parser_for(["--config", "c.toml", "classify", "a.eml"])
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {"classify"}


def test_an_sqlite_library_without_returning_is_one_line(tmp_path: Path) -> None:
    """The real command under a Python whose SQLite says 3.31.1 (Ubuntu 20.04's): the version is the one thing
    replaced (a `sitecustomize` on PYTHONPATH), since no older library can be installed beside this one."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "sitecustomize.py").write_text("import sqlite3\nsqlite3.sqlite_version_info = (3, 31, 1)\n")
    url = f"sqlite:///{tmp_path / 'var' / 'f.sqlite3'}"
    for command in ("migrate", "serve"):
        result = _faxbounce(command, cwd=tmp_path, FAXBOUNCE_DATABASE_URL=url, FAXBOUNCE_SMTP_PORT=str(free_port()),
                            PYTHONPATH=str(tmp_path / "old"))
        assert result.returncode == 2, result.stderr
        assert _one_error_line(result).startswith(
            "faxbounce: database: the SQLite library this Python uses is 3.31.1; faxbounce needs 3.35 or newer")
    assert not (tmp_path / "var").exists()
