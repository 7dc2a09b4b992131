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
_SKIP = frozenset({"script", "style", "head", "noscript", "template"})
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


_RAW_TEXT_END = {name: regex_cache.compile(rf"</{name}[\t\n\r\f />]", re.IGNORECASE) for name in _RAW_TEXT}
"""Where a raw-text element ends: `</script` then white space, `/` or `>`."""
_Absent = dict[re.Pattern[str], int]


def _unescape(text: str) -> str:
    from html import unescape  # html.entities' 2,231 names: loaded for the first reference a text holds

    return unescape(text)


class _Text:
    """What the tags do to the text: the handlers of the `html.parser` subclass this replaced, unchanged."""

    __slots__ = ("cells", "chunks", "pre_tags", "skip_depth")

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.pre_tags: list[str] = []  # open elements that keep source line ends (<pre>, white-space: pre*)
        self.cells = 0  # cells begun in the current row

    def start(self, tag: str, attributes: str) -> None:
        if tag == "pre" or ("=" in attributes and _keeps_lines(attributes)):
            self.pre_tags.append(tag)
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag in _CELL:
            self.chunks.append("\t" if self.cells else "\n")
            self.cells += 1
        else:
            self._block_edge(tag)

    def start_end(self, tag: str) -> None:
        if tag in _BLOCK:
            self.chunks.append("\n")

    def end(self, tag: str) -> None:
        if self.pre_tags and self.pre_tags[-1] == tag:
            self.pre_tags.pop()
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        else:
            self._block_edge(tag)

    def _block_edge(self, tag: str) -> None:
        """A block begins or ends on a line of its own; a row or table ends the cells of the one before."""
        if tag in _BLOCK:
            self.chunks.append("\n")
            if tag in ("tr", "table"):
                self.cells = 0

    def data(self, data: str) -> None:
        if self.skip_depth or not data:
            return
        if "&" in data:
            data = _unescape(data)
        if not self.pre_tags:
            # Line ends in HTML source are only whitespace (templates indent `<td>`s on their own lines); lines
            # come from block tags. Tabs are ours: they separate cells.
            data = _SOURCE_WS.sub(" ", data)
        self.chunks.append(data)


def _keeps_lines(attributes: str) -> bool:
    """Whether a start tag's attributes hold a style of `white-space: pre…`."""
    for match in _STYLE_ATTR.finditer(attributes):
        value = match.group(1).strip("\"'")
        if _PRE_STYLE.search(_unescape(value) if "&" in value else value):
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
    joined = _SPACES_AROUND_TAB.sub("\t", _SPACES.sub(" ", "".join(text.chunks).replace("\xa0", " ")))
    return "\n".join(stripped for line in joined.split("\n") if (stripped := line.strip(" ").rstrip("\t")).strip())
