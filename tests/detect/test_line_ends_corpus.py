"""The corpus's LF, CRLF and CR variants of one mail give the same classification, for every mail."""

from __future__ import annotations

from pathlib import Path

from processor.detect import classify
from processor.parse import parse_mail


def _outcome(raw: bytes) -> tuple[object, ...]:
    classification = classify(parse_mail(raw))
    return (classification.kind, tuple(r.to_json().items() for r in classification.results))


def test_every_corpus_mail_classifies_alike_with_any_line_end(corpus_dir: Path, data_dir: Path) -> None:
    files = sorted((corpus_dir / "bsd").glob("*.eml")) + sorted(data_dir.rglob("*.eml"))
    assert len(files) > 600
    differ = []
    for path in files:
        lf = path.read_bytes().replace(b"\r\n", b"\n")
        expected = _outcome(lf)
        for variant, raw in (("crlf", lf.replace(b"\n", b"\r\n")), ("cr", lf.replace(b"\n", b"\r"))):
            if _outcome(raw) != expected:
                differ.append(f"{path.name} ({variant})")
    assert differ == []
