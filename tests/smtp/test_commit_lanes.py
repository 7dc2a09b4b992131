"""The group committer's two lanes: a large (spooled) mail's transaction never holds up small mails' commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.receive.data import SpooledContent
from processor.receive.smtp import GroupCommitter
from processor.store.inbound import Envelope, RawStore, StoredMail
from processor.store.models import InboundRaw


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
