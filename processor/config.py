"""Settings: defaults, then a TOML file, then `FAXBOUNCE_<SECTION>_<KEY>` environment variables.

Every key is typed and checked at start-up; a wrong file stops the daemon with a ConfigError that names
the key and the problem (`config: smtp.port: must be an integer from 0 to 65535, got 'x'`). The environment
is as strict as the file: a misspelt database URL variable would otherwise be ignored in silence and the
mail would go to the default SQLite file, so an unknown `FAXBOUNCE_*` name stops start-up too.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.catalogues import vendor_hosts
from processor.errors import ConfigError

__all__ = ["DEFAULT_DATABASE_URL", "Settings", "client_networks", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///var/faxbounce.sqlite3"
ENV_PREFIX = "FAXBOUNCE_"
_INTERFAX = vendor_hosts("interfax")
"""Defaults that name the fax service's hosts come from the one list of them (catalogues/vendors.toml)."""

#: `FAXBOUNCE_*` names that are read elsewhere and are not settings: the file's path, the alias issue #5
#: promised, the IMAP password of `ingest`, the Alembic directory, and the test suite's own switches.
ENV_NOT_SETTINGS = frozenset({"FAXBOUNCE_CONFIG", "FAXBOUNCE_RESULT_TIMEOUT", "FAXBOUNCE_IMAP_PASSWORD",
                              "FAXBOUNCE_MIGRATIONS", "FAXBOUNCE_SHARED", "FAXBOUNCE_SKIP_POSTGRES"})
ENV_NOT_SETTINGS_PREFIXES = ("FAXBOUNCE_TEST_",)


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: `sqlite:///path` (relative to the working directory) or `postgresql+psycopg://…`."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = ""
    """Name in the greeting and Received lines; empty = this machine's FQDN."""
    accepted_recipients: tuple[str, ...] = ()
    """Shell-style patterns (`*@faxbounce.example.com`); empty = accept every recipient."""
    max_message_size: int = 25 * 1024 * 1024
    max_line_length: int = 64 * 1024
    max_recipients: int = 1000
    timeout: int = 300
    """Seconds a client may stay silent (no command; in DATA, no byte) before it gets `421` and is closed."""
    max_sessions: int = 100
    """Concurrent sessions; one more is answered `421` and closed."""
    max_sessions_per_client: int = 20
    """Concurrent sessions from one client address (a share of max_sessions); one more is answered `421`."""
    max_commands: int = 1000
    """Times one session may send any one command (RSET, NOOP, MAIL, …; RCPT: this or max_recipients,
    whichever is more); one more is answered `421` and the session closed (the client reconnects)."""
    max_bytes_in_flight: int = 256 * 1024 * 1024
    """Memory for mails being received at once (each DATA books its SIZE, else max_message_size); over it: 452."""
    allowed_clients: tuple[str, ...] = ()
    """Client networks (CIDR) that may connect; empty = loopback only. Others get `554` at connect."""
    allowed_senders: tuple[str, ...] = ()
    """Shell-style patterns of accepted MAIL FROM; empty = any. The null sender of bounces is always accepted."""
    tls_cert: str = ""
    """PEM certificate for STARTTLS (with tls_key); empty = no STARTTLS."""
    tls_key: str = ""
    require_tls: bool = False
    """Refuse mail (530) until the client has said STARTTLS."""
    auth_users: tuple[str, ...] = ()
    """`user:hash` entries made by `faxbounce hash-password`; non-empty = AUTH PLAIN/LOGIN is required, after TLS."""
    auth_max_failures: int = 5
    """Failed AUTH attempts in a row from one client address before it is paused (454 without a check)."""
    auth_failure_pause: int = 300
    """Seconds a paused client address waits (from its last failure) before AUTH is checked again."""


@dataclass(frozen=True, slots=True)
class ProcessingSettings:
    default_country: str = "JP"
    """ISO 3166 country for domestic fax numbers (`03-…` → `+813…`)."""
    poll_interval: float = 1.0
    """Seconds between looks for unprocessed mail when nothing wakes the worker."""
    max_seconds_per_message: int = 30
    """A mail whose parse and classification take longer is marked `error` and skipped."""
    max_attempts: int = 3
    """A mail that crashed the worker this many times is marked `error` and skipped."""
    workers: int = 0
    """Worker processes that classify stored mail; 0 = one per CPU core."""
    satisfaxtion_senders: tuple[str, ...] = ()
    """Sender addresses of your NET SatisFAXtion server's notification mails."""
    node_name: str = ""
    """This node's name, recorded on the mails it claims and processes; empty = the host name. Each node
    sharing one database needs its own."""
    lease_seconds: float = 120.0
    """How long a worker holds the mails it claimed; a dead worker's mails go to another after this."""


@dataclass(frozen=True, slots=True)
class TrustSettings:
    vendor_hosts: tuple[str, ...] = _INTERFAX.relay_domains
    """Domains whose mail servers send genuine vendor notifications (a Received hop from one of them)."""
    relays: tuple[str, ...] = ()
    """Your own MTAs (host names or CIDR): when set, only Received lines they wrote are believed."""


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    fax_domains: tuple[str, ...] = _INTERFAX.submission_domains
    """Domains of the e-mail-to-fax service: a mail to `<number>@<domain>` is a fax submission (empty = off)."""
    number_pattern: str = _INTERFAX.number_pattern
    """Regular expression the address's local part must match in full; its group `number` (else the whole
    match) is the fax number."""
    result_timeout: int = 3600
    """Seconds after submission with no result before a fax is `no_result` (also FAXBOUNCE_RESULT_TIMEOUT)."""
    credit_hold_timeout: int = 86400
    """Seconds a credit hold (-22) stays `pending` before it becomes `no_result`."""
    notifications: str = "always"
    """The account's result-mail setting: `always`, or `failure_only` (then silence means delivered)."""
    submission_mailbox: str = "fax-submissions"
    """Local part of envelope recipients `<mailbox>+<number>@…` whose sub-address is a destination (Postfix's
    pcre recipient_bcc_maps copy: the only trace of a number given in Bcc alone); empty = off."""
    match_window: int = 172800
    """Seconds before a result in which its submission is looked for by fax number (and subject)."""
    sweep_interval: float = 30.0
    """Seconds between looks for faxes whose result is overdue."""


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    host: str = "127.0.0.1"
    """Address of the Prometheus endpoint (`/metrics`) and the health check (`/healthz`)."""
    port: int = 9125
    """Port of that endpoint; 0 = no endpoint (no metrics, no /healthz)."""
    max_backlog: int = 1000
    """/healthz fails when more mails than this wait for processing."""
    cache_seconds: float = 5.0
    """How long the figures read from the database (backlog, results) are reused between scrapes."""


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    raw_days: int = 90
    """Raw mail bytes older than this many days are dropped (rows, results and headers stay); 0 = keep forever."""
    unrelated_raw_days: int = 7
    """Raw bytes of mail classified `unrelated` (not about a fax: what a BCC recipe copies besides fax mail) are
    dropped after this many days, whatever `raw_days` says; 0 = no separate rule (they follow `raw_days`)."""


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "text"
    """`text` (one human-readable line per event) or `json` (one JSON object per line, for log shippers)."""


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    trust: TrustSettings = field(default_factory=TrustSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    source: str = "defaults"
    """Where the settings came from, for log lines and `check` (names only, never values or secrets):
    `defaults + /etc/faxbounce.toml + environment: FAXBOUNCE_DATABASE_URL, FAXBOUNCE_SMTP_PORT`."""


_SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "smtp": SmtpSettings,
    "processing": ProcessingSettings,
    "trust": TrustSettings,
    "tracking": TrackingSettings,
    "metrics": MetricsSettings,
    "retention": RetentionSettings,
    "logging": LoggingSettings,
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS = ("text", "json")


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, overlaid by the file (`path`, else $FAXBOUNCE_CONFIG), overlaid by environment variables."""
    env = dict(os.environ if environ is None else environ)
    env_names = _env_setting_names()
    _refuse_unknown_env(env, env_names)
    file_path = path or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    sources = ["defaults"]
    if file_path:
        values_from_file = _read_file(Path(file_path))
        for section, table in values_from_file.items():
            values[section].update(table)
        sources.append(str(file_path))
    used: list[str] = []
    for env_name, (section, fld) in env_names.items():
        if env_name in env:
            values[section][fld.name] = _from_env(env[env_name], fld.type)
            used.append(env_name)
    # The name issue #5 promised operators; FAXBOUNCE_TRACKING_RESULT_TIMEOUT wins when both are set.
    if ENV_PREFIX + "RESULT_TIMEOUT" in env and ENV_PREFIX + "TRACKING_RESULT_TIMEOUT" not in env:
        values["tracking"]["result_timeout"] = _from_env(env[ENV_PREFIX + "RESULT_TIMEOUT"], "int")
        used.append(ENV_PREFIX + "RESULT_TIMEOUT")
    if used:
        sources.append("environment: " + ", ".join(sorted(used)))
    sections = {name: _build(name, cls, values[name]) for name, cls in _SECTIONS.items()}
    return Settings(**sections, source=" + ".join(sources))


def _env_setting_names() -> dict[str, tuple[str, dataclasses.Field[Any]]]:
    """`FAXBOUNCE_SMTP_PORT` → ("smtp", the field), for every key of every section."""
    return {f"{ENV_PREFIX}{section}_{fld.name}".upper(): (section, fld)
            for section, cls in _SECTIONS.items() for fld in dataclasses.fields(cls)}


def _refuse_unknown_env(env: dict[str, str], setting_names: dict[str, Any]) -> None:
    """A `FAXBOUNCE_*` name that is no setting is a typo until proven otherwise: name it and the nearest one."""
    known = set(setting_names) | ENV_NOT_SETTINGS
    for name in sorted(env):
        if (name.startswith(ENV_PREFIX) and name not in known
                and not name.startswith(ENV_NOT_SETTINGS_PREFIXES)):
            raise ConfigError(name, "unknown environment variable" + _suggest(name, known))


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "file not found") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start}): is this the TOML settings file?") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    for section, table in data.items():
        if section not in _SECTIONS:
            raise ConfigError(section, "unknown section" + _suggest(section, _SECTIONS))
        if not isinstance(table, dict):
            raise ConfigError(section, "must be a table ([section])")
        names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
        for key in table:
            if key not in names:
                raise ConfigError(f"{section}.{key}", "unknown key" + _suggest(key, names))
    return data


def _build(section: str, cls: type, values: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for fld in dataclasses.fields(cls):
        if fld.name in values:
            kwargs[fld.name] = _check(f"{section}.{fld.name}", values[fld.name], fld.type)
    settings = cls(**kwargs)
    _validate(section, settings)
    return settings


def _check(key: str, value: Any, type_name: Any) -> Any:
    type_name = str(type_name)
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, got {value!r}")
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, got {value!r}")
        return float(value)
    if type_name == "str":
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
        return value
    if type_name.startswith("tuple[str"):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"must be a list of strings, got {value!r}")
        return tuple(value)
    raise ConfigError(key, f"unsupported type {type_name}")  # pragma: no cover - a programming error


def _validate(section: str, settings: Any) -> None:
    if section == "smtp":
        if not 0 <= settings.port <= 65535:
            raise ConfigError("smtp.port", f"must be from 0 to 65535, got {settings.port}")
        for name in ("max_message_size", "max_line_length", "max_recipients", "timeout", "max_sessions",
                     "max_sessions_per_client", "max_commands", "max_bytes_in_flight", "auth_max_failures",
                     "auth_failure_pause"):
            if getattr(settings, name) <= 0:
                raise ConfigError(f"smtp.{name}", "must be greater than 0")
        if settings.max_line_length < 1000:
            raise ConfigError("smtp.max_line_length", "must be at least 1000 (RFC 5321's minimum)")
        _networks("smtp.allowed_clients", settings.allowed_clients)
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise ConfigError("smtp.tls_cert", "tls_cert and tls_key go together: set both or neither")
        for name in ("tls_cert", "tls_key"):
            path = getattr(settings, name)
            if path and not Path(path).is_file():
                raise ConfigError(f"smtp.{name}", f"no such file: {path}")
        if settings.require_tls and not settings.tls_cert:
            raise ConfigError("smtp.require_tls", "needs tls_cert and tls_key")
        if settings.auth_users and not settings.tls_cert:
            raise ConfigError("smtp.auth_users", "AUTH is only offered after STARTTLS: set tls_cert and tls_key")
        for index, entry in enumerate(settings.auth_users):
            user, _, hashed = entry.partition(":")
            if not user or not hashed.startswith("scrypt$"):
                raise ConfigError(f"smtp.auth_users[{index}]",
                                  "must be 'user:scrypt$…' as printed by `faxbounce hash-password`")
    elif section == "database":
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", settings.url):
            raise ConfigError("database.url", "must start with sqlite:/// or postgresql+psycopg://")
    elif section == "processing":
        if not re.fullmatch(r"[A-Z]{2}", settings.default_country):
            raise ConfigError("processing.default_country", "must be a two-letter ISO 3166 code such as JP")
        if settings.workers < 0:
            raise ConfigError("processing.workers", "must be 0 (one per CPU core) or more")
        if settings.poll_interval <= 0 or settings.max_seconds_per_message <= 0 or settings.max_attempts <= 0:
            raise ConfigError("processing", "poll_interval, max_seconds_per_message and max_attempts must be > 0")
        if settings.lease_seconds < 2 * settings.max_seconds_per_message:
            raise ConfigError("processing.lease_seconds",
                              "must be at least twice processing.max_seconds_per_message (a slow mail keeps its lease)")
    elif section == "trust":
        for index, relay in enumerate(settings.relays):
            if not relay.strip():
                raise ConfigError(f"trust.relays[{index}]", "must be a host name or a CIDR network")
    elif section == "tracking":
        _validate_tracking(settings)
    elif section == "metrics":
        _validate_metrics(settings)
    elif section == "retention" and settings.raw_days < 0:
        raise ConfigError("retention.raw_days",
                          f"must be 0 (keep forever) or a number of days, got {settings.raw_days}")
    elif section == "retention" and settings.unrelated_raw_days < 0:
        raise ConfigError("retention.unrelated_raw_days",
                          f"must be 0 (follow raw_days) or a number of days, got {settings.unrelated_raw_days}")
    elif section == "logging":
        if settings.level.upper() not in _LOG_LEVELS:
            raise ConfigError("logging.level", f"must be one of {', '.join(_LOG_LEVELS)}")
        if settings.format not in _LOG_FORMATS:
            raise ConfigError("logging.format", f"must be one of {', '.join(_LOG_FORMATS)}, got {settings.format!r}")


def _validate_metrics(settings: MetricsSettings) -> None:
    if not 0 <= settings.port <= 65535:
        raise ConfigError("metrics.port", f"must be from 0 (off) to 65535, got {settings.port}")
    if not settings.host.strip():
        raise ConfigError("metrics.host", "must be an address such as 127.0.0.1")
    if settings.max_backlog <= 0:
        raise ConfigError("metrics.max_backlog", "must be greater than 0")
    if settings.cache_seconds < 0:
        raise ConfigError("metrics.cache_seconds", "must be 0 or more")


def _validate_tracking(settings: TrackingSettings) -> None:
    for index, domain in enumerate(settings.fax_domains):
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", domain.strip()):
            raise ConfigError(f"tracking.fax_domains[{index}]", f"{domain!r} is not a domain such as fax.tc")
    try:
        pattern = re.compile(settings.number_pattern)
    except re.error as exc:
        raise ConfigError("tracking.number_pattern", f"not a regular expression: {exc}") from None
    if pattern.groups and "number" not in pattern.groupindex:
        raise ConfigError("tracking.number_pattern", "has groups but none named (?P<number>...)")
    for name in ("result_timeout", "credit_hold_timeout", "match_window"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"tracking.{name}", "must be a number of seconds greater than 0")
    if settings.sweep_interval <= 0:
        raise ConfigError("tracking.sweep_interval", "must be greater than 0")
    if settings.submission_mailbox and not re.fullmatch(r"[A-Za-z0-9._-]+", settings.submission_mailbox):
        raise ConfigError("tracking.submission_mailbox",
                          f"must be a plain local part such as fax-submissions (no + or @), "
                          f"got {settings.submission_mailbox!r}")
    if settings.notifications not in ("always", "failure_only"):
        raise ConfigError("tracking.notifications",
                          f"must be 'always' or 'failure_only', got {settings.notifications!r}")


def _networks(key: str, values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for index, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{key}[{index}]", f"{value!r} is not an IP network such as 192.0.2.0/24") from None
    return tuple(networks)


def client_networks(settings: SmtpSettings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`smtp.allowed_clients` as networks (already validated at load time)."""
    return _networks("smtp.allowed_clients", settings.allowed_clients)


def _from_env(raw: str, type_name: Any) -> Any:
    """Environment values are strings: read them by the key's type (lists are comma-separated)."""
    type_name = str(type_name)
    if type_name == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        return raw
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            return raw  # _check reports it with the key's name
    if type_name == "float":
        try:
            return float(raw)
        except ValueError:
            return raw
    if type_name.startswith("tuple[str"):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
