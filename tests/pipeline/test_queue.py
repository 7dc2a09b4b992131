"""The work queue shared by leases, singleton-job leases and per-key record locks, on both backends."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mailfactory import interfax_failure, plain
from sqlalchemy.engine import Engine

import processor.run.pool as pool_module
import processor.run.worker as worker_module
from processor.config import ProcessingSettings, Settings
from processor.run.giveway import ACTIVE_SECONDS, YIELD_SECONDS, GiveWay
from processor.run.jobs import Job, JobRunner
from processor.run.pipeline import Pipeline
from processor.run.worker import drain
from processor.store.db import session_scope
from processor.store.inbound import Envelope, RawStore, WorkQueue
from processor.store.locks import JobLeases, lock_keys
from processor.store.models import FaxResultRow, InboundMessage, InboundRaw

SETTINGS = Settings()


def _store(engine: Engine, raw: bytes) -> int:
    return RawStore(engine).put(raw, Envelope("sender@example.com", ("fax@faxbounce.test",))).id


def _row(engine: Engine, message_id: int) -> InboundMessage:
    with session_scope(engine) as session:
        return session.get_one(InboundMessage, message_id)


def test_claims_by_two_workers_never_overlap_and_count_one_attempt(engine: Engine) -> None:
    ids = [_store(engine, plain(f"m{i}")) for i in range(6)]
    first, second = WorkQueue(engine, "node-a/1"), WorkQueue(engine, "node-b/1")
    taken_a = [m.id for m in first.claim(4)]
    taken_b = [m.id for m in second.claim(4)]
    assert taken_a == ids[:4] and taken_b == ids[4:]
    assert first.claim(4) == [] and second.claim(4) == []  # everything is leased
    row = _row(engine, ids[0])
    assert (row.attempts, row.claimed_by) == (1, "node-a/1") and row.lease_until is not None


def test_concurrent_claimers_take_each_mail_once(engine: Engine) -> None:
    ids = {_store(engine, plain(f"c{i}")) for i in range(60)}
    taken: list[list[int]] = [[] for _ in range(4)]

    def claim_all(index: int) -> None:
        queue = WorkQueue(engine, f"node/{index}")
        while mails := queue.claim(3):
            taken[index].extend(m.id for m in mails)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [i for part in taken for i in part]
    assert sorted(every) == sorted(ids)  # each mail claimed exactly once across the claimers
    with engine.connect() as connection:
        assert set(connection.scalars(sa.select(InboundMessage.attempts))) == {1}


def test_retried_mail_is_claimed_alone_before_fresh_mail(engine: Engine) -> None:
    ids = [_store(engine, plain(f"r{i}")) for i in range(5)]
    with session_scope(engine) as session:
        session.get_one(InboundMessage, ids[3]).attempts = 1  # went through a crash before
    queue = WorkQueue(engine, "node/1")
    assert [m.id for m in queue.claim(50)] == [ids[3]]
    assert [m.id for m in queue.claim(50)] == ids[:3] + ids[4:]


def test_between_its_looks_for_unfinished_mail_a_claim_is_one_statement_and_never_batches_one(
        engine: Engine) -> None:
    """Unfinished mail is looked for first once every UNFINISHED_EVERY_SECONDS, and whenever nothing fresh
    waits; in between a claim takes only mails never attempted, so an unfinished one still goes alone."""
    ids = [_store(engine, plain(f"u{i}")) for i in range(6)]
    queue = WorkQueue(engine, "node/1")
    queue.UNFINISHED_EVERY_SECONDS = 3600  # not due again until the end of the test (a slow machine too)
    assert [m.id for m in queue.claim(1)] == [ids[0]]  # the first look: none unfinished, then the oldest fresh
    with session_scope(engine) as session:
        session.get_one(InboundMessage, ids[2]).attempts = 1  # went through a crash meanwhile
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert [m.id for m in queue.claim(10)] == [ids[1], *ids[3:]]  # not the unfinished one, one statement
        assert len(statements) == 1
        assert [m.id for m in queue.claim(10)] == [ids[2]]  # nothing fresh waits: it is looked for at once
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    more = [_store(engine, plain(f"v{i}")) for i in range(2)]
    with session_scope(engine) as session:
        session.get_one(InboundMessage, more[1]).attempts = 1
    assert [m.id for m in queue.claim(10)] == [more[0]]
    queue.UNFINISHED_EVERY_SECONDS = 0  # time to look again: the unfinished mail first, alone
    assert [m.id for m in queue.claim(10)] == [more[1]]


def test_expired_lease_is_taken_over_and_only_the_holder_records(engine: Engine) -> None:
    message_id = _store(engine, interfax_failure(number="03-5555-0101", code="3912"))
    dead = WorkQueue(engine, "node-a/1", lease_seconds=0.2)
    held = dead.claim(10)
    assert [m.id for m in held] == [message_id]
    assert WorkQueue(engine, "node-b/1").claim(10) == []  # leased
    time.sleep(0.3)
    heir = WorkQueue(engine, "node-b/1")
    taken = heir.claim(10)
    assert [m.id for m in taken] == [message_id] and taken[0].attempt == 2
    # The first worker wakes up late: its outcome is no longer its to record.
    assert Pipeline(engine, SETTINGS, dead, "node-a").run(held) == []
    assert _row(engine, message_id).status == "received"
    outcomes = Pipeline(engine, SETTINGS, heir, "node-b").run(taken)
    assert [o.message_id for o in outcomes] == [message_id]
    row = _row(engine, message_id)
    assert (row.status, row.processed_by, row.lease_until, row.attempts) == ("processed", "node-b", None, 2)
    with session_scope(engine) as session:
        results = session.scalars(sa.select(FaxResultRow).where(FaxResultRow.inbound_message_id == message_id)).all()
    assert len(results) == 1


def test_a_restarted_node_frees_its_dead_processes_leases(engine: Engine) -> None:
    message_id = _store(engine, plain("held"))
    WorkQueue(engine, "node-a/111").claim(1)
    WorkQueue(engine, "node-ab/7").claim(1)  # another node whose name starts alike keeps its leases
    assert WorkQueue(engine, "node-a/222").release_stale("node-a") == 1
    assert [m.id for m in WorkQueue(engine, "node-a/222").claim(5)] == [message_id]


def test_drain_processes_everything_with_the_configured_node_name(engine: Engine) -> None:
    ids = [_store(engine, plain(f"d{i}")) for i in range(3)]
    settings = Settings(processing=ProcessingSettings(node_name="alpha"))
    assert drain(engine, settings) == 3
    assert {(_row(engine, i).status, _row(engine, i).processed_by) for i in ids} == {("processed", "alpha")}


def _commits(engine: Engine) -> list[str]:
    """One entry per transaction committed on `engine` (claims and recordings; reads end without a commit)."""
    commits: list[str] = []

    @sa.event.listens_for(engine, "commit")
    def committed(connection: sa.engine.Connection) -> None:
        commits.append("commit")

    return commits


@pytest.mark.parametrize(("claim_ahead", "transactions"), [(True, 4), (False, 7)], ids=["ahead", "apart"])
def test_each_batch_claims_the_next_in_the_transaction_that_records_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, claim_ahead: bool, transactions: int) -> None:
    """Five mails in batches of two: a first claim, then three recording transactions that each claim the next
    batch (the last finds none): 4 write transactions, where claims of their own made 7 (4 claims, the last
    empty, and 3 recordings)."""
    ids = [_store(engine, interfax_failure(f"0355550{i:03d}")) for i in range(5)]
    monkeypatch.setattr(worker_module, "BATCH", 2)
    commits = _commits(engine)
    assert drain(engine, SETTINGS, claim_ahead=lambda: claim_ahead) == 5
    assert len(commits) == transactions
    assert {_row(engine, i).status for i in ids} == {"processed"}
    assert {_row(engine, i).attempts for i in ids} == {1}


def test_a_quiet_backlog_is_recorded_at_least_fifty_mails_a_transaction(engine: Engine) -> None:
    """A recording transaction costs about 5 ms however many mails it holds: at 20 mails a transaction, that was
    half of each mail's recording. 120 waiting mails: a first claim, then transactions of at least 50 mails that
    each claim the next batch (at most 1 + 3 write transactions; batches of 20 made 7)."""
    ids = RawStore(engine).put_many([(interfax_failure(f"0355553{i:03d}"), Envelope("", ("fax@faxbounce.test",)))
                                     for i in range(120)])
    commits = _commits(engine)
    assert drain(engine, SETTINGS) == 120
    assert len(commits) <= 1 + -(-120 // 50)
    with session_scope(engine) as session:
        rows = session.execute(sa.select(InboundMessage.status, InboundMessage.attempts)
                               .where(InboundMessage.id.in_([m.id for m in ids]))).all()
    assert sorted(set(rows)) == [("processed", 1)]


def test_while_the_smtp_side_is_active_a_claimed_batch_is_recorded_one_mail_a_transaction(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's give-way, the SMTP side active throughout: five mails in batches of three are claims of three,
    then two, then none, recorded in five transactions of one mail, the first claim on its own and the others
    inside the last recording of each batch: 6 write transactions, where a claim of one mail with each
    recording made 6 claims."""
    ids = [_store(engine, interfax_failure(f"0355551{i:03d}")) for i in range(5)]
    monkeypatch.setattr(worker_module, "BATCH", 3)
    give_way = GiveWay()
    monkeypatch.setattr(give_way, "smtp_active", lambda: True)
    commits = _commits(engine)
    claims: list[int] = []
    claim = WorkQueue.claim

    def counted(queue: WorkQueue, limit: int, connection: object = None) -> list[object]:
        claims.append(limit)
        return claim(queue, limit, connection)  # type: ignore[arg-type]

    monkeypatch.setattr(WorkQueue, "claim", counted)
    assert drain(engine, SETTINGS, give_way=give_way) == 5
    assert len(commits) == 6 and claims == [3, 3, 3]  # the third claim, in the last transaction, finds nothing
    assert {_row(engine, i).status for i in ids} == {"processed"}
    assert {_row(engine, i).attempts for i in ids} == {1}


def test_a_recording_that_fails_mid_batch_hands_back_the_mails_after_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The give-way active, a batch of four recorded one mail a transaction, the second transaction refused by
    the database (an outage): the first mail is recorded, the second keeps its counted attempt (it may be to
    blame), and the two after it, judged but not recorded, are free again with their attempt uncounted, so
    they are taken again as a batch."""
    ids = [_store(engine, interfax_failure(f"0355552{i:03d}")) for i in range(4)]
    monkeypatch.setattr(worker_module, "BATCH", 4)
    give_way = GiveWay()
    monkeypatch.setattr(give_way, "smtp_active", lambda: True)
    record = Pipeline._record
    calls: list[int] = []

    def failing_second(pipeline: Pipeline, recordings: list[object], next_batch: int) -> object:
        calls.append(len(recordings))
        if len(calls) == 2:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is gone"))
        return record(pipeline, recordings, next_batch)  # type: ignore[arg-type]

    monkeypatch.setattr(Pipeline, "_record", failing_second)
    with pytest.raises(sa.exc.OperationalError):
        drain(engine, SETTINGS, worker="node/1", give_way=give_way)
    rows = [_row(engine, i) for i in ids]
    assert [r.status for r in rows] == ["processed", "received", "received", "received"]
    assert [r.attempts for r in rows[1:]] == [1, 0, 0]
    assert rows[1].lease_until is not None and [r.lease_until for r in rows[2:]] == [None, None]
    assert [m.id for m in WorkQueue(engine, "node/2").claim(4)] == ids[2:]  # fresh: a batch, at once


def test_a_worker_told_to_stop_hands_back_the_batch_it_claimed_ahead(engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The next batch was claimed with the last one's outcome; the worker stops before starting it. Those mails
    are free at once, their attempt not counted, so the next worker takes them as a batch, not one by one as
    mails whose attempt did not finish."""
    ids = [_store(engine, plain(f"s{i}")) for i in range(5)]
    monkeypatch.setattr(worker_module, "BATCH", 2)
    batches: list[int] = []
    assert drain(engine, SETTINGS, stopping=lambda: bool(batches), worker="node/1",
                 between_batches=lambda: batches.append(1)) == 2
    rows = [_row(engine, i) for i in ids]
    assert [r.status for r in rows] == ["processed"] * 2 + ["received"] * 3
    assert [(r.attempts, r.lease_until) for r in rows[2:]] == [(0, None)] * 3
    assert [m.id for m in WorkQueue(engine, "node/2").claim(3)] == ids[2:]


def test_any_due_says_whether_a_job_may_run_between_two_batches(engine: Engine) -> None:
    """The worker claims ahead only while `any_due` is false: a job that runs between two batches would hold the
    claimed batch back from the other workers (the drain without claiming ahead is the test above, "apart")."""
    runner = JobRunner(engine, JobLeases(engine, "w"), [Job("slow", 60.0, lambda _e: None)])
    assert runner.any_due(idle=False) is True  # its lease may be taken at the next renewal, and it run at once
    runner.run_due(idle=False)
    assert runner.any_due(idle=False) is False  # it ran: next in a minute
    runner._next_run["slow"] = 0.0
    assert runner.any_due(idle=False) is True
    other = JobRunner(engine, JobLeases(engine, "x"), [Job("slow", 60.0, lambda _e: None)])
    other.run_due(idle=False)  # "w" holds the lease: nothing ran, and until the next renewal nothing will
    assert other.any_due(idle=False) is False
    idle_only = JobRunner(engine, JobLeases(engine, "v"), [Job("sweep", 0.0, lambda _e: None, when_idle=True)])
    idle_only.run_due()
    assert idle_only.any_due(idle=False) is False and idle_only.any_due(idle=True) is True


def test_a_claim_looks_for_unfinished_mail_in_its_partial_index_not_through_the_backlog(engine: Engine) -> None:
    """The first of a claim's two tries (the oldest mail whose attempt did not finish) must read
    `ix_inbound_messages_unfinished`, which holds only mails whose processing began: through `(status, id)` it
    walked every waiting mail on every claim (2 ms a claim with 10,000 waiting). 3,000 waiting mails, as the
    planners' statistics see them, one of them unfinished; the plan must name the index, and the claim must
    take that mail alone."""
    from processor.store.inbound import _claim_statements

    dialect = engine.dialect.name
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO inbound_messages (id, received_at, rcpt_tos, size, sha256, status, attempts) "
            "VALUES (:id, :at, '[]', 1, :sha, 'received', :attempts)"),
            [{"id": i, "at": datetime(2026, 11, 30, tzinfo=UTC), "sha": f"{i:064x}", "attempts": int(i == 2999)}
             for i in range(1, 3001)])
        connection.execute(sa.text("ANALYZE"))
    statement = _claim_statements(dialect)[0]
    text = str(statement.compile(dialect=engine.dialect))
    with engine.connect() as connection:
        if dialect == "sqlite":
            plan = " ".join(str(row) for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + text, (1, "w", None, None, 1)))
        else:
            plan = " ".join(row[0] for row in connection.exec_driver_sql(
                "EXPLAIN " + text, {"attempts_1": 1, "worker": "w", "lease_until": None, "now": None,
                                    "param_1": 1, "read_up_to": 1}))
    assert "ix_inbound_messages_unfinished" in plan, plan
    assert [m.id for m in WorkQueue(engine, "node/1").claim(20)] == [2999]


def test_job_lease_is_held_by_one_worker_and_moves_when_it_runs_out(engine: Engine) -> None:
    # A lease long enough that a loaded 2-core machine answers the next calls within it (0.3 s was not, once).
    first = JobLeases(engine, "node-a/1", lease_seconds=1.5)
    second = JobLeases(engine, "node-b/1", lease_seconds=1.5)
    assert first.hold("tracking_sweep") is True
    assert second.hold("tracking_sweep") is False
    assert first.hold("tracking_sweep") is True  # renewal
    time.sleep(1.6)
    assert second.hold("tracking_sweep") is True  # the first holder went silent: taken over
    assert first.hold("tracking_sweep") is False
    second.release_all()
    assert first.hold("tracking_sweep") is True


def test_job_runner_runs_a_singleton_job_on_one_worker_only(engine: Engine) -> None:
    runs: list[str] = []
    runners = [JobRunner(engine, JobLeases(engine, name), [Job("count", 0.0, lambda _e, n=name: runs.append(n))])
               for name in ("w1", "w2", "w3")]
    for _ in range(3):
        for runner in runners:
            runner.run_due()
    assert len(runs) == 3 and set(runs) == {"w1"}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT holder FROM job_leases WHERE name = 'count'")).scalar_one() == "w1"


def test_a_failing_job_is_logged_and_does_not_stop_the_others(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken(_engine: Engine) -> None:
        raise RuntimeError("bug in a job")

    jobs = [Job("broken", 60, broken), Job("fine", 60, lambda _e: ran.append("x"))]
    runner = JobRunner(engine, JobLeases(engine, "w"), jobs)
    assert runner.run_due() == 2
    assert ran == ["x"] and "job broken failed" in caplog.text


@pytest.mark.postgres
def test_record_locks_serialise_only_the_same_key(postgres_url: str) -> None:
    from processor.store.db import create_db_engine

    engine = create_db_engine(postgres_url)
    holding = threading.Event()

    def hold(key: str) -> None:
        with session_scope(engine) as session:
            lock_keys(session, [key])
            holding.set()
            time.sleep(0.8)

    def waited_for(key: str) -> float:
        started = time.monotonic()
        with session_scope(engine) as session:
            lock_keys(session, [key])
        return time.monotonic() - started

    try:
        holder = threading.Thread(target=hold, args=("n:+81355550101",))
        holder.start()
        assert holding.wait(5)
        assert waited_for("n:+81355550199") < 0.5  # another number: no wait
        assert waited_for("n:+81355550101") > 0.4  # the same number: waits for the holder's commit
        holder.join()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_one_recording_holds_every_key_it_locked_until_it_ends(postgres_url: str) -> None:
    from processor.store.db import create_db_engine
    from processor.store.locks import _key

    engine = create_db_engine(postgres_url)
    keys = ["n:+81355550101", "m:abc@example.co.jp", "n:+81655550202", "n:+81355550101"]
    try:
        with session_scope(engine) as session, engine.connect() as other:
            lock_keys(session, keys)
            free = {key: other.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _key(key)})
                    for key in [*keys, "n:+81399999999"]}
            other.rollback()
            assert free == {"n:+81355550101": False, "m:abc@example.co.jp": False, "n:+81655550202": False,
                            "n:+81399999999": True}
    finally:
        engine.dispose()


def test_give_way_holds_back_only_while_mail_waits() -> None:
    give_way = GiveWay()
    assert give_way.batch_size(20) == 20
    started = time.monotonic()
    give_way.wait_for_new_mail()
    assert time.monotonic() - started < 0.05  # nothing waiting: no delay
    give_way.value += 3
    assert give_way.mail_waiting() and give_way.batch_size(20) == 1
    started = time.monotonic()
    give_way.wait_for_new_mail()
    assert YIELD_SECONDS <= time.monotonic() - started < YIELD_SECONDS + 0.2  # bounded


def test_give_way_keeps_to_one_mail_a_transaction_for_a_moment_after_the_smtp_side_was_busy() -> None:
    """At 500 mails/s the count is often zero between two commits; a batch of 20 begun then held the lock
    for up to 41 ms. One mail a transaction while the SMTP side took or committed a mail within ACTIVE_SECONDS."""
    give_way = GiveWay()
    give_way.value += 1
    give_way.value -= 1  # committed: nothing waits now, but the SMTP side was busy a moment ago
    assert not give_way.mail_waiting()
    assert give_way.smtp_active() and give_way.batch_size(20) == 1
    started = time.monotonic()
    give_way.wait_for_new_mail()
    assert time.monotonic() - started < 0.05  # nothing waits: no delay before recording
    time.sleep(ACTIVE_SECONDS * 1.5)
    assert not give_way.smtp_active() and give_way.batch_size(20) == 20  # quiet again: batches


def test_lease_must_outlast_the_slowest_mail() -> None:
    from processor.config import load_settings
    from processor.errors import ConfigError

    with pytest.raises(ConfigError, match="lease_seconds"):
        load_settings(environ={"FAXBOUNCE_PROCESSING_LEASE_SECONDS": "10"})
    assert worker_module.BATCH > 1
    assert datetime.now(UTC) - timedelta(seconds=1) < datetime.now(UTC)


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (8, 7)])  # the SMTP process keeps a core
def test_the_default_worker_count_leaves_a_core_to_the_smtp_process(cores: int, expected: int) -> None:
    assert pool_module.default_workers(cores) == expected


def _selects_of_raw(engine: Engine) -> tuple[list[str], object]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "raw" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    return seen, count


@pytest.mark.parametrize(("in_claim", "read_ahead", "queries_in_claim", "queries_after"), [
    (256 * 1024, 2 * 1024 * 1024, 0, 0),  # the defaults: small mails come back from the claiming UPDATE
    (1, 2 * 1024 * 1024, 0, 1),  # too large for the claim: one round trip for the batch afterwards
    (1, 1, 0, 5),  # too large for either: one mail at a time
    (2 * 1024, 2 * 1024 * 1024, 0, 1),  # a claim of 10 leaves 204 bytes to each mail: too few, read afterwards
    (5 * 1024, 2 * 1024 * 1024, 0, 0),  # 512 bytes each: they come with the claim
])
def test_raw_bytes_are_read_with_the_claim_or_ahead_within_a_bound(
        engine: Engine, in_claim: int, read_ahead: int, queries_in_claim: int, queries_after: int) -> None:
    """A batch of small mails comes back from the claim's UPDATE itself (no read of its own: a tenth of a
    worker's time when it records one mail per transaction), each mail within its share of the claim's bound
    (`limit` mails share `CLAIM_READ_BYTES`); larger ones are read in one round trip, or one at a time."""
    raws = [plain(f"mail {k}") for k in range(5)]
    assert all(204 < len(raw) <= 512 for raw in raws)  # what the two middle cases are about
    stored = {_store(engine, raw): raw for raw in raws}
    queue = WorkQueue(engine, "node/1")
    queue.CLAIM_READ_BYTES, queue.READ_AHEAD_BYTES = in_claim, read_ahead
    seen, listener = _selects_of_raw(engine)
    try:
        mails = queue.claim(10)
        in_the_claim = len(seen)
        assert [queue.raw(mail) for mail in mails] == [stored[mail.id] for mail in mails]
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert (in_the_claim, len(seen) - in_the_claim) == (queries_in_claim, queries_after)


def test_bytes_read_with_a_claim_are_none_when_retention_purged_them(engine: Engine) -> None:
    kept_raw = plain("kept")
    kept, purged = _store(engine, kept_raw), _store(engine, plain("purged"))
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM inbound_raw WHERE inbound_message_id = :id"), {"id": purged})
    queue = WorkQueue(engine, "node/1")
    mails = {mail.id: mail for mail in queue.claim(10)}
    assert queue.raw(mails[kept]) == kept_raw and queue.raw(mails[purged]) is None


def test_claiming_and_recording_a_mail_never_write_its_bytes(engine: Engine) -> None:
    """The bytes are written once, with the mail: a claim, a lease and an outcome only touch `inbound_messages`
    (on SQLite any UPDATE of a row rewrites all of it, a large mail's bytes included)."""
    message_id = _store(engine, interfax_failure("06-5555-0202", "6017", "Busy"))
    writes: list[str] = []

    def watch(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # the claim's UPDATE reads the bytes in a subquery: only a statement that writes to the table counts
        if re.search(r"\b(INSERT INTO|UPDATE|DELETE FROM|REPLACE INTO)\s+inbound_raw\b", statement, re.IGNORECASE):
            writes.append(statement)

    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        queue = WorkQueue(engine, "node/1")
        mails = queue.claim(10)
        queue.extend(mails)
        outcomes = Pipeline(engine, SETTINGS, queue, "node").run(mails)
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    assert [o.status for o in outcomes] == ["processed"] and _row(engine, message_id).status == "processed"
    assert writes == []
    with engine.connect() as connection:
        assert connection.scalar(sa.select(InboundRaw.raw).where(InboundRaw.inbound_message_id == message_id))


def test_a_mail_asked_out_of_order_or_purged_is_still_read_right(engine: Engine) -> None:
    raws = [plain(f"mail {k}") for k in range(4)]
    ids = [_store(engine, raw) for raw in raws]
    with engine.begin() as connection:
        connection.execute(sa.delete(InboundRaw.__table__).where(InboundRaw.inbound_message_id == ids[2]))
    queue = WorkQueue(engine, "node/1")
    mails = {mail.id: mail for mail in queue.claim(10)}
    assert queue.raw(mails[ids[1]]) == raws[1]
    assert queue.raw(mails[ids[0]]) == raws[0]
    assert queue.raw(mails[ids[2]]) is None
    assert queue.raw(mails[ids[3]]) == raws[3]
    assert queue.raw(mails[ids[3]]) == raws[3]  # asked again: read again


def test_a_worker_takes_back_at_once_the_batch_an_outage_cut_short(engine: Engine) -> None:
    ids = [_store(engine, plain(f"mail {k}")) for k in range(3)]
    queue, other = WorkQueue(engine, "node/1"), WorkQueue(engine, "node/2")
    assert sorted(mail.id for mail in queue.claim(10)) == ids  # then the database went away mid-batch
    held_by_other = _store(engine, plain("mail of another worker"))
    assert [mail.id for mail in other.claim(10)] == [held_by_other]
    assert queue.claim(10) == []  # leased to itself until lease_seconds run out
    assert queue.release_own() == 3
    retaken = [mail for _ in range(4) for mail in queue.claim(10)]  # an attempt that did not finish: one by one
    assert sorted(mail.id for mail in retaken) == ids and {mail.attempt for mail in retaken} == {2}
    assert _row(engine, held_by_other).lease_until is not None  # another worker's lease is not touched
