"""A single-part body is set whole instead of through the feedparser's line loop (`_message_from_bytes`): the
message must be the one `email.message_from_bytes` makes, for every mail we have and for the edge cases of where
a header block ends; and a body of millions of lines must cost what its bytes cost, not what its lines cost."""

from __future__ import annotations

import email
import subprocess
import sys
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.parse import parse_mail
from processor.parse.mail import _message_from_bytes, _repair_folds, bound_input

ROOT = Path(__file__).resolve().parents[2]

EDGE_CASES = {
    "empty": b"",
    "only an empty line": b"\n",
    "body without headers": b"\n\nbody\n",
    "headers only, no empty line": b"Subject: a\n",
    "headers only, ending in an empty line": b"Subject: a\n\n",
    "non-header line before the empty line": b"Subject: a\nnot a header\nmore\n\nbody\n\nx",
    "mbox From line and empty lines": b"From x\nSubject: a\n\n\n\n",
    "continuation line first": b" folded first\nSubject: a\n\nbody",
    "multipart": b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n",
    "multipart in capitals, no delimiter": b"Content-Type: Multipart/Mixed; boundary=b\n\nx",
    "multipart without subtype": b"Content-Type: multipart\n\nx",
    "message/rfc822": b"Content-Type: message/rfc822\n\nSubject: in\n\nx",
    "delivery-status": b"Content-Type: message/delivery-status\n\nReporting-MTA: x\n\nAction: failed\n",
    "8-bit bytes under iso-2022-jp": b"Content-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3\x1b(B\xff\xfe\n",
    "broken content type": b"Content-Type: ;;;\n\nbody",
    "no final line end": b"Subject: a\n\nlast line",
    "13 thousand empty lines": b"Subject: empty\n" + b"\n" * 13_000,
}


def _shape(message: Message) -> tuple[object, ...]:
    """What a reader of the message can see: its text, its part tree, payloads and every defect."""
    try:
        text = message.as_string()
    except Exception as exc:  # noqa: BLE001 - the stdlib's generator fails on some bodies: both must fail alike
        text = repr(exc)
    return (
        text,
        [part.get_content_type() for part in message.walk()],
        [type(defect).__name__ for part in message.walk() for defect in part.defects],
        None if message.is_multipart() else message.get_payload(),
        message.items(),
    )


def _assert_same(raw: bytes) -> None:
    source, _defects = bound_input(_repair_folds(raw)[0])
    assert _shape(_message_from_bytes(source)) == _shape(email.message_from_bytes(source, policy=compat32))


@pytest.mark.parametrize("raw", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_parse_as_the_stdlib_does(raw: bytes) -> None:
    _assert_same(raw)


def test_every_mail_we_have_parses_as_the_stdlib_does(corpus_dir: Path) -> None:
    mails = sorted(corpus_dir.rglob("*.eml")) + sorted((ROOT / "tests" / "data").rglob("*.eml"))
    assert len(mails) > 600
    for path in mails:
        _assert_same(path.read_bytes())


_LINES = st.lists(
    st.sampled_from([b"Subject: x", b"Content-Type: text/plain", b"Content-Type: multipart/mixed; boundary=b",
                     b"Content-Type: message/rfc822", b"--b", b"--b--", b"", b" folded", b"plain text", b"x: y",
                     b"\xe3\x81\x82", b"From someone"]),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES, st.sampled_from([b"\n", b"\r\n", b"\r"]), st.booleans())
def test_generated_mails_parse_as_the_stdlib_does(lines: list[bytes], eol: bytes, final_eol: bool) -> None:
    _assert_same(eol.join(lines) + (eol if final_eol else b""))


def test_a_body_of_13_million_empty_lines_is_parsed_in_bounded_memory(tmp_path: Path) -> None:
    """26 MB of empty lines took the feedparser 2.6 s and 265 MB (one string per line); now the bytes' cost."""
    mail = tmp_path / "empty-lines.eml"
    mail.write_bytes(b"Subject: empty\r\n" + b"\r\n" * 13_000_000)
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from processor.parse import parse_mail\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "mail = parse_mail(Path(sys.argv[1]).read_bytes())\n"
        "assert mail.subject == 'empty' and mail.parts[0].content_type == 'text/plain'\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(mail)], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    grew_mb = int(done.stdout.strip()) / 1024
    # The raw bytes, their LF copy and the body as text are each 26 MB or less; a string per line was 240 MB.
    assert grew_mb < 120, f"parsing grew the process by {grew_mb:.0f} MB"


def test_parse_mail_keeps_a_single_part_body_whole() -> None:
    body = "".join(f"line {n}\n" for n in range(5000))
    mail = parse_mail(f"Subject: lines\nContent-Type: text/plain; charset=utf-8\n\n{body}".encode())
    assert mail.text.splitlines() == body.splitlines()
