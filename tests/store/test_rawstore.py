"""The raw store keeps every byte and the envelope, on both backends, and fails loudly as RawStoreError."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.errors import RawStoreError
from processor.store.db import create_db_engine, session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import InboundMessage, MessageStatus


def test_put_keeps_bytes_and_envelope(engine: Engine) -> None:
    raw = b"Subject: x\r\n\r\nbody \x00 with NUL and \xff 8-bit\r\n"
    stored = RawStore(engine).put(
        raw, Envelope(mail_from="a\x00b@example.com", rcpt_tos=("x@example.com", "y@example.com"),
                      peer="127.0.0.1:5000", helo="mx.example.com")
    )
    assert not stored.duplicate
    message_id = stored.id
    with session_scope(engine) as session:
        row = session.get_one(InboundMessage, message_id)
        assert row.raw == raw
        assert row.size == len(raw)
        assert row.sha256 == hashlib.sha256(raw).hexdigest()
        assert row.mail_from == "ab@example.com"  # NUL removed: PostgreSQL refuses it in text
        assert row.rcpt_tos == ["x@example.com", "y@example.com"]
        assert row.peer == "127.0.0.1:5000"
        assert row.helo == "mx.example.com"
        assert row.status == MessageStatus.RECEIVED
        assert row.received_at.tzinfo is not None


def test_put_many_is_one_transaction(engine: Engine) -> None:
    stored = RawStore(engine).put_many([(b"Subject: a\r\n\r\n", Envelope(None, ())),
                                        (b"Subject: b\r\n\r\n", Envelope("", ("r@x",)))])
    assert len(stored) == 2 and stored[0].id < stored[1].id
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


def test_store_failure_is_raw_store_error(tmp_path) -> None:
    # A database with no schema: the insert fails, and the error says what without any mail content.
    eng = create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(RawStoreError) as info:
        RawStore(eng).put(b"Subject: secret-content\r\n\r\n", Envelope(None, ()))
    assert "no such table" in str(info.value)
    assert "secret-content" not in str(info.value)


def test_same_bytes_are_stored_once(engine: Engine) -> None:
    """A client that lost our 250 delivers the same mail again: it is kept once, and both get its id."""
    store = RawStore(engine)
    first = store.put(b"Subject: same\r\n\r\nx\r\n", Envelope("a@x", ("r@x",)))
    again = store.put(b"Subject: same\r\n\r\nx\r\n", Envelope("a@x", ("r@x",)))
    batch = store.put_many([(b"Subject: new\r\n\r\n", Envelope(None, ())),
                            (b"Subject: new\r\n\r\n", Envelope(None, ()))])
    assert (first.duplicate, again.duplicate) == (False, True) and first.id == again.id
    assert [s.duplicate for s in batch] == [False, True] and batch[0].id == batch[1].id
    assert store.known(b"Subject: same\r\n\r\nx\r\n") == first.id
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


def test_only_the_raw_store_pays_for_fsync(db_url: str) -> None:
    """Raw mail is committed durably; the worker's derived rows skip the fsync (they can be recomputed)."""
    durable, derived = create_db_engine(db_url), create_db_engine(db_url, durable=False)
    try:
        if durable.dialect.name == "sqlite":
            query, expected = "PRAGMA synchronous", (2, 1)  # FULL, NORMAL
        else:
            query, expected = "SHOW synchronous_commit", ("on", "off")
        values = []
        for engine in (durable, derived):
            with engine.connect() as connection:
                values.append(connection.exec_driver_sql(query).scalar())
        assert tuple(values) == expected
    finally:
        durable.dispose()
        derived.dispose()
