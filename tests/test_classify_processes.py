"""`faxbounce classify` over many files in several processes: the same output as one process, in the files' order,
from really forked processes; a process that dies or a Ctrl-C ends the command cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from processor.run.batch import FILES_PER_PROCESS, planned_processes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CORPUS = ROOT.parent / "shared" / "corpus" / "set-of-emails" / "bsd"


def _files(tmp_path: Path) -> list[str]:
    """Every kind of input, in an order no sorting gives back: notices, bounces, reports, unrelated mail, a file
    that is missing, one that is no mail (a directory), and standard input."""
    mails = sorted(DATA.glob("*/*.eml"))
    assert len(mails) > 150
    names = [str(p) for p in mails[::-1][:150]]
    names[7:7] = [str(tmp_path / "missing.eml"), str(tmp_path)]
    names[40:40] = ["-"]
    names += names[:20]  # a file named twice is judged twice
    return names


def _classify(*args: str, stdin: bytes = b"", shim: str = "") -> subprocess.CompletedProcess[bytes]:
    """Run the command in a fresh interpreter; `shim` is code run before `main` (to watch the processes)."""
    code = textwrap.dedent(shim) + "\nimport sys\nfrom processor.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = {k: v for k, v in os.environ.items() if k != "FAXBOUNCE_CONFIG"}
    return subprocess.run([sys.executable, "-c", code, "classify", *args], input=stdin, capture_output=True,
                          cwd=ROOT, env=env, timeout=120, check=False)


@pytest.mark.parametrize("mode", [["--json"], []], ids=["json", "text"])
def test_several_processes_print_what_one_process_prints(tmp_path: Path, mode: list[str]) -> None:
    names = _files(tmp_path)
    stdin = (DATA / "interfax" / "csv-01.eml").read_bytes()
    one = _classify(*mode, "--jobs", "1", *names, stdin=stdin)
    three = _classify(*mode, "--jobs", "3", *names, stdin=stdin)
    assert one.returncode == three.returncode == 1  # the missing file and the directory
    assert three.stdout == one.stdout
    assert _without_times(three.stderr) == _without_times(one.stderr)
    errors = [line for line in one.stderr.decode().splitlines() if line.startswith("faxbounce: ")]
    assert len(errors) == 4 and errors[:2] == errors[2:]  # each named twice
    assert "missing.eml: No such file" in errors[0] and "Is a directory" in errors[1]
    if mode:
        judged = [json.loads(line)["source"] for line in one.stdout.decode().splitlines()]
        assert judged == [n for n in names if n not in (str(tmp_path / "missing.eml"), str(tmp_path))]
        stdin_verdict = json.loads(one.stdout.decode().splitlines()[names.index("-") - 2])
        assert (stdin_verdict["source"], stdin_verdict["kind"]) == ("-", "interfax_result")


def _without_times(stderr: bytes) -> list[str]:
    """Standard error with the log lines' time and process name taken out (the level and message stay)."""
    return [re.sub(r"^\d{4}-\d\d-\d\d \S+ (\w+) \S+ ", r"\1 ", line) for line in stderr.decode().splitlines()]


_PIDS = """
import os
import processor.run.batch as batch
_judge = batch.judge_file
def judge_file(*args):
    verdict = _judge(*args)
    return batch.FileVerdict(verdict.out.replace('"source"', f'"pid": {os.getpid()}, "source"'), verdict.err,
                             verdict.failed)
batch.judge_file = judge_file
print(os.getpid(), file=sys.stderr)
"""


@pytest.mark.parametrize(("args", "processes"), [(["--jobs", "3"], 3), (["--jobs", "1"], 1), ([], 1)])
def test_the_files_are_judged_in_as_many_forked_processes_as_asked(args: list[str], processes: int) -> None:
    names = [str(p) for p in sorted(DATA.glob("*/*.eml"))[:FILES_PER_PROCESS + 10]]
    run = _classify("--json", *args, *names, shim="import sys\n" + _PIDS)
    assert run.returncode == 0, run.stderr
    parent = int(run.stderr.decode().split()[0])
    pids = {json.loads(line)["pid"] for line in run.stdout.decode().splitlines()}
    assert len(pids) == processes
    assert (parent in pids) == (processes == 1)


def test_a_long_list_is_shared_between_the_cores_by_default() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one usable core: the default is one process")
    names = [str(p) for p in sorted(CORPUS.glob("*.eml"))]
    assert len(names) >= 2 * FILES_PER_PROCESS
    run = _classify("--json", *names, shim="import sys\n" + _PIDS)
    assert run.returncode == 0, run.stderr
    parent = int(run.stderr.decode().split()[0])
    pids = {json.loads(line)["pid"] for line in run.stdout.decode().splitlines()}
    assert len(pids) == min(len(os.sched_getaffinity(0)), len(names) // FILES_PER_PROCESS)
    assert parent not in pids


@pytest.mark.parametrize(("files", "jobs", "cores", "expected"), [
    (1, 0, 2, 1), (FILES_PER_PROCESS * 2 - 1, 0, 2, 1), (FILES_PER_PROCESS * 2, 0, 2, 2), (629, 0, 2, 2),
    (629, 0, 1, 1), (629, 0, 8, 8), (FILES_PER_PROCESS * 3, 0, 8, 3),  # never more than the list pays for
    (629, 1, 8, 1), (629, 3, 2, 3), (5, 8, 2, 5), (1, 4, 4, 1),  # --jobs is obeyed, up to one file each
])
def test_how_many_processes(files: int, jobs: int, cores: int, expected: int) -> None:
    assert planned_processes(files, jobs, cores) == expected


def test_a_process_that_dies_ends_the_command_with_one_line() -> None:
    names = [str(p) for p in sorted(DATA.glob("*/*.eml"))[:100]]
    doomed = names[60]
    shim = f"""
    import os
    import processor.run.batch as batch
    _judge = batch.judge_file
    batch.judge_file = lambda name, *rest: os._exit(9) if name == {doomed!r} else _judge(name, *rest)
    """
    run = _classify("--json", "--jobs", "2", *names, shim=shim)
    assert run.returncode == 1
    errors = [line for line in run.stderr.decode().splitlines() if line.startswith("faxbounce: ")]
    assert len(errors) == 1 and "died" in errors[0] and errors[0].endswith("run again with --jobs 1")
    assert "Traceback" not in run.stderr.decode()
    judged = [json.loads(line)["source"] for line in run.stdout.decode().splitlines()]
    assert judged == names[:len(judged)] and len(judged) < 60  # what was printed is in order, nothing after it


def test_ctrl_c_stops_every_process() -> None:
    names = [str(p) for p in sorted(DATA.glob("*/*.eml"))] * 20
    env = {k: v for k, v in os.environ.items() if k != "FAXBOUNCE_CONFIG"}
    command = [sys.executable, "-m", "processor", "classify", "--json", "--jobs", "2", *names]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:
        assert run.stdout is not None
        run.stdout.readline()
        children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
        assert len(children) >= 2
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert b"Traceback" not in err
    assert out.count(b"\n") + 1 < len(names)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_negative_job_count_is_a_usage_error() -> None:
    run = _classify("--jobs", "-1", str(DATA / "interfax" / "csv-01.eml"))
    assert run.returncode == 2
    assert run.stderr.decode().strip() == ("faxbounce: classify: --jobs must be 0 (one process per core for long "
                                           "lists) or more")


_AT_EXIT = """
import atexit, sys, threading, time
from pathlib import Path
marks = Path(sys.argv.pop(1))
atexit.register(lambda: (marks / "atexit").write_text("ran"))

class TornDown:
    def __del__(self, path=str(marks / "teardown"), open=open):  # names bound now: teardown clears globals
        with open(path, "w") as file:
            file.write("ran")

kept = TornDown()
if sys.argv.pop(1) == "thread":
    def late():
        time.sleep(0.5)
        (marks / "thread").write_text("ran")
    threading.Thread(target=late).start()
from processor.cli import main
sys.exit(main())
"""


def _leave(tmp_path: Path, thread: bool, names: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "FAXBOUNCE_CONFIG"}
    return subprocess.run([sys.executable, "-c", _AT_EXIT, str(tmp_path), "thread" if thread else "-", "classify",
                           "--json", *names], capture_output=True, cwd=ROOT, env=env, timeout=120, check=False)


@pytest.mark.parametrize("thread", [False, True], ids=["alone", "with-a-thread"])
def test_classify_leaves_without_teardown_unless_a_thread_runs(tmp_path: Path, thread: bool) -> None:
    names = [str(p) for p in sorted(DATA.glob("interfax/*.eml"))[:10]]
    run = _leave(tmp_path, thread, names)
    assert run.returncode == 0 and run.stdout.count(b"\n") == len(names)
    assert (tmp_path / "atexit").exists()
    # The teardown (which here runs the __del__ of an object __main__ holds) is skipped, unless a thread still
    # runs: then the exit is a normal one, which waits for the thread.
    assert (tmp_path / "teardown").exists() is thread
    assert (tmp_path / "thread").exists() is thread


def test_classify_leaves_after_its_exit_functions_and_all_its_output(tmp_path: Path) -> None:
    names = [str(p) for p in sorted(CORPUS.glob("*.eml"))] + [str(tmp_path / "missing.eml")]
    run = _leave(tmp_path, False, names)
    assert run.returncode == 1  # the missing file
    assert run.stdout.count(b"\n") == len(names) - 1 and run.stdout.endswith(b"}\n")  # all of it, flushed
    assert run.stderr.decode().splitlines()[-1].endswith("missing.eml: No such file or directory")
    assert (tmp_path / "atexit").exists()


_IN_FLIGHT = """
import atexit, sys
from concurrent.futures import Future, ProcessPoolExecutor
counts = {"now": 0, "most": 0}
submit, result = ProcessPoolExecutor.submit, Future.result
def counted_submit(self, *args, **kwargs):
    counts["now"] += 1
    counts["most"] = max(counts["most"], counts["now"])
    return submit(self, *args, **kwargs)
def counted_result(self, *args, **kwargs):
    counts["now"] -= 1
    return result(self, *args, **kwargs)
ProcessPoolExecutor.submit, Future.result = counted_submit, counted_result
atexit.register(lambda: print("most in flight", counts["most"], file=sys.stderr))
"""


def test_a_long_list_is_never_all_in_flight() -> None:
    """Chunks are sent a few ahead of what is printed, so the verdicts of a long list do not pile up in memory."""
    names = [str(p) for p in sorted(DATA.glob("*/*.eml"))] * 10
    run = _classify("--json", "--jobs", "2", *names, shim=_IN_FLIGHT)
    assert run.returncode == 0 and run.stdout.count(b"\n") == len(names)
    most = int(run.stderr.decode().rsplit("most in flight ", 1)[1].split()[0])
    assert len(names) // 16 > 100 and 2 <= most <= 2 * 4
