"""Whatever a detector quotes from a hostile body, results carry text both databases and JSON accept.

Found by `make fuzz`: bounce-text readers quoted NUL bytes from raw bodies into vendor_message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.detect import classify
from processor.parse import parse_mail


@pytest.mark.parametrize("name", ["lhost-postfix-01.eml", "lhost-exim-01.eml", "lhost-sendmail-01.eml",
                                  "lhost-qmail-01.eml"])
def test_results_carry_no_nul_or_surrogates(corpus_dir: Path, name: str) -> None:
    raw = (corpus_dir / "bsd" / name).read_bytes()
    head, _, body = raw.partition(b"\n\n")
    poisoned = head + b"\n\n" + body.replace(b"\n", b"\x00\n")
    classification = classify(parse_mail(poisoned))
    assert classification.results, "the poisoned bounce must still be read"
    for result in classification.results:
        for key, value in result.to_json().items():
            if isinstance(value, str):
                assert "\x00" not in value, key
                value.encode("utf-8")
