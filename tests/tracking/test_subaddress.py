"""Bcc-only destinations: Postfix's per-number copy names the number in its envelope recipient's sub-address.

`sendmail -t` and every MUA strip the Bcc header, so a number given only in Bcc leaves no trace in the
headers of any copy; the pcre `recipient_bcc_maps` recipe (config/postfix/fax_submission_bcc.pcre) makes one
copy per number addressed to `fax-submissions+NUMBER@…`.
"""

from __future__ import annotations

import pytest
from submissionfactory import submission

from processor.config import TrackingSettings, load_settings
from processor.errors import ConfigError
from processor.run.pipeline import classify_bytes


def _destinations(raw: bytes, envelope: tuple[str, ...], tracking: TrackingSettings | None = None) -> list[tuple]:
    _mail, classification = classify_bytes(raw, tracking=tracking, envelope_recipients=envelope)
    assert classification.submission is not None, classification
    return sorted((d.recipient, d.fax_number_raw, d.source) for d in classification.submission.destinations)


def test_bcc_only_number_comes_from_the_subaddress() -> None:
    raw = submission(numbers=("03-5555-0101",))  # To: 03-5555-0101@fax.tc
    envelope = ("fax-submissions+03-5555-0101@faxbounce.example.com",
                "fax-submissions+0355550202@faxbounce.example.com")  # the second was in Bcc only
    assert _destinations(raw, envelope) == [
        ("03-5555-0101@fax.tc", "03-5555-0101", "to"),  # header and its copy: one destination, not two
        ("0355550202@fax.tc", "0355550202", "envelope"),
    ]


def test_other_mailboxes_and_non_numbers_are_not_destinations() -> None:
    raw = submission(numbers=("03-5555-0101",))
    envelope = ("fax-results+0355550303@faxbounce.example.com", "fax-submissions+sales@faxbounce.example.com",
                "fax-submissions@faxbounce.example.com")
    assert _destinations(raw, envelope) == [("03-5555-0101@fax.tc", "03-5555-0101", "to")]


def test_the_mailbox_is_a_setting_and_empty_turns_it_off() -> None:
    raw = submission(numbers=("03-5555-0101",))
    envelope = ("faxcopy+0355550202@faxbounce.example.com",)
    renamed = TrackingSettings(submission_mailbox="faxcopy")
    assert ("0355550202@fax.tc", "0355550202", "envelope") in _destinations(raw, envelope, renamed)
    off = TrackingSettings(submission_mailbox="")
    assert _destinations(raw, envelope, off) == [("03-5555-0101@fax.tc", "03-5555-0101", "to")]


@pytest.mark.parametrize("value", ["fax+submissions", "fax@example.com", "two words"])
def test_a_mailbox_with_delimiters_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"tracking\.submission_mailbox"):
        load_settings(environ={"FAXBOUNCE_TRACKING_SUBMISSION_MAILBOX": value})
