"""What the commands that need no database import: start-up time of `faxbounce classify` and `explain` is an
issue #12 figure, and a module imported at the top of the wrong file puts it back silently. Measured as modules
loaded, not as time: which modules a command loads does not depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packagebuild import build_package

from processor.catalogues.parsed import write_caches

ROOT = Path(__file__).resolve().parents[1]

#: Never needed by a command that opens no database, serves nothing and reads no delivery report.
HEAVY = ("sqlalchemy", "alembic", "aiosmtpd", "prometheus_client", "mailparser",
         "processor.detect.mailbounce.detector", "processor.detect.mailbounce.tables", "processor.store")

_SCRIPT = """
import contextlib, io, json, sys
from processor.cli import main
steps = []
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(args)
    steps.append({"status": status, "out": out.getvalue(), "modules": sorted(sys.modules)})
print(json.dumps(steps))
"""


def _run(*commands: list[str]) -> list[dict[str, object]]:
    """Each command in turn in one fresh interpreter, with the modules loaded after each."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(commands)], capture_output=True, text=True,
                          cwd=ROOT, check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)})
    return json.loads(done.stdout)


def _loaded(modules: object, prefix: str) -> bool:
    assert isinstance(modules, list)
    return any(name == prefix or name.startswith(prefix + ".") for name in modules)


@pytest.mark.parametrize("command", [
    ["explain", "3912"],
    ["classify", "tests/data/interfax/csv-01.eml"],
    ["classify", "--json", "tests/data/interfax/text-ja-01.eml"],
    ["classify", "tests/data/faxtc/bounce-01.eml"],
])
def test_a_command_without_a_database_loads_no_heavy_module(command: list[str]) -> None:
    (step,) = _run(command)
    assert step["status"] == 0
    assert [name for name in HEAVY if _loaded(step["modules"], name)] == []


#: Stdlib modules the start-up of these commands no longer pays for (each 4-7 ms): tomllib while the catalogue
#: caches are current (`processor.catalogues.parsed`), email.policy (headerregistry), hashlib and zoneinfo.
SPARED = ("tomllib", "email.policy", "email.headerregistry", "hashlib", "zoneinfo")


@pytest.mark.parametrize("command", [["explain", "3912"], ["classify", "tests/data/interfax/csv-01.eml"]])
def test_a_command_with_current_catalogue_caches_spares_the_stdlib_it_does_not_need(command: list[str]) -> None:
    write_caches()
    (step,) = _run(command)
    assert step["status"] == 0
    assert [name for name in SPARED if _loaded(step["modules"], name)] == []


def test_the_delivery_report_readers_load_when_a_report_arrives() -> None:
    """The lazy detector still reads a DSN, in the same process after a vendor notice that did not need it."""
    first, second = _run(["classify", "tests/data/interfax/csv-01.eml"],
                         ["classify", "--json", "tests/data/dsn/exim-retry-timeout.eml"])
    assert not _loaded(first["modules"], "processor.detect.mailbounce.detector")
    assert _loaded(second["modules"], "processor.detect.mailbounce.detector")
    assert isinstance(second["out"], str)
    document = json.loads(second["out"])
    assert (document["kind"], document["detected_by"]) == ("dsn", "dsn")
    assert document["results"] and all(r["outcome"] == "failed" for r in document["results"])


_FROM_THE_BUILD = """
import sys
import processor
assert processor.__file__.startswith(sys.argv[1]), processor.__file__
from processor import dataclass_cache, regex_cache
from processor.caches import warm_up
from processor.detect.mailbounce import tables
warm_up()
print(len(regex_cache._PACKAGE_CACHE.missed), len(dataclass_cache._PACKAGE_CACHE.missed), len(tables._WORDINGS.missed))
"""


_SAMPLES_FROM_THE_BUILD = """
import logging, sys
from pathlib import Path
logging.disable(logging.CRITICAL)
from processor import regex_cache
from processor.config import Settings
from processor.detect.mailbounce import bounce_text, rhost
from processor.errors import ParseError
from processor.run.judge import classify_bytes, trusted
settings = Settings()
for path in sorted(Path(sys.argv[2]).rglob("*.eml")):
    try:
        mail, classification = classify_bytes(path.read_bytes(), settings.processing, settings.tracking)
        trusted(mail, classification, settings)
    except ParseError:
        pass
# a table wording is compiled case-insensitively only for a text outside ASCII that its twin finds
wordings = {r.wording.source for r in bounce_text.VENDOR_REASONS}
wordings |= {r.wording.source for rules in rhost.PROVIDER_RULES.values() for r in rules}
for source, flags in regex_cache._PACKAGE_CACHE.missed:
    if source not in wordings:
        print(repr(source)[:100])
"""


def test_an_installation_by_pip_gets_its_caches_from_processor_caches(tmp_path: Path) -> None:
    """A non-editable installation (what `pip install`, the Docker image and the systemd guide make) holds no
    cache until `python -m processor.caches` writes them into it; after that a process that walks the warm-up's
    paths finds every pattern, record class and wording there, and one that judges every sample mail finds every
    pattern but the tables' wordings compiled for text outside ASCII. The Docker image runs it where it installs."""
    import tempfile

    build = build_package(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(build), "PYTHONDONTWRITEBYTECODE": "1",
           "HOME": tempfile.gettempdir()}
    tag = sys.implementation.cache_tag
    caches = [build / "processor" / "__pycache__" / f"regex_cache.{tag}.marshal",
              build / "processor" / "__pycache__" / f"dataclass_code.{tag}.marshal",
              build / "processor" / "detect" / "mailbounce" / "__pycache__" / f"wordings.{tag}.marshal",
              build / "processor" / "catalogues" / "__pycache__" / f"interfax.toml.{tag}.marshal"]
    missed = subprocess.run([sys.executable, "-c", _FROM_THE_BUILD, str(build)], env=env, capture_output=True,
                            text=True, timeout=120, check=True, cwd=tmp_path).stdout.split()
    assert [path for path in caches if path.exists()] == [] and missed != ["0", "0", "0"]  # none without it
    subprocess.run([sys.executable, "-m", "processor.caches"], env=env, capture_output=True, timeout=120, check=True,
                   cwd=tmp_path)  # not the checkout: `-m` and `-c` put the working directory first on the path
    assert [path for path in caches if not path.exists()] == []
    missed = subprocess.run([sys.executable, "-c", _FROM_THE_BUILD, str(build)], env=env, capture_output=True,
                            text=True, timeout=120, check=True, cwd=tmp_path).stdout.split()
    assert missed == ["0", "0", "0"]
    left = subprocess.run([sys.executable, "-c", _SAMPLES_FROM_THE_BUILD, str(build), str(ROOT / "tests" / "data")],
                          env=env, capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path).stdout
    assert left.splitlines() == []  # every sample mail's patterns are in the cache, but for the tables' wordings
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir . && python -m processor.caches" in dockerfile
    assert "/opt/faxbounce/bin/python -m processor.caches" in (ROOT / "docs" / "operations.md").read_text()
