"""The group committer's two lanes: a large (spooled) mail's transaction never holds up small mails' commit."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session
from prometheus_client import CollectorRegistry
from slowmail import SlowLargeMail
from sqlalchemy.engine import Engine

from processor.ops.metrics import SmtpMetrics
from processor.receive.data import SpooledContent
from processor.receive.smtp import GroupCommitter, SinkHandler
from processor.store.inbound import Envelope, RawStore, StoredMail, _row
from processor.store.intake import IntakeMail, open_intake
from processor.store.models import InboundMessage, InboundRaw


class LargeWaitsForSmall(RawStore):
    """Starts a transaction holding a spooled mail only once a transaction of small mails has committed:
    with one queue for both, the small mail would wait behind it for ever."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.small_committed = threading.Event()
        self.batches: list[list[str]] = []

    def put_many(self, mails, **options):  # type: ignore[no-untyped-def]
        kinds = ["bytes" if isinstance(raw, bytes) else "file" for raw, _envelope in mails]
        if "file" in kinds and not self.small_committed.wait(10):
            raise AssertionError("the small mail was not committed while the large one waited")
        stored = super().put_many(mails, **options)
        self.batches.append(kinds)
        if "file" not in kinds:
            self.small_committed.set()
        return stored


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def test_a_large_mail_does_not_hold_up_small_ones(engine: Engine, executor: ThreadPoolExecutor) -> None:
    store = LargeWaitsForSmall(engine)
    big = b"Subject: big\r\n\r\n" + b"\r\n" * 3000
    spooled = SpooledContent(spool_after=1000)
    spooled.write(big)
    assert spooled.spooled

    async def deliver() -> tuple[StoredMail, StoredMail]:
        committer = GroupCommitter(store, executor)
        large = asyncio.create_task(committer.put(spooled, Envelope(None, ())))
        await asyncio.sleep(0)  # the large mail is queued first
        small = await committer.put(b"Subject: small\r\n\r\n", Envelope(None, ()))
        return small, await large

    small, large = asyncio.run(deliver())
    assert store.batches == [["bytes"], ["file"]]
    assert small.id < large.id and not large.duplicate
    assert not spooled.spooled  # its temporary file is closed once committed
    with engine.connect() as connection:
        assert connection.scalar(sa.select(InboundRaw.raw).where(InboundRaw.inbound_message_id == large.id)) == big


def test_small_mails_wait_in_the_intake_not_for_a_large_commit(sqlite_engine: Engine,
                                                                executor: ThreadPoolExecutor) -> None:
    """SQLite: a small mail arriving while a large mail's transaction holds the write lock is answered 250
    from the intake file, and moved into the database, with the workers woken, once that commit is done."""
    engine = sqlite_engine
    store = RawStore(engine, open_intake(engine))
    slow = SlowLargeMail()
    small = b"Subject: small\r\n\r\nbody\r\n"
    registry = CollectorRegistry()
    metrics = SmtpMetrics(registry)

    async def deliver() -> tuple[str, float, StoredMail]:
        moved = asyncio.Event()
        committer = GroupCommitter(store, executor, on_moved=moved.set)
        handler = SinkHandler(committer, observer=metrics)
        large = asyncio.create_task(committer.put(slow, Envelope("big@example.jp", ("r@x",))))
        while not store._large_writing():
            await asyncio.sleep(0.005)
        session, envelope = Session(asyncio.get_running_loop()), SmtpEnvelope()
        session.peer = ("192.0.2.7", 40000)
        envelope.mail_from, envelope.rcpt_tos, envelope.original_content = "a@example.jp", ["r@x"], small
        started = time.monotonic()
        reply = await handler.handle_DATA(None, session, envelope)  # type: ignore[arg-type]
        answered = time.monotonic() - started
        slow.release.set()
        stored = await large
        await asyncio.wait_for(moved.wait(), 10)
        return reply, answered, stored

    reply, answered, large = asyncio.run(deliver())
    digest = hashlib.sha256(small).hexdigest()
    assert reply == f"250 2.0.0 OK stored as sha256:{digest[:16]}" and answered < 2
    assert registry.get_sample_value("faxbounce_messages_intake_total") == 1
    assert registry.get_sample_value("faxbounce_messages_accepted_total") == 1
    with engine.connect() as connection:
        row = connection.execute(sa.select(InboundMessage.id, InboundMessage.mail_from, InboundMessage.peer)
                                 .where(InboundMessage.sha256 == digest)).one()
    assert row.mail_from == "a@example.jp" and row.peer == "192.0.2.7:40000" and row.id > large.id
    assert store.intake is not None and not store.intake.pending and store.intake.path.stat().st_size == 0


def test_a_stopping_daemon_leaves_the_intake_to_its_own_stop(sqlite_engine: Engine) -> None:
    """Once the store threads are shut down the small lane stops trying to move the intake (the daemon's
    stop moves what is left, or the next start does), instead of failing in a task nobody awaits."""
    intake = open_intake(sqlite_engine)
    assert intake is not None
    intake.append([IntakeMail(_row(b"Subject: waiting\r\n\r\n", Envelope(None, ())), b"Subject: waiting\r\n\r\n")])
    store = RawStore(sqlite_engine, intake)
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    committer = GroupCommitter(store, pool)
    asyncio.run(committer._run(committer._small))
    assert len(intake.pending) == 1
    assert store.move_intake() == 1
