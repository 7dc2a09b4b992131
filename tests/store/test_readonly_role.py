"""`faxbounce sql-grant-readonly ROLE`: analysts can read every table and view and write nothing."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.cli import main
from processor.errors import FaxbounceError
from processor.store.db import readonly_grants


def test_readonly_role_reads_but_cannot_write(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        with pytest.raises(FaxbounceError, match="PostgreSQL"):
            readonly_grants(engine, "analyst")
        return
    role = f"fb_analyst_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    try:
        assert main(["sql-grant-readonly", role]) == 0
        with engine.connect() as connection:
            connection.exec_driver_sql(f'SET ROLE "{role}"')
            assert connection.exec_driver_sql("SELECT count(*) FROM failures").scalar_one() == 0
            assert connection.exec_driver_sql("SELECT count(*) FROM inbound_messages").scalar_one() == 0
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                connection.exec_driver_sql("DELETE FROM fax_results")
            connection.rollback()
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')


def test_role_name_is_checked(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with pytest.raises(FaxbounceError, match="plain role name"):
            readonly_grants(engine, 'x"; DROP TABLE fax_results; --')
