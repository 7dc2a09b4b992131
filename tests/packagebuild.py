"""The package as a wheel would hold it: setuptools' `build_py` run on a copy of the checkout (no editable
install, no `__pycache__`), for tests of what an installation by `pip install` gets."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_package(workdir: Path) -> Path:
    """Build `processor` from a copy of the checkout under `workdir`; the directory that holds the built package."""
    source = workdir / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "processor", source / "processor", ignore=shutil.ignore_patterns("__pycache__"))
    build = workdir / "build-lib"
    done = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                           "--build-lib", str(build)], cwd=source, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return build
