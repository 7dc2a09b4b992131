"""Judging many mail files for `faxbounce classify`: in this process, or in forked processes for long lists.

A pass over a directory of mail is CPU-bound and each file is judged on its own, so on a machine with more
than one core the files are shared out. The processes are forked once this one has imported the parsers and
read the configuration, so none of them pays for that again. Judging the built-in warm-up mails before the fork
(`processor.caches`) and freezing the heap (`heap.freeze_long_lived`) were measured too and were no faster: what
a child compiles on first use it compiles at the same time as its sibling, not after it. Files go out in chunks
in the order given and come back in that order: the output is the same, byte for byte, as one process's, and a
process that dies ends the command with an error instead of a hang or a gap.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from processor.config import Settings
from processor.errors import ParseError, ProcessDied
from processor.run.cores import usable_cores
from processor.run.judge import classify_bytes, trusted

__all__ = ["FILES_PER_PROCESS", "FileVerdict", "judge_file", "judge_files", "planned_processes"]

#: Below this many files for each extra process, forking costs more than it saves (the pool's start and each
#: process's first-use work, tens of milliseconds on this project's machines, against ~1 ms a mail).
FILES_PER_PROCESS = 48

#: Files sent to a process at a time: small enough that the processes finish together and output streams,
#: large enough that the round trips do not count.
_CHUNK = 16

#: Chunks a process may have waiting, sent or judged but not yet printed: enough that none waits for work.
_CHUNKS_AHEAD = 4


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """What `classify` prints for one file: its standard output, its standard error, and whether it failed."""

    out: str
    err: str = ""
    failed: bool = False


def judge_file(name: str, raw: bytes | None, settings: Settings, as_json: bool) -> FileVerdict:
    """Read (unless `raw` is given) and judge one file, rendered as `faxbounce classify` prints it."""
    try:
        raw = Path(name).read_bytes() if raw is None else raw
    except OSError as exc:
        return FileVerdict("", f"faxbounce: {name}: {exc.strerror}\n", True)
    try:
        mail, classification = classify_bytes(raw, settings.processing, settings.tracking)
        trust = trusted(mail, classification, settings)
    except ParseError as exc:
        return FileVerdict("", f"faxbounce: {name}: {exc}\n", True)
    if as_json:
        document = {
            "source": name,
            "kind": str(classification.kind),
            "detected_by": classification.detected_by,
            "trusted": trust,
            "results": [r.to_json() for r in classification.results],
        }
        if classification.submission is not None:  # kind fax_submission (issue #5)
            document["submission"] = classification.submission.to_json()
            document["destinations"] = [d.to_json() for d in classification.submission.destinations]
        return FileVerdict(json.dumps(document, ensure_ascii=False) + "\n")
    lines = [f"{name}: {classification.kind}"
             + (f" ({classification.detected_by})" if classification.detected_by else "")]
    for d in classification.submission.destinations if classification.submission else ():
        lines.append(f"  submitted {d.fax_number or d.fax_number_raw}  ({d.recipient}, {d.source})")
    for r in classification.results:
        target = r.fax_number or r.fax_number_raw or r.recipient or "-"
        lines.append(f"  {r.outcome:9s} {r.reason:22s} {target}  code={r.code or '-'}"
                     + (f"  retryable={'yes' if r.retryable else 'no'}" if r.retryable is not None else ""))
        if r.action_en:
            lines.append(f"    {r.action_en}")
    return FileVerdict("\n".join(lines) + "\n")


def judge_files(names: Sequence[str], settings: Settings, as_json: bool, jobs: int = 0) -> Iterator[FileVerdict]:
    """Judge `names` in order (`-` is standard input), in `jobs` processes (0: one per usable core when the list
    is long enough to pay for them); verdicts come in the order of `names`."""
    stdin = sys.stdin.buffer.read() if "-" in names else None
    inputs = [(name, stdin if name == "-" else None) for name in names]
    processes = planned_processes(len(names), jobs)
    if processes == 1:
        for name, raw in inputs:
            yield judge_file(name, raw, settings, as_json)
        return
    yield from _judge_forked(inputs, settings, as_json, processes)


def planned_processes(files: int, jobs: int = 0, cores: int | None = None) -> int:
    """How many processes judge `files` files: `jobs` if set (never more than the files), otherwise one per
    usable core with at least `FILES_PER_PROCESS` files each; one where processes cannot be forked."""
    if not hasattr(os, "fork"):
        return 1
    wanted = jobs or min(cores or usable_cores(), files // FILES_PER_PROCESS)
    return max(1, min(wanted, files))


#: What the forked processes judge with: set before the fork, inherited, never pickled.
_SETUP: tuple[Settings, bool] | None = None


def _judge_forked(inputs: list[tuple[str, bytes | None]], settings: Settings, as_json: bool,
                  processes: int) -> Iterator[FileVerdict]:
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _SETUP
    _SETUP = (settings, as_json)
    chunks = [inputs[i:i + _CHUNK] for i in range(0, len(inputs), _CHUNK)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=_ignore_interrupts) as pool:
        try:
            # A bounded window, not `pool.map`: that submits every chunk at once, and the verdicts of a long
            # list would pile up in memory behind one slow file.
            window: deque[Future[list[FileVerdict]]] = deque()
            for chunk in chunks:
                window.append(pool.submit(_judge_chunk, chunk))
                if len(window) >= processes * _CHUNKS_AHEAD:
                    yield from window.popleft().result()
            while window:
                yield from window.popleft().result()
        except BrokenProcessPool:
            raise ProcessDied("classify: a process judging the files died (killed, or out of memory); the files "
                              "after the last one printed were not judged: run again with --jobs 1") from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ignore_interrupts() -> None:
    """Ctrl-C is the parent's to handle: it stops the pool; a forked process printing a traceback helps nobody."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _judge_chunk(chunk: list[tuple[str, bytes | None]]) -> list[FileVerdict]:
    assert _SETUP is not None, "judge_files sets the settings before it forks"
    settings, as_json = _SETUP
    return [judge_file(name, raw, settings, as_json) for name, raw in chunk]
