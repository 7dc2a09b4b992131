"""HTML to text that keeps a table's shape: cells apart on one line, rows on their own lines.

Notification templates put a label in one cell and its value in the next (`<td>送信結果</td><td>3912</td>`);
joining cells with a tab keeps them on one line, so the same label patterns read text and HTML mails. Exactly
one tab stands between two cells of a row, also around an empty cell, so a list table's columns stay aligned
under its header row.
"""

from __future__ import annotations

import re
from functools import cache

from processor import regex_cache

__all__ = ["html_to_text"]

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "tbody", "thead", "tfoot", "h1", "h2", "h3", "h4",
     "h5", "h6", "pre", "blockquote", "hr", "dt", "dd", "dl", "section", "article", "header", "footer",
     "title", "caption", "form", "address", "center"}
)
_CELL = frozenset({"td", "th"})
_SKIP = frozenset({"script", "style", "head", "noscript", "template"})
_MAX_CHARS = 8 * 1024 * 1024
_SOURCE_WS = regex_cache.compile(r"[\t\n\r\f]+")
_PRE_STYLE = regex_cache.compile(r"white-space\s*:\s*pre", re.IGNORECASE)


@cache
def _extractor_class() -> type:
    """The HTMLParser subclass, made on first use: html.parser is imported only for mails with HTML."""
    from html.parser import HTMLParser

    class _TextExtractor(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.chunks: list[str] = []
            self._skip_depth = 0
            self._pre_tags: list[str] = []  # open elements that keep source line ends (<pre>, white-space: pre*)
            self._cells = 0  # cells begun in the current row

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "pre" or any(k == "style" and v and _PRE_STYLE.search(v) for k, v in attrs):
                self._pre_tags.append(tag)
            if tag in _SKIP:
                self._skip_depth += 1
            elif tag in _CELL:
                self.chunks.append("\t" if self._cells else "\n")
                self._cells += 1
            elif tag in _BLOCK:
                self.chunks.append("\n")
                if tag in ("tr", "table"):
                    self._cells = 0

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in _BLOCK:
                self.chunks.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if self._pre_tags and self._pre_tags[-1] == tag:
                self._pre_tags.pop()
            if tag in _SKIP:
                self._skip_depth = max(0, self._skip_depth - 1)
            elif tag in _BLOCK:
                self.chunks.append("\n")
                if tag in ("tr", "table"):
                    self._cells = 0

        def handle_data(self, data: str) -> None:
            if self._skip_depth:
                return
            if not self._pre_tags:
                # Line ends in HTML source are only whitespace (templates indent `<td>`s on their own lines);
                # lines come from block tags. Tabs are ours: they separate cells.
                data = _SOURCE_WS.sub(" ", data)
            self.chunks.append(data)

    return _TextExtractor


def html_to_text(html: str) -> str:
    """Visible text of an HTML document; never raises on broken markup."""
    parser = _extractor_class()()
    try:
        parser.feed(html[:_MAX_CHARS])
        parser.close()
    except (AssertionError, ValueError):  # html.parser's rare hard failures on garbage
        pass
    text = "".join(parser.chunks).replace("\xa0", " ")
    lines = []
    for line in text.split("\n"):
        line = re.sub(r" *\t *", "\t", re.sub(r"[ \r\f\v]+", " ", line)).strip(" ").rstrip("\t")
        if line.strip():
            lines.append(line)
    return "\n".join(lines)
