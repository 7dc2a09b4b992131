"""The `faxbounce` command: classify's JSON contract, explain, ingest, reprocess, migrate."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa
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
