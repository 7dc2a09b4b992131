"""Fuzz the parser and classifier with hostile mail, many examples (`make fuzz`).

    .venv/bin/python bench/fuzz.py [--examples N] [--seed S]

Inputs: random bytes; corpus and sample mails mutated (bytes flipped, cut short, boundaries dropped or
doubled, headers repeated, charset labels swapped, NUL bytes and lone surrogate escapes inserted); MIME
bombs (deep nesting, many parts), header, encoded-word, HTML and address-run bombs. For every input,
parse + classify must return (a ParseError is an answer too), in bounded time, with text both databases
accept (no NUL, valid UTF-8). One input in 25 also goes through the raw store and the worker's
`process_message` on SQLite, which must leave it `processed`, `unparseable` or `error` with its raw bytes
kept.

Prints the number of inputs tried, failures (with the first few reproducers saved under
var/fuzz-failures/), and the slowest input's time (the input saved as var/fuzz-slowest.eml).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processor.config import Settings  # noqa: E402
from processor.detect import classify  # noqa: E402
from processor.errors import ParseError  # noqa: E402
from processor.parse import parse_mail  # noqa: E402
from processor.run.pipeline import process_message  # noqa: E402
from processor.store.db import create_db_engine, migrate, session_scope  # noqa: E402
from processor.store.inbound import Envelope, RawStore  # noqa: E402
from processor.store.models import InboundMessage, InboundRaw  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "set-of-emails" / "bsd"
SAMPLES = ROOT / "tests" / "data"
CHARSETS = [b"iso-2022-jp", b"shift_jis", b"euc-jp", b"utf-8", b"windows-31j", b"x-unknown", b"utf-7", b"rot13",
            b"base64", b"", b"\xff\xfe", b"iso-8859-1", b"utf-16"]


#: Units of the long runs `mutate` inserts (what took seconds in one pattern or another before it was made linear:
#: letters, dotted labels, blanks, `550 `, `(`, `0 `, letters outside ASCII, `=?`, `1-`).
RUN_UNITS = [b"a", b"a.", b"1.", b" ", b"\t", b"0 ", b"1-", b"(", b"550 ", b"@", b"a@", b";", b"=?",
             "é ".encode(), "送".encode(), b"<", b"- "]


def seeds() -> list[bytes]:
    files = sorted(CORPUS.glob("*.eml"))[::3] + sorted(SAMPLES.rglob("*.eml"))
    return [p.read_bytes() for p in files] or [b"Subject: x\r\n\r\nbody\r\n"]


def mime_bomb(rng: random.Random) -> bytes:
    depth = rng.choice([50, 500, 5000, 10_000])
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    return b"Subject: bomb\n" + head + b"Content-Type: text/plain\n\nleaf\n"


def wide_bomb(rng: random.Random) -> bytes:
    parts = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(rng.choice([600, 5000])))
    return b"Subject: wide\nContent-Type: multipart/mixed; boundary=B\n\n" + parts + b"--B--\n"


def word_bomb(rng: random.Random) -> bytes:
    word = rng.choice([b"=?iso-2022-jp?B?GyRCJEYkOSRIGyhC?=", b"=?utf-8?Q?=E3=83=86?=", b"=?x?B?!!!?="])
    return b"Subject: " + b" ".join([word] * rng.choice([1000, 100_000])) + b"\n\nbody\n"


def header_bomb(rng: random.Random) -> bytes:
    return b"X-Long: " + b"a" * rng.choice([100_000, 1_000_000]) + b"\nSubject: h\n\nbody\n"


def run_bomb(rng: random.Random) -> bytes:
    """Long runs of one short unit in address headers of a bounce: patterns that scan a run again from each of
    its characters (the address patterns did: ten 60 KB `To:` headers took 19 s) exceed the time an input may
    take."""
    name = rng.choice([b"To", b"Cc", b"Reply-To", b"Return-Path", b"Delivered-To", b"X-Failed-Recipients", b"From"])
    unit = rng.choice([b"a", b"a.", b"1.", b"=?", b"a^", b"+1", b"a-", b"1 ", b"@", b"a@"])
    field = name + b": " + unit * (rng.choice([1_000, 60_000]) // len(unit)) + b"\n"
    head = b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\n"
    return head + field * rng.randint(1, 10) + b"\n<x@example.net>: 550 5.1.1 user unknown\n"


def html_bomb(rng: random.Random) -> bytes:
    """Markup left open, repeated: html.parser read it in quadratic time (200 KB of `<a "` took 155 s)."""
    unit = rng.choice([b'<a "', b"<!--", b"</a", b"<![CDATA[", b"<td title='x>", b"<", b"<a b"])
    body = unit * (rng.choice([1_000, 50_000, 500_000]) // len(unit) + 1)
    return b"Subject: html\nContent-Type: text/html; charset=utf-8\n\n" + body + b"\n"


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(10)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip bytes
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:  # cut short
            del data[pos:]
        elif op == 2:  # drop boundaries
            data = bytearray(bytes(data).replace(b"boundary=", b"boundery="))
        elif op == 3:  # double a slice (duplicate headers and boundaries)
            end = min(len(data), pos + rng.randint(1, 400))
            data[pos:pos] = data[pos:end]
        elif op == 4:  # swap charset labels
            data = bytearray(bytes(data).replace(b"charset=", b"charset=" + rng.choice(CHARSETS) + b";x="))
        elif op == 5:  # NUL bytes
            data[pos:pos] = b"\x00" * rng.randint(1, 5)
        elif op == 6:  # surrogate-escape territory: lone high bytes in headers
            data[pos:pos] = bytes([rng.randrange(0x80, 0x100) for _ in range(rng.randint(1, 6))])
        elif op == 7:  # line-end soup
            data = bytearray(bytes(data).replace(b"\n", rng.choice([b"\r", b"\r\n", b"\n\r", b"\n"])))
        elif op == 8:  # a long run of one short unit at a line's start or end: finds patterns that rescan a run
            unit = rng.choice(RUN_UNITS)
            run = unit * (rng.choice([2_000, 30_000]) // len(unit))
            at = bytes(data).rfind(b"\n", 0, pos) + 1 if rng.random() < 0.5 else bytes(data).find(b"\n", pos)
            data[at:at] = run if at >= 0 else b""
        else:  # random bytes spliced in
            data[pos:pos] = rng.randbytes(rng.randint(1, 200))
    return bytes(data)


def generate(rng: random.Random, pool: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return rng.randbytes(rng.randint(0, 5000))
    if roll < 0.07:
        return rng.choice([mime_bomb, wide_bomb, word_bomb, header_bomb, html_bomb, run_bomb])(rng)
    return mutate(rng, rng.choice(pool))


def check_text(value: object, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise AssertionError(f"NUL in {where}")
        value.encode("utf-8")  # raises on lone surrogates


def check_one(raw: bytes) -> None:
    try:
        mail = parse_mail(raw)
    except ParseError:
        return
    classification = classify(mail)
    for name, values in mail.headers.items():
        for value in values:
            check_text(value, f"header {name}")
    for part in mail.parts:
        check_text(part.text, "part text")
    for result in classification.results:
        for key, value in result.to_json().items():
            check_text(value, f"result {key}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--max-seconds", type=float, default=5.0, help="time one input may take")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # unknown codes and untrusted senders are expected here, by the thousand
    rng = random.Random(args.seed)
    pool = seeds()
    failures: list[tuple[bytes, str]] = []
    slowest = (0.0, b"")
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/fuzz.sqlite3")
        migrate(engine)
        store = RawStore(engine)
        settings = Settings()
        started = time.monotonic()
        for index in range(args.examples):
            raw = generate(rng, pool)
            t0 = time.monotonic()
            try:
                check_one(raw)
                if index % 25 == 0:
                    stored = store.put(raw, Envelope("", ("fuzz@faxbounce.test",)))
                    outcome = process_message(engine, stored.id, settings)
                    with session_scope(engine) as session:
                        row = session.get_one(InboundMessage, stored.id)
                        assert row.status in ("processed", "unparseable", "error"), row.status
                        assert session.get_one(InboundRaw, stored.id).raw == raw
                    assert outcome is not None
            except Exception as exc:  # noqa: BLE001 - every escape is a finding
                failures.append((raw, f"{type(exc).__name__}: {exc}"))
            elapsed = time.monotonic() - t0
            if elapsed > slowest[0]:
                slowest = (elapsed, raw)
            if elapsed > args.max_seconds:
                failures.append((raw, f"took {elapsed:.1f}s"))
        total = time.monotonic() - started
    # The slowest input, to time it again alone (`faxbounce classify var/fuzz-slowest.eml`): on a loaded
    # machine the slowest time can be the scheduler's, not the input's.
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "fuzz-slowest.eml").write_bytes(slowest[1])
    if failures:
        out = ROOT / "var" / "fuzz-failures"
        out.mkdir(parents=True, exist_ok=True)
        for number, (raw, error) in enumerate(failures[:20]):
            (out / f"{number:03d}.eml").write_bytes(raw)
            print(f"failure {number}: {error}", file=sys.stderr)
    print(f"inputs tried: {args.examples} (seed {args.seed}) in {total:.0f}s; failures: {len(failures)}; "
          f"slowest input: {slowest[0] * 1000:.0f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
