"""The raw store keeps every byte and the envelope, on both backends, and fails loudly as RawStoreError."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.errors import RawStoreError
from processor.store.db import create_db_engine, migrate, session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import InboundMessage, InboundRaw, MessageStatus


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
        assert session.get_one(InboundRaw, message_id).raw == raw
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


class _File:
    """A RawFile: a mail's bytes handed over in chunks, never whole (a DATA spooled to disk)."""

    def __init__(self, data: bytes, chunk: int = 1000, claimed_size: int | None = None) -> None:
        self.data, self.chunk, self.claimed_size = data, chunk, claimed_size
        self.passes = 0

    def __len__(self) -> int:
        return len(self.data) if self.claimed_size is None else self.claimed_size

    def chunks(self) -> Iterator[bytes]:
        self.passes += 1
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start:start + self.chunk]


def test_a_file_is_stored_from_its_chunks(engine: Engine) -> None:
    """A spooled mail is written into its row chunk by chunk, in the same transaction as small mails."""
    big = b"Subject: big\r\n\r\n" + bytes(range(256)) * 40 + b"\r\n" * 5000
    store = RawStore(engine)
    stored = store.put_many([(b"Subject: small\r\n\r\n", Envelope(None, ())), (_File(big), Envelope("a@x", ("r@x",))),
                             (_File(b""), Envelope(None, ()))])
    assert [s.duplicate for s in stored] == [False, False, False]
    with session_scope(engine) as session:
        row = session.get_one(InboundMessage, stored[1].id)
        assert (session.get_one(InboundRaw, stored[1].id).raw, row.size, row.sha256) == (
            big, len(big), hashlib.sha256(big).hexdigest())
        assert row.rcpt_tos == ["r@x"] and row.status == MessageStatus.RECEIVED
        assert session.get_one(InboundRaw, stored[2].id).raw == b""
        assert session.get_one(InboundRaw, stored[0].id).raw == b"Subject: small\r\n\r\n"
    # The same bytes again, as a file or as bytes: kept once, and nothing is written.
    again = store.put_many([(_File(big, chunk=777), Envelope(None, ())), (big, Envelope(None, ()))])
    assert [(s.id, s.duplicate) for s in again] == [(stored[1].id, True), (stored[1].id, True)]
    assert store.known(big) == stored[1].id


def test_the_same_file_twice_in_one_batch_is_written_once(engine: Engine) -> None:
    data = b"Subject: twice\r\n\r\n" + b"x" * 5000
    first, second = _File(data), _File(data)
    stored = RawStore(engine).put_many([(first, Envelope(None, ())), (second, Envelope(None, ()))])
    assert stored[0].id == stored[1].id and [s.duplicate for s in stored] == [False, True]
    assert (first.passes, second.passes) == (2, 1)  # hashed, then written; the copy only hashed
    with engine.connect() as connection:
        assert connection.scalar(sa.select(InboundRaw.raw).where(InboundRaw.inbound_message_id == stored[0].id)) == data
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundRaw)) == 1


def test_a_file_that_does_not_match_its_size_stores_nothing(engine: Engine) -> None:
    """The row would hold zeros (SQLite) or be cut short: the whole transaction fails, small mails included."""
    with pytest.raises(RawStoreError, match="changed size"):
        RawStore(engine).put_many([(b"Subject: small\r\n\r\n", Envelope(None, ())),
                                   (_File(b"x" * 3000, claimed_size=4000), Envelope(None, ()))])
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_sqlite_checkpoints_a_large_mail_after_its_turn(tmp_path) -> None:
    """The WAL a large mail leaves is copied into the database before put returns, but outside the writers'
    turn; the connection's autocheckpoint is what it was."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'wal.sqlite3'}", pool_size=1)
    migrate(engine)
    RawStore(engine).put(_File(b"Subject: big\r\n\r\n" + b"y" * 2_000_000, chunk=65536), Envelope(None, ()))
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        busy, frames, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and frames >= 480 and copied == frames


def test_a_large_mail_needs_no_temp_privilege_on_postgresql(postgres_url: str) -> None:
    """A role with INSERT and SELECT on the tables, in a database where PUBLIC lost `TEMP`, stores a file: the
    bytes are copied straight into `inbound_raw` (they once passed through a temporary table, and such a role
    got `451` for every mail over 1 MiB)."""
    name = f"fb_notemp_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        connection.exec_driver_sql(f'CREATE ROLE "{name}" NOLOGIN')
    url = sa.engine.make_url(postgres_url).set(database=name)
    try:
        owner = create_db_engine(url.render_as_string(hide_password=False))
        migrate(owner)
        with owner.begin() as connection:
            connection.exec_driver_sql(f'REVOKE TEMP ON DATABASE "{name}" FROM PUBLIC')
            connection.exec_driver_sql(f'GRANT SELECT, INSERT ON inbound_messages, inbound_raw TO "{name}"')
            connection.exec_driver_sql(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
        owner.dispose()
        role = create_db_engine(url.update_query_dict({"options": f"-crole={name}"}).render_as_string(
            hide_password=False))
        with role.connect() as connection:
            assert connection.exec_driver_sql("SELECT current_user").scalar() == name
            assert connection.exec_driver_sql("SELECT has_database_privilege(current_database(), 'TEMP')"
                                              ).scalar() is False
        big = b"Subject: big\r\n\r\n" + bytes(range(256)) * 8000
        stored = RawStore(role).put(_File(big, chunk=65536), Envelope("a@x", ("r@x",)))
        with role.connect() as connection:
            assert connection.execute(sa.select(InboundRaw.raw).where(
                InboundRaw.inbound_message_id == stored.id)).scalar_one() == big
        role.dispose()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
        admin.dispose()


def test_a_batch_keeps_every_envelope_and_skips_repeats(engine: Engine) -> None:
    """`put_many` as the SMTP side's group commit calls it (PostgreSQL: one array per column, JSON sent as text):
    recipients with quotes, backslashes and UTF-8 read back as given, in SQL too, and the same bytes twice in one
    batch are one row."""
    odd = ('"quoted name"@example.com', "back\\slash@example.com", "宛先@例え.jp")
    mails = [(f"Subject: {n}\r\n\r\nbody\r\n".encode(), Envelope(mail_from=f"s{n}@example.com", rcpt_tos=odd[: n + 1],
                                                              peer=f"192.0.2.{n}:25"))
             for n in range(3)]
    stored = RawStore(engine).put_many([*mails, mails[1]])
    assert [s.duplicate for s in stored] == [False, False, False, True]
    assert stored[3].id == stored[1].id
    with session_scope(engine) as session:
        rows = [session.get_one(InboundMessage, s.id) for s in stored[:3]]
        assert [row.rcpt_tos for row in rows] == [list(odd[:1]), list(odd[:2]), list(odd)]
        assert [row.mail_from for row in rows] == ["s0@example.com", "s1@example.com", "s2@example.com"]
        assert {row.status for row in rows} == {MessageStatus.RECEIVED}
        first = "rcpt_tos ->> 2" if engine.dialect.name == "postgresql" else "json_extract(rcpt_tos, '$[2]')"
        assert session.execute(sa.text(f"SELECT {first} FROM inbound_messages WHERE id = :id"),
                               {"id": stored[2].id}).scalar() == "宛先@例え.jp"


def _statements(engine: Engine) -> list[str]:
    """The SQL statements the engine sends from now on (first words), as a list that grows."""
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: sent.append(" ".join(statement.split()[:3])))
    return sent


def test_a_batch_in_memory_is_one_statement_on_postgresql(engine: Engine) -> None:
    """PostgreSQL: the rows, their bytes and the commit are one statement, one round trip (BEGIN, two INSERTs
    and COMMIT were four); the bytes are read back exactly and the ids follow the batch's order."""
    store = RawStore(engine)
    mails = [(f"Subject: {n}\r\n\r\n".encode() + bytes(range(256)) * (n + 1), Envelope(f"s{n}@x", ("r@x",)))
             for n in range(5)]
    store.put(b"Subject: warm\r\n\r\n", Envelope(None, ()))  # the pool's first connection, made beforehand
    sent = _statements(engine)
    stored = store.put_many(mails)
    if engine.dialect.name == "postgresql":
        assert len(sent) == 1 and sent[0].startswith("WITH"), sent
    assert [s.id for s in stored] == sorted(s.id for s in stored)
    with session_scope(engine) as session:
        assert [session.get_one(InboundRaw, s.id).raw for s in stored] == [raw for raw, _envelope in mails]


def test_a_repeat_in_one_statement_is_found_by_another_read(engine: Engine) -> None:
    """Mails stored before and a mail twice in the batch: each new mail gets one row and one `inbound_raw` row,
    and the repeats the ids of the rows already there (PostgreSQL: read by a second statement)."""
    store = RawStore(engine)
    old = store.put(b"Subject: old\r\n\r\n", Envelope(None, ()))
    sent = _statements(engine)
    stored = store.put_many([(subject, Envelope(None, ())) for subject in
                             (b"Subject: new\r\n\r\n", b"Subject: old\r\n\r\n", b"Subject: new\r\n\r\n")])
    assert [s.duplicate for s in stored] == [False, True, True]
    assert stored[1].id == old.id and stored[2].id == stored[0].id
    if engine.dialect.name == "postgresql":
        assert len(sent) == 2 and sent[1].startswith("SELECT"), sent
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundRaw)) == 2
        assert connection.scalar(sa.select(InboundRaw.raw).where(InboundRaw.inbound_message_id == stored[0].id)
                                 ) == b"Subject: new\r\n\r\n"


def test_bytes_refused_leave_no_row_of_their_batch(engine: Engine) -> None:
    """The bytes' insert fails (here a CHECK the test adds): no mail of the batch is stored, so no row is ever
    seen without its bytes, on PostgreSQL too, where rows and bytes are two parts of one statement."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE inbound_raw ADD CONSTRAINT refuse_bad "
                                       "CHECK (position('\\x424144'::bytea in raw) = 0)")
        else:  # SQLite cannot add a CHECK to a table: a trigger refuses the row instead
            connection.exec_driver_sql("CREATE TRIGGER refuse_bad BEFORE INSERT ON inbound_raw "
                                       "WHEN instr(NEW.raw, X'424144') > 0 BEGIN SELECT RAISE(ABORT, 'bad'); END")
    with pytest.raises(RawStoreError):
        RawStore(engine).put_many([(b"Subject: good\r\n\r\n", Envelope(None, ())),
                                   (b"Subject: BAD\r\n\r\n", Envelope(None, ()))])
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundRaw)) == 0
