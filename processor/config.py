"""Settings: defaults, then a TOML file, then `FAXBOUNCE_<SECTION>_<KEY>` environment variables.

Every key is typed and checked at start-up; a wrong file stops the daemon with a ConfigError that names
the key and the problem (`config: smtp.port: must be an integer from 0 to 65535, got 'x'`). The environment
is as strict as the file: a misspelt database URL variable would otherwise be ignored in silence and the
mail would go to the default SQLite file, so an unknown `FAXBOUNCE_*` name stops start-up too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor import regex_cache
from processor.catalogues import vendor_hosts
from processor.errors import ConfigError

__all__ = ["DEFAULT_DATABASE_URL", "WEBHOOK_EVENTS", "AlertSettings", "DeliverySettings", "DisplaySettings",
           "NumberSettings", "OutboundSettings", "Settings", "WebhookSettings", "client_networks", "load_settings"]

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
    """Worker processes that classify stored mail; 0 = one per CPU core but one (at least one)."""
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
    """How long the figures read from the database (backlog, lag, outbox) are reused between scrapes."""
    totals_seconds: float = 300.0
    """How often the whole-table counts (mails by status, results by reason) are read again, in the
    background; 0 = at every scrape, cached as the rest."""


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
class WebhookSettings:
    """One `[[webhooks]]` table: an endpoint that receives signed events (Standard Webhooks)."""

    url: str = ""
    """Where events are POSTed (http:// or https://)."""
    secret: str = ""
    """`whsec_` + base64 of the signing key, as the Standard Webhooks spec defines (never logged)."""
    events: tuple[str, ...] = ()
    """Event types sent to this endpoint; empty = all (`fax.failed`, `fax.delivered`, `fax.no_result`,
    `fax.unrecognized`, `number.stopped`)."""
    timeout: float = 10.0
    """Seconds a delivery may take; longer counts as a failure and is retried."""


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the outbox (webhooks and mail to people) is delivered and retried."""

    interval: float = 5.0
    """Seconds between the dispatcher's looks for due deliveries."""
    first_retry: float = 15.0
    """Seconds before the first retry of a failed delivery; each later one waits twice as long."""
    max_retry_interval: float = 3600.0
    """Longest wait between two attempts."""
    give_up_after: float = 259200.0
    """Seconds after the event after which a delivery that never succeeded is marked failed (3 days)."""


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    """The mail relay faxbounce sends its own mail through (digest, sender alerts); never received mail."""

    relay: str = ""
    """`host:port` of your MTA; empty = faxbounce sends no mail (also FAXBOUNCE_OUTBOUND_RELAY)."""
    sender: str = field(default="", metadata={"key": "from"})
    """From address of the mails faxbounce sends (TOML key `from`)."""
    starttls: bool = False
    """Say STARTTLS before anything else (and refuse to go on without it)."""
    username: str = ""
    """AUTH user; empty = no AUTH. AUTH is only used after STARTTLS."""
    password: str = ""
    """AUTH password (better: FAXBOUNCE_OUTBOUND_PASSWORD)."""
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AlertSettings:
    digest_to: tuple[str, ...] = ()
    """Addresses of the daily digest; empty = no digest (also FAXBOUNCE_ALERTS_DIGEST_TO, comma-separated)."""
    digest_at: str = "08:30"
    """Local time (display.timezone) at which the daemon sends the digest, HH:MM."""
    notify_sender: bool = False
    """Mail the mailbox that sent a fax at once when it fails (when faxbounce saw the submission)."""
    lang: str = "ja"
    """Language of the mails: `ja` or `en`."""


@dataclass(frozen=True, slots=True)
class NumberSettings:
    """The number stop list: how failures turn into a verdict (ok, check, stop) per fax number."""

    decay_days: int = 90
    """Failures older than this stop counting."""
    check_after: int = 1
    """Non-retryable number failures (not a fax, unusable number, …) that give `check`."""
    stop_after: int = 2
    """Non-retryable number failures that give `stop`."""
    transient_check_after: int = 3
    """Transient failures (busy, no answer, …) within `transient_window_days` that give `check`."""
    transient_window_days: int = 7


_DEFAULT_TIMEZONE = "Asia/Tokyo"


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    timezone: str = _DEFAULT_TIMEZONE
    """IANA time zone of every time shown to people (report, digest, numbers list); SQL and JSON stay UTC."""


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
    webhooks: tuple[WebhookSettings, ...] = ()
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    numbers: NumberSettings = field(default_factory=NumberSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
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
    "delivery": DeliverySettings,
    "outbound": OutboundSettings,
    "alerts": AlertSettings,
    "numbers": NumberSettings,
    "display": DisplaySettings,
}
#: Sections written as arrays of tables (`[[webhooks]]`); not settable from the environment.
_LIST_SECTIONS: dict[str, type] = {"webhooks": WebhookSettings}
WEBHOOK_EVENTS = ("fax.failed", "fax.delivered", "fax.no_result", "fax.unrecognized", "number.stopped")
"""Every event type a webhook can receive (the order of the README)."""
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS = ("text", "json")


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, overlaid by the file (`path`, else $FAXBOUNCE_CONFIG), overlaid by environment variables."""
    env = dict(os.environ if environ is None else environ)
    env_names = _env_setting_names()
    _refuse_unknown_env(env, env_names)
    file_path = path or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _LIST_SECTIONS}
    sources = ["defaults"]
    if file_path:
        values_from_file = _read_file(Path(file_path))
        for section, table in values_from_file.items():
            if section in _LIST_SECTIONS:
                lists[section] = table
            else:
                values[section].update(table)
        sources.append(str(file_path))
    used: list[str] = []
    for env_name, (section, fld) in env_names.items():
        if env_name in env:
            values[section][_key(fld)] = _from_env(env[env_name], fld.type)
            used.append(env_name)
    # The name issue #5 promised operators; FAXBOUNCE_TRACKING_RESULT_TIMEOUT wins when both are set.
    if ENV_PREFIX + "RESULT_TIMEOUT" in env and ENV_PREFIX + "TRACKING_RESULT_TIMEOUT" not in env:
        values["tracking"]["result_timeout"] = _from_env(env[ENV_PREFIX + "RESULT_TIMEOUT"], "int")
        used.append(ENV_PREFIX + "RESULT_TIMEOUT")
    if used:
        sources.append("environment: " + ", ".join(sorted(used)))
    sections: dict[str, Any] = {name: _build(name, cls, values[name]) for name, cls in _SECTIONS.items()}
    for name, cls in _LIST_SECTIONS.items():
        sections[name] = tuple(_build(f"{name}[{index}]", cls, table) for index, table in enumerate(lists[name]))
    urls = [w.url for w in sections["webhooks"]]
    for index, url in enumerate(urls):
        if url in urls[:index]:
            raise ConfigError(f"webhooks[{index}].url", f"{url} is configured twice: one [[webhooks]] table per URL")
    alerts, outbound = sections["alerts"], sections["outbound"]
    if (alerts.digest_to or alerts.notify_sender) and not outbound.relay:
        key = "alerts.digest_to" if alerts.digest_to else "alerts.notify_sender"
        raise ConfigError(key, "faxbounce needs a relay to send mail: set outbound.relay (host:port) and outbound.from")
    return Settings(**sections, source=" + ".join(sources))


def _env_setting_names() -> dict[str, tuple[str, dataclasses.Field[Any]]]:
    """`FAXBOUNCE_SMTP_PORT` → ("smtp", the field), for every key of every section (not `[[webhooks]]`)."""
    return {f"{ENV_PREFIX}{section}_{_key(fld)}".upper(): (section, fld)
            for section, cls in _SECTIONS.items() for fld in dataclasses.fields(cls)}


def _refuse_unknown_env(env: dict[str, str], setting_names: dict[str, Any]) -> None:
    """A `FAXBOUNCE_*` name that is no setting is a typo until proven otherwise: name it and the nearest one."""
    known = set(setting_names) | ENV_NOT_SETTINGS
    for name in sorted(env):
        if (name.startswith(ENV_PREFIX) and name not in known
                and not name.startswith(ENV_NOT_SETTINGS_PREFIXES)):
            raise ConfigError(name, "unknown environment variable" + _suggest(name, known))


def _key(fld: dataclasses.Field[Any]) -> str:
    """A key's name in the file: the field's, unless the field says otherwise (`from` is a Python keyword)."""
    return str(fld.metadata.get("key", fld.name))


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    import tomllib  # only with a settings file: the import is about a tenth of a bare command's start-up

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
    known = {**_SECTIONS, **_LIST_SECTIONS}
    for section, table in data.items():
        if section not in known:
            raise ConfigError(section, "unknown section" + _suggest(section, known))
        if section in _LIST_SECTIONS:
            if not isinstance(table, list) or not all(isinstance(t, dict) for t in table):
                raise ConfigError(section, f"must be written as [[{section}]] tables")
            tables = [(f"{section}[{index}]", t) for index, t in enumerate(table)]
        elif not isinstance(table, dict):
            raise ConfigError(section, "must be a table ([section])")
        else:
            tables = [(section, table)]
        names = {_key(f) for f in dataclasses.fields(known[section])}
        for prefix, entries in tables:
            for key in entries:
                if key not in names:
                    raise ConfigError(f"{prefix}.{key}", "unknown key" + _suggest(key, names))
    return data


def _build(section: str, cls: type, values: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for fld in dataclasses.fields(cls):
        if _key(fld) in values:
            kwargs[fld.name] = _check(f"{section}.{_key(fld)}", values[_key(fld)], fld.type)
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
            raise ConfigError("processing.workers", "must be 0 (chosen by database and cores) or more")
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
    elif section.startswith("webhooks["):
        _validate_webhook(section, settings)
    elif section in ("delivery", "outbound", "alerts", "numbers", "display"):
        _validate_notify(section, settings)
    elif section == "logging":
        if settings.level.upper() not in _LOG_LEVELS:
            raise ConfigError("logging.level", f"must be one of {', '.join(_LOG_LEVELS)}")
        if settings.format not in _LOG_FORMATS:
            raise ConfigError("logging.format", f"must be one of {', '.join(_LOG_FORMATS)}, got {settings.format!r}")


def _validate_webhook(section: str, settings: WebhookSettings) -> None:
    import base64
    import binascii

    if not re.match(r"^https?://[^/\s]+", settings.url):
        raise ConfigError(f"{section}.url", f"must be an http:// or https:// URL, got {settings.url!r}")
    if not settings.secret.startswith("whsec_"):
        raise ConfigError(f"{section}.secret", "must be 'whsec_' followed by base64 (Standard Webhooks), "
                                              "e.g. from: python3 -c \"import base64,os; "
                                              "print('whsec_'+base64.b64encode(os.urandom(32)).decode())\"")
    try:
        key = base64.b64decode(settings.secret[6:] + "==", validate=False)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 24:
        raise ConfigError(f"{section}.secret", "the base64 after 'whsec_' must hold at least 24 bytes (use 32)")
    for event in settings.events:
        if event not in WEBHOOK_EVENTS:
            raise ConfigError(f"{section}.events", f"unknown event {event!r}" + _suggest(event, WEBHOOK_EVENTS))
    if settings.timeout <= 0:
        raise ConfigError(f"{section}.timeout", "must be a number of seconds greater than 0")


def _validate_notify(section: str, settings: Any) -> None:
    if section == "delivery":
        for name in ("interval", "first_retry", "max_retry_interval", "give_up_after"):
            if getattr(settings, name) <= 0:
                raise ConfigError(f"delivery.{name}", "must be a number of seconds greater than 0")
    elif section == "outbound":
        if settings.relay and not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}", settings.relay):
            raise ConfigError("outbound.relay",
                              f"must be host:port such as mail.example.com:25, got {settings.relay!r}")
        if settings.relay and "@" not in settings.sender:
            raise ConfigError("outbound.from", "set the From address of faxbounce's mails (outbound.from)")
        if settings.username and not settings.starttls:
            raise ConfigError("outbound.username", "AUTH is only used after STARTTLS: set outbound.starttls = true")
    elif section == "alerts":
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", settings.digest_at):
            raise ConfigError("alerts.digest_at",
                              f"must be a local time HH:MM such as 08:30, got {settings.digest_at!r}")
        if settings.lang not in ("ja", "en"):
            raise ConfigError("alerts.lang", f"must be 'ja' or 'en', got {settings.lang!r}")
        for index, address in enumerate(settings.digest_to):
            if "@" not in address:
                raise ConfigError(f"alerts.digest_to[{index}]", f"{address!r} is not a mail address")
    elif section == "numbers":
        for name in ("decay_days", "check_after", "stop_after", "transient_check_after", "transient_window_days"):
            if getattr(settings, name) <= 0:
                raise ConfigError(f"numbers.{name}", "must be greater than 0")
        if settings.stop_after < settings.check_after:
            raise ConfigError("numbers.stop_after", "must be at least numbers.check_after")
    elif section == "display" and settings.timezone != _DEFAULT_TIMEZONE:  # tzdata (a dependency) has it
        import zoneinfo  # only for a zone the operator named: the import is 4 ms of every command's start-up

        try:
            zoneinfo.ZoneInfo(settings.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError("display.timezone",
                              f"{settings.timezone!r} is not an IANA time zone such as Asia/Tokyo") from None


def _validate_metrics(settings: MetricsSettings) -> None:
    if not 0 <= settings.port <= 65535:
        raise ConfigError("metrics.port", f"must be from 0 (off) to 65535, got {settings.port}")
    if not settings.host.strip():
        raise ConfigError("metrics.host", "must be an address such as 127.0.0.1")
    if settings.max_backlog <= 0:
        raise ConfigError("metrics.max_backlog", "must be greater than 0")
    if settings.cache_seconds < 0:
        raise ConfigError("metrics.cache_seconds", "must be 0 or more")
    if settings.totals_seconds < 0:
        raise ConfigError("metrics.totals_seconds", "must be 0 (every scrape) or more")


def _validate_tracking(settings: TrackingSettings) -> None:
    for index, domain in enumerate(settings.fax_domains):
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", domain.strip()):
            raise ConfigError(f"tracking.fax_domains[{index}]", f"{domain!r} is not a domain such as fax.tc")
    try:
        pattern = regex_cache.compile(settings.number_pattern)
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
    import difflib  # only for a setting that is misspelt (start-up time)

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
