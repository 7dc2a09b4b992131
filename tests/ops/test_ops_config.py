"""The [metrics] and [retention] sections: documented with their defaults, and every mistake names its key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from processor.config import Settings, load_settings
from processor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_file_documents_the_new_sections() -> None:
    shipped = tomllib.loads((ROOT / "config" / "faxbounce.toml").read_text(encoding="utf-8"))
    defaults = Settings()
    for section in ("metrics", "retention", "logging"):
        values = getattr(defaults, section)
        assert shipped[section] == {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in ("metrics.host", "metrics.port", "metrics.max_backlog", "metrics.cache_seconds", "retention.raw_days",
                "logging.format"):
        assert f"| `{key}` |" in readme, key
    assert "docs/operations.md" in readme and "docs/sql.md" in readme


def test_environment() -> None:
    settings = load_settings(environ={"FAXBOUNCE_METRICS_PORT": "0", "FAXBOUNCE_RETENTION_RAW_DAYS": "30",
                                      "FAXBOUNCE_LOGGING_FORMAT": "json"})
    assert (settings.metrics.port, settings.retention.raw_days, settings.logging.format) == (0, 30, "json")


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[metrics]\nport = -1\n", "metrics.port", "0 (off) to 65535"),
    ("[metrics]\nmax_backlog = 0\n", "metrics.max_backlog", "greater than 0"),
    ('[metrics]\nhost = ""\n', "metrics.host", "address"),
    ("[metrics]\nprot = 1\n", "metrics.prot", "did you mean 'port'"),
    ("[retention]\nraw_days = -1\n", "retention.raw_days", "keep forever"),
    ('[retention]\nraw_days = "90"\n', "retention.raw_days", "must be an integer"),
    ('[logging]\nformat = "xml"\n', "logging.format", "text, json"),
])
def test_errors_name_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert key in str(info.value) and problem in str(info.value)
