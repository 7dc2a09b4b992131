"""The vendor catalogues are complete and consistent with their sources (reference tsv and the two seeds)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from processor.catalogues import entries, lookup
from processor.reasons import RETRYABLE_REASONS, Outcome, is_known_reason

FAX_CATALOGUES = ("interfax", "faxtc", "satisfaxtion")
GUIDE_CODES = ("3912", "3224", "3938", "6001", "6017", "6031", "8010", "8021", "204000", "204001", "205000", "207000")
GUIDE_LABELS = {
    "3912": "FAX番号が使用不可です", "3224": "通信エラー", "6017": "話中", "8021": "無応答", "204000": "解析エラー",
    "204001": "解析エラー", "205000": "与信限度額を超えました", "6031": "その他のエラー", "8010": "その他のエラー",
    "207000": "その他のエラー",
}
FAXTC_REASONS = {
    "Cannot find password in body": "password_missing",
    "No body is available for checking password": "password_missing",
    "Could not authenticate with password from body": "password_invalid",
    "No recipients found": "no_recipients",
    "Message contains unsupported attachments": "unsupported_attachment",
    "Failed ticket authentication - FaxInfo.XML not found": "ticket_auth_enabled",
    "Cannot authenticate - signature not found": "signature_missing",
    "No documents found": "no_documents",
}
SATISFAXTION_COMPLETIONS = {
    "0": "delivered", "28024": "busy", "28026": "no_answer", "28023": "invalid_number", "28025": "voice_answer",
    "1127": "incompatible_device", "Ok": "delivered", "Busy": "busy", "No Answer": "no_answer",
    "No Dial Tone": "line_error", "No Dial Tone (phone cord disconnected)": "line_error",
    "Unsustainable connection": "communication_error", "Incompatible fax device": "incompatible_device",
}


def tsv_rows(shared_dir: Path) -> list[dict[str, str]]:
    path = shared_dir / "reference" / "interfax-status-codes.tsv"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def seed_text(shared_dir: Path, marker: str) -> str:
    for path in sorted((shared_dir / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if marker in text:
            return text
    pytest.fail(f"no seed containing {marker!r}")


@pytest.mark.parametrize("catalogue", FAX_CATALOGUES)
def test_every_reason_is_a_reason_word_and_every_entry_has_actions(catalogue: str) -> None:
    rows = entries(catalogue)
    assert rows
    for entry in rows:
        assert is_known_reason(entry.reason), entry
        assert entry.action_ja.strip() and entry.action_en.strip(), entry
        assert "TODO" not in entry.action_ja + entry.action_en
        if entry.outcome is Outcome.FAILED:
            assert isinstance(entry.retryable, bool)
        else:
            assert entry.retryable is None


def test_every_tsv_code_is_in_the_interfax_catalogue(shared_dir: Path) -> None:
    rows = tsv_rows(shared_dir)
    assert len(rows) == len(entries("interfax")) == 87
    for row in rows:
        entry = lookup("interfax", row["code"])
        assert entry is not None, row["code"]
        assert entry.reason == row["proposed_reason"], row["code"]
        assert entry.label_en == row["meaning_en"]
        number = int(row["code"])
        expected = Outcome.DELIVERED if number == 0 else Outcome.PENDING if number < 0 else Outcome.FAILED
        assert entry.outcome is expected, row["code"]
        assert entry.retryable == {"yes": True, "no": False, "-": None}[row["retry"]], row["code"]
        if row["meaning_ja"]:
            assert entry.label_ja == row["meaning_ja"]


def test_interfax_guide_labels_and_per_code_actions() -> None:
    for code, label in GUIDE_LABELS.items():
        assert lookup("interfax", code).label_ja == label  # type: ignore[union-attr]
    for code in GUIDE_CODES:
        entry = lookup("interfax", code)
        assert entry is not None
        generic = [e for e in entries("interfax") if e.reason == entry.reason and e.key not in GUIDE_CODES]
        assert all(entry.action_ja != other.action_ja for other in generic), code
    assert "電話" in lookup("interfax", "3912").action_ja  # type: ignore[union-attr]
    assert "増額" in lookup("interfax", "205000").action_ja  # type: ignore[union-attr]
    assert lookup("interfax", "-22").reason == "credit_hold"  # type: ignore[union-attr]
    assert lookup("interfax", "7200").retryable is True  # type: ignore[union-attr]


def test_every_seed_bounce_line_is_in_the_faxtc_catalogue(shared_dir: Path) -> None:
    lines = re.findall(r"\*\*\* (.+?) \*\*\*", seed_text(shared_dir, "MAILER-DAEMON@fax.tc"))
    assert set(lines) == set(FAXTC_REASONS)
    # Besides the `***` lines, the catalogue keys RFC 3463 address statuses (delivery reports without such a line).
    assert len([e for e in entries("faxtc") if not re.fullmatch(r"\d\.\d{1,3}\.\d{1,3}", e.key)]) == len(FAXTC_REASONS)
    for line in lines:
        entry = lookup("faxtc", f"*** {line} ***")
        assert entry is not None, line
        assert (entry.reason, entry.outcome, entry.retryable) == (FAXTC_REASONS[line], Outcome.FAILED, False)
        assert entry.vendor == "interfax"
        if entry.reason in ("password_missing", "password_invalid", "ticket_auth_enabled", "signature_missing"):
            assert "アカウント管理Web" in entry.action_ja and "account management web" in entry.action_en


def test_every_seed_cas_code_is_in_the_satisfaxtion_catalogue(shared_dir: Path) -> None:
    codes = re.findall(r"^(4\d{3})\s+([A-Z_]+)", seed_text(shared_dir, "STATUS_NUM"), re.MULTILINE)
    assert len(codes) == 21
    for code, name in codes:
        entry = lookup("satisfaxtion", code)
        assert entry is not None, code
        assert entry.label_en.startswith(f"{name}: "), code
        assert entry.outcome is Outcome.FAILED
        assert entry.retryable is (entry.reason in RETRYABLE_REASONS)


def test_satisfaxtion_completion_codes_and_strings() -> None:
    for key, reason in SATISFAXTION_COMPLETIONS.items():
        entry = lookup("satisfaxtion", key)
        assert entry is not None, key
        assert entry.reason == reason
        assert entry.outcome is (Outcome.DELIVERED if reason == "delivered" else Outcome.FAILED)
    assert lookup("satisfaxtion", "unsustainable  CONNECTION").retryable is True  # type: ignore[union-attr]
    assert lookup("satisfaxtion", "28025").retryable is False  # type: ignore[union-attr]
    assert lookup("satisfaxtion", "4140").retryable is True  # type: ignore[union-attr]
