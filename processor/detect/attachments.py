"""The texts of a mail that may hold a machine format (CSV, XML): bodies and attachments, decoded."""

from __future__ import annotations

from collections.abc import Iterator

from processor.parse import ParsedMail
from processor.parse.charset import clean_text, decode_bytes
from processor.parse.mail import payload_bytes

__all__ = ["MAX_MACHINE_BYTES", "machine_texts"]

MAX_MACHINE_BYTES = 4 * 1024 * 1024
"""An attachment is read up to this size: a result list is far smaller, a hostile one is cut."""


def machine_texts(mail: ParsedMail, suffix: str, types: frozenset[str]) -> Iterator[str]:
    """Texts that may hold CSV or XML: inline bodies, decoded text attachments, and `application/*` parts
    of the wanted type or file suffix, which the parse layer leaves undecoded. Unfolded (values are stored
    as written); readers fold names for matching."""
    seen: set[str] = set()
    for part in mail.parts:
        named = (part.filename or "").lower().endswith(suffix)
        text = part.source_text or part.text
        if text and text not in seen and (part.content_type in types or named or not part.is_attachment):
            seen.add(text)
            yield text
    for part, content_type, filename in mail.binary_leaves:
        if content_type not in types and not filename.endswith(suffix):
            continue
        data = payload_bytes(part)
        if data:
            yield clean_text(decode_bytes(data[:MAX_MACHINE_BYTES], part.get_content_charset() or "utf-8"))
