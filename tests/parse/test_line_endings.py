"""LF, CRLF and CR-only copies of a mail parse alike (sisimai's set-of-emails keeps all three: bsd/, dos/, mac/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.parse import ParsedMail, parse_mail

_EOL = re.compile(rb"\r\n|\r|\n")
SAMPLE_EVERY = 5  # every 5th file of bsd/ (about 125 mails) keeps the test fast and covers every MTA family


def _sample(corpus_dir: Path) -> list[Path]:
    files = sorted((corpus_dir / "bsd").glob("*.eml"))
    if not files:
        pytest.fail(f"no corpus mails under {corpus_dir / 'bsd'}")
    return files[::SAMPLE_EVERY]


def _view(mail: ParsedMail) -> tuple[object, ...]:
    return (
        mail.subject,
        dict(mail.headers),
        [(p.content_type, p.is_attachment, p.filename, p.charset, p.text, p.size) for p in mail.parts],
        [(dict(e.headers), e.text) for e in mail.embedded],
        mail.defects,
    )


def test_line_end_variants_parse_alike(corpus_dir: Path) -> None:
    mismatched = []
    for path in _sample(corpus_dir):
        # Some bsd/ files carry stray CRs: unify first, so each copy differs from the others by line ends alone.
        lf = _EOL.sub(b"\n", path.read_bytes())
        expected = _view(parse_mail(lf))
        for name, eol in (("crlf", b"\r\n"), ("cr", b"\r")):
            if _view(parse_mail(lf.replace(b"\n", eol))) != expected:
                mismatched.append(f"{path.name} ({name})")
    assert mismatched == []


CR_CASES = [
    # Cases where the stdlib alone reads a CR-only mail differently from its LF copy.
    ("qp-soft-break", b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
     b"=E9=80=81=E4=BF=A1=\n=E7=B5=90=E6=9E=9C\n", "送信結果\n"),
    ("folded-subject-tab", b"Subject: Undelivered Mail\n\tReturned to Sender\n\nx\n",
     "Undelivered Mail Returned to Sender"),
]


@pytest.mark.parametrize(("lf", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CR_CASES])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_cr_only_mail(lf: bytes, expected: str, eol: bytes) -> None:
    mail = parse_mail(lf.replace(b"\n", eol))
    assert expected in (mail.subject, mail.text)


def test_raw_keeps_original_line_ends() -> None:
    raw = b"Subject: x\r\n\r\nbody\r\n"
    mail = parse_mail(raw)
    assert mail.raw == raw
    assert mail.source == b"Subject: x\n\nbody\n"
