"""Fault report: drive the real daemon over SMTP from another process while things break, then count.

    .venv/bin/python bench/faults.py                 # every scenario, full size (make faults)
    .venv/bin/python bench/faults.py kill9 dupes     # some scenarios
    .venv/bin/python bench/faults.py --quick         # small sizes

For each scenario it prints: messages sent, acknowledged (250), temporary failures (4xx replies), permanent
failures (5xx), stored, lost (acknowledged but not stored: must be 0), duplicates (must be 0) and
unprocessed (still `received` after the daemon had time to drain: must be 0).

The load generator behaves like an MTA's queue: a 4xx or a broken connection means "try again later", so
every message is retried until it is acknowledged, refused with a 5xx, or the scenario's deadline passes.
Scenarios:
- kill9:    kill -9 the daemon during a 20,000-message load from 20 sessions, restart it.
- pgdown:   stop a throw-away PostgreSQL cluster (initdb/pg_ctl in a temporary directory) during the load,
            start it again; 0 × 5xx, the daemon stays up, one log line per state change, and it accepts
            again within 5 s of the database's return.
- locked:   another process holds SQLite's write lock for longer than the busy timeout: 451, no crash.
- diskfull: the SQLite database lives on a small tmpfs that fills up: 452, no crash (root only: mount).
- dupes:    every message delivered twice, the first time with the 250 lost (connection cut after the
            final dot): each stored once.
- sigterm:  SIGTERM during the load: new sessions get 421, the daemon exits 0 within 10 s; restarted,
            it processes what was left.
- nodes:    three daemons (nodes) on one throw-away PostgreSQL, fax submissions and their results sent to
            different nodes; one node killed with kill -9 mid-load and restarted, then the node holding the
            tracking sweep: every mail stored once, processed once (one result row per result mail), no
            `error`, every submission matched, and the sweep moves to a live node.
- abuse:    honest clients send small mails while, in turn, 16 sessions sit silent in DATA (SIZE=16 MiB),
            one client holds 100 sessions, 300 pipelined wrong AUTH lines arrive, and 26 MB mails of empty
            lines are sent (on SQLite, then on PostgreSQL); its own table compares the honest clients'
            latency with their usual p99.
- webhooks: failed-fax notifications make webhook events; the receiver answers 500 for a while, then refuses
            connections, then is slow (past the endpoint's timeout), and the daemon is killed with kill -9
            while a delivery is in flight, then restarted: every event is delivered at least once, always
            under one webhook-id, with a valid signature (sent = mails, stored = events delivered, lost =
            events never delivered, duplicates = events seen under two ids, unprocessed = still pending).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processor.store.db import create_db_engine, migrate, read_only  # noqa: E402

SEQ_RE = re.compile(rb"X-Fault-Seq: (\d+)")
SIZES = {"kill9": 20_000, "pgdown": 6_000, "locked": 2_000, "diskfull": 3_000, "dupes": 1_000,
         "sigterm": 6_000, "nodes": 20_000, "webhooks": 300}
QUICK = {"kill9": 600, "pgdown": 400, "locked": 300, "diskfull": 1_500, "dupes": 200,
         "sigterm": 600, "nodes": 1_200, "webhooks": 60}


@dataclass
class Report:
    scenario: str
    sent: int = 0
    acked: int = 0
    temporary: int = 0
    permanent: int = 0
    stored: int = 0
    lost: int = 0
    duplicates: int = 0
    unprocessed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.unprocessed == 0 and self.permanent == 0


# ---------------------------------------------------------------- the daemon


@dataclass
class Daemon:
    url: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)
    name: str = "daemon"
    config: Path | None = None

    def start(self, timeout: float = 30, **settings: str) -> None:
        self.starts += 1
        self.log = self.workdir / f"{self.name}-{self.starts}.log"
        env = dict(os.environ, FAXBOUNCE_DATABASE_URL=self.url, FAXBOUNCE_SMTP_PORT=str(self.port),
                   FAXBOUNCE_SMTP_HOST="127.0.0.1", FAXBOUNCE_PROCESSING_POLL_INTERVAL="0.2",
                   FAXBOUNCE_METRICS_PORT="0", FAXBOUNCE_SMTP_MAX_SESSIONS="200", PYTHONPATH=str(ROOT),
                   **self.env, **settings)
        env.pop("FAXBOUNCE_CONFIG", None)
        if self.config is not None:
            env["FAXBOUNCE_CONFIG"] = str(self.config)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "processor", "serve"], cwd=self.workdir,
                                            env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not listen within {timeout}s")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, time.monotonic() - started

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob(f"{self.name}-*.log")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the load (a separate process)


def message(scenario: str, seq: int, size: int = 1200) -> bytes:
    filler = (b"x" * 70 + b"\r\n") * max(0, (size - 300) // 72)
    return (f"From: load@example.com\r\nTo: fax-results@faxbounce.test\r\nSubject: {scenario} {seq}\r\n"
            f"Message-ID: <{scenario}.{seq}@bench.faxbounce>\r\nX-Fault-Seq: {seq}\r\n\r\n"
            f"message {seq}\r\n").encode() + filler


JST_OFFSET = "+0900"


def fax_message(scenario: str, seq: int) -> tuple[bytes, str, list[str]]:
    """Pairs of fax mails: seq 2k is the BCC copy of a submission to a number, seq 2k+1 InterFAX's result
    for it (every fifth one a failure). Returns the bytes, MAIL FROM and RCPT TO."""
    k, is_result = divmod(seq, 2)
    number = f"035{k:07d}"
    date = time.strftime("%a, %d %b %Y %H:%M:%S ", time.localtime()) + time.strftime("%z")
    if not is_result:
        raw = (f"From: taro@example.co.jp\r\nTo: {number}@fax.tc\r\nSubject: bench {k}\r\nDate: {date}\r\n"
               f"Message-ID: <{scenario}.{k}@example.co.jp>\r\nX-Fault-Seq: {seq}\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\nfax body {k}\r\n")
        return raw.encode(), "taro@example.co.jp", ["fax-copy@faxbounce.test"]
    code, verdict = ("3912-FAX番号が使用不可です", "失敗") if k % 5 == 0 else ("0", "成功")
    body = (f"InterFAXをご利用いただきありがとうございます。\r\nFAX送信が{verdict}しました。\r\n\r\n"
            f"送信先FAX番号: {number}\r\n送信結果: {code}\r\nトランザクションID: {90000000 + k}\r\n"
            f"件名: bench {k}\r\n")
    raw = (f"From: InterFAX <support@interfax.co.jp>\r\nTo: taro@example.co.jp\r\n"
           f"Subject: =?utf-8?b?{_b64(f'FAX送信が{verdict}しました -> {number}')}?=\r\nDate: {date}\r\n"
           f"Message-ID: <{scenario}.r{k}@fax.tc>\r\nX-Fault-Seq: {seq}\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           f"{_b64(body)}\r\n")
    return raw.encode(), "", ["taro@example.co.jp"]


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def run_load(port: int, scenario: str, count: int, sessions: int, deadline: float, acked: object,
             results: object, lose_first_reply: bool, seqs: list[int] | None = None, fax: bool = False) -> None:
    """Entry point of the load process: `sessions` threads share the messages; results go to the queue."""
    lock = threading.Lock()
    totals = {"temporary": 0, "permanent": 0, "acked": 0, "ack_times": []}

    def count_reply(code: int) -> None:
        with lock:
            if 400 <= code < 500:
                totals["temporary"] += 1
            elif code >= 500:
                totals["permanent"] += 1

    def session(seqs: list[int]) -> None:
        client: smtplib.SMTP | None = None
        for seq in seqs:
            raw, sender, recipients = (fax_message(scenario, seq) if fax
                                       else (message(scenario, seq), "load@example.com",
                                             ["fax-results@faxbounce.test"]))
            if lose_first_reply:
                _send_and_hang_up(port, raw)
            while time.monotonic() < deadline:
                try:
                    if client is None:
                        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
                        client.ehlo("load.example.com")
                    client.sendmail(sender, recipients, raw)
                except smtplib.SMTPConnectError as exc:  # 421 greeting while stopping or over the limit
                    count_reply(exc.smtp_code)
                    client = None
                    time.sleep(0.1)
                    continue
                except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused) as exc:
                    code = getattr(exc, "smtp_code", None) or 451
                    if isinstance(exc, smtplib.SMTPRecipientsRefused):
                        code = next(iter(exc.recipients.values()))[0]
                    count_reply(code)
                    if code >= 500:
                        break
                    with suppress(Exception):
                        client.rset()
                    time.sleep(0.05)
                    continue
                except (smtplib.SMTPException, OSError):
                    with suppress(Exception):
                        client.close()
                    client = None
                    time.sleep(0.1)
                    continue
                with lock:
                    totals["acked"] += 1
                    totals["ack_times"].append(time.time())
                    acked.value += 1
                break
        if client is not None:
            with suppress(Exception):
                client.quit()

    seqs = list(range(count)) if seqs is None else seqs
    threads = [threading.Thread(target=session, args=(seqs[i::sessions],)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(totals)


def _send_and_hang_up(port: int, raw: bytes) -> None:
    """A delivery whose 250 is lost: the whole mail and the final dot go out, then the client vanishes."""
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for command in (b"EHLO load\r\n", b"MAIL FROM:<load@example.com>\r\n",
                        b"RCPT TO:<fax-results@faxbounce.test>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            line = reader.readline()
            while line[3:4] == b"-":
                line = reader.readline()
        sock.sendall(raw + b".\r\n")
        time.sleep(0.01)  # let the dot arrive; never read the reply


@contextmanager
def load(port: int, scenario: str, count: int, sessions: int, seconds: float,
         lose_first_reply: bool = False, seqs: list[int] | None = None,
         fax: bool = False) -> Iterator[Callable[[], int]]:
    ctx = multiprocessing.get_context("spawn")
    acked, results = ctx.Value("i", 0), ctx.Queue()
    process = ctx.Process(target=run_load, args=(port, scenario, count, sessions, time.monotonic() + seconds,
                                                 acked, results, lose_first_reply, seqs, fax))
    process.start()
    box: dict[str, object] = {}

    def counter() -> int:
        return acked.value

    counter.totals = box  # type: ignore[attr-defined]
    try:
        yield counter
        box.update(results.get(timeout=seconds + 60))
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    load.last = box  # type: ignore[attr-defined]


def wait_until(predicate: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------- counting


def count_store(url: str, report: Report, drain_seconds: float = 120) -> None:
    engine = create_db_engine(url)
    try:
        def backlog() -> int:
            with engine.connect() as connection:
                return connection.scalar(sa.text("SELECT count(*) FROM inbound_messages WHERE status = 'received'"))

        wait_until(lambda: backlog() == 0, drain_seconds, step=0.5)
        report.unprocessed = backlog()
        seen: dict[int, int] = {}
        with engine.connect() as connection:
            for (raw,) in connection.execute(sa.text("SELECT raw FROM inbound_raw")):
                match = SEQ_RE.search(raw or b"")
                if match:
                    seq = int(match.group(1))
                    seen[seq] = seen.get(seq, 0) + 1
        report.stored = len(seen)
        report.duplicates = sum(n - 1 for n in seen.values())
    finally:
        engine.dispose()
    totals = load.last  # type: ignore[attr-defined]
    report.acked = int(totals.get("acked", 0))
    report.temporary = int(totals.get("temporary", 0))
    report.permanent = int(totals.get("permanent", 0))
    # Every acknowledged message is in the store unless lost; the load retries until acknowledged, so an
    # acknowledged count below `sent` means the deadline passed, which is reported, not hidden.
    report.lost = max(0, report.acked - report.stored) if report.acked else 0
    if report.acked < report.sent:
        report.notes.append(f"{report.sent - report.acked} never acknowledged before the deadline")


# ---------------------------------------------------------------- scenarios


def _sqlite(workdir: Path) -> str:
    url = f"sqlite:///{workdir / 'faxbounce.sqlite3'}"
    migrate(create_db_engine(url))
    return url


def scenario_kill9(workdir: Path, count: int, sessions: int = 20) -> Report:
    report = Report("kill -9 mid-load", sent=count)
    daemon = Daemon(_sqlite(workdir), free_port(), workdir)
    daemon.start()
    with load(daemon.port, "kill9", count, sessions, seconds=600) as acked:
        wait_until(lambda: acked() >= count * 0.3, 300)
        daemon.kill9()
        report.notes.append(f"killed at {acked()} acknowledged")
        time.sleep(0.5)
        daemon.start()
    count_store(daemon.url, report)
    code, _ = daemon.stop()
    report.notes.append(f"restart processed the backlog; clean exit {code}")
    return report


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own in a temporary directory, so it can be stopped and started."""

    def __init__(self, workdir: Path) -> None:
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        found = shutil.which("initdb")
        self.bin = Path(found).parent if found else (bindirs[-1] if bindirs else None)
        if self.bin is None or not (self.bin / "pg_ctl").exists():
            raise RuntimeError("initdb/pg_ctl not found (Debian package postgresql)")
        self.dir = workdir / "pgcluster"
        self.dir.mkdir()
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, cwd=self.dir,
                              check=False)
        if done.returncode:  # say what the tool said: a bare exit status tells nothing in a CI log
            log = (self.dir / "pg.log").read_text(errors="replace")[-2000:] if (self.dir / "pg.log").exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)}: exit {done.returncode}: "
                               f"{(done.stdout + done.stderr).decode(errors='replace').strip()}\n--- pg.log ---\n{log}")

    def start(self, fsync: bool = False) -> None:
        """`fsync=False` (most scenarios: they count mails, not time); the abuse scenario times commits."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "pg.log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'}",
                  "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-m", "fast", "stop")


def scenario_pgdown(workdir: Path, count: int, sessions: int = 20, outage: float = 3.0) -> Report:
    report = Report("PostgreSQL outage", sent=count)
    cluster = ThrowawayPostgres(workdir)
    cluster.start()
    try:
        migrate(create_db_engine(cluster.url))
        daemon = Daemon(cluster.url, free_port(), workdir)
        daemon.start()
        with load(daemon.port, "pgdown", count, sessions, seconds=600) as acked:
            wait_until(lambda: acked() >= count * 0.3, 300)
            cluster.stop()
            down_at = acked()
            time.sleep(outage)
            during = acked() - down_at
            restarting = time.time()
            cluster.start()
            back = time.time()
        totals = load.last  # type: ignore[attr-defined]
        # From the moment `pg_ctl -w` says the server is up to the first 250 after it began to start; 0 when mail
        # was accepted before `pg_ctl` noticed (it polls): the senders' retries can all land in that moment.
        after = [t for t in totals["ack_times"] if t >= restarting]
        recovery = max(0.0, min(after) - back) if after else float("nan")
        count_store(cluster.url, report)
        log = daemon.log_text()
        report.notes.append(f"{during} acknowledged while down; accepting again {recovery:.2f}s after restart")
        report.notes.append(f"daemon up throughout: {daemon.alive()}; state-change log lines: "
                            f"{log.count('store unavailable')} down / {log.count('store available again')} up")
        daemon.stop()
    finally:
        with suppress(Exception):
            cluster.stop()
    return report


def scenario_locked(workdir: Path, count: int, sessions: int = 10, hold: float = 7.0) -> Report:
    report = Report("SQLite locked", sent=count)
    daemon = Daemon(_sqlite(workdir), free_port(), workdir)
    daemon.start()
    db = workdir / "faxbounce.sqlite3"
    with load(daemon.port, "locked", count, sessions, seconds=300) as acked:
        wait_until(lambda: acked() >= count * 0.2, 120)
        import sqlite3

        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(hold)
        holder.execute("ROLLBACK")
        holder.close()
    count_store(daemon.url, report)
    report.notes.append(f"write lock held {hold:.0f}s (busy timeout 5s); daemon up throughout: {daemon.alive()}")
    daemon.stop()
    return report


@contextmanager
def tmpfs(workdir: Path, size: str) -> Iterator[Path]:
    mount = workdir / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True,
                   capture_output=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def scenario_diskfull(workdir: Path, count: int, sessions: int = 10) -> Report:
    report = Report("SQLite disk full", sent=count)
    with tmpfs(workdir, "3m") as mount:
        url = f"sqlite:///{mount / 'faxbounce.sqlite3'}"
        migrate(create_db_engine(url))
        daemon = Daemon(url, free_port(), workdir)
        daemon.start()
        with load(daemon.port, "diskfull", count, sessions, seconds=25):
            pass
        report.notes.append(f"daemon up throughout: {daemon.alive()}")
        # Space comes back (an operator freed some): the worker finishes what was stored.
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        count_store(url, report)
        daemon.stop()
    totals = load.last  # type: ignore[attr-defined]
    report.notes.append(f"{totals['temporary']} x 4xx once the 3 MiB file system filled")
    report.notes = [n for n in report.notes if "never acknowledged" not in n]
    report.notes.append(f"{report.sent - report.acked} waiting in the senders' queues (not lost: never acked)")
    return report


def scenario_dupes(workdir: Path, count: int, sessions: int = 10) -> Report:
    report = Report("duplicate delivery", sent=count)
    daemon = Daemon(_sqlite(workdir), free_port(), workdir)
    daemon.start()
    with load(daemon.port, "dupes", count, sessions, seconds=300, lose_first_reply=True):
        pass
    count_store(daemon.url, report)
    report.notes.append("each message sent twice, the first 250 never read")
    daemon.stop()
    return report


def scenario_sigterm(workdir: Path, count: int, sessions: int = 20) -> Report:
    report = Report("SIGTERM mid-load", sent=count)
    daemon = Daemon(_sqlite(workdir), free_port(), workdir)
    daemon.start()
    with load(daemon.port, "sigterm", count, sessions, seconds=600) as acked:
        wait_until(lambda: acked() >= count * 0.3, 300)
        code, seconds = daemon.stop()
        report.notes.append(f"exit code {code} after {seconds:.2f}s")
        if code != 0 or seconds > 10:
            report.permanent += 1_000_000  # make the row fail loudly
        time.sleep(0.5)
        daemon.start()
    count_store(daemon.url, report)
    daemon.stop()
    return report


def scenario_nodes(workdir: Path, count: int, nodes: int = 3, sessions: int = 8, lease: float = 10.0) -> Report:
    """Three daemons on one throw-away PostgreSQL: a submission and its result go to different nodes; one
    node is killed with kill -9 mid-load and restarted, then the node that holds the tracking sweep."""
    report = Report(f"{nodes} nodes, kill -9", sent=count)
    cluster = ThrowawayPostgres(workdir)
    cluster.start()
    try:
        migrate(create_db_engine(cluster.url))
        daemons = [Daemon(cluster.url, free_port(), workdir, name=f"node-{i + 1}",
                          env={"FAXBOUNCE_PROCESSING_NODE_NAME": f"node-{i + 1}",
                               "FAXBOUNCE_PROCESSING_WORKERS": "2",  # two workers per node: six claimers in all
                               "FAXBOUNCE_PROCESSING_LEASE_SECONDS": str(lease),
                               "FAXBOUNCE_PROCESSING_MAX_SECONDS_PER_MESSAGE": str(int(lease / 2))})
                   for i in range(nodes)]
        for daemon in daemons:
            daemon.start()
        with contextlib.ExitStack() as stack:
            counters = [stack.enter_context(load(d.port, "nodes", count, sessions, seconds=900, fax=True,
                                                 seqs=list(range(i, count, nodes))))
                        for i, d in enumerate(daemons)]
            acked = lambda: sum(c() for c in counters)  # noqa: E731
            wait_until(lambda: acked() >= count * 0.3, 600)
            daemons[0].kill9()
            report.notes.append(f"node-1 killed at {acked()} acknowledged")
            time.sleep(2)
            daemons[0].start()
            wait_until(lambda: acked() >= count * 0.6, 600)
            # The node whose running worker holds the sweep (not a worker of node-1's first life, whose lease
            # may not have run out yet).
            wait_until(lambda: _sweep_daemon(cluster.url, daemons) is not None, 120, step=0.5)
            victim = _sweep_daemon(cluster.url, daemons)
            if victim is not None:
                victim.kill9()
                killed_at = time.monotonic()
                moved = wait_until(lambda: _sweep_holder(cluster.url) not in (None, victim.name), 120, step=0.5)
                report.notes.append(f"sweep on {victim.name} killed: moved to {_sweep_holder(cluster.url)} in "
                                    f"{time.monotonic() - killed_at:.0f}s" if moved else "sweep did not move")
                if not moved:
                    report.permanent += 1_000_000  # make the row fail loudly
                victim.start()
            else:
                report.notes.append("no live node held the sweep")
                report.permanent += 1_000_000
        totals = [c.totals for c in counters]  # type: ignore[attr-defined]
        load.last = {key: sum(t.get(key, 0) for t in totals) for key in ("acked", "temporary", "permanent")}  # type: ignore[attr-defined]
        count_store(cluster.url, report, drain_seconds=600)
        _count_processing(cluster.url, report)
        for daemon in daemons:
            daemon.stop()
    finally:
        with suppress(Exception):
            cluster.stop()
    return report


def _sweep_daemon(url: str, daemons: list[Daemon]) -> Daemon | None:
    """The daemon one of whose worker processes holds the tracking sweep's lease."""
    holder = _sweep_lease(url)
    if not holder or "/" not in holder:
        return None
    pid = holder.rsplit("/", 1)[1]
    for daemon in daemons:
        if daemon.process is None or daemon.process.poll() is not None:
            continue
        for task in Path(f"/proc/{daemon.process.pid}/task").glob("*/children"):
            if pid in task.read_text().split():
                return daemon
    return None


def _sweep_holder(url: str) -> str | None:
    """The node whose worker holds the tracking sweep's live lease."""
    holder = _sweep_lease(url)
    return holder.split("/", 1)[0] if holder else None


def _sweep_lease(url: str) -> str | None:
    """The worker (`node/pid`) holding the tracking sweep's live lease, if any."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text("SELECT holder FROM job_leases WHERE name = 'tracking_sweep' "
                                             "AND lease_until > now()"))
    finally:
        engine.dispose()


def _count_processing(url: str, report: Report) -> None:
    """Processed exactly once: one result row per result mail, no `error`, every submission matched."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            def one(sql: str) -> int:
                return int(connection.scalar(sa.text(sql)) or 0)

            errors = one("SELECT count(*) FROM inbound_messages WHERE status = 'error'")
            results = one("SELECT count(*) FROM inbound_messages WHERE kind = 'interfax_result'")
            rows = one("SELECT count(*) FROM fax_results")
            retried = one("SELECT count(*) FROM inbound_messages WHERE attempts > 1")
            unmatched = one("SELECT count(*) FROM fax_submissions WHERE state = 'submitted'")
            submissions = one("SELECT count(*) FROM fax_submissions")
        report.notes.append(f"{results} result mails → {rows} result rows; {errors} error; "
                            f"{retried} attempted twice (held by a killed node); "
                            f"{submissions - unmatched}/{submissions} submissions matched")
        if errors or rows != results or unmatched:
            report.permanent += 1_000_000  # make the row fail loudly
    finally:
        engine.dispose()
# ---------------------------------------------------------------- abuse (issue #15)


@dataclass
class AbuseRow:
    attack: str
    mails: int = 0
    refused: int = 0
    p50: float = 0.0
    p99: float = 0.0
    usual_p99: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused == 0 and self.mails > 0 and self.p99 <= 2 * self.usual_p99 + 0.02


def _honest_load(port: int, stop: threading.Event, tls: bool, tag: str,
                 sessions: int = 4) -> tuple[list[float], int, int]:
    """Honest clients (from 127.0.0.1) sending small mails back to back; (latencies, 4xx/5xx or errors,
    250s given from SQLite's intake file, which name the mail by its SHA-256). `tag` makes each row's mails
    new: repeated bytes would be duplicates, answered without a write."""
    latencies: list[float] = []
    failures = [0]
    intake = [0]
    lock = threading.Lock()

    def run(n: int) -> None:
        seq = 0
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=("127.0.0.1", 0)) as client:
                    client.ehlo("honest.example.com")
                    if tls:
                        client.starttls(context=_insecure_tls())
                        client.ehlo("honest.example.com")
                        client.login("fax", "s3cret")
                    while not stop.is_set():
                        seq += 1
                        started = time.monotonic()
                        client.mail("load@example.com")
                        client.rcpt("fax-results@faxbounce.test")
                        code, reply = client.data(message(f"honest-{tag}-{n}", seq))
                        if code != 250:
                            raise smtplib.SMTPDataError(code, reply)
                        with lock:
                            latencies.append(time.monotonic() - started)
                            intake[0] += b"stored as sha256:" in reply
                        time.sleep(0.02)
            except (smtplib.SMTPException, OSError):
                with lock:
                    failures[0] += 1
                time.sleep(0.1)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(sessions)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(30)
    return latencies, failures[0], intake[0]


def _insecure_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def _measure(port: int, seconds: float, tls: bool, attack: Callable[[threading.Event], list[str]] | None,
             name: str, usual: float) -> AbuseRow:
    stop = threading.Event()
    box: dict[str, object] = {}
    tag = hashlib.sha256(name.encode()).hexdigest()[:8]
    honest = threading.Thread(target=lambda: box.update(result=_honest_load(port, stop, tls, tag)))
    honest.start()
    notes: list[str] = []
    if attack is not None:
        attacker = threading.Thread(target=lambda: notes.extend(attack(stop)), daemon=True)
        attacker.start()
    time.sleep(seconds)
    stop.set()
    honest.join(60)
    if attack is not None:
        attacker.join(60)
    latencies, failures, intake = box["result"]  # type: ignore[misc]
    if intake:
        notes.append(f"{intake} honest mail(s) answered from the intake file during a large commit")
    row = AbuseRow(name, len(latencies), failures, notes=notes)
    if latencies:
        ordered = sorted(latencies)
        row.p50 = statistics.median(ordered)
        row.p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    row.usual_p99 = usual or row.p99
    return row


def _session(port: int, source: str) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    reader = sock.makefile("rb")
    reader.readline()
    return sock, reader


def _reply(reader: object) -> bytes:
    line = reader.readline()  # type: ignore[attr-defined]
    while line[3:4] == b"-":
        line = reader.readline()  # type: ignore[attr-defined]
    return line


def attack_idle_data(port: int) -> Callable[[threading.Event], list[str]]:
    def attack(stop: threading.Event) -> list[str]:
        replies = []
        sessions = []
        for _ in range(16):
            with suppress(OSError):
                sock, reader = _session(port, "127.0.0.2")
                for command in (b"EHLO idle\r\n", b"MAIL FROM:<idle@example.net> SIZE=16777216\r\n",
                                b"RCPT TO:<fax-results@faxbounce.test>\r\n", b"DATA\r\n"):
                    sock.sendall(command)
                    reply = _reply(reader)
                replies.append(reply[:3].decode())
                sessions.append(sock)
        stop.wait()
        for sock in sessions:
            sock.close()
        return [f"16 silent DATA sessions from one address: {replies.count('354')} x 354, "
                f"{replies.count('452')} x 452 (a client books at most half the budget)"]
    return attack


def attack_hog(port: int) -> Callable[[threading.Event], list[str]]:
    def attack(stop: threading.Event) -> list[str]:
        greetings = []
        sessions = []
        for _ in range(100):
            with suppress(OSError):
                sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.3", 0))
                greetings.append(sock.recv(200)[:3].decode())
                sessions.append(sock)
        stop.wait()
        for sock in sessions:
            sock.close()
        return [f"one address opened 100 sessions: {greetings.count('220')} greeted, "
                f"{greetings.count('421')} x 421 (smtp.max_sessions_per_client)"]
    return attack


def attack_auth(port: int) -> Callable[[threading.Event], list[str]]:
    def attack(stop: threading.Event) -> list[str]:
        codes: dict[str, int] = {}
        started = time.monotonic()
        with suppress(OSError):
            sock, reader = _session(port, "127.0.0.4")
            sock.sendall(b"EHLO flood\r\n")
            _reply(reader)
            sock.sendall(b"STARTTLS\r\n")
            _reply(reader)
            tls = _insecure_tls().wrap_socket(sock)
            reader = tls.makefile("rb")
            tls.sendall(b"EHLO flood\r\n")
            _reply(reader)
            line = b"AUTH PLAIN " + base64.b64encode(b"\0fax\0wrong") + b"\r\n"
            tls.sendall(line * 300)
            for _ in range(300):
                code = _reply(reader)[:3].decode()
                codes[code] = codes.get(code, 0) + 1
            tls.close()
        return [f"300 pipelined wrong AUTH PLAIN in {time.monotonic() - started:.2f}s: "
                + ", ".join(f"{n} x {c}" for c, n in sorted(codes.items()))]
    return attack


def attack_empty_lines(port: int) -> Callable[[threading.Event], list[str]]:
    def attack(stop: threading.Event) -> list[str]:
        replies = []
        body = b"\r\n" * 13_000_000
        while not stop.is_set() and len(replies) < 3:
            with suppress(OSError):
                sock, reader = _session(port, "127.0.0.5")
                for command in (b"EHLO big\r\n", b"MAIL FROM:<big@example.net> SIZE=26100000\r\n",
                                b"RCPT TO:<fax-results@faxbounce.test>\r\n", b"DATA\r\n"):
                    sock.sendall(command)
                    _reply(reader)
                sock.sendall(f"Subject: empty {len(replies)}\r\n".encode() + body + b".\r\n")
                replies.append(_reply(reader)[:3].decode())
                sock.close()
        return [f"{len(replies)} mails of 13 million empty lines (26 MB): {', '.join(replies)}"]
    return attack


def _rss_note(daemon: Daemon) -> str:
    assert daemon.process is not None
    status = Path(f"/proc/{daemon.process.pid}/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return f"daemon peak RSS {peak / 1024:.0f} MiB"


def scenario_abuse(workdir: Path, seconds: float) -> list[AbuseRow]:
    rows: list[AbuseRow] = []
    daemon = Daemon(_sqlite(workdir), free_port(), workdir)
    daemon.start(FAXBOUNCE_PROCESSING_WORKERS="1")
    try:
        usual = _measure(daemon.port, seconds, False, None, "none (usual, SQLite)", 0.0)
        rows.append(usual)
        for name, attack in (("16 sessions silent in DATA", attack_idle_data),
                             ("one client holding 100 sessions", attack_hog),
                             ("26 MB mails of empty lines (SQLite)", attack_empty_lines)):
            rows.append(_measure(daemon.port, seconds, False, attack(daemon.port), name, usual.p99))
        rows[-1].notes.append(_rss_note(daemon))
    finally:
        daemon.stop()
    # The same big mails on PostgreSQL, where writers do not queue for one lock as they do on SQLite.
    cluster = ThrowawayPostgres(workdir)
    cluster.start(fsync=True)
    try:
        migrate(create_db_engine(cluster.url))
        daemon = Daemon(cluster.url, free_port(), workdir, name="daemon-pg")
        daemon.start(FAXBOUNCE_PROCESSING_WORKERS="1")
        try:
            usual = _measure(daemon.port, seconds, False, None, "none (usual, PostgreSQL)", 0.0)
            rows.append(usual)
            rows.append(_measure(daemon.port, seconds, False, attack_empty_lines(daemon.port),
                                 "26 MB mails of empty lines (PostgreSQL)", usual.p99))
            rows[-1].notes.append(_rss_note(daemon))
        finally:
            daemon.stop()
    finally:
        with suppress(Exception):
            cluster.stop()
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    from processor.receive.auth import hash_password

    tls_workdir = workdir / "tls"
    tls_workdir.mkdir()
    daemon = Daemon(_sqlite(tls_workdir), free_port(), tls_workdir)
    daemon.start(FAXBOUNCE_PROCESSING_WORKERS="1", FAXBOUNCE_SMTP_TLS_CERT=str(cert), FAXBOUNCE_SMTP_TLS_KEY=str(key),
                 FAXBOUNCE_SMTP_AUTH_USERS=f"fax:{hash_password('s3cret')}")
    try:
        usual = _measure(daemon.port, seconds, True, None, "none (usual, STARTTLS + AUTH)", 0.0)
        rows.append(usual)
        rows.append(_measure(daemon.port, seconds, True, attack_auth(daemon.port), "AUTH flood", usual.p99))
    finally:
        daemon.stop()
    return rows


def print_abuse_table(rows: list[AbuseRow]) -> None:
    print("| attack | honest mails | honest refused | p50 ms | p99 ms | usual p99 ms | within | notes |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r.attack} | {r.mails} | {r.refused} | {r.p50 * 1000:.1f} | {r.p99 * 1000:.1f} | "
              f"{r.usual_p99 * 1000:.1f} | {'yes' if r.ok else 'NO'} | {'; '.join(r.notes)} |")


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class PhasedReceiver:
    """A webhook receiver on a fixed port whose behaviour changes: `mode` is `fail` (500), `slow` (answers
    after `delay` seconds) or `ok`; `refuse()` closes the listening socket, `listen()` opens it again."""

    def __init__(self, port: int, delay: float = 3.0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.port, self.delay, self.mode = port, delay, "fail"
        self.requests: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                mode = owner.mode
                if mode == "slow":
                    time.sleep(owner.delay)
                status = 500 if mode == "fail" else 204
                if status == 204 and mode == "ok":  # only an answered 2xx counts as received
                    owner.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                with suppress(OSError):
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server_class, self._handler = ThreadingHTTPServer, Handler
        self._server: ThreadingHTTPServer | None = None
        self.listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/faxbounce"

    def listen(self) -> None:
        self._server = self._server_class(("127.0.0.1", self.port), self._handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def refuse(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def failed_fax_mail(seq: int) -> bytes:
    """An InterFAX Text-Japanese failure notification for fax number 03-5555-NNNN."""
    from email.mime.text import MIMEText
    from email.utils import format_datetime, make_msgid

    now = time.strftime("%Y/%m/%d %H:%M:%S")
    number = f"03-5{seq // 10000 % 10}{seq // 1000 % 10}{seq // 100 % 10}-{seq % 10000:04d}"
    lines = ["FAX送信が失敗しました。", "", f"送信先FAX番号: {number}", "送信結果: 3912-FAX番号が使用不可です",
             f"トランザクションID: {880000000 + seq}", f"受付日時: {now}", f"完了日時: {now}", f"件名: bench {seq}"]
    message = MIMEText("\n".join(lines) + "\n", "plain", "utf-8")
    message["From"] = "InterFAX <support@interfax.co.jp>"
    message["To"] = "taro@example.co.jp"
    message["Subject"] = f"FAX送信が失敗しました -> {number}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="fax.tc")
    message["X-Fault-Seq"] = str(seq)
    return message.as_bytes()


def scenario_webhooks(workdir: Path, count: int) -> Report:
    from standardwebhooks import Webhook, WebhookVerificationError

    report = Report("webhooks: 500, refused, slow, kill -9", sent=count)
    receiver = PhasedReceiver(free_port())
    config = workdir / "faxbounce.toml"
    config.write_text(f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{WEBHOOK_SECRET}"\ntimeout = 1.0\n\n'
                      "[delivery]\ninterval = 0.2\nfirst_retry = 0.5\nmax_retry_interval = 2.0\n", encoding="utf-8")
    daemon = Daemon(_sqlite(workdir), free_port(), workdir, config=config)
    daemon.start()
    engine = read_only(create_db_engine(daemon.url))  # readers never take SQLite's write lock

    def outbox(state: str | None = None) -> int:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text("SELECT count(*) FROM notify_outbox" + (
                " WHERE state = :s" if state else "")), {"s": state}) or 0)

    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=30) as client:
        for seq in range(count):
            client.sendmail("", ["fax-results@faxbounce.test"], failed_fax_mail(seq))
            report.acked += 1
    wait_until(lambda: outbox() >= count, 120, step=0.2)
    time.sleep(3)  # receiver answers 500
    receiver.refuse()
    time.sleep(3)  # connections refused
    receiver.mode = "slow"
    receiver.listen()
    time.sleep(1.5)  # a POST is waiting for its answer now: kill the daemon mid-dispatch
    daemon.kill9()
    report.notes.append("killed -9 while the receiver was slow")
    daemon.start()
    time.sleep(3)
    receiver.mode = "ok"
    wait_until(lambda: outbox("delivered") >= outbox() > 0, 300, step=0.5)
    with engine.connect() as connection:
        events = {row.event_id: json.loads(row.body)["data"]["mail_id"] for row in connection.execute(
            sa.text("SELECT event_id, body FROM notify_outbox WHERE event_type = 'fax.failed'"))}
        report.unprocessed = int(connection.scalar(sa.text(
            "SELECT count(*) FROM notify_outbox WHERE state <> 'delivered'")) or 0)
    engine.dispose()
    daemon.stop()
    receiver.refuse()
    received: dict[int, set[str]] = {}
    bad = 0
    verifier = Webhook(WEBHOOK_SECRET)
    for headers, body in receiver.requests:
        try:
            data = verifier.verify(body, headers)
        except WebhookVerificationError:
            bad += 1
            continue
        received.setdefault(data["data"]["mail_id"], set()).add(headers["webhook-id"])
    delivered_ids = {i for ids in received.values() for i in ids}
    report.stored = len(delivered_ids & set(events))
    report.lost = len(set(events) - delivered_ids) + max(0, count - len(events))
    report.duplicates = sum(1 for ids in received.values() if len(ids) > 1)
    report.permanent = bad
    repeats = len(receiver.requests) - len(delivered_ids)
    report.notes.append(f"{len(events)} events, {len(receiver.requests)} deliveries answered 2xx "
                        f"({repeats} repeats under the same id), {bad} bad signatures")
    return report


SCENARIOS: dict[str, Callable[..., Report]] = {
    "kill9": scenario_kill9,
    "pgdown": scenario_pgdown,
    "locked": scenario_locked,
    "diskfull": scenario_diskfull,
    "dupes": scenario_dupes,
    "sigterm": scenario_sigterm,
    "nodes": scenario_nodes,
    "webhooks": scenario_webhooks,
}


def run(name: str, count: int) -> Report:
    with tempfile.TemporaryDirectory(prefix=f"faxbounce-{name}-") as tmp:
        workdir = Path(tmp)
        if os.geteuid() == 0:
            os.chmod(workdir, 0o755)
        return SCENARIOS[name](workdir, count)


def print_table(reports: list[Report]) -> None:
    print("| scenario | sent | 250 | 4xx | 5xx | stored | lost | duplicates | unprocessed | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in reports:
        print(f"| {r.scenario} | {r.sent} | {r.acked} | {r.temporary} | {r.permanent} | {r.stored} | {r.lost} | "
              f"{r.duplicates} | {r.unprocessed} | {'; '.join(r.notes)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, "abuse", []], default=[], metavar="SCENARIO")
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute in all)")
    args = parser.parse_args()
    names = args.scenarios or [*SCENARIOS, "abuse"]
    sizes = QUICK if args.quick else SIZES
    reports = []
    abuse: list[AbuseRow] = []
    for name in names:
        if name == "abuse":
            seconds = 3.0 if args.quick else 8.0
            print(f"running abuse ({seconds:.0f} s per attack)…", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="faxbounce-abuse-") as tmp:
                if os.geteuid() == 0:
                    os.chmod(tmp, 0o755)  # the throw-away PostgreSQL runs as postgres
                abuse = scenario_abuse(Path(tmp), seconds)
            continue
        if name == "diskfull" and os.geteuid() != 0:
            print(f"skipping {name}: mounting a tmpfs needs root", file=sys.stderr)
            continue
        started = time.monotonic()
        print(f"running {name} ({sizes[name]} messages)…", file=sys.stderr, flush=True)
        reports.append(run(name, sizes[name]))
        print(f"  {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    if reports:
        print_table(reports)
    if abuse:
        print()
        print_abuse_table(abuse)
    return 0 if all(r.ok for r in reports) and all(r.ok for r in abuse) else 1


if __name__ == "__main__":
    raise SystemExit(main())
