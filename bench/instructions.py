"""Instructions that whole commands execute, counted by valgrind (callgrind): a figure the machine's pace does not
move, for changes smaller than the swings of wall time between runs.

    .venv/bin/python bench/instructions.py feb73f4 HEAD      # needs valgrind (apt install valgrind)

Each revision is checked out as a detached git worktree (as `bench/ab.py` does) and run with this checkout's
interpreter, PYTHONPATH naming the tree: `faxbounce explain 3912`, `faxbounce classify one.eml` (the first InterFAX
sample), `faxbounce classify --json` over the 629 corpus mails, judging 300 of the end-to-end bench's InterFAX
results in one process (less the same loop over none: instructions per mail), and a worker draining 300 of them from
SQLite in its own batches (`processor.run.worker.BATCH`: 20 before round 18, 50 since) and one per transaction as
SQLite's give-way has it while the SMTP side is active (less storing them: instructions per mail claimed, read,
judged and recorded); then Sisimai over the corpus once, for scale.
The counts repeat to a few parts in ten thousand (hash randomisation is fixed). An instruction is not a
nanosecond (a cache miss costs hundreds), so this says whether a change did less work, and wall time in `make bench`
says what that was worth."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ab import _worktree
from bench.perf import as_installed, tree_env

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "set-of-emails" / "bsd"
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def collected(valgrind_output: str) -> int:
    """The instruction count of callgrind's summary line (`==123== Collected : 842119670`)."""
    found = _COLLECTED.findall(valgrind_output)
    if len(found) != 1:
        raise ValueError("no single callgrind summary line in valgrind's output")
    return int(found[0])


def count(command: list[str], tree: Path | None = None) -> int:
    """Instructions `command` executes, with `tree`'s `processor` first on the path."""
    env = dict(tree_env(tree) if tree is not None else os.environ, PYTHONHASHSEED="0")
    env.pop("FAXBOUNCE_CONFIG", None)
    # On one core, so that `classify` over the corpus judges it in this process (it forks one per core where it
    # may use more: what callgrind would not count), in revisions before that as after it.
    done = subprocess.run(["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *command],
                          cwd=tree or ROOT, env=env, capture_output=True, text=True, check=False)
    return collected(done.stderr)


#: Judging (parse, classify, trust) `count` of the end-to-end bench's 2 KB InterFAX results in one process.
_JUDGE = """
import logging, sys
from bench.perf import interfax_bodies
from processor.config import Settings
from processor.run.judge import classify_bytes, trusted
logging.disable(logging.CRITICAL)
settings = Settings()
for raw in interfax_bodies(int(sys.argv[1])):
    mail, classification = classify_bytes(raw, settings.processing, settings.tracking)
    trusted(mail, classification, settings)
"""
JUDGED = 300

#: Storing `count` of those results in a new SQLite file, then draining them with one worker in batches of
#: `batch` (0: no drain, the set-up alone): claiming, reading, judging and recording, as a worker does. Batches are
#: the worker's own size (its revision's `BATCH`); 1 is what it takes while the SMTP side waits for the write lock
#: (the give-way).
_DRAIN = """
import logging, sys, tempfile
from bench.perf import interfax_bodies
from processor.config import Settings
from processor.run import worker
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore
logging.disable(logging.CRITICAL)
count, batch = int(sys.argv[1]), int(sys.argv[2])
url = f"sqlite:///{tempfile.mkdtemp()}/drain.sqlite3"
engine = create_db_engine(url)
migrate(engine)
RawStore(engine).put_many([(body.replace(b"\\r\\n..", b"\\r\\n."), Envelope("", ("fax@faxbounce.test",),
                           peer="127.0.0.1:1")) for body in interfax_bodies(count)])
class Active:  # SQLite's give-way with the SMTP side active throughout: one mail per transaction, as under load
    def batch_size(self, normal): return 1
    def smtp_active(self): return True
    def mail_waiting(self): return False
    def wait_for_new_mail(self, seconds=0.0): pass
if batch:
    give_way = Active() if batch == 1 else None
    assert worker.drain(create_db_engine(url, durable=False), Settings(), give_way=give_way) == count
"""
DRAINED = 300
_SET_UP = f"storing {DRAINED} InterFAX results in SQLite (the set-up of the two rows below)"
_BATCHED = f"storing and draining {DRAINED} InterFAX results, one worker, in its own batches"
_ONE_BY_ONE = (f"storing and draining {DRAINED} InterFAX results, one worker, one mail per transaction (the "
               "give-way with the SMTP side active)")


def commands(tree: Path) -> dict[str, list[str]]:
    faxbounce = str(Path(sys.executable).with_name("faxbounce"))
    one = str(sorted((tree / "tests" / "data" / "interfax").glob("*.eml"))[0])
    corpus = [str(p) for p in sorted(CORPUS.glob("*.eml"))]
    return {
        "faxbounce explain 3912": [faxbounce, "explain", "3912"],
        "faxbounce classify one.eml": [faxbounce, "classify", one],
        f"faxbounce classify --json (corpus, {len(corpus)} mails)": [faxbounce, "classify", "--json", *corpus],
        "judging 0 InterFAX results (the loop's imports and set-up)": [sys.executable, "-c", _JUDGE, "0"],
        f"judging {JUDGED} InterFAX results": [sys.executable, "-c", _JUDGE, str(JUDGED)],
        _SET_UP: [sys.executable, "-c", _DRAIN, str(DRAINED), "0"],
        _BATCHED: [sys.executable, "-c", _DRAIN, str(DRAINED), "20"],
        _ONE_BY_ONE: [sys.executable, "-c", _DRAIN, str(DRAINED), "1"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="the revision before (any git revision)")
    parser.add_argument("b", help="the revision after")
    parser.add_argument("--drain", action="store_true", help="only the worker's rows (storing and draining)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py: valgrind is not installed: apt install valgrind")
    with tempfile.TemporaryDirectory(prefix="faxbounce-ir-") as folder:
        trees = {label: _worktree(label, Path(folder)) for label in dict.fromkeys((args.a, args.b))}
        try:
            for tree in trees.values():  # as installed: byte-compiled, catalogues cached
                as_installed(tree)
            counts = {label: {name: count(command, tree) for name, command in commands(tree).items()
                              if not args.drain or name in (_SET_UP, _BATCHED, _ONE_BY_ONE)}
                      for label, tree in trees.items()}
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    a, b = counts[args.a], counts.get(args.b, counts[args.a])
    print(f"| command | {args.a}, millions | {args.b}, millions | change |")
    print("|---|---:|---:|---:|")
    for name in a:
        print(f"| {name} | {a[name] / 1e6:,.1f} | {b[name] / 1e6:,.1f} | {(b[name] - a[name]) / a[name]:+.1%} |")
    loop, empty = f"judging {JUDGED} InterFAX results", "judging 0 InterFAX results (the loop's imports and set-up)"
    if loop in a:
        per_a, per_b = ((c[loop] - c[empty]) / JUDGED for c in (a, b))
        print(f"| per InterFAX result judged (the two judging rows, subtracted) | {per_a / 1e6:,.2f} | "
              f"{per_b / 1e6:,.2f} | {(per_b - per_a) / per_a:+.1%} |")
    for label, drained in (("in the worker's batches", _BATCHED), ("one per transaction", _ONE_BY_ONE)):
        whole_a, whole_b = ((c[drained] - c[_SET_UP]) / DRAINED for c in (a, b))
        print(f"| per mail drained {label} (claim, read, judge, record; less the set-up) | {whole_a / 1e6:,.2f} | "
              f"{whole_b / 1e6:,.2f} | {(whole_b - whole_a) / whole_a:+.1%} |")
    if args.drain:
        return 0
    sisimai = count(["perl", "-MSisimai", "-e", "my $v = Sisimai->make($ARGV[0]) || []; print scalar @$v",
                     str(CORPUS)])
    print(f"| Sisimai->make (corpus) | {sisimai / 1e6:,.1f} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
