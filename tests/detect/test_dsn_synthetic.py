"""Synthetic delivery reports, one per MTA layout, provider code or wording the detector learned to read.

Each mail in tests/data/dsn/ is written from the MTA's documented or well-known format (not copied from the
shared corpus), so that a rule that only fits the corpus shows up here. Expected values come from the
format's documentation: the provider's published meaning of its code, RFC 3463 for statuses, and Sisimai's
reason words for the meaning.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.detect.mailbounce import DeliveryReportDetector
from processor.parse import parse_mail

DATA = Path(__file__).resolve().parents[1] / "data" / "dsn"

# (file, recipient, status, reason): one row per recipient, in the mail's order
CASES: list[tuple[str, list[tuple[str, str, str]]]] = [
    # provider codes and wordings (rhost_hosts.tsv, rhost_reasons.tsv)
    ("provider-orange-102", [("someone@orange.fr", "5.0.0", "blocked")]),
    ("provider-laposte-630", [("someone@laposte.net", "5.7.1", "policyviolation")]),
    ("provider-not-laposte-code", [("someone@example.com", "5.7.1", "securityerror")]),  # not La Poste's host
    ("provider-tencent-frequency", [("someone@qq.com", "5.0.0", "toomanyconn")]),
    ("provider-godaddy-ib212", [("someone@example.net", "5.7.1", "spamdetected")]),  # by Remote-MTA
    ("provider-facebook-pol-p5", [("someone@facebook.com", "5.7.1", "virusdetected")]),
    ("provider-spectrum-aup", [("someone@charter.net", "5.1.0", "speeding")]),
    ("provider-microsoft-5110", [("someone@contoso.example", "5.1.10", "userunknown")]),
    ("provider-kddi-unknown-after-data", [("no-such-user@ezweb.ne.jp", "5.0.0", "userunknown")]),
    ("provider-google-unsolicited", [("someone@google.com", "5.7.1", "spamdetected")]),  # status class-free rule
    ("provider-messagelabs-auth", [("someone@example.com", "5.0.0", "securityerror")]),  # by Reporting-MTA
    # Gmail's "** Address not found **" heading covers any 5.1.x answer: the remote server's status decides
    ("gmail-address-not-found-sender-rejected", [("someone@example.net", "5.1.8", "rejected")]),
    # Google Groups refuses in the reader's language and without a code; a remote 5.1.1 is read as usual
    ("googlegroups-refused", [("private-group@googlegroups.com", "5.0.918", "rejected")]),
    ("gmail-googlegroups-no-such-user", [("no-such-group@googlegroups.com", "5.1.1", "userunknown")]),
    # MTA wordings (vendor_reasons.tsv) and the pseudo status they imply when the report has no status
    ("exim-mail-from-refused", [("someone@example.net", "5.0.901", "rejected")]),  # the stage, not the cause
    ("exim-retry-timeout", [("someone@example.com", "4.0.947", "expired")]),  # Exim keeps it a delay
    ("ezweb-not-delivered-within", [("someone@ezweb.ne.jp", "5.0.947", "expired")]),
    # boilerplate is not a diagnostic: Postfix's bounce(5) template around "Delivery report unavailable"
    ("postfix-report-unavailable", [("someone@example.fr", "5.0.900", "undefined")]),
    # Gmail's "(state N)": the stage of its SMTP client names the reason unless a specific status does
    ("gmail-state-6-no-tls", [("someone@example.net", "5.0.976", "failedstarttls")]),
    ("gmail-state-18-header-error", [("someone@example.org", "5.7.0", "filtered")]),
    ("gmail-state-13-with-status", [("someone@example.com", "5.7.1", "securityerror")]),
    # Zoho writes the reply code as `ERROR_CODE :421`: a 4xx reply makes the pseudo status temporary
    ("zoho-error-code-421", [("someone@example.jp", "4.0.947", "expired")]),
    # sendmail transcript: `550 <a>... User unknown` ends a recipient; the next session leads up to the next one
    ("sendmail-transcript-two-sessions", [("first@example.net", "5.1.1", "userunknown"),
                                          ("second@example.com", "5.2.2", "mailboxfull")]),
    # Postfix smtpd's session transcript: the accepted steps (`250 2.1.5 Ok`) are not the failure (`452 4.3.1`)
    ("postfix-smtpd-transcript", [("someone@example.org", "4.3.1", "systemfull")]),
    # sendmail's intro "The original message was received at ..." starts the report, it does not end it
    ("zoho-delay-warning", [("someone@example.jp", "4.0.947", "expired")]),
    # a quoted bounce's own `Message-Id: <...>` line names no recipient
    ("sendmail-forwarded-bounce", [("someone@example.com", "5.1.1", "userunknown")]),
    # sendmail's Diagnostic-Code keeps the first line of a multi-line reply; the transcript has the rest
    ("sendmail-multiline-reply", [("someone@gmail.example.com", "5.7.1", "authfailure")]),
    # phrases.tsv: Exchange's RESOLVER.RST.NotAuthorized (a restricted recipient refuses this sender)
    ("exchange-rst-notauthorized", [("all-staff@example.com", "5.7.1", "filtered")]),
    # phrases are matched word by word: a reply padded with doubled spaces still names its reason
    ("rfc3464-doubled-spaces", [("someone@example.net", "5.7.1", "rejected")]),
    # Postfix's text adds `(in reply to MAIL FROM command)`, which Sisimai's phrases include
    ("postfix-access-denied-at-mail-from", [("someone@example.net", "5.7.1", "rejected")]),
]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_synthetic_report(name: str, expected: list[tuple[str, str, str]]) -> None:
    detection = DeliveryReportDetector().detect(parse_mail((DATA / f"{name}.eml").read_bytes()))
    assert detection is not None, f"{name}: not recognised as a delivery report"
    assert [(r.recipient, r.smtp_status, r.reason) for r in detection.results] == expected


def test_every_sample_has_a_case() -> None:
    """A mail added to tests/data/dsn/ without a row here would test nothing."""
    assert sorted(p.stem for p in DATA.glob("*.eml")) == sorted(name for name, _ in CASES)
