"""The retry policy has one home, `processor/catalogues/retry.tsv`, behind `reasons.retryable_for`.

The catalogues' default and the delivery-report detector must give the answer that function gives; the
README's reason table (a public promise) must agree with the data.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from processor.catalogues import CATALOGUES, lookup
from processor.detect.mailbounce import DeliveryReportDetector
from processor.parse import parse_mail
from processor.reasons import RETRYABLE_REASONS, FaxReason, MailReason, Outcome, load_retry_policy, retryable_for

ROOT = Path(__file__).resolve().parents[2]
WORDS = sorted({r.value for r in FaxReason} | {r.value for r in MailReason})


def _table(overrides: dict[str, str] | None = None, drop: str = "") -> str:
    rows = {w: "no" for w in WORDS} | (overrides or {})
    return "# header\n" + "".join(f"{w}\t{a}\n" for w, a in rows.items() if w != drop)


BAD_RETRY_TABLES = [
    ("unknown word", _table() + "bussy\tyes\n", rf"^retry\.tsv:{len(WORDS) + 2}: 'bussy' is not a reason word"),
    ("neither yes nor no", _table({"busy": "maybe"}), r"^retry\.tsv:\d+: retryable must be yes or no, found 'maybe'"),
    ("twice", _table() + "busy\tyes\n", rf"^retry\.tsv:{len(WORDS) + 2}: reason 'busy' is listed twice$"),
    ("missing word", _table(drop="mailboxfull"), r"^retry\.tsv: no row for mailboxfull: say whether"),
]


@pytest.mark.parametrize(("text", "error"), [c[1:] for c in BAD_RETRY_TABLES], ids=[c[0] for c in BAD_RETRY_TABLES])
def test_a_bad_retry_table_fails_naming_file_and_line(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        load_retry_policy(text, "retry.tsv")


def test_a_good_retry_table_gives_its_yes_rows() -> None:
    assert load_retry_policy(_table({"busy": "yes", "expired": "yes"}), "t.tsv") == {"busy", "expired"}


def test_retryable_for_answers_only_for_failures() -> None:
    for word in WORDS:
        assert retryable_for(word, Outcome.DELIVERED) is None and retryable_for(word, Outcome.PENDING) is None
        assert retryable_for(word, Outcome.FAILED) is (word in RETRYABLE_REASONS)
    assert retryable_for("no-such-word", Outcome.FAILED) is False


def _readme_promises() -> list[tuple[str, bool]]:
    """(reason, retryable) from README's reason table: its first column's words and its yes/no column."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Reasons"):]
    promises = []
    for line in section.split("\n"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].split(" ")[0] in ("yes", "no"):
            promises.extend((w, cells[2].startswith("yes")) for w in re.findall(r"`([a-z_]+)`", cells[0]))
        if line.startswith("The catalogues are data files"):
            break
    return promises


def test_the_readme_reason_table_agrees_with_the_data() -> None:
    promises = _readme_promises()
    assert len(promises) >= 30  # the table's fax reasons (a README edit that loses it fails here)
    assert [w for w, retry in promises if retryable_for(w, Outcome.FAILED) is not retry] == []


def test_catalogue_entries_without_their_own_answer_follow_the_policy() -> None:
    checked = 0
    for catalogue in CATALOGUES:
        data = tomllib.loads((ROOT / "processor" / "catalogues" / f"{catalogue}.toml").read_text(encoding="utf-8"))
        for row in data.get("entry", []):
            entry = lookup(catalogue, row["key"])
            assert entry is not None
            expected = row["retryable"] if "retryable" in row and entry.outcome is Outcome.FAILED else (
                retryable_for(entry.reason, entry.outcome))
            assert entry.retryable is expected, (catalogue, row["key"])
            checked += "retryable" not in row
    assert checked > 0


DSN = """From: MAILER-DAEMON@mx.example.jp
To: sender@example.jp
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.jp

Final-Recipient: rfc822; kijitora@example.org
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b--
"""

# (Status:, diagnostic, retryable): class 4 is "persistent transient" (RFC 3463 section 3.1), whatever the
# reason; for class 5 the reason's row decides (README: userunknown needs a new address, a full mailbox
# may empty).
DSN_CASES = [
    ("4.1.1", "450 4.1.1 <kijitora@example.org>: Recipient address rejected: User unknown", True),
    ("5.1.1", "550 5.1.1 <kijitora@example.org>: Recipient address rejected: User unknown", False),
    ("5.2.2", "552 5.2.2 Mailbox full", True),
    ("4.2.2", "452 4.2.2 Mailbox full", True),
    ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", False),
]


@pytest.mark.parametrize(("status", "diagnostic", "retryable"), DSN_CASES, ids=[c[0] for c in DSN_CASES])
def test_the_detector_asks_the_policy(status: str, diagnostic: str, retryable: bool) -> None:
    raw = DSN.format(action="failed", status=status, diagnostic=diagnostic).encode()
    (result,) = getattr(DeliveryReportDetector().detect(parse_mail(raw)), "results", ())
    assert result.outcome is Outcome.FAILED and result.smtp_status == status
    assert result.retryable is retryable
    if status.startswith("5"):
        assert result.retryable is retryable_for(result.reason, Outcome.FAILED)


@pytest.mark.parametrize(("status", "diagnostic", "retryable"), DSN_CASES[:1] + DSN_CASES[3:4], ids=["4.1.1", "4.2.2"])
def test_a_delay_warning_is_no_failure(status: str, diagnostic: str, retryable: bool) -> None:
    """`Action: delayed` (RFC 3464): the MTA keeps trying. Not failed, so nothing to resend yet."""
    raw = DSN.format(action="delayed", status=status, diagnostic=diagnostic).encode()
    (result,) = getattr(DeliveryReportDetector().detect(parse_mail(raw)), "results", ())
    assert (result.outcome, result.retryable, result.smtp_status) == (Outcome.PENDING, None, status)


def test_every_corpus_report_follows_the_policy(corpus_dir: Path) -> None:
    """Over the real bounces: a result's retryable is the policy's answer, or true for a 4.x.x status."""
    detector = DeliveryReportDetector()
    seen = 0
    for path in sorted((corpus_dir / "bsd").glob("*.eml")):
        for result in getattr(detector.detect(parse_mail(path.read_bytes())), "results", ()):
            policy = retryable_for(result.reason, result.outcome)
            temporary = result.outcome is Outcome.FAILED and (result.smtp_status or "").startswith("4")
            assert result.retryable is (True if temporary else policy), path.name
            seen += 1
    assert seen > 500
