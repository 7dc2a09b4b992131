"""HTML to text that keeps a table's shape: cells apart on one line, rows on their own lines.

Notification templates put a label in one cell and its value in the next (`<td>送信結果</td><td>3912</td>`);
joining cells with a tab keeps them on one line, so the same label patterns read text and HTML mails. Exactly
one tab stands between two cells of a row, also around an empty cell, so a list table's columns stay aligned
under its header row.

The markup is read by a tokenizer of our own: text, start and end tags, comments, marked sections and
declarations, split as the stdlib's `html.parser` splits them, for a text that needs tag names and one attribute
only. `html.parser` (Python 3.11) took 29 ms of the 119 HTML texts in the corpus and the test mails, this reader
14.5 ms with the same text from each; an HTML InterFAX result parsed in 201-211 µs instead of 322-337. And it
was quadratic where markup is left open: 200 KB of `<a "` took 155 s, of `<!--` 12 s (a worker stalled for hours
by one hostile mail of a few MB). Here every step moves forward and a search for an end that found none is not
run again on the same text, so the time is linear in the input whatever the input (2 MB of either: 0.9 s).

Broken markup is read as `html.parser` reads it in the common cases: a `<` that opens nothing is text, and a
tag, comment or declaration never closed is text up to the next `>` (or `<`). A quote in a tag never closed
makes the rest of the text be read with quotes not counting, so a broken attribute loses no table after it.
"""

from __future__ import annotations

import re

from processor import regex_cache

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "tbody", "thead", "tfoot", "h1", "h2", "h3", "h4",
     "h5", "h6", "pre", "blockquote", "hr", "dt", "dd", "dl", "section", "article", "header", "footer",
     "title", "caption", "form", "address", "center"}
)
_CELL = frozenset({"td", "th"})
_SKIP = frozenset({"script", "style", "head", "noscript", "template", "title"})
_HEAD_CONTENT = frozenset({"title", "meta", "link", "style", "script", "base", "noscript", "template"})
"""What a `<head>` holds: any other element ends it, as in a browser (`</head>` may be left out)."""
_HIDDEN_STYLE = regex_cache.compile(r"display\s*:\s*none|mso-hide\s*:\s*all|visibility\s*:\s*hidden", re.IGNORECASE)
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"})
_END_OPTIONAL = frozenset({"p", "li", "dt", "dd", "td", "th", "tr", "thead", "tbody", "tfoot", "option", "caption"})
"""Elements whose end tag HTML lets a writer leave out: styled out of sight, they are not hidden, since a hidden
region that never closes would hide the rest of the notice (preheaders are `div`, `span` or `table`)."""
_RAW_TEXT = frozenset({"script", "style"})
"""Elements whose content is not markup: read to their end tag (`html.parser`'s CDATA content elements)."""
_MAX_CHARS = 8 * 1024 * 1024
_SOURCE_WS = regex_cache.compile(r"[\t\n\r\f]+")
_PRE_STYLE = regex_cache.compile(r"white-space\s*:\s*pre", re.IGNORECASE)

# A start tag: its name, then attributes up to the first `>` outside quotes (a quoted value may hold `>`).
_START_TAG = regex_cache.compile(r"""<([a-zA-Z][^\t\n\r\f />\x00]*+)((?:[^>"']++|"[^"]*+"|'[^']*+')*+)>""")
# The same without quotes, once a quote was found never closed: the rest of the text is read this way.
_START_TAG_UNQUOTED = regex_cache.compile(r"<([a-zA-Z][^\t\n\r\f />\x00]*+)([^>]*+)>")
_END_TAG_NAME = regex_cache.compile(r"</\s*([a-zA-Z][^\t\n\r\f />\x00]*)")
_STYLE_ATTR = regex_cache.compile(r"""(?:^|[\s/"'])style\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]*)""", re.IGNORECASE)
_GT = regex_cache.compile(">")
_COMMENT_END = regex_cache.compile(r"--\s*>")
_SECTION_KEYWORD = regex_cache.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*")
_SECTION_END = regex_cache.compile(r"]\s*]\s*>")
_MS_SECTION_END = regex_cache.compile(r"]\s*>")
_SPACES = regex_cache.compile(r"[ \r\f\v]+")
_SPACES_AROUND_TAB = regex_cache.compile(r" *\t *")
_SPAN_ATTR = regex_cache.compile(r"""(?:^|[\s/"'])(colspan|rowspan)\s*=\s*["']?\s*(\d{1,6})""", re.IGNORECASE)
_BREAK = "\x1e"
"""Where a block breaks a cell's text: a space or a line once its row shows how many cells hold text."""
_MAX_SPAN = 64
"""Columns or rows one cell may span: more than any notice's table, and bounded against hostile markup."""
_MAX_SPAN_TEXT = 256
"""Characters of a cell's text repeated in the rows it spans."""
_RULE = "\n" + "_" * 32 + "\n"
"""A horizontal rule as text: Outlook's plain text draws the one above a forwarded header block so."""
_RULE_STYLE = regex_cache.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
_MAX_SPAN_OUTPUT = 1_000_000
"""Characters spanning cells may add to a document in all (each row may repeat 64 cells of 256): no amplification
by markup beyond this; a notice's list adds a few hundred."""
_MAX_TABLES = 64
"""Tables open inside each other that keep their own columns; deeper ones write into the 64th."""


_RAW_TEXT_END = {name: regex_cache.compile(rf"</{name}[\t\n\r\f />]", re.IGNORECASE) for name in _RAW_TEXT}
"""Where a raw-text element ends: `</script` then white space, `/` or `>`."""
_Absent = dict[re.Pattern[str], int]


def _unescape(text: str) -> str:
    from html import unescape  # html.entities' 2,231 names: loaded for the first reference a text holds

    return unescape(text)


class _Table:
    """An open table: its current row's cells and column, and the cells of rows above that span into it."""

    __slots__ = ("breaks", "cell", "cell_break", "cell_column", "cell_columns", "cell_rows", "cell_start",
                 "cell_text", "cells", "column", "row_open", "spans", "text_cells")

    def __init__(self) -> None:
        self.cells = 0  # cells begun in the current row
        self.column = 0  # the column the next cell stands in (a colspan counts its columns)
        self.row_open = False
        self.text_cells = 0  # cells of the current row that showed text
        self.breaks: list[int] = []  # chunks that break a cell's text: a line, or in a row of cells a space
        self.spans: dict[int, tuple[int, str, int]] = {}  # column -> (rows left, text, columns) of a rowspan above
        self.cell = False  # a cell of this table is open
        self.cell_text = False  # it has shown text
        self.cell_break = False  # a block ended inside it after its text: a line break if more text follows
        self.cell_start = 0  # its first chunk
        self.cell_column = 0
        self.cell_columns = 1
        self.cell_rows = 1


class _Text:
    """What the tags do to the text: cells apart on one line, rows and blocks on lines of their own.

    A table's cells keep their columns: a cell spanning columns (`colspan`) is followed by as many empty ones,
    and one spanning rows (`rowspan`) repeats its text in the rows below, so that a list's rows stay aligned
    under its header row (an unaligned row read another column as the result: a busy fax as a delivery). A
    block that wraps a cell's whole text (Word and Outlook write `<td><p class=MsoNormal>…</p></td>`) adds no
    line. One that separates text inside a cell (`本社<br>03-5555-0101`, `3912-<br>FAX番号が…`) is a space when two
    or more cells of its row show text, so the row stays one line; in a row of one such cell (a layout table
    around a notice) it is a line, as outside tables."""

    __slots__ = ("cells", "chunks", "hidden", "hidden_depth", "pre_tags", "skip_depth", "skipping", "span_budget",
                 "tables")

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.skipping: list[str] = []  # the skipped elements open, innermost last
        self.hidden: str | None = None  # an element styled out of sight, while it is open
        self.hidden_depth = 0  # elements of its name open inside it, itself included
        self.pre_tags: list[str] = []  # open elements that keep source line ends (<pre>, white-space: pre*)
        self.cells = 0  # cells begun in the current row, for cells outside any table
        self.tables: list[_Table] = []
        self.span_budget = _MAX_SPAN_OUTPUT  # characters spanning cells may still add (text repeated, cells filled)

    def start(self, tag: str, attributes: str) -> None:
        if self.hidden is not None:
            self.hidden_depth += tag == self.hidden
            return
        if "head" in self.skipping and tag not in _HEAD_CONTENT:
            del self.skipping[self.skipping.index("head"):]  # `<body>` (or any body element) ends the head
            self.skip_depth = len(self.skipping)
        styled = "=" in attributes and "style" in attributes.lower()
        if styled and tag not in _VOID and tag not in _END_OPTIONAL and _styled_hidden(attributes):
            self.hidden, self.hidden_depth = tag, 1  # a preheader (`display:none`): what no one sees is no field
            return
        if tag == "pre" or (styled and _keeps_lines(attributes)):
            self.pre_tags.append(tag)
        if tag == "hr" or (styled and tag == "div" and _style_holds(attributes, _RULE_STYLE)):
            # Outlook's forwarded header block sits under a bordered <div> (Outlook on the web: an <hr>); its plain
            # text draws the rule as underscores, which is where a forward's header block is looked for.
            self.chunks.append(_RULE)
            return
        if tag in _SKIP:
            self.skipping.append(tag)
            self.skip_depth += 1
        elif tag in _CELL:
            self._cell(attributes)
        elif tag == "table":
            self.chunks.append("\n")
            if len(self.tables) < _MAX_TABLES:
                self.tables.append(_Table())
        elif tag == "tr":
            self._row_end()
            self.chunks.append("\n")
        elif tag in _BLOCK:
            self._edge()

    def start_end(self, tag: str) -> None:
        if tag == "hr" and self.hidden is None:
            self.chunks.append(_RULE)
        elif tag in _BLOCK and self.hidden is None:
            self._edge()

    def end(self, tag: str) -> None:
        if self.hidden is not None:
            self.hidden_depth -= tag == self.hidden
            if self.hidden_depth == 0:
                self.hidden = None
            return
        if self.pre_tags and self.pre_tags[-1] == tag:
            self.pre_tags.pop()
        if tag in _SKIP:
            if self.skipping:
                self.skipping.pop()
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _CELL:
            if self.tables:
                self._cell_end(self.tables[-1])
        elif tag == "table":
            self._row_end()
            if self.tables:
                self.tables.pop()
            self.chunks.append("\n")
        elif tag == "tr":
            self._row_end()
            self.chunks.append("\n")
        elif tag in _BLOCK:
            self._edge()

    def data(self, data: str) -> None:
        if self.skip_depth or self.hidden is not None or not data:
            return
        if "&" in data:
            data = _unescape(data)
        if not self.pre_tags:
            # Line ends in HTML source are only whitespace (templates indent `<td>`s on their own lines); lines
            # come from block tags. Tabs are ours: they separate cells.
            data = _SOURCE_WS.sub(" ", data)
        if _BREAK in data:  # the place-holder is ours too
            data = data.replace(_BREAK, " ")
        if self.tables and (table := self.tables[-1]).cell and not data.isspace():
            if table.cell_break:
                table.breaks.append(len(self.chunks))
                self.chunks.append(_BREAK)
                table.cell_break = False
            table.cell_text = True
        self.chunks.append(data)

    def result(self) -> str:
        """The text, once every token was read: tables left open end here (their rows decide their breaks)."""
        while self.tables:
            self._row_end()
            self.tables.pop()
        joined = _SPACES_AROUND_TAB.sub("\t", _SPACES.sub(" ", "".join(self.chunks).replace("\xa0", " ")))
        return "\n".join(kept for line in joined.split("\n") if (kept := line.strip(" ").rstrip("\t")).strip())

    def _edge(self) -> None:
        """A block begins or ends: a line of its own, except at the edges of a cell's text."""
        table = self.tables[-1] if self.tables else None
        if table is None or not table.cell:
            self.chunks.append("\n")
        elif table.cell_text:
            table.cell_break = True

    def _cell(self, attributes: str) -> None:
        if not self.tables:  # a cell outside any table: apart from the one before it
            self.chunks.append("\t" if self.cells else "\n")
            self.cells += 1
            return
        table = self.tables[-1]
        self._cell_end(table)
        table.row_open = True
        self._fill_spans(table)
        self.chunks.append("\t" if table.cells else "\n")
        table.cells += 1
        columns, rows = _spans(attributes) if "span" in attributes.lower() else (1, 1)
        table.cell, table.cell_text, table.cell_break = True, False, False
        table.cell_start, table.cell_column, table.cell_columns, table.cell_rows = (
            len(self.chunks), table.column, columns, rows)
        table.column += columns

    def _cell_end(self, table: _Table) -> None:
        if not table.cell:
            return
        table.text_cells += table.cell_text
        if table.cell_rows > 1:
            text = "".join(self.chunks[table.cell_start:]).replace("\n", " ").replace("\t", " ").replace(_BREAK, " ")
            text = _SPACES.sub(" ", text)
            table.spans[table.cell_column] = (table.cell_rows - 1, text.strip()[:_MAX_SPAN_TEXT], table.cell_columns)
        if table.cell_columns > 1 and self.span_budget > 0:
            self.chunks.append("\t" * (table.cell_columns - 1))
            self.span_budget -= table.cell_columns
        table.cell = table.cell_break = False

    def _fill_spans(self, table: _Table) -> None:
        """The cells of rows above that span into this row's columns before the next cell."""
        while (span := table.spans.get(table.column)) is not None:
            _rows, text, columns = span
            if self.span_budget <= 0:  # hostile markup: no more repeating, the rest reads as written
                table.spans.clear()
                return
            self.span_budget -= len(text) + columns
            self.chunks.extend(("\t" if table.cells else "\n", text, "\t" * (columns - 1)))
            table.cells += 1
            _count_down(table.spans, table.column)
            table.column += columns

    def _row_end(self) -> None:
        """A row ends: the cells of the one before it end too; spans it did not reach lose a row as well."""
        if not self.tables:
            self.cells = 0
            return
        table = self.tables[-1]
        self._cell_end(table)
        separator = " " if table.text_cells > 1 else "\n"
        for index in table.breaks:
            self.chunks[index] = separator
        table.breaks.clear()
        table.text_cells = 0
        if table.row_open:
            for column in [c for c in table.spans if c >= table.column]:
                _count_down(table.spans, column)
        table.cells, table.column, table.row_open = 0, 0, False


def _count_down(spans: dict[int, tuple[int, str, int]], column: int) -> None:
    """The span at `column` has covered one more row."""
    rows, text, columns = spans[column]
    if rows > 1:
        spans[column] = (rows - 1, text, columns)
    else:
        del spans[column]


def _spans(attributes: str) -> tuple[int, int]:
    """(colspan, rowspan) of a cell, each 1 to `_MAX_SPAN` (a hostile `colspan=99999999` writes no more)."""
    found = {name.lower(): int(value) for name, value in _SPAN_ATTR.findall(attributes)}
    return (min(max(found.get("colspan", 1), 1), _MAX_SPAN), min(max(found.get("rowspan", 1), 1), _MAX_SPAN))


def _styled_hidden(attributes: str) -> bool:
    """Whether a start tag's style hides the element (`display:none`, Outlook's `mso-hide:all`)."""
    return _style_holds(attributes, _HIDDEN_STYLE)


def _keeps_lines(attributes: str) -> bool:
    """Whether a start tag's attributes hold a style of `white-space: pre…`."""
    return _style_holds(attributes, _PRE_STYLE)


def _style_holds(attributes: str, pattern: re.Pattern[str]) -> bool:
    """Whether a `style` attribute among `attributes` (its character references read) holds `pattern`."""
    for match in _STYLE_ATTR.finditer(attributes):
        value = match.group(1).strip("\"'")
        if pattern.search(_unescape(value) if "&" in value else value):
            return True
    return False


def _read(html: str, text: _Text) -> None:
    """Feed `text` the tokens of `html`, in order."""
    n = len(html)
    absent: _Absent = {}  # a pattern -> a position after which it has no match
    i = 0
    start_tag = _START_TAG
    while i < n:
        j = html.find("<", i)
        if j < 0:
            text.data(html[i:])
            return
        if j > i:
            text.data(html[i:j])
        following = html[j + 1 : j + 2]
        if following.isascii() and following.isalpha():
            match = None
            if j < absent.get(_GT, n):
                match = start_tag.match(html, j)
                if match is None and start_tag is _START_TAG:
                    start_tag = _START_TAG_UNQUOTED  # a quote never closed: from here on, quotes do not count
                    match = start_tag.match(html, j)
                if match is None:
                    absent[_GT] = j  # not even a `>` follows
            if match is None:
                i = _unclosed(html, j, absent, text)
                continue
            tag, attributes = match.group(1).lower(), match.group(2)
            i = match.end()
            if attributes.endswith("/"):
                text.start_end(tag)
                continue
            text.start(tag, attributes)
            if tag in _RAW_TEXT:  # skipped (_SKIP): on to its end tag, or to the end
                end = _search(_RAW_TEXT_END[tag], html, i, absent)
                i = n if end is None else end.start()
            continue
        if following == "/":
            close = _search(_GT, html, j + 2, absent)
            if close is None:
                i = _unclosed(html, j, absent, text)
                continue
            name = _END_TAG_NAME.match(html, j, close.start())
            if name is not None:
                text.end(name.group(1).lower())
            i = close.end()  # `</>` and `</ x>`: nothing
            continue
        if html.startswith("<!--", j):
            close = _search(_COMMENT_END, html, j + 4, absent)
        elif html.startswith("<![", j):  # a marked section: <![CDATA[…]]>, or Outlook's <![if …]> and <![endif]>
            keyword = _SECTION_KEYWORD.match(html, j + 3)
            ends = _MS_SECTION_END if keyword and keyword.group().lower() in ("if", "else", "endif") else _SECTION_END
            close = _search(ends, html, j + 3, absent)
        elif following in ("!", "?"):  # a declaration (<!DOCTYPE …>) or a processing instruction
            close = _search(_GT, html, j + 2, absent)
        else:
            text.data("<")  # a `<` that opens nothing is text
            i = j + 1
            continue
        i = _unclosed(html, j, absent, text) if close is None else close.end()


def _search(pattern: re.Pattern[str], html: str, start: int, absent: _Absent) -> re.Match[str] | None:
    """`pattern.search(html, start)`, remembering where it found nothing: never the same fruitless scan twice."""
    if start >= absent.get(pattern, len(html) + 1):
        return None
    match = pattern.search(html, start)
    if match is None:
        absent[pattern] = start
    return match


def _unclosed(html: str, start: int, absent: _Absent, text: _Text) -> int:
    """A construct never closed is text up to the next `>`, or when there is none up to the next `<`: what
    `html.parser` makes of it at the end of its input. The position after that text."""
    close = _search(_GT, html, start + 1, absent)
    if close is not None:
        end = close.end()
    else:
        following = html.find("<", start + 1)
        end = len(html) if following < 0 else following
    text.data(html[start:end])
    return end


def html_to_text(html: str) -> str:
    """Visible text of an HTML document; never raises on broken markup."""
    text = _Text()
    _read(html[:_MAX_CHARS], text)
    return text.result()
