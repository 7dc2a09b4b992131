"""Settings: defaults, file, environment; every mistake names its key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from processor.config import Settings, load_settings
from processor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_file_documents_every_key_with_its_default() -> None:
    shipped = tomllib.loads((ROOT / "config" / "faxbounce.toml").read_text(encoding="utf-8"))
    defaults = Settings()
    for section in ("database", "smtp", "processing", "logging"):
        section_defaults = getattr(defaults, section)
        documented = shipped[section]
        names = {f.name for f in dataclasses.fields(section_defaults)}
        assert set(documented) == names, f"[{section}] in config/faxbounce.toml"
        for name in names:
            value = getattr(section_defaults, name)
            assert (tuple(documented[name]) if isinstance(value, tuple) else documented[name]) == value, name
    assert load_settings(ROOT / "config" / "faxbounce.toml", environ={}).smtp == defaults.smtp


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('[smtp]\nport = 2600\naccepted_recipients = ["a@x"]\n[database]\nurl = "sqlite:///f.db"\n')
    settings = load_settings(path, environ={"FAXBOUNCE_SMTP_PORT": "2700",
                                            "FAXBOUNCE_DATABASE_URL": "postgresql+psycopg://h/db",
                                            "FAXBOUNCE_SMTP_ACCEPTED_RECIPIENTS": "b@x, *@y"})
    assert settings.smtp.port == 2700
    assert settings.database.url == "postgresql+psycopg://h/db"
    assert settings.smtp.accepted_recipients == ("b@x", "*@y")
    assert settings.source == str(path)


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('[processing]\ndefault_country = "US"\n')
    assert load_settings(environ={"FAXBOUNCE_CONFIG": str(path)}).processing.default_country == "US"


@pytest.mark.parametrize(
    ("text", "env", "key", "problem"),
    [
        ("[smtp]\nprot = 25\n", {}, "smtp.prot", "did you mean 'port'"),
        ("[smpt]\nport = 25\n", {}, "smpt", "unknown section"),
        ('[smtp]\nport = "x"\n', {}, "smtp.port", "must be an integer"),
        ("[smtp]\nport = 70000\n", {}, "smtp.port", "65535"),
        ("[smtp]\nmax_line_length = 100\n", {}, "smtp.max_line_length", "at least 1000"),
        ('[database]\nurl = "mysql://x"\n', {}, "database.url", "sqlite"),
        ('[processing]\ndefault_country = "Japan"\n', {}, "processing.default_country", "two-letter"),
        ('[logging]\nlevel = "LOUD"\n', {}, "logging.level", "one of"),
        ("[smtp]\naccepted_recipients = \"a@x\"\n", {}, "smtp.accepted_recipients", "list of strings"),
        ("", {"FAXBOUNCE_SMTP_PORT": "twenty"}, "smtp.port", "must be an integer"),
        ("[smtp\n", {}, "f.toml", "not valid TOML"),
    ],
)
def test_errors_name_key_and_problem(tmp_path: Path, text: str, env: dict[str, str], key: str, problem: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=env)
    assert key in str(info.value) and problem in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
