"""Fields read by their label, as fax notification templates write them.

No vendor publishes verbatim samples and templates differ per site, so a field is found by its label
wherever it stands: at the start of a text line, after a TAB (HTML table cells are joined by TAB on one
line), inside 【】 brackets, with `:`/`=` or only spacing before the value. Text is NFKC-normalized by the
parse layer, so full-width colons and digits are already ASCII here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

__all__ = ["field_values", "parse_int", "pick", "split_code"]

_DECORATION = r"[ \u3000・■□◆◇●○▼▽★☆*#>\-\[【「(<]*"
_CLOSERS = r"[\]】」)>]?"
_CODE_RE = re.compile(r"^\s*(-?\d{1,9})(?=$|[\s\-:(])\s*(?:\((.*)\)|[-:]?\s*(.*?))\s*$")


@cache
def _label_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    """`label: value` at a line start or after a TAB; ASCII labels need `:`, `=`, a TAB or a bracket."""
    ordered = sorted(labels, key=len, reverse=True)
    ascii_alts = "|".join(_label_pattern(label) for label in ordered if label.isascii())
    other_alts = "|".join(_label_pattern(label) for label in ordered if not label.isascii())
    ends = r"(?:[ \t]*[:=][ \t]*|(?<=[\]】」)>])[ \t]*|\t[ \t]*|(?=\n|$))"
    parts = []
    if ascii_alts:
        parts.append(rf"(?:{ascii_alts}){_CLOSERS}{ends}")
    if other_alts:  # Japanese labels may also be followed by plain spacing: `送信結果 3912`
        parts.append(rf"(?:{other_alts}){_CLOSERS}(?:{ends}|[ \u3000]+)")
    return re.compile(rf"(?:^|\t){_DECORATION}(?:{'|'.join(parts)})([^\t\n]*)", re.MULTILINE | re.IGNORECASE)


def _label_pattern(label: str) -> str:
    return r"[ _]?".join(re.escape(word) for word in label.split())


def field_values(text: str, labels: Sequence[str]) -> list[str]:
    """Every value written after one of `labels`, in order; a value on the next line when the label stands alone."""
    values: list[str] = []
    lines = text.split("\n")
    pattern = _label_re(tuple(labels))
    for match in pattern.finditer(text):
        value = match.group(1).strip()
        if not value:
            line_no = text.count("\n", 0, match.start(1))
            following = next((line.strip() for line in lines[line_no + 1 : line_no + 3] if line.strip()), "")
            value = following.split("\t", 1)[0].strip() if following and ":" not in following[:12] else ""
        values.append(value)
    return values


def pick(values: Sequence[str], index: int, count: int) -> str | None:
    """The n-th value when each of `count` results has its own (a list send), else the shared first one."""
    if not values:
        return None
    return values[index] if len(values) == count else values[0]


def split_code(value: str | None) -> tuple[str | None, str | None]:
    """`3912-FAX番号が使用不可です` → ("3912", "FAX番号が使用不可です"); no leading number → (None, None)."""
    if not value:
        return None, None
    match = _CODE_RE.match(value)
    if not match:
        return None, None
    return match.group(1), ((match.group(2) or match.group(3) or "").strip() or None)


def parse_int(value: str | None) -> int | None:
    match = re.search(r"\d{1,6}", value or "")
    return int(match.group(0)) if match else None
