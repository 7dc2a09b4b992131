"""Issue #10, themes 3, 4, 5 and 10: mails as an office really receives them, one `.eml` per case with an
`.expected.json` sidecar (built by tests/data/build_themes.py from the published formats).

A sidecar gives the kind and, per result, only the fields the case is about. Its InterFAX expectations are
checked against the published status list first, so a fixture cannot drift from the facts to fit the code.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from processor.detect import classify
from processor.parse import parse_mail

DATA = Path(__file__).resolve().parents[1] / "data"
THEMES = ("numbers", "tables", "folds", "stored")
CASES = sorted(p for theme in THEMES for p in (DATA / theme).glob("*.eml"))


def expected_of(path: Path) -> dict[str, object]:
    return json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))


def test_every_theme_has_five_cases() -> None:
    for theme in THEMES:
        cases = list((DATA / theme).glob("*.eml"))
        assert len(cases) >= 5, theme
        assert all(case.with_suffix(".expected.json").is_file() for case in cases), theme


@pytest.fixture(scope="module")
def status_list(shared_dir: Path) -> dict[str, dict[str, str]]:
    path = shared_dir / "reference" / "interfax-status-codes.tsv"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {row["code"]: row for row in csv.DictReader(lines, delimiter="\t")}


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_expectations_follow_the_published_status_list(path: Path, status_list: dict[str, dict[str, str]]) -> None:
    for result in expected_of(path)["results"]:  # type: ignore[union-attr]
        if result["vendor"] != "interfax" or not result["code"].lstrip("-").isdigit():
            continue  # fax.tc's bounce messages are no status codes (formats.md lists them)
        row = status_list[result["code"]]
        assert result["reason"] == row["proposed_reason"], path.name
        assert result["outcome"] == {"delivered": "delivered", "in_progress": "pending",
                                     "credit_hold": "pending"}.get(row["proposed_reason"], "failed")
        if "retryable" in result:
            assert result["retryable"] == (row["retry"] == "yes")


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture(path: Path) -> None:
    expected = expected_of(path)
    classification = classify(parse_mail(path.read_bytes()), str(expected.get("default_country", "JP")))
    assert classification.kind == expected["kind"]
    wanted = expected["results"]
    assert len(classification.results) == len(wanted), [(r.code, r.fax_number) for r in classification.results]
    for result, fields in zip(classification.results, wanted, strict=True):  # type: ignore[call-overload]
        for name, value in fields.items():
            actual = getattr(result, name)
            if isinstance(actual, datetime):
                actual = actual.isoformat()
            assert actual == value, f"{name}: {actual!r} != {value!r}"


FOLDED = [p for p in CASES if p.parent.name == "folds" and "fold" in p.stem]


@pytest.mark.parametrize("path", FOLDED, ids=[p.stem for p in FOLDED])
def test_fold_fixtures_carry_a_relay_fold(path: Path) -> None:
    """The case is real: a body line of exactly 998 bytes, then CRLF + SPACE, and a character cut in two
    (its bytes do not decode on their own)."""
    body = path.read_bytes().split(b"\r\n\r\n", 1)[1]
    match = re.search(rb"(?m)^([^\r\n]{998})\r\n ", body)
    assert match is not None
    if "in-label" in path.stem or "text-fold" in path.stem:
        charset = "shift_jis" if "sjis" in path.stem else "utf-8"
        with pytest.raises(UnicodeDecodeError):
            match.group(1).decode(charset)
