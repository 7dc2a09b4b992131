"""The generic delivery-report detector against real bounces of the shared corpus (read in place).

Expected values are Sisimai's (EXPECTED-sisimai.tsv) for mails we agree on, so a change that breaks
agreement on a well-known format shows up here by name, and the corpus-wide figure is guarded below.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from processor.catalogues import reason_action
from processor.detect.base import Detector
from processor.detect.mailbounce import DeliveryReportDetector
from processor.parse import parse_mail
from processor.reasons import MailReason, Outcome
from processor.records import FaxResult

ROOT = Path(__file__).resolve().parents[2]

#: Agreement with Sisimai over the corpus (bench/corpus_agreement.py --dsn-only) that issue #10 asks for.
MIN_RECIPIENT, MIN_STATUS, MIN_REASON = 98.0, 95.0, 92.0


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpus_agreement", ROOT / "bench" / "corpus_agreement.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corpus_agreement", module)
    spec.loader.exec_module(module)
    return module


def _detect(corpus_dir: Path, name: str, crlf: bool = False) -> list[FaxResult] | None:
    raw = (corpus_dir / "bsd" / f"{name}.eml").read_bytes()
    if crlf:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    detection = DeliveryReportDetector().detect(parse_mail(raw))
    return None if detection is None else list(detection.results)


# (file, index of the recipient, recipient, status, reply, reason)
CASES = [
    ("lhost-postfix-01", 0, "r@p351355.pool.example.ne.jp", "5.1.1", None, "mailererror"),  # RFC 3464, x-unix
    ("lhost-sendmail-01", 0, "userunknown@bouncehammer.jp", "5.1.1", "550", "userunknown"),
    ("lhost-exim-01", 0, "kijitora@example.ed.jp", "5.7.0", "550", "blocked"),
    ("lhost-qmail-01", 0, "kijitora@example.ne.jp", "5.5.0", "550", "userunknown"),
    ("lhost-exchange2007-01", 0, "mikeneko@example.co.jp", "5.1.1", "550", "userunknown"),
    ("lhost-exchange2003-04", 0, "kijitora@example.com", "5.0.910", None, "filtered"),
    ("lhost-gmail-01", 0, "userunknown@example.jp", "5.1.1", "550", "userunknown"),
    ("lhost-yahoo-01", 0, "kijitora@example.org", "5.1.1", "550", "userunknown"),
    ("lhost-dragonfly-01", 0, "pseudo-local-part@google.example.com", "5.7.26", "550", "authfailure"),
    ("lhost-kddi-01", 0, "kijitora@x0000000000000.dion.ne.jp", "5.0.922", None, "mailboxfull"),  # Japanese
    ("lhost-ezweb-01", 0, "this-message-rejected-by-the-domain-filter@ezweb.ne.jp", "5.0.910", None, "filtered"),
    ("rfc3464-28", 0, "kijitora@neko.example.jp", "2.1.5", None, "delivered"),
]


@pytest.mark.parametrize(("name", "index", "recipient", "status", "reply", "reason"), CASES, ids=[c[0] for c in CASES])
def test_corpus_sample(
    corpus_dir: Path, name: str, index: int, recipient: str, status: str, reply: str | None, reason: str
) -> None:
    results = _detect(corpus_dir, name)
    assert results, f"{name}: not recognised as a delivery report"
    result = results[index]
    assert (result.recipient, result.smtp_status, result.smtp_reply, result.reason) == (
        recipient, status, reply, reason,
    )
    assert result.code == result.smtp_status
    assert result.vendor == "mail" and result.detected_by == "dsn"
    assert result.action_ja and result.action_en
    if reason == "delivered":
        assert result.outcome is Outcome.DELIVERED and result.retryable is None
    else:
        assert result.outcome is Outcome.FAILED and isinstance(result.retryable, bool)
    if result.vendor_message is not None:
        assert "\n" not in result.vendor_message and len(result.vendor_message) <= 1000


def test_rfc3464_fields(corpus_dir: Path) -> None:
    """The returned original and the report's dates are carried over."""
    result = _detect(corpus_dir, "lhost-sendmail-01")[0]  # type: ignore[index]
    assert result.original_subject is not None or result.original_message_id is not None
    assert result.occurred_at is not None
    assert result.retryable is False  # userunknown: sending again will not help


def test_retryable_follows_the_reason(corpus_dir: Path) -> None:
    result = _detect(corpus_dir, "lhost-kddi-01")[0]  # type: ignore[index]
    assert result.reason == "mailboxfull" and result.retryable is True


@pytest.mark.parametrize("name", ["rfc3834-01", "rfc3834-02", "rfc3834-03", "arf-01", "arf-02", "arf-11"])
def test_auto_replies_and_feedback_reports_are_not_bounces(corpus_dir: Path, name: str) -> None:
    assert _detect(corpus_dir, name) is None
    kind = _bench().classify_dsn_only(parse_mail((corpus_dir / "bsd" / f"{name}.eml").read_bytes())).kind
    assert kind == "unrelated"


def test_plain_mail_is_not_a_bounce() -> None:
    raw = b"From: alice@example.jp\nTo: bob@example.jp\nSubject: lunch\n\nSee you at noon, bob@example.jp.\n"
    assert DeliveryReportDetector().detect(parse_mail(raw)) is None


@pytest.mark.parametrize("name", ["lhost-postfix-01", "lhost-qmail-01", "lhost-exim-01", "lhost-kddi-01",
                                  "lhost-exchange2003-04", "rfc3464-28"])
def test_crlf_gives_the_same_results(corpus_dir: Path, name: str) -> None:
    lf = [r.to_json() for r in _detect(corpus_dir, name) or []]
    crlf = [r.to_json() for r in _detect(corpus_dir, name, crlf=True) or []]
    assert lf and crlf == lf


def test_detector_conforms_to_protocol() -> None:
    assert isinstance(DeliveryReportDetector(), Detector)


def test_every_mail_reason_has_a_default_action() -> None:
    missing = [r for r in MailReason if r not in ("vacation", "feedback") and not reason_action("mail", r)[0]]
    assert missing == []
    assert "TODO" not in (ROOT / "processor" / "catalogues" / "mail.toml").read_text(encoding="utf-8")


def test_corpus_agreement_does_not_regress(corpus_dir: Path) -> None:
    """Regression guard over the whole corpus, with the same comparison the bench prints."""
    bench = _bench()
    results, _seconds = bench.classify_corpus(corpus_dir, dsn_only=True)
    agreement = bench.compare(bench.read_expected(corpus_dir), results)
    assert agreement.not_bounce_ok == agreement.not_bounce_rows
    assert agreement.percent(agreement.recipient) >= MIN_RECIPIENT
    assert agreement.percent(agreement.status) >= MIN_STATUS
    assert agreement.percent(agreement.reason) >= MIN_REASON


def test_no_fax_detector_claims_a_corpus_bounce(corpus_dir: Path) -> None:
    """The corpus holds mail bounces only: classify() must never read one as a fax result."""
    bench = _bench()
    results, _seconds = bench.classify_corpus(corpus_dir)
    assert bench.fax_claims(results) == []
