"""`faxbounce explain` takes what a user copies from a mail (issue #10, theme 8); run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

QUERIES = tomllib.loads((Path(__file__).parent / "data" / "explain" / "queries.toml").read_text("utf-8"))["query"]


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processor", "explain", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("query", QUERIES, ids=[q["text"] for q in QUERIES])
def test_explain_prints_every_matching_entry(query: dict[str, object]) -> None:
    done = explain(str(query["text"]), "--json")
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    found = {(entry["catalogue"], entry["key"]) for entry in printed}
    wanted = {tuple(pair) for pair in query["entries"]}  # type: ignore[union-attr]
    assert wanted <= found
    if query.get("exact"):
        catalogues = {catalogue for catalogue, _ in wanted}
        assert {pair for pair in found if pair[0] in catalogues} == wanted
    assert len(printed) == len(found)  # each entry once


def test_explain_text_output_names_code_and_action() -> None:
    done = explain("送信結果：３９１２－FAX番号が使用不可です")
    assert done.returncode == 0
    assert done.stdout.startswith("interfax 3912 (interfax)\n")
    assert "invalid_number" in done.stdout and "action_ja" in done.stdout


def test_explain_unknown_text_is_one_line_and_exit_1() -> None:
    done = explain("no such thing")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "'no such thing'" in done.stderr


@pytest.mark.parametrize("text", ["03-5555-0101", "2026/11/20 10:15", "0355550101", "5.9.9", "Error 12",
                                  "2026/12/01", "2026/11/12 に送信", "FAX 0120 263 403", "+1 403 555 0101",
                                  "価格 1,263円"])
def test_numbers_that_are_no_codes_explain_nothing(text: str) -> None:
    """A fax number, a date, a time, an unknown status or a short number inside words are not read as codes."""
    done = explain(text)
    assert done.returncode == 1 and done.stdout == ""
