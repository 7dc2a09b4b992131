"""Fields read by their label, as fax notification templates write them.

No vendor publishes verbatim samples and templates differ per site, so a field is found by its label
wherever it stands: at the start of a text line, after a TAB (HTML table cells are joined by TAB on one
line), inside 【】 brackets, with `:`/`=` or only spacing before the value; or as a column of a table whose
header row names the fields (one row per destination). The labels themselves are catalogue data
(`processor.catalogues.labels`).

Matching folds the text (NFKC: full-width colons, digits and letters are ASCII), but a value is cut from
the text as given: pass the unfolded `ParsedMail.plain_source` / `html_source` and `①見積書` stays `①見積書`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache

from processor import regex_cache
from processor.parse.charset import FoldMap, fold_text, fold_with_offsets

__all__ = ["field_values", "identifier", "may_hold_labels", "parse_int", "pick", "split_code", "table_rows"]

_DECORATION = r"[ \u3000・■□◆◇●○▼▽★☆*#>\-\[【「(<]*"
_CLOSERS = r"[\]】」)>]?"
_CODE_RE = regex_cache.compile(r"^\s*(-?\d{1,9})(?=$|[\s\-:(])\s*(?:\((.*)\)|[-:]?\s*(.*?))\s*$")
_CELL_DECORATION = "\u3000 ・■□◆◇●○▼▽★☆*#>-[]【】「」()<>:="


@cache
def _label_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    """`label: value` at a line start or after a TAB; ASCII labels need `:`, `=`, a TAB or a bracket."""
    ordered = sorted(labels, key=len, reverse=True)
    ascii_alts = "|".join(_label_pattern(label) for label in ordered if label.isascii())
    other_alts = "|".join(_label_pattern(label) for label in ordered if not label.isascii())
    spaced_alts = "|".join(_spaced_pattern(label) for label in ordered if not label.isascii())
    ends = r"(?:[ \t]*[:=][ \t]*|(?<=[\]】」)>])[ \t]*|\t[ \t]*|(?=\n|$))"
    parts = []
    if ascii_alts:
        parts.append(rf"(?:{ascii_alts}){_CLOSERS}{ends}")
    if other_alts:  # Japanese labels may also be followed by plain spacing: `送信結果 3912`
        parts.append(rf"(?:{other_alts}){_CLOSERS}(?:{ends}|[ \u3000]+)")
        # spaced out to a column's width (`宛　　先：`): then only before a separator, never plain spacing, which
        # spaced-out prose (`件 名 が 長 い …`) also has
        parts.append(rf"(?:{spaced_alts}){_CLOSERS}{ends}")
    return regex_cache.compile(rf"(?:^|\t){_DECORATION}(?:{'|'.join(parts)})([^\t\n]*)", re.MULTILINE | re.IGNORECASE)


def _label_pattern(label: str) -> str:
    return r"[ _]?".join(re.escape(word) for word in label.split())


def _spaced_pattern(label: str) -> str:
    """A Japanese label spaced out to a column's width, as templates and documents space short labels
    (`宛　　先：`, `件　名：`; the ideographic space is a space once folded): spacing between any two characters."""
    return r"[ _]*".join(re.escape(char) for char in label if not char.isspace())


@lru_cache(maxsize=16)
def _folded(text: str) -> tuple[str, FoldMap]:
    return fold_with_offsets(text)


def _cut(text: str, fold_map: FoldMap, start: int, end: int) -> str:
    """The original of folded `start:end`, stripped."""
    return text[fold_map.start(start) : fold_map.end(end)].strip()


def may_hold_labels(text: str, labels: Sequence[str]) -> bool:
    """False when neither `field_values` nor a header row of `table_rows` can find any of `labels` in `text`.

    A detector asks this first, once, for labels it cannot do without: most mail is not its format, and one
    search is cheaper than reading every field. It errs on the side of yes: a label's characters in order,
    with any spacing or `_` between any two of them (a header cell is matched without its spacing:
    `送 信 結 果`), case-insensitive on the folded text, as both readers match."""
    pattern = _labels_anywhere_re(tuple(labels))
    return pattern.search(_lowered(text) if not pattern.flags & re.IGNORECASE else _folded(text)[0]) is not None


#: The only characters that IGNORECASE equates with an ASCII letter but `str.lower` does not turn into one,
#: once NFKC has folded the text (ſ is s then): dotted and dotless I.
_LOWER_LIKE_IGNORECASE = str.maketrans({"\u0130": "i", "\u0131": "i"})


@lru_cache(maxsize=16)
def _lowered(text: str) -> str:
    """The folded text in lower case, where a case-sensitive search for lower-case keys finds what an
    IGNORECASE search finds in the folded text: Python's `re` cannot skip ahead to where a case-insensitive
    alternative can start, so the case-sensitive search is 3-4 times faster."""
    folded = _folded(text)[0]
    if not folded.isascii() and ("\u0130" in folded or "\u0131" in folded):
        folded = folded.translate(_LOWER_LIKE_IGNORECASE)
    return folded.lower()


@cache
def _labels_anywhere_re(labels: tuple[str, ...]) -> re.Pattern[str]:
    """Lower case, for `_lowered` text; IGNORECASE over the folded text when a label has a cased letter outside
    ASCII (`Ü`), which `str.lower` and IGNORECASE need not treat alike."""
    # sorted by length, then text: a set's order changes with each process's hash seed, the pattern must not
    keys = sorted({re.sub(r"[\s_]", "", fold_text(label)) for label in labels if label.strip()},
                  key=lambda key: (len(key), key))
    if any(char.lower() != char.upper() for key in keys for char in key if not char.isascii()):
        return regex_cache.compile("|".join(r"[\s_]*".join(re.escape(char) for char in key) for key in keys),
                                   re.IGNORECASE)
    return regex_cache.compile("|".join(r"[\s_]*".join(re.escape(char) for char in key.lower()) for key in keys))


def field_values(text: str, labels: Sequence[str]) -> list[str]:
    """Every value written after one of `labels`, in order, as `text` writes it; a value on the next line
    when the label stands alone."""
    folded, offsets = _folded(text)
    values: list[str] = []
    for match in _label_re(tuple(labels)).finditer(folded):
        start, end = match.span(1)
        value = _cut(text, offsets, start, end)
        if not folded[start:end].strip() and _stands_alone(folded, match.start(), end):
            start, end = _next_line_value(folded, end)
            value = _cut(text, offsets, start, end)
        values.append(value)
    return values


def _stands_alone(folded: str, start: int, end: int) -> bool:
    """The label is its line's only cell: under a table's header row the next line is a row (its first cell a
    counter such as `No.` 1), not the label's value."""
    line_start = folded.rfind("\n", 0, start) + 1
    line_end = folded.find("\n", end)
    line = folded[line_start : len(folded) if line_end < 0 else line_end]
    return "\t" not in line.strip("\t ")


def _next_line_value(folded: str, position: int) -> tuple[int, int]:
    """Span of the first cell of the next non-blank line (within two lines), unless it is itself `label: …` or a
    rule of no letter or digit (a signature's `━━━━` under an empty `件名：`)."""
    for _ in range(2):
        line_start = folded.find("\n", position)
        if line_start < 0:
            break
        line_start += 1
        line_end = folded.find("\n", line_start)
        line_end = len(folded) if line_end < 0 else line_end
        line = folded[line_start:line_end]
        position = line_end
        if not line.strip():
            continue
        if ":" in line.strip()[:12] or not any(char.isalnum() for char in line):
            break  # another label's line, or a rule (`━━━━`, `-----`): the label has no value
        while folded[line_start] == "\t":  # the value cell of a label cell that stood in its own block
            line_start += 1
        cell_end = folded.find("\t", line_start, line_end)
        return line_start, line_end if cell_end < 0 else cell_end
    return position, position


#: Lines of a list table that hold no result, between its header and a row or between two rows: a `<tfoot>`
#: summary that HTML 4 writes before the rows (`合計 3件`), a heading over a group (`■ 送信できなかった宛先`),
#: each with its code cell empty. More than this, and the table has ended.
_MAX_LINES_BETWEEN_ROWS = 5


def table_rows(text: str, fields: Mapping[str, Sequence[str]], key_field: str) -> list[dict[str, str]]:
    """Rows of every table whose header row names `key_field` among its cells, one dict per row (field → cell
    as `text` writes it, TAB-joined when two columns name one field; columns it does not know, such as a
    `No.` counter, are left out): a list send's one
    row per destination. Cells are TAB-separated (HTML tables come out so); a header is recognised by its next
    row holding a code under `key_field`, so a label/value layout (`送信結果<TAB>3912<TAB>ページ数<TAB>2`) is
    not taken for one."""
    if "\t" not in text:
        return []
    folded, offsets = _folded(text)
    by_label = _by_label(tuple((name, tuple(group)) for name, group in fields.items()))
    lines = _line_spans(folded)
    rows: list[dict[str, str]] = []
    index = 0
    while index < len(lines):
        columns = _header(folded, lines[index], by_label)
        key_column = next((c for c, name in columns.items() if name == key_field), None)
        index += 1
        if key_column is None:
            continue
        width = len(_cells(folded, lines[index - 1]))
        first: list[tuple[int, int]] | None = None  # the table's first row
        number_column = next((c for c, name in columns.items() if name == "fax_number"), None)
        skipped = 0  # lines since the last row: a summary (`<tfoot>`, written before the rows) or a group heading
        while index < len(lines):
            cells = _cells(folded, lines[index])
            is_row = len(cells) > key_column and split_code(folded[slice(*cells[key_column])])[0] is not None
            if is_row and skipped and not _resumes(folded, cells, width, number_column, first):
                is_row = False  # after a break, only a row of this table: its width, shape and a fax number
            if is_row and first is None:
                first = cells
            if not is_row:
                # A line that holds no result: one cell (a group heading across the table), or cells with the
                # code's empty (a `<tfoot>` total). Another line ends the table: a row of another table (a
                # contact list: a phone number where the code stands), or too many such lines.
                if (skipped == _MAX_LINES_BETWEEN_ROWS or number_column is None
                        or (len(cells) > key_column and folded[slice(*cells[key_column])].strip())):
                    index -= skipped  # the table ended at the first of them: look at them again for a header
                    break
                skipped += 1
                index += 1
                continue
            skipped = 0
            row: dict[str, str] = {}
            for column, name in columns.items():  # a field named by two columns (送信先, FAX番号): both cells
                if column < len(cells) and (cell := _cut(text, offsets, *cells[column])):
                    row[name] = f"{row[name]}\t{cell}" if row.get(name) else cell
            rows.append(row)
            index += 1
    return rows


def _resumes(folded: str, cells: list[tuple[int, int]], width: int, number_column: int | None,
             first: list[tuple[int, int]] | None) -> bool:
    """Whether a row after a list's heading or total lines is one of its rows: as many cells as its header, a
    fax number (six digits or more) under its number column, and no cell of words where the list's first row
    has digits, or the other way round (a contact line's `営業部` where the list counts `1`, `2`)."""
    if len(cells) != width or number_column is None or number_column >= len(cells):
        return False
    if sum(char.isdigit() for char in folded[slice(*cells[number_column])]) < 6:
        return False
    for mine, theirs in zip(cells, first or (), strict=False):
        kinds = {_kind(folded[slice(*mine)]), _kind(folded[slice(*theirs)])}
        if kinds == {"digits", "words"}:
            return False
    return True


def _kind(cell: str) -> str:
    """`digits`, `words` or empty: the shape of a cell that rows of one list share."""
    cell = cell.strip()
    return "" if not cell else "digits" if any(char.isdigit() for char in cell) else "words"


@cache
def _by_label(fields: tuple[tuple[str, tuple[str, ...]], ...]) -> Mapping[str, str]:
    """Header cell key → field name."""
    return {_cell_key(label): name for name, group in fields for label in group}


def _line_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]


def _cells(text: str, line: tuple[int, int]) -> list[tuple[int, int]]:
    spans = []
    position = line[0]
    for cell in text[line[0] : line[1]].split("\t"):
        spans.append((position, position + len(cell)))
        position += len(cell) + 1
    return spans


def _header(text: str, line: tuple[int, int], by_label: Mapping[str, str]) -> dict[int, str]:
    """Column → field for a line whose cells name fields (only lines with at least two cells)."""
    if "\t" not in text[line[0] : line[1]]:
        return {}
    columns: dict[int, str] = {}
    for column, span in enumerate(_cells(text, line)):
        name = by_label.get(_cell_key(text[slice(*span)]))
        if name is not None:
            columns[column] = name
    return columns


def _cell_key(cell: str) -> str:
    """A header cell or label without decoration, spacing, `_` or case: `【送信先 FAX番号】` = `送信先FAX番号`."""
    folded = fold_text(cell)
    return re.sub(r"[\s_]", "", folded.strip(_CELL_DECORATION)).casefold()


def pick(values: Sequence[str], index: int, count: int, own: bool = False) -> str | None:
    """The n-th value when each of `count` results has its own (a list send), else the shared first one.
    `own`: a value no two faxes share (fax number, transaction id): when the counts differ in a list, which
    value belongs to which fax is unknown, and a wrong number is worse than none."""
    if not values:
        return None
    if len(values) == count:
        return values[index]
    return None if own and count > 1 else values[0]


def split_code(value: str | None) -> tuple[str | None, str | None]:
    """`3912-FAX番号が使用不可です` → ("3912", "FAX番号が使用不可です"); `３９１２－…` gives the same code (ASCII)
    and its label as written; no leading number → (None, None)."""
    if not value:
        return None, None
    folded, offsets = _folded(value)
    match = _CODE_RE.match(folded)
    if not match:
        return None, None
    for group in (2, 3):
        if match.group(group):
            return match.group(1), _cut(value, offsets, *match.span(group)) or None
    return match.group(1), None


def identifier(value: str | None) -> str | None:
    """An id (transaction id, message handle) folded to ASCII: it is a key that other mails must match, not
    text a person reads (`６１２３４５６７８` is `612345678`)."""
    text = fold_text(value or "").strip()
    # Every id the vendors write holds a digit; a value without one is a neighbouring label or word that a
    # layout put in the id's place (`件名`), and as an event key it would make two faxes one.
    return text if any(char.isdigit() for char in text) else None


def parse_int(value: str | None) -> int | None:
    match = re.search(r"\d{1,6}", fold_text(value or ""))
    return int(match.group(0)) if match else None
