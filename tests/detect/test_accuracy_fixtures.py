"""Issue #10, themes 1, 2, 6 and 7: mail as an office really receives it, one fixture per case.

Each `tests/data/<theme>/<name>.eml` has a sidecar `<name>.expected.json`: the mail's `kind` and, per result in
order, the `classify --json` values that matter (vendor, code, reason, outcome, fax_number, forwarded, and where
they say something, retryable, transaction_id, recipient). The expectations come from the published facts
(`../shared/reference/interfax-status-codes.tsv` for codes, formats.md for the layouts and bounces, RFC 3463 for
statuses, RFC 3834 for auto-replies), not from what the code printed.

- `replies/`: replies, auto-replies and a vendor's reply make no result, whatever they quote;
- `forwards/`: a notice forwarded inline (Outlook en/ja, Gmail, Thunderbird, `> ` quoting, Outlook HTML) or
  attached (message/rfc822) gives its results, marked `forwarded`; the forwarder's header block is never read;
- `unrecognized/`: vendor mail no detector can read is `unrecognized`, vendor mail that is plainly something
  else stays `unrelated`;
- `dsn-faxtc/`: a delivery report about `<number>@fax.tc`, from any MTA, is an InterFAX bounce with the number;
- `attached/`: a notice carried as a `.txt`/`.html` file beside an empty body is read as the body; a body with
  words of its own is read instead (built by `tests/data/build_themes.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.cli import main
from processor.detect import classify
from processor.parse import parse_mail

DATA = Path(__file__).resolve().parents[1] / "data"
THEMES = ("replies", "forwards", "unrecognized", "dsn-faxtc", "attached")
FIXTURES = sorted(path for theme in THEMES for path in (DATA / theme).glob("*.eml"))


def expected_of(path: Path) -> dict[str, object]:
    return json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_fixture(path: Path) -> None:
    expected = expected_of(path)
    classification = classify(parse_mail(path.read_bytes()))
    got = [result.to_json() for result in classification.results]
    assert str(classification.kind) == expected["kind"]
    wanted = expected["results"]
    assert isinstance(wanted, list)
    assert [{key: result[key] for key in want} for result, want in zip(got, wanted, strict=False)] == wanted
    assert len(got) == len(wanted)


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_has_five_variants_with_their_expectations(theme: str) -> None:
    mails = list((DATA / theme).glob("*.eml"))
    assert len(mails) >= 5
    for path in mails:
        assert path.with_suffix(".expected.json").is_file(), path.name


def test_unrecognized_mail_says_which_marks_it_bears() -> None:
    found = classify(parse_mail((DATA / "unrecognized" / "faxtc-layout-01.eml").read_bytes()))
    assert found.marks == ("sender domain fax.tc",)
    found = classify(parse_mail((DATA / "unrecognized" / "star-line-05.eml").read_bytes()))
    assert found.marks == ("*** … *** last line",)


def test_classify_json_says_forwarded_and_unrecognized(capsys: pytest.CaptureFixture[str]) -> None:
    forward, unknown = DATA / "forwards" / "outlook-en-01.eml", DATA / "unrecognized" / "faxtc-layout-01.eml"
    assert main(["classify", "--json", str(forward), str(unknown)]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["kind"] == "interfax_result" and first["trusted"] is None
    assert [(r["forwarded"], r["event_key"]) for r in first["results"]] == [
        (True, "interfax|t|700000401|3912|+81355550401")]
    assert (second["kind"], second["results"], second["trusted"]) == ("unrecognized", [], None)
