"""Short versions of the fault report (bench/faults.py): kill -9, a database outage, duplicate delivery.

The real daemon runs as its own process and the load comes from another, as in `make faults`; only the
message counts are smaller.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench import faults


def _check(report: faults.Report) -> None:
    assert report.acked == report.sent, report
    assert report.stored == report.sent, report
    assert (report.lost, report.duplicates, report.permanent, report.unprocessed) == (0, 0, 0, 0), report


def test_kill9_loses_nothing(tmp_path: Path) -> None:
    report = faults.scenario_kill9(tmp_path, 400, sessions=5)
    _check(report)
    assert any("killed at" in note for note in report.notes)


def test_duplicate_delivery_is_stored_once(tmp_path: Path) -> None:
    _check(faults.scenario_dupes(tmp_path, 100, sessions=5))


@pytest.mark.skipif(not (shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))),
                    reason="initdb not installed (Debian package postgresql)")
def test_postgres_outage_answers_4xx_and_recovers(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        os.chmod(tmp_path, 0o755)
        for parent in tmp_path.parents:  # the postgres user must reach the cluster directory
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    report = faults.scenario_pgdown(tmp_path, 300, sessions=5, outage=2.0)
    _check(report)
    assert report.temporary > 0, "the outage was not noticed"
    notes = " ".join(report.notes)
    assert "daemon up throughout: True" in notes
    assert "1 down / 1 up" in notes
    seconds = float(notes.split("accepting again ")[1].split("s")[0])
    assert seconds <= 5.0
