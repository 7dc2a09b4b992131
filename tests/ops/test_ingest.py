"""Backfill: mbox, maildir and a real IMAP server (dovecot), resumable, read-only, with progress and a summary."""

from __future__ import annotations

import imaplib
import io
import mailbox
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import free_port
from mailfactory import interfax_failure, plain
from ops.dovecot import PASSWORD, USER, Dovecot, dovecot_binary, start_dovecot

from processor.cli import main
from processor.receive.ingest import Progress
from processor.store.db import create_db_engine

INBOX = [interfax_failure(code="3912", transaction_id="11"), plain("inbox mail")]
ARCHIVE = [interfax_failure(code="6017", label="話中", transaction_id="21"),
           interfax_failure(number="0355550202", code="6017", label="話中", transaction_id="22"),
           interfax_failure(code="8021", label="無応答", transaction_id="23")]


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    monkeypatch.delenv("FAXBOUNCE_IMAP_PASSWORD", raising=False)
    assert main(["migrate"]) == 0
    return db_url


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        pytest.skip("dovecot is not installed: the IMAP backfill test needs Debian's dovecot-imapd "
                    "(apt-get install dovecot-imapd; .ci/run installs it in CI)")
    root = Path(tempfile.mkdtemp(prefix="faxbounce-dovecot-"))
    server = start_dovecot(binary, root, free_port(), {"": INBOX, "Archive": ARCHIVE})
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _rows(url: str, query: str) -> list[sa.Row]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)))
    finally:
        engine.dispose()


def _table(out: str) -> dict[tuple[str, str], tuple[int, int]]:
    """The summary table printed at the end: (kind, reason) -> (mails, results)."""
    table: dict[tuple[str, str], tuple[int, int]] = {}
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"kind\s+reason\s+mails\s+results$", line))
    for line in lines[start + 2:]:
        fields = line.split()
        if fields[0] == "total":
            table[("total", "")] = (int(fields[1]), int(fields[2]))
            break
        table[(fields[0], fields[1])] = (int(fields[2]), int(fields[3]))
    return table


def _flags(server: Dovecot, folder: str) -> list[bytes]:
    client = imaplib.IMAP4("127.0.0.1", server.port)
    try:
        client.login(USER, PASSWORD)
        client.select(folder, readonly=True)
        _status, data = client.fetch("1:*", "(FLAGS)")
        return [item for item in data if isinstance(item, bytes)]
    finally:
        client.logout()


def test_ingest_from_imap_is_read_only_and_resumable(cli_db: str, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # A URL's own folder wins; --folder is for URLs that name none.
    assert main(["ingest", dovecot.url("INBOX"), dovecot.url(), "--folder", "Archive"]) == 0
    captured = capsys.readouterr()
    assert "       5  stored" in captured.out
    assert _table(captured.out) == {
        ("interfax_result", "busy"): (2, 2),
        ("interfax_result", "invalid_number"): (1, 1),
        ("interfax_result", "no_answer"): (1, 1),
        ("unrelated", "-"): (1, 0),
        ("total", ""): (5, 4),
    }
    assert "ingest: 5/5 mails (100%)" in captured.err  # not a terminal: plain progress lines
    assert PASSWORD not in captured.out + captured.err

    peers = [r.peer for r in _rows(cli_db, "SELECT peer FROM inbound_messages ORDER BY id")]
    base = f"ingest:imap://{USER}@127.0.0.1:{dovecot.port}"
    assert peers == [f"{base}/INBOX;UID=1", f"{base}/INBOX;UID=2", f"{base}/Archive;UID=1",
                     f"{base}/Archive;UID=2", f"{base}/Archive;UID=3"]
    reasons = sorted(r.reason for r in _rows(cli_db, "SELECT reason FROM failures"))
    assert reasons == ["busy", "busy", "invalid_number", "no_answer"]
    # EXAMINE and BODY.PEEK[]: nothing was marked \Seen (or anything else) on the server.
    assert all(b"\\Seen" not in line for line in _flags(dovecot, "INBOX") + _flags(dovecot, "Archive"))

    # The password may come from the environment instead of the URL; a second run stores nothing.
    monkeypatch.setenv("FAXBOUNCE_IMAP_PASSWORD", PASSWORD)
    assert main(["ingest", dovecot.url("Archive", password=False)]) == 0
    assert "       3  skipped (already stored)" in capsys.readouterr().out
    assert len(_rows(cli_db, "SELECT id FROM inbound_messages")) == 5


def test_ingest_imap_errors_are_named(cli_db: str, dovecot: Dovecot, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", dovecot.url("NoSuchFolder")]) == 1
    assert "NoSuchFolder" in capsys.readouterr().err
    wrong = f"imap://{USER}:wrong@127.0.0.1:{dovecot.port}/INBOX"
    assert main(["ingest", wrong]) == 1
    err = capsys.readouterr().err
    assert "AUTHENTICATIONFAILED" in err or "Authentication failed" in err
    assert ":wrong@" not in err  # the password is never printed
    assert main(["ingest", f"imap://{USER}@127.0.0.1:{free_port()}/INBOX"]) == 1
    assert "cannot connect" in capsys.readouterr().err


def test_ingest_mbox_and_maildir_with_summary(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for raw in ARCHIVE:
        box.add(raw)
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for raw in INBOX:
        maildir.add(raw)
    maildir.close()
    assert main(["ingest", str(tmp_path / "archive.mbox"), str(tmp_path / "Maildir")]) == 0
    captured = capsys.readouterr()
    assert _table(captured.out)[("interfax_result", "busy")] == (2, 2)
    assert _table(captured.out)[("total", "")] == (5, 4)
    assert "ingest: 5/5 mails (100%)" in captured.err
    # Interrupted half-way? A re-run skips what is stored and stores the rest.
    with create_db_engine(cli_db).begin() as connection:
        connection.execute(sa.text("DELETE FROM inbound_messages WHERE id > 2"))
    assert main(["ingest", str(tmp_path / "archive.mbox"), str(tmp_path / "Maildir")]) == 0
    out = capsys.readouterr().out
    assert "       2  skipped (already stored)" in out and "       3  stored" in out
    assert _table(out) == {("interfax_result", "invalid_number"): (1, 1), ("interfax_result", "no_answer"): (1, 1),
                           ("unrelated", "-"): (1, 0), ("total", ""): (3, 2)}
    assert len(_rows(cli_db, "SELECT id FROM inbound_messages")) == 5


def test_ingest_missing_path_is_reported(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "nope.mbox")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_progress_bar_on_a_terminal() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(10, stream=stream, tty=True, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 0.5
        progress.advance()
    assert stream.getvalue().startswith("\r\033[K[")
    last = stream.getvalue().rsplit("\r\033[K", 1)[1]
    assert last == "[############..................] 4/10  40% 2.0 mails/s ETA 0:00:03"
    now[0] += 3
    progress.advance(6)
    progress.finish()
    assert stream.getvalue().endswith("10/10 100% 2.0 mails/s ETA 0:00:00\n")


def test_progress_lines_when_not_a_terminal() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(100, stream=stream, tty=False, every=5.0, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 0.1
        progress.advance()
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "ingest: 1/100 mails (1%), 10.0 mails/s, ETA 0:00:10"
    assert lines[-1] == "ingest: 100/100 mails (100%), 10.0 mails/s, ETA 0:00:00"
    assert len(lines) == 3  # at the start, once after 5 s, and the final line


# --- issue #15: a tree the operator does not control ----------------------------------------------------------


def test_ingest_skips_symlinks_that_leave_the_tree(cli_db: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "shadow"  # stands for /etc/shadow: outside the tree named on the command line
    secret.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
    tree = tmp_path / "mails"
    tree.mkdir()
    mail = interfax_failure(code="3912")
    (tree / "a.eml").write_bytes(mail)
    (tree / "shadow.eml").symlink_to(secret)
    (tree / "outside-dir").symlink_to(tmp_path, target_is_directory=True)
    (tree / "again.eml").symlink_to(tree / "a.eml")  # inside the tree: read, and the same bytes are stored once
    assert main(["ingest", str(tree)]) == 0
    captured = capsys.readouterr()
    assert "       2  skipped (symlink leaving the tree)" in captured.out
    assert "       1  stored" in captured.out and "       1  skipped (already stored)" in captured.out
    assert f"{tree / 'shadow.eml'}: skipped: a symbolic link to {secret}" in captured.err
    assert [r.size for r in _rows(cli_db, "SELECT size FROM inbound_messages")] == [len(mail)]
    assert not _rows(cli_db, "SELECT inbound_message_id FROM inbound_raw WHERE raw LIKE '%secret-hash%'")


def test_ingest_skips_a_fifo_instead_of_hanging(cli_db: str, tmp_path: Path) -> None:
    tree = tmp_path / "mails"
    tree.mkdir()
    os.mkfifo(tree / "pipe.eml")  # nobody ever writes: opening it to read would block forever
    (tree / "b.eml").write_bytes(plain("after the pipe"))
    result = subprocess.run([sys.executable, "-m", "processor", "ingest", str(tree)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path, env={**os.environ, "FAXBOUNCE_DATABASE_URL": cli_db})
    assert result.returncode == 0, result.stderr
    assert "       1  skipped (not a regular file)" in result.stdout and "       1  stored" in result.stdout
    assert "pipe.eml: skipped: not a regular file" in result.stderr


def test_ingest_skips_and_counts_mails_over_the_size_limit(cli_db: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    small, large = plain("small"), plain("large", body="x" * 5000 + "\n")
    (tmp_path / "small.eml").write_bytes(small)
    (tmp_path / "large.eml").write_bytes(large)
    box = mailbox.mbox(tmp_path / "box.mbox")
    box.add(large)
    box.add(plain("small in mbox"))
    box.close()
    limit = len(large) - 1
    paths = [str(tmp_path / name) for name in ("small.eml", "large.eml", "box.mbox")]
    assert main(["ingest", "--max-size", str(limit), *paths]) == 0
    captured = capsys.readouterr()
    assert "       2  skipped (too large)" in captured.out and "       2  stored" in captured.out
    assert f"large.eml: skipped: {len(large)} bytes, over the limit of {limit} bytes" in captured.err
    assert max(r.size for r in _rows(cli_db, "SELECT size FROM inbound_messages")) < limit
    # Without --max-size the SMTP side's limit applies: the same mail is refused there and here.
    monkeypatch.setenv("FAXBOUNCE_SMTP_MAX_MESSAGE_SIZE", str(limit))
    assert main(["ingest", str(tmp_path / "large.eml")]) == 0
    assert "       1  skipped (too large)" in capsys.readouterr().out
    assert main(["ingest", "--max-size", "0", str(tmp_path / "large.eml")]) == 2
    assert "--max-size" in capsys.readouterr().err


def test_an_unreadable_mail_in_a_maildir_is_reported_and_the_rest_stored(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    keys = [maildir.add(raw) for raw in ARCHIVE]
    maildir.close()
    # The middle mail cannot be opened (a dangling link: removed by the MUA since, or a broken restore).
    broken = next((tmp_path / "Maildir" / "new").glob(keys[1] + "*"))
    broken.unlink()
    broken.symlink_to(tmp_path / "Maildir" / "tmp" / "gone")
    assert main(["ingest", str(tmp_path / "Maildir")]) == 1
    captured = capsys.readouterr()
    assert "       1  failed (unreadable)" in captured.out and "       2  stored" in captured.out
    assert f"{broken}: failed: No such file or directory" in captured.err
    assert "Traceback" not in captured.err
    assert "1 mail(s) could not be read or stored" in captured.err
    assert len(_rows(cli_db, "SELECT id FROM inbound_messages")) == 2
