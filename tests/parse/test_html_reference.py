"""The HTML reader splits markup as the stdlib's `html.parser` does: every HTML text of the corpus and of the test
mails gives the same text through both. The reference below is the `html.parser` subclass the reader replaced
(the same handlers and tag sets), kept here only as the oracle."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import processor.parse.mail as mail_module
from processor.parse import parse_mail
from processor.parse.html import _BLOCK, _CELL, _PRE_STYLE, _SKIP, html_to_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


class _Reference(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.pre_tags: list[str] = []
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre" or any(k == "style" and v and _PRE_STYLE.search(v) for k, v in attrs):
            self.pre_tags.append(tag)
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag in _CELL:
            self.chunks.append("\t" if self.cells else "\n")
            self.cells += 1
        elif tag in _BLOCK:
            self.chunks.append("\n")
            if tag in ("tr", "table"):
                self.cells = 0

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.pre_tags and self.pre_tags[-1] == tag:
            self.pre_tags.pop()
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.chunks.append("\n")
            if tag in ("tr", "table"):
                self.cells = 0

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.chunks.append(data if self.pre_tags else re.sub(r"[\t\n\r\f]+", " ", data))


def reference_text(html: str) -> str:
    parser = _Reference()
    parser.feed(html)
    parser.close()
    text = "".join(parser.chunks).replace("\xa0", " ")
    lines = (re.sub(r" *\t *", "\t", re.sub(r"[ \r\f\v]+", " ", line)).strip(" ").rstrip("\t")
             for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip())


def _html_texts() -> list[str]:
    """The HTML texts the parser hands the reader, for every mail of the corpus and of the test data."""
    texts: list[str] = []
    files = sorted((ROOT / "tests" / "data").rglob("*.eml")) + sorted(CORPUS.rglob("*.eml"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mail_module, "html_to_text", lambda html: texts.append(html) or html_to_text(html))
        for path in files:
            mail = parse_mail(path.read_bytes())
            for embedded in mail.embedded:
                assert isinstance(embedded.text, str)
    return texts


def test_every_html_text_reads_as_html_parser_reads_it() -> None:
    texts = _html_texts()
    assert len(texts) >= 100  # the corpus is there (CI links ../shared) and its HTML mails were found
    differing = [html[:200] for html in texts if html_to_text(html) != reference_text(html)]
    assert differing == []
