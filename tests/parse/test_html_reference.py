"""The HTML reader splits markup as the stdlib's `html.parser` does: every HTML text of the corpus and of the test
mails gives the same text through both. The reference below is an `html.parser` subclass that hands its tokens to
the same handlers (`_Text`), kept here only as the oracle of the splitting: what the tags then do to the text is
tested by the cases of tests/parse/test_mail.py."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

import processor.parse.mail as mail_module
from processor.parse import parse_mail
from processor.parse.html import _Text, html_to_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


class _Reference(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.text = _Text()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.text.start(tag, _attributes(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.text.start_end(tag)

    def handle_endtag(self, tag: str) -> None:
        self.text.end(tag)

    def handle_data(self, data: str) -> None:
        self.text.data(data)

    def handle_entityref(self, name: str) -> None:
        self.text.data(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.text.data(f"&#{name};")


def _attributes(attrs: list[tuple[str, str | None]]) -> str:
    """The attributes as the reader's tokenizer hands them over: one string, values quoted."""
    return "".join(f' {name}="{value}"' if value is not None else f" {name}" for name, value in attrs)


def reference_text(html: str) -> str:
    parser = _Reference()
    parser.feed(html)
    parser.close()
    return parser.text.result()


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
