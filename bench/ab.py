"""Two revisions side by side: `bench/perf.py` sections run from each, alternated, in the same minutes.

    .venv/bin/python bench/ab.py cd88902 HEAD --only workers             # two runs of each, A B A B
    .venv/bin/python bench/ab.py HEAD~3 HEAD --only commands --runs 3 --quick

This machine's speed swings by a quarter between full `make bench` runs, so a change smaller than that only
shows in runs alternated in the same minutes. Each revision is checked out as a detached git worktree in a
temporary folder (beside a link to `../shared`, where the benches find the corpus) and benched with this
checkout's interpreter and packages; the worktrees are removed at the end. Output: every table row once per
run, the revisions' rows one under the other, so each figure reads across the runs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Table:
    """One markdown table of a bench's output: its section title, header row and data rows."""

    title: str
    header: str
    rows: tuple[str, ...]


def tables(output: str) -> list[Table]:
    """The tables in `bench/perf.py`'s output, in order (a `####` title, then `|` lines)."""
    found: list[Table] = []
    title = ""
    lines: list[str] = []
    for line in [*output.splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line)
            continue
        if lines:
            found.append(Table(title, lines[0], tuple(r for r in lines[1:] if not r.startswith("|---"))))
            lines = []
        if line.startswith("#"):
            title = line.lstrip("#").strip()
    return found


def side_by_side(runs: Sequence[tuple[str, str]]) -> list[str]:
    """Markdown: for each table, each row of it from every run in turn, labelled `label #n` (`runs`: label and
    output, in the order they ran). Rows are matched by their words, not their place (`row_key`): a revision
    whose table has a row more (a new reference) does not shift the others. A table or row that one run lacks
    is left out of that run's lines."""
    parsed = [(label, tables(output)) for label, output in runs]
    counts: dict[str, int] = {}
    numbered = []
    for label, found in parsed:
        counts[label] = counts.get(label, 0) + 1
        numbered.append((f"{label} #{counts[label]}", {(t.title, t.header): _by_row_key(t.rows) for t in found}))
    keys = list(dict.fromkeys(key for _, by_table in numbered for key in by_table))
    out: list[str] = []
    for table_key in keys:
        title, header = table_key
        out += [f"#### {title}", "", "| run " + header, "|---" * header.count("|") + "|"]
        row_keys = _merged([list(by_table.get(table_key, {})) for _, by_table in numbered])
        for row_key in row_keys:
            for name, by_table in numbered:
                if (row := by_table.get(table_key, {}).get(row_key)) is not None:
                    out.append(f"| {name} " + row)
        out.append("")
    return out


def _merged(orders: Sequence[Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    """The row keys of every run in one order: a key only a later run has goes right after the key that
    precedes it there."""
    merged: list[tuple[str, int]] = []
    for order in orders:
        previous = -1
        for key in order:
            if key in merged:
                previous = merged.index(key)
            else:
                previous += 1
                merged.insert(previous, key)
    return merged


_FIGURE = re.compile(r"\d[\d,.]*")
_MET = re.compile(r"\| (?:yes|no) \|$")


def row_key(row: str) -> str:
    """A row without its figures (`| faxbounce SQLite | # | # |`) and without the targets table's verdict: what
    it measures, the same in every run."""
    return _MET.sub("| # |", _FIGURE.sub("#", row))


def _by_row_key(rows: Sequence[str]) -> dict[tuple[str, int], str]:
    """Rows by (`row_key`, how many rows before had that key): two rows that differ only in figures stay two."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], str] = {}
    for row in rows:
        key = row_key(row)
        keyed[(key, seen.get(key, 0))] = row
        seen[key] = seen.get(key, 0) + 1
    return keyed


def _worktree(revision: str, parent: Path) -> Path:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision], capture_output=True,
                            text=True, check=True).stdout.strip()
    path = parent / f"rev-{commit}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), commit], check=True)
    return path


def _bench(tree: Path, arguments: Iterable[str]) -> str:
    """PYTHONPATH names the tree, also for revisions whose bench/perf.py ran the `faxbounce` script without it
    (before 827022b: their command rows measured this checkout)."""
    result = subprocess.run([sys.executable, str(tree / "bench" / "perf.py"), *arguments], cwd=tree,
                            env=dict(os.environ, PYTHONPATH=str(tree)), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"bench/ab.py: bench/perf.py in {tree.name} failed (exit {result.returncode}): "
                         f"{(result.stderr.strip().splitlines() or [''])[-1]}")
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="the revision before (any git revision)")
    parser.add_argument("b", help="the revision after")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, alternated (default 2)")
    parser.add_argument("--only", action="append", default=[], help="a bench/perf.py section (repeatable)")
    parser.add_argument("--quick", action="store_true", help="bench/perf.py --quick")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    arguments = [*(f"--only={section}" for section in args.only), *(["--quick"] if args.quick else [])]
    shared = ROOT.parent / "shared"
    with tempfile.TemporaryDirectory(prefix="faxbounce-ab-") as folder:
        parent = Path(folder)
        if shared.exists():
            (parent / "shared").symlink_to(shared.resolve())
        trees = {label: _worktree(label, parent) for label in dict.fromkeys((args.a, args.b))}
        try:
            runs = []
            for _ in range(args.runs):
                for label in (args.a, args.b):
                    print(f"bench/ab.py: {label} ({trees[label].name}) …", file=sys.stderr, flush=True)
                    runs.append((label, _bench(trees[label], arguments)))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    print("\n".join(side_by_side(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
