"""Storage stage: the database (SQLAlchemy 2, Alembic) behind small functions."""
