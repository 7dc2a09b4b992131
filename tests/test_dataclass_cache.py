"""The record classes' generated methods compiled once per installation (`processor.dataclass_cache`): the same
classes as without it, built from the cache when it holds them, a damaged file ignored, written at exit."""

from __future__ import annotations

import builtins
import dataclasses
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from processor import dataclass_cache
from processor.caches import write_caches
from processor.dataclass_cache import CodeCache

ROOT = Path(__file__).resolve().parents[1]


def _make(cache: CodeCache | None, monkeypatch: pytest.MonkeyPatch) -> type:
    """A frozen, slotted record with every kind of field, made through `cache` (None: the builtin exec)."""
    monkeypatch.setattr(dataclasses, "exec", builtins.exec if cache is None else cache.exec, raising=False)

    @dataclasses.dataclass(frozen=True, slots=True, order=True)
    class Fax:
        number: str
        pages: int = 1
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)
        note: str = dataclasses.field(default="", compare=False, repr=False)

    return Fax


_METHODS = ("__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__setattr__", "__delattr__",
            "__hash__")  # what dataclasses writes for a frozen, ordered class: one source each


def test_a_class_from_the_cache_is_the_class_the_compiler_makes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _make(None, monkeypatch)
    first = CodeCache(tmp_path / "code.marshal")
    compiled = _make(first, monkeypatch)
    assert len(first.missed) == len(_METHODS)
    assert first.write() == tmp_path / "code.marshal"
    second = CodeCache(tmp_path / "code.marshal")
    cached = _make(second, monkeypatch)
    assert second.missed == set()  # every method came from the file
    for name in _METHODS:
        assert getattr(cached, name).__code__ == getattr(plain, name).__code__ == getattr(compiled, name).__code__
        assert getattr(cached, name).__qualname__ == getattr(plain, name).__qualname__
    a, b = cached("0355550101", 2), cached("0355550101", 2, note="other")
    assert a == b and hash(a) == hash(b) and a < cached("0355550102")
    assert repr(a) == "_make.<locals>.Fax(number='0355550101', pages=2, tags=())"
    assert cached.__init__.__annotations__ == plain.__init__.__annotations__  # not strings: no __future__ flag
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pages = 3  # type: ignore[misc]
    assert cached("x").tags == () and not hasattr(a, "__dict__")


@pytest.mark.parametrize("damage", ["not marshal", "another interpreter", "entries not code", "entries not bytes"])
def test_a_cache_that_cannot_be_read_is_ignored_and_written_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 damage: str) -> None:
    path = tmp_path / "code.marshal"
    good = CodeCache(path)
    _make(good, monkeypatch)
    good.write()
    stamp, entries = marshal.loads(path.read_bytes())
    path.write_bytes({
        "not marshal": b"not marshal at all",
        "another interpreter": marshal.dumps(((stamp[0], "3.10.0 (other)", b"\x6f\x0d\r\n"), entries)),
        "entries not code": marshal.dumps((stamp, dict.fromkeys(entries, marshal.dumps("a string")))),
        "entries not bytes": marshal.dumps((stamp, dict.fromkeys(entries, 42))),
    }[damage])
    cache = CodeCache(path)
    made = _make(cache, monkeypatch)
    assert made("1") == made("1", 1) and made("1").pages == 1
    assert len(cache.missed) == len(_METHODS)  # compiled as usual
    cache.write()
    again = CodeCache(path)
    _make(again, monkeypatch)
    assert again.missed == set()


def test_only_the_dataclasses_module_compiles_through_it() -> None:
    assert dataclasses.exec == dataclass_cache._PACKAGE_CACHE.exec  # type: ignore[attr-defined]
    assert builtins.exec is not dataclasses.exec  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {}
    dataclass_cache._PACKAGE_CACHE.exec("x = 1", namespace)  # a call not written by dataclasses: the builtin's
    assert namespace["x"] == 1


_CLASSIFY = """
import contextlib, io, json, sys
from processor import dataclass_cache
from processor.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(["classify", *sys.argv[1:]])
print(json.dumps({"status": status, "missed": len(dataclass_cache._PACKAGE_CACHE.missed)}))
"""


@pytest.mark.parametrize("mail", ["tests/data/interfax/csv-01.eml", "tests/data/dsn/exim-retry-timeout.eml"])
def test_after_install_a_command_compiles_none_of_its_record_classes(mail: str) -> None:
    assert dataclass_cache.cache_path() in write_caches()
    env = {k: v for k, v in os.environ.items() if k != "FAXBOUNCE_CONFIG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # what is measured is the installed cache, not one this run writes
    done = subprocess.run([sys.executable, "-c", _CLASSIFY, mail], capture_output=True, text=True, cwd=ROOT,
                          env=env, check=True)
    assert json.loads(done.stdout) == {"status": 0, "missed": 0}
