"""PostgreSQL compresses the mails' bytes (`inbound_raw.raw`) with lz4 instead of pglz.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:30:00

Every mail's bytes over 2 KB are compressed when written (TOAST). With pglz, PostgreSQL's default, the SMTP
side's commit of five 100 KB mails took 8.6 ms of which the server spent most compressing (`make bench`'s
PostgreSQL 100 KB rows: 475 msg/s against SQLite's 1,560); with lz4 2.3 ms. lz4 also keeps mail smaller: the
corpus and sample mails take 57 % of their size against pglz's 63 %; base64 attachments neither compresses.
Only values written from now on are affected; rows stored before keep pglz and read as before. Needs
PostgreSQL 14 built with lz4 (Debian's, the PGDG packages and the official images are); on a server without
it the column stays as it was and the revision says so in a warning. SQLite is untouched. No table, view or
query result changes.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    supported = bind.execute(sa.text(
        "SELECT current_setting('server_version_num')::int >= 140000 AND EXISTS "
        "(SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND :method = ANY(enumvals))"),
        {"method": method}).scalar()
    if not supported:
        log.warning("inbound_raw.raw keeps its compression: this PostgreSQL server has no %s", method)
        return
    op.execute(f"ALTER TABLE inbound_raw ALTER COLUMN raw SET COMPRESSION {method}")
