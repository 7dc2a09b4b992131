"""docker-compose.yml cannot run here (no Docker engine), so check it against the CLI and settings."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from processor.cli import _parser
from processor.config import load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_compose_services_command_and_environment() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "faxbounce"}
    app, db = services["faxbounce"], services["db"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in app and "healthcheck" in db
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]

    script = app["command"][-1]
    commands = [shlex.split(part.replace("exec ", "")) for part in script.split("&&")]
    assert [c[:2] for c in commands] == [["faxbounce", "migrate"], ["faxbounce", "serve"]]
    parser = _parser()
    for command in commands:
        parser.parse_args(command[1:])  # exits on an unknown subcommand or option

    env = {k: str(v) for k, v in app["environment"].items()}
    settings = load_settings(environ=env)
    db_env = db["environment"]
    assert settings.database.url == (f"postgresql+psycopg://{db_env['POSTGRES_USER']}:{db_env['POSTGRES_PASSWORD']}"
                                     f"@db:5432/{db_env['POSTGRES_DB']}")
    assert settings.smtp.host == "0.0.0.0"
    assert f"{settings.smtp.port}:{settings.smtp.port}" in app["ports"][0]


def test_dockerfile_is_plain() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.12-slim")
    assert "COPY migrations" in dockerfile and "FAXBOUNCE_MIGRATIONS" in dockerfile
