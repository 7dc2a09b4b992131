"""Amazon SES JSON notifications against Sisimai's verdicts on the shared corpus (EXPECTED-sisimai.tsv).

Only the corpus mails that are SES JSON (not SES's ordinary bounce texts) are the reader's; its expected
values are Sisimai's published ones: a Bounce gives the status, a Delivery a delivered recipient, and a
Complaint (Sisimai's `feedback`) nothing, since abuse reports are not bounces.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from processor.detect.mailbounce import ses
from processor.parse import parse_mail


def _sisimai_rows(corpus_dir: Path) -> list[list[str]]:
    with (corpus_dir / "EXPECTED-sisimai.tsv").open(encoding="utf-8") as handle:
        rows = csv.reader((line for line in handle if not line.startswith("#")), delimiter="\t")
        return [row for row in rows if row[0].startswith("bsd/lhost-amazonses-")]


def test_json_notifications_read_as_sisimai_reads_them(corpus_dir: Path) -> None:
    claimed = 0
    for file, index, status, _reply, reason, *_ in _sisimai_rows(corpus_dir):
        text = ses.notification_text(parse_mail((corpus_dir / file).read_bytes()))
        if not text:
            continue  # an SES bounce text, read by bounce_text
        claimed += 1
        deliveries = ses.read_notification(text)
        if reason == "feedback":
            assert deliveries == [], file
            continue
        delivery = deliveries[int(index) - 1]
        assert "@" in delivery.recipient, file
        if reason == "delivered":
            assert delivery.action == "delivered", file
        else:
            assert (delivery.status, delivery.action) == (status, "failed"), file
    assert claimed >= 4


def test_a_mail_that_only_mentions_the_field_is_not_a_notification() -> None:
    raw = b"From: a@example.jp\nTo: b@example.jp\nSubject: x\n\nThe notificationType field is documented.\n"
    assert ses.notification_text(parse_mail(raw)) == ""


@pytest.mark.parametrize("kind", ["Bounce", "Complaint"])
def test_a_notification_without_bounced_recipients_gives_none(kind: str) -> None:
    raw = f'From: a@example.jp\nTo: b@example.jp\nSubject: x\n\n{{"notificationType": "{kind}", "mail": {{}}}}\n'
    text = ses.notification_text(parse_mail(raw.encode()))
    assert text and ses.read_notification(text) == []
