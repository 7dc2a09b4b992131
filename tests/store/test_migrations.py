"""The schema: Alembic revisions equal the models, and the public views have their documented columns."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from processor.store.db import alembic_config, create_db_engine, current_revision, head_revision, migrate
from processor.store.models import Base

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
