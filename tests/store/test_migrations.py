"""The schema: Alembic revisions equal the models, and the public views have their documented columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from processor.store.db import alembic_config, create_db_engine, current_revision, head_revision, migrate
from processor.store.models import Base, FaxResultRow

FAILURES_COLUMNS = [
    "result_id", "inbound_message_id", "received_at", "failed_at", "kind", "vendor", "code", "vendor_message",
    "reason", "retryable", "fax_number", "fax_number_raw", "recipient", "transaction_id", "original_message_id",
    "original_subject", "pages", "action_ja", "action_en", "mail_subject", "mail_from_address", "mail_message_id",
    "trusted", "forwarded", "event_key", "copies",
]


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: write a revision: {diff}"


def test_schema_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert current_revision(engine) == MigrationContext.configure(connection).get_current_revision()


def test_the_expected_head_is_the_newest_migration() -> None:
    """The daemon compares the database with `SCHEMA_HEAD` without loading Alembic: a new revision must move it."""
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_database_never_migrated_has_no_revision(tmp_path) -> None:
    assert current_revision(create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")) is None


def test_failures_view_columns(engine: Engine) -> None:
    with engine.connect() as connection:
        columns = list(connection.execute(sa.text("SELECT * FROM failures")).keys())
    assert columns == FAILURES_COLUMNS


def test_downgrade_to_base_and_back(db_url: str) -> None:
    eng = create_db_engine(db_url)
    migrate(eng)
    from alembic import command

    from processor.store.db import alembic_config

    config = alembic_config(db_url)
    with eng.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "inbound_messages" not in sa.inspect(eng).get_table_names()
    migrate(eng)
    assert {"inbound_messages", "fax_results"} <= set(sa.inspect(eng).get_table_names())
    eng.dispose()


def test_raw_bytes_move_to_inbound_raw_and_back(db_url: str) -> None:
    """0007: every stored mail's bytes survive the move to `inbound_raw` and the way back, a purged mail stays
    purged, and nothing that references `inbound_messages` (results, views) is lost on the way."""
    from alembic import command

    from processor.store.db import alembic_config

    eng = create_db_engine(db_url)
    migrate(eng, "0006")
    at = "2026-11-01 00:00:00+00:00"
    mails = {1: b"Subject: a\r\n\r\nNUL \x00 and 8-bit \xff\r\n", 2: None, 3: b"\r\n" * 300_000}
    with eng.begin() as connection:
        for id_, raw in mails.items():
            connection.execute(sa.text(
                "INSERT INTO inbound_messages (id, received_at, rcpt_tos, raw, size, sha256, status, attempts) "
                "VALUES (:id, :at, '[]', :raw, :size, :sha, 'processed', 1)"),
                {"id": id_, "at": at, "raw": raw, "size": len(raw or b""), "sha": f"{id_:064x}"})
        connection.execute(sa.text(
            "INSERT INTO fax_results (inbound_message_id, kind, detected_by, vendor, outcome, reason, created_at) "
            "VALUES (1, 'interfax_result', 'interfax', 'interfax', 'failed', 'busy', :at)"), {"at": at})

    def results() -> int:
        with eng.connect() as connection:
            connection.execute(sa.text("SELECT count(*) FROM failures")).scalar_one()
            return connection.execute(sa.text("SELECT count(*) FROM fax_results")).scalar_one()

    migrate(eng, "0007")
    assert "raw" not in {c["name"] for c in sa.inspect(eng).get_columns("inbound_messages")}
    assert [c["name"] for c in sa.inspect(eng).get_columns("inbound_raw")] == ["inbound_message_id", "raw"]
    with eng.connect() as connection:
        moved = dict(connection.execute(sa.text("SELECT inbound_message_id, raw FROM inbound_raw")).all())
    assert {k: bytes(v) for k, v in moved.items()} == {k: v for k, v in mails.items() if v is not None}
    assert results() == 1

    config = alembic_config(db_url)
    with eng.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert "inbound_raw" not in sa.inspect(eng).get_table_names()
    with eng.connect() as connection:
        back = dict(connection.execute(sa.text("SELECT id, raw FROM inbound_messages")).all())
    assert {k: None if v is None else bytes(v) for k, v in back.items()} == mails
    assert results() == 1
    eng.dispose()


def test_a_mails_bytes_go_with_its_row(engine: Engine) -> None:
    """`inbound_raw` rows are deleted with their mail (ON DELETE CASCADE), on both backends."""
    from processor.store.inbound import Envelope, RawStore

    stored = RawStore(engine).put(b"Subject: gone\r\n\r\n", Envelope(None, ()))
    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM inbound_raw")).scalar_one() == 1
        connection.execute(sa.text("DELETE FROM inbound_messages WHERE id = :id"), {"id": stored.id})
        assert connection.execute(sa.text("SELECT count(*) FROM inbound_raw")).scalar_one() == 0


def _two_mails(eng: Engine) -> dict[int, str]:
    """Mails 1 and 2, processed, as an earlier revision's table holds them; returns their arrival times."""
    arrived = {1: "2026-11-01 00:00:00+00:00", 2: "2026-11-02 08:30:00+00:00"}
    with eng.begin() as connection:
        for id_, at in arrived.items():
            connection.execute(sa.text(
                "INSERT INTO inbound_messages (id, received_at, rcpt_tos, size, sha256, status, attempts) "
                "VALUES (:id, :at, '[]', 1, :sha, 'processed', 1)"), {"id": id_, "at": at, "sha": f"{id_:064x}"})
    return arrived


def test_happened_at_is_filled_from_occurred_at_else_the_mails_arrival(db_url: str) -> None:
    """0009: every existing result gets `happened_at`, the time the views and the stop list go by: its
    `occurred_at` where the service gave one, else its mail's `received_at`; the stop list's index moves to it."""
    eng = create_db_engine(db_url)
    migrate(eng, "0008")
    arrived = _two_mails(eng)
    with eng.begin() as connection:
        for id_, mail, occurred in ((1, 1, "2026-10-30 05:00:00+00:00"), (2, 1, None), (3, 2, None)):
            connection.execute(sa.text(
                "INSERT INTO fax_results (id, inbound_message_id, kind, detected_by, vendor, outcome, reason, "
                "fax_number, occurred_at, created_at) VALUES (:id, :mail, 'interfax_result', 'interfax', "
                "'interfax', 'failed', 'busy', '+81355550101', :occurred, :at)"),
                {"id": id_, "mail": mail, "occurred": occurred, "at": arrived[mail]})
    migrate(eng)
    happened_at = FaxResultRow.__table__.c.happened_at
    with eng.connect() as connection:
        filled = dict(connection.execute(sa.select(FaxResultRow.__table__.c.id, happened_at)).all())
    assert filled == {1: datetime(2026, 10, 30, 5, tzinfo=UTC), 2: datetime(2026, 11, 1, tzinfo=UTC),
                      3: datetime(2026, 11, 2, 8, 30, tzinfo=UTC)}
    indexes = {tuple(index["column_names"]) for index in sa.inspect(eng).get_indexes("fax_results")}
    assert ("fax_number", "outcome", "happened_at") in indexes
    assert ("fax_number", "outcome", "occurred_at") not in indexes
    eng.dispose()


def test_failures_read_happened_at_with_the_same_rows(db_url: str) -> None:
    """0012: `failures.failed_at` comes from `happened_at` (filled first where missing) and a period's failures
    from the index `(outcome, happened_at)`, which replaces `(outcome, created_at)`; the view gives the same rows
    before and after, and after the downgrade."""
    from alembic import command

    eng = create_db_engine(db_url)
    migrate(eng, "0011")
    arrived = _two_mails(eng)
    with eng.begin() as connection:
        # dated, undated, undated without happened_at (none that faxbounce writes), a delivery, a forwarded copy
        for id_, mail, outcome, occurred, happened, forwarded, key in (
                (1, 1, "failed", "2026-10-30 05:00:00+00:00", "2026-10-30 05:00:00+00:00", False, "k"),
                (2, 1, "failed", None, arrived[1], False, None),
                (3, 2, "failed", None, None, False, None),
                (4, 2, "delivered", None, arrived[2], False, None),
                (5, 2, "failed", "2026-10-30 05:00:00+00:00", "2026-10-30 05:00:00+00:00", True, "k")):
            connection.execute(sa.text(
                "INSERT INTO fax_results (id, inbound_message_id, kind, detected_by, vendor, outcome, reason, "
                "fax_number, occurred_at, happened_at, created_at, forwarded, event_key) VALUES (:id, :mail, "
                "'interfax_result', 'interfax', 'interfax', :outcome, 'busy', '+81355550101', :occurred, "
                ":happened, :at, :forwarded, :key)"),
                {"id": id_, "mail": mail, "outcome": outcome, "occurred": occurred, "happened": happened,
                 "at": arrived[mail], "forwarded": forwarded, "key": key})

    def failures() -> list[tuple[object, ...]]:
        with eng.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text("SELECT * FROM failures ORDER BY result_id"))]

    def indexes() -> set[tuple[str, ...]]:
        return {tuple(index["column_names"]) for index in sa.inspect(eng).get_indexes("fax_results")}

    before = failures()
    assert [row[0] for row in before] == [1, 2, 3]
    migrate(eng)
    assert failures() == before
    assert ("outcome", "happened_at") in indexes() and ("outcome", "created_at") not in indexes()
    with eng.connect() as connection:
        filled = connection.execute(sa.text("SELECT happened_at FROM fax_results WHERE id = 3")).scalar()
    assert filled is not None and datetime.fromisoformat(str(filled)).replace(tzinfo=UTC) == datetime(
        2026, 11, 2, 8, 30, tzinfo=UTC)
    config = alembic_config(db_url)
    with eng.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    assert failures() == before
    assert ("outcome", "created_at") in indexes() and ("outcome", "happened_at") not in indexes()
    eng.dispose()


def test_number_health_gives_the_same_rows_ranked(db_url: str) -> None:
    """0012: `number_health` finds each number's latest result by ranking its results once, not by a subquery per
    result (quadratic in a number's history); the rows are those of 0004's view, ties in time included (the
    higher id wins), with undated results, mail bounces, forwarded copies and submissions in the history."""
    from alembic import command

    eng = create_db_engine(db_url)
    migrate(eng, "0011")
    numbers = ["+81355550101", "+81655550202", "+81455550303", "+81115550404"]
    reasons = [("failed", "invalid_number", False), ("failed", "busy", True), ("delivered", "delivered", None),
               ("failed", "voice_answer", False), ("failed", "credit_limit", False)]
    with eng.begin() as connection:
        for id_ in range(1, 61):
            connection.execute(sa.text(
                "INSERT INTO inbound_messages (id, received_at, rcpt_tos, size, sha256, status, attempts) "
                "VALUES (:id, :at, '[]', 1, :sha, 'processed', 1)"),
                {"id": id_, "at": datetime(2026, 11, 1 + id_ % 7, id_ % 5, tzinfo=UTC), "sha": f"{id_:064x}"})
            outcome, reason, retryable = reasons[id_ * 7 % len(reasons)]
            dated = id_ % 3 != 0
            occurred = datetime(2026, 11, 1 + id_ % 6, 9, tzinfo=UTC) if dated else None  # ties in time
            arrived = datetime(2026, 11, 1 + id_ % 7, id_ % 5, tzinfo=UTC)
            connection.execute(sa.text(
                "INSERT INTO fax_results (id, inbound_message_id, kind, detected_by, vendor, outcome, reason, "
                "retryable, fax_number, occurred_at, happened_at, created_at, forwarded, event_key) VALUES (:id, "
                ":id, :kind, 't', 'interfax', :outcome, :reason, :retryable, :number, :occurred, :happened, "
                ":happened, :forwarded, :key)"),
                {"id": id_, "kind": "dsn" if id_ % 11 == 0 else "interfax_result", "outcome": outcome,
                 "reason": reason, "retryable": retryable, "number": numbers[id_ % len(numbers)],
                 "occurred": occurred, "happened": occurred or arrived, "forwarded": id_ % 10 == 0,
                 "key": f"e{id_ // 2}" if id_ % 4 < 2 else None})
        for id_, state in ((1, "no_result"), (2, "delivered"), (3, "submitted")):
            connection.execute(sa.text(
                "INSERT INTO fax_submissions (inbound_message_id, recipient, fax_number, found_in, submitted_at, "
                "state, state_at, created_at) VALUES (1, :r, :n, 'to', :at, :state, :at, :at)"),
                {"r": f"{id_}@fax.tc", "n": numbers[id_] if id_ < 3 else "+81925550505", "state": state,
                 "at": datetime(2026, 11, 2, tzinfo=UTC)})

    def health() -> list[tuple[object, ...]]:
        with eng.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(
                "SELECT * FROM number_health ORDER BY fax_number"))]

    before = health()
    assert len(before) == 5 and {row[-1] for row in before} >= {"ok", "check_number"}
    migrate(eng)
    assert health() == before
    config = alembic_config(db_url)
    with eng.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    assert health() == before
    eng.dispose()


def _compression(connection: sa.Connection) -> str:
    """`inbound_raw.raw`'s compression method as the catalogue has it ('' = the server's default, pglz)."""
    return connection.exec_driver_sql(
        "SELECT attcompression FROM pg_attribute WHERE attrelid = 'inbound_raw'::regclass AND attname = 'raw'"
    ).scalar() or ""


def test_mail_bytes_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    """0011: new bytes are written with lz4 (`pg_column_compression` of a compressible mail says so), bytes
    stored before under pglz still read back, and the downgrade returns the column to pglz."""
    from alembic import command

    from bench.perf import postgres_schema
    from processor.store.db import alembic_config
    from processor.store.inbound import Envelope, RawStore

    with postgres_schema(postgres_url, "fbtest") as url:
        eng = create_db_engine(url)
        config = alembic_config(url)
        try:
            with eng.connect() as connection:
                methods = connection.exec_driver_sql(
                    "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'").scalar()
            if not methods or "lz4" not in methods:  # the revision leaves such a server's column as it was
                pytest.skip("this PostgreSQL server has no lz4 compression (built without it, or before 14)")
            with eng.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "0010")
            text = b"Subject: report\r\n\r\n" + b"550 5.1.1 user unknown\r\n" * 400  # compressible, 9.6 KB
            before = RawStore(eng).put(text, Envelope(None, ()))
            with eng.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "0011")
                assert _compression(connection) == "l"
            after = RawStore(eng).put(text + b"again\r\n", Envelope(None, ()))
            with eng.connect() as connection:
                methods = dict(connection.execute(sa.text(
                    "SELECT inbound_message_id, pg_column_compression(raw) FROM inbound_raw")).all())
                assert methods == {before.id: "pglz", after.id: "lz4"}
                assert connection.execute(sa.text("SELECT raw FROM inbound_raw WHERE inbound_message_id = :id"),
                                          {"id": before.id}).scalar() == text
            with eng.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "0010")
                assert _compression(connection) == "p"
        finally:
            eng.dispose()
