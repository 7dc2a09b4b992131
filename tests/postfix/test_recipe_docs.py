"""One source of truth for the Postfix recipe: the README shows config/postfix/ as it is, and the pieces agree.

Runs everywhere (no Postfix needed); tests/postfix/test_postfix.py proves the same files with a real Postfix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.config import Settings

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "config" / "postfix"
FILES = sorted(p.name for p in RECIPE.iterdir())


def _readme_blocks() -> list[str]:
    """The contents of the README's fenced code blocks."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.mark.parametrize("name", FILES)
def test_readme_shows_each_file_verbatim(name: str) -> None:
    assert (RECIPE / name).read_text(encoding="utf-8") in _readme_blocks(), f"README must show config/postfix/{name}"


def test_every_map_main_cf_names_is_shipped() -> None:
    main_cf = (RECIPE / "main.cf").read_text(encoding="utf-8")
    named = set(re.findall(r"(?:hash|pcre):/etc/postfix/(\S+?)(?:,|\s|$)", main_cf))
    assert named == set(FILES) - {"main.cf", "master.cf"}


def test_transport_and_master_cf_and_faxbounce_agree() -> None:
    """The transport map uses master.cf's service, at faxbounce's default address and port."""
    defaults = Settings()
    service = (RECIPE / "master.cf").read_text(encoding="utf-8")
    name = next(line.split()[0] for line in (RECIPE / "master.cf").read_text().splitlines()
                if line and not line.startswith(("#", " ")))
    assert "smtp_line_length_limit=0" in service
    routes = [line.split() for line in (RECIPE / "faxbounce_transport").read_text().splitlines()
              if line and not line.startswith("#")]
    assert routes == [["faxbounce.example.com", f"{name}:[{defaults.smtp.host}]:{defaults.smtp.port}"]]


def test_copies_go_to_the_mailboxes_faxbounce_reads() -> None:
    pcre = (RECIPE / "fax_submission_bcc.pcre").read_text(encoding="utf-8")
    rules = [line.split() for line in pcre.splitlines() if line and not line.startswith("#")]
    domains = Settings().tracking.fax_domains
    assert [pattern for pattern, _target in rules] == [rf"/^(.+)@{re.escape(d)}$/" for d in domains]
    mailbox = Settings().tracking.submission_mailbox
    assert {target for _pattern, target in rules} == {f"{mailbox}+${{1}}@faxbounce.example.com"}
    main_cf = (RECIPE / "main.cf").read_text(encoding="utf-8")
    assert re.search(r"^notify_classes = .*\bbounce\b", main_cf, re.M)
    assert re.search(r"^bounce_notice_recipient = \S+@faxbounce\.example\.com$", main_cf, re.M)
