"""Text as every database we support stores it: the one place that clamps strings read from mail or the network."""

from __future__ import annotations

from typing import overload

__all__ = ["INVISIBLE_CHARACTERS", "clean_text"]

INVISIBLE_CHARACTERS = "\u00ad\u200b\u2060\ufeff"
"""Characters that show nothing and join nothing: the soft hyphen, zero-width space, word joiner and a BOM inside
a text. Templates put them inside digits and labels (`39\u200b12`, to keep mail apps from making links); the mail
reader and `explain` drop them. Not the zero-width non-joiner, a letter of Persian spelling."""


@overload
def clean_text(value: str, limit: int | None = None) -> str: ...
@overload
def clean_text(value: None, limit: int | None = None) -> None: ...
def clean_text(value: str | None, limit: int | None = None) -> str | None:
    """`value` without NUL (PostgreSQL refuses it in text), lone surrogates (no UTF-8 codec encodes them:
    each becomes `?`) and, when `limit` is given, anything past `limit` characters."""
    if value is None:
        return None
    cleaned = value.replace("\x00", "")
    if not cleaned.isascii():  # ASCII has no surrogates: no round trip through UTF-8
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned if limit is None else cleaned[:limit]
