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
    assert settings.source == (f"defaults + {path} + environment: FAXBOUNCE_DATABASE_URL, "
                               "FAXBOUNCE_SMTP_ACCEPTED_RECIPIENTS, FAXBOUNCE_SMTP_PORT")


def test_source_says_defaults_when_nothing_overrides() -> None:
    assert load_settings(environ={}).source == "defaults"
    assert load_settings(environ={"FAXBOUNCE_RESULT_TIMEOUT": "60"}).source == \
        "defaults + environment: FAXBOUNCE_RESULT_TIMEOUT"


@pytest.mark.parametrize(
    ("name", "nearest"),
    [
        ("FAXBOUNCE_DATABSE_URL", "FAXBOUNCE_DATABASE_URL"),  # the two: both were ignored in silence
        ("FAXBOUNCE_SMTP_PROT", "FAXBOUNCE_SMTP_PORT"),
        ("FAXBOUNCE_RESULT_TIMOUT", "FAXBOUNCE_RESULT_TIMEOUT"),
    ],
)
def test_unknown_environment_name_stops_with_the_nearest(name: str, nearest: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: "x", "FAXBOUNCE_SMTP_PORT": "2600"})
    assert str(info.value) == f"config: {name}: unknown environment variable (did you mean {nearest!r}?)"


@pytest.mark.parametrize(
    "name",
    ["FAXBOUNCE_CONFIG", "FAXBOUNCE_IMAP_PASSWORD", "FAXBOUNCE_MIGRATIONS", "FAXBOUNCE_SHARED",
     "FAXBOUNCE_SKIP_POSTGRES", "FAXBOUNCE_TEST_POSTGRES_URL", "FAXBOUNCE_TEST_ANYTHING", "OTHER_DATABSE_URL"],
)
def test_documented_names_that_are_not_settings_are_allowed(name: str, tmp_path: Path) -> None:
    value = str(tmp_path / "none.toml") if name == "FAXBOUNCE_CONFIG" else "x"
    environ = {name: value}
    if name == "FAXBOUNCE_CONFIG":
        (tmp_path / "none.toml").write_text("")
    assert load_settings(environ=environ).smtp.port == 2525


def test_every_faxbounce_name_in_the_repository_is_known() -> None:
    """A name the docs or code mention must be a setting or exempt, or following the docs stops start-up."""
    import re

    from processor.config import ENV_NOT_SETTINGS, ENV_NOT_SETTINGS_PREFIXES, _env_setting_names

    settings_names = set(_env_setting_names())
    assert "FAXBOUNCE_SMTP_PORT" in settings_names and "FAXBOUNCE_OUTBOUND_RELAY" in settings_names
    mentioned: set[str] = set()
    documents = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("config/**/*"),
                 *ROOT.glob("processor/**/*.py"), *ROOT.glob("bench/*.py"), ROOT / "Dockerfile",
                 ROOT / "docker-compose.yml", ROOT / "Makefile"]
    for path in (p for p in documents if p.is_file()):
        mentioned |= set(re.findall(r"FAXBOUNCE_[A-Z_]*[A-Z](?![A-Z_])", path.read_text(encoding="utf-8")))
    typo_examples = {"FAXBOUNCE_DATABSE_URL"}  # the README's example of what start-up refuses
    unknown = {n for n in mentioned - settings_names - ENV_NOT_SETTINGS - typo_examples
               if not n.startswith(ENV_NOT_SETTINGS_PREFIXES)}
    assert unknown == set()


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


def test_undecodable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_bytes(b"\xff\xfe[smtp]")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_settings(path, environ={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
