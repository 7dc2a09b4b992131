"""How much text a column takes, read from the models (`String(n)`, or `info["max_chars"]` on a `Text`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from processor.text import clean_text

__all__ = ["fit", "max_chars"]


def max_chars(column: Any) -> int:
    """The character limit the model declares for `column` (a table column or a mapped attribute)."""
    column = _column(column)
    declared = column.info.get("max_chars") or getattr(column.type, "length", None)
    if not isinstance(declared, int) or declared <= 0:
        raise TypeError(f"{column.table.name}.{column.name} declares no length (String(n) or info max_chars)")
    return declared


def fit(column: Any, value: str | None) -> str | None:
    """`value` cleaned (`clean_text`) and cut to what `column` holds."""
    return clean_text(value, max_chars(column))


def _column(column: Any) -> sa.Column[Any]:
    prop = getattr(column, "property", None)  # a mapped attribute (FaxResultRow.recipient)
    return prop.columns[0] if prop is not None else column
