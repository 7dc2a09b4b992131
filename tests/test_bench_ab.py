"""The bench tools: bench/ab.py lays the tables of alternated runs side by side, row by row; bench/perf.py runs the
benched tree's code; bench/instructions.py reads callgrind's count."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.ab import Table, side_by_side, tables
from bench.perf import _machine_cpu, _process_cpu

RUN_A = """
#### End to end by worker count (20 sessions, 2 KB InterFAX results)

| target | workers | end-to-end msg/s |
|---|---:|---:|
| faxbounce SQLite | 1 | 634 |
| faxbounce SQLite | 2 | 717 |

#### Whole commands: start-up, and the corpus in one process

| command | best of 5, s |
|---|---:|
| faxbounce explain 3912 | 0.06 |
"""

RUN_B = RUN_A.replace("| 634 |", "| 777 |").replace("| 717 |", "| 924 |").replace("| 0.06 |", "| 0.05 |")


def test_tables_are_read_with_their_titles_and_rows_without_the_rule() -> None:
    found = tables(RUN_A)
    assert [t.title for t in found] == ["End to end by worker count (20 sessions, 2 KB InterFAX results)",
                                        "Whole commands: start-up, and the corpus in one process"]
    assert found[0] == Table(found[0].title, "| target | workers | end-to-end msg/s |",
                             ("| faxbounce SQLite | 1 | 634 |", "| faxbounce SQLite | 2 | 717 |"))
    assert found[1].rows == ("| faxbounce explain 3912 | 0.06 |",)


def test_each_row_reads_across_the_runs_in_the_order_they_ran() -> None:
    lines = side_by_side([("old", RUN_A), ("new", RUN_B), ("old", RUN_A), ("new", RUN_B)])
    first = lines.index("| run | target | workers | end-to-end msg/s |")
    assert lines[first + 2 : first + 10] == [
        "| old #1 | faxbounce SQLite | 1 | 634 |",
        "| new #1 | faxbounce SQLite | 1 | 777 |",
        "| old #2 | faxbounce SQLite | 1 | 634 |",
        "| new #2 | faxbounce SQLite | 1 | 777 |",
        "| old #1 | faxbounce SQLite | 2 | 717 |",
        "| new #1 | faxbounce SQLite | 2 | 924 |",
        "| old #2 | faxbounce SQLite | 2 | 717 |",
        "| new #2 | faxbounce SQLite | 2 | 924 |",
    ]
    assert "| new #2 | faxbounce explain 3912 | 0.05 |" in lines


def test_a_section_one_revision_lacks_is_shown_for_the_other() -> None:
    only_commands = RUN_B[RUN_B.index("#### Whole commands"):]
    lines = side_by_side([("old", RUN_A), ("new", only_commands)])
    assert "| old #1 | faxbounce SQLite | 2 | 717 |" in lines
    assert not any(line.startswith("| new #1 | faxbounce SQLite") for line in lines)
    assert "| new #1 | faxbounce explain 3912 | 0.05 |" in lines


def test_the_rule_has_a_cell_for_the_run_column_and_each_of_the_table() -> None:
    lines = side_by_side([("old", RUN_A)])
    header = lines.index("| run | command | best of 5, s |")
    assert lines[header + 1] == "|---|---|---|"


def test_a_row_one_revision_adds_does_not_shift_the_others() -> None:
    """The newer revision adds a reference row in the middle of a table; every other row still meets its
    own kind from the older revision."""
    old = "#### Targets\n\n| measurement | faxbounce | reference |\n|---|---|---|\n" \
          "| end to end, SQLite | 558 msg/s | 10,714 msg/s (null aiosmtpd) |\n" \
          "| end to end, PostgreSQL | 614 msg/s | 10,714 msg/s (null aiosmtpd) |\n"
    new = "#### Targets\n\n| measurement | faxbounce | reference |\n|---|---|---|\n" \
          "| end to end, SQLite | 574 msg/s | 9,812 msg/s (null aiosmtpd) |\n" \
          "| end to end, SQLite | 574 msg/s | 3,696 msg/s (stock aiosmtpd) |\n" \
          "| end to end, PostgreSQL | 659 msg/s | 9,812 msg/s (null aiosmtpd) |\n"
    lines = side_by_side([("old", old), ("new", new)])
    first = lines.index("| run | measurement | faxbounce | reference |")
    assert lines[first + 2 : first + 7] == [
        "| old #1 | end to end, SQLite | 558 msg/s | 10,714 msg/s (null aiosmtpd) |",
        "| new #1 | end to end, SQLite | 574 msg/s | 9,812 msg/s (null aiosmtpd) |",
        "| new #1 | end to end, SQLite | 574 msg/s | 3,696 msg/s (stock aiosmtpd) |",
        "| old #1 | end to end, PostgreSQL | 614 msg/s | 10,714 msg/s (null aiosmtpd) |",
        "| new #1 | end to end, PostgreSQL | 659 msg/s | 9,812 msg/s (null aiosmtpd) |",
    ]


def test_rows_that_differ_only_in_figures_stay_apart() -> None:
    run = "#### T\n\n| a | b |\n|---|---|\n| x | 1 |\n| x | 2 |\n"
    lines = side_by_side([("old", run), ("new", run.replace("| 2 |", "| 3 |"))])
    assert lines[-5:-1] == ["| old #1 | x | 1 |", "| new #1 | x | 1 |", "| old #1 | x | 2 |", "| new #1 | x | 3 |"]


def test_the_commands_bench_runs_the_tree_it_belongs_to(tmp_path: Path) -> None:
    """`faxbounce` is the virtualenv's script, whose editable install points at this checkout: with `tree_env`
    it must run the benched tree's `processor` (here a stand-in that names itself), or bench/ab.py's command
    rows compare this checkout with itself."""
    from bench.perf import tree_env

    (tmp_path / "processor").mkdir()
    (tmp_path / "processor" / "__init__.py").write_text("")
    (tmp_path / "processor" / "cli.py").write_text("def main():\n    print('the benched tree')\n    return 0\n")
    script = Path(sys.executable).with_name("faxbounce")
    done = subprocess.run([str(script)], env=tree_env(tmp_path), cwd="/", capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "the benched tree", done.stderr


def test_a_target_met_in_one_run_only_stays_on_its_row() -> None:
    """The targets table's last cell is a verdict, not what the row measures: a run that meets the target must
    stay beside the runs that miss it."""
    head = "#### Issue #12's targets\n\n| measurement | ratio | met |\n|---|---:|:---:|\n"
    missed, met = head + "| end to end, SQLite | 0.21× | no |\n", head + "| end to end, SQLite | 0.25× | yes |\n"
    lines = side_by_side([("old", missed), ("new", met)])
    assert lines[lines.index("| run | measurement | ratio | met |") + 2:][:2] == [
        "| old #1 | end to end, SQLite | 0.21× | no |", "| new #1 | end to end, SQLite | 0.25× | yes |"]


def test_the_instruction_count_is_read_from_callgrind_s_summary_line() -> None:
    from bench.instructions import collected

    output = ("==4242== Callgrind, a call-graph generating cache profiler\n==4242== Events    : Ir\n"
              "==4242== Collected : 842119670\n==4242== \n==4242== I   refs:      842,119,670\n")
    assert collected(output) == 842_119_670
    with pytest.raises(ValueError, match="no single callgrind summary"):
        collected("valgrind: command not found\n")


def test_the_cpu_a_process_burns_shows_in_its_own_and_the_machine_s_counts() -> None:
    """bench/perf.py's table of CPU per mail reads /proc: a process's own ticks and the machine's busy time."""
    own, (busy, _idle) = _process_cpu(os.getpid()), _machine_cpu()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert _process_cpu(os.getpid()) - own >= 0.2
    assert _machine_cpu()[0] - busy >= 0.2
    assert _process_cpu(2 ** 22 + 1) == 0.0  # beyond pid_max: a process that is gone counts nothing
