"""The `faxbounce` command: serve, migrate, check, ingest, classify, reprocess, report, explain, purge,
hash-password, sql-grant-readonly, webhooks, numbers, digest.

Every error a user meets is one line on stderr naming the problem and the fix; the traceback is only printed
with `--log-level debug`. Exit codes: 0 done; 1 a check failed or a resource is unavailable now (database not
answering, port in use: retrying may help); 2 the setup is wrong (configuration, database role or name,
schema behind, usage); 70 an internal error (a bug: please report it with the debug traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from processor import __version__
from processor.catalogues import CATALOGUES, CatalogueEntry, search
from processor.config import Settings, load_settings
from processor.errors import DatabaseBusy, FaxbounceError, ProcessDied
from processor.logsetup import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from processor.ops.metrics import Check

__all__ = ["main"]

log = logging.getLogger("processor.cli")


EXIT_UNAVAILABLE = 1
EXIT_SETUP = 2
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE


#: Commands that open no database and start no thread, after which the interpreter need not be taken down
#: object by object: `_leave_fast`.
_LEAVE_FAST = frozenset({"classify", "explain"})


def _leave_fast(status: int) -> NoReturn:
    """Exit without the interpreter's teardown, which frees every object of the parsers and tables one by one
    (measured: 30-35 ms of `classify one.eml`'s ~150 ms, 15-20 ms of `explain 3912`, ~40 ms after the corpus);
    the kernel frees the process at once. What the teardown does that matters is done first: the `atexit`
    functions (logging's flush, the pattern cache's write) and flushing standard output and error. Falls back
    to a normal exit where a thread still runs or the interpreter has no `atexit._run_exitfuncs`."""
    import atexit
    import os
    import threading

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None or threading.active_count() > 1:
        sys.exit(status)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away; a stream already closed
            status = status or 120  # what Python's own exit answers when flushing fails
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Without `argv` this is the process's own command (the console script,
    `python -m processor`): the arguments are `sys.argv`'s, and after `classify` and `explain` the process
    exits here (`_leave_fast`)."""
    if argv is not None:
        return _main(list(argv))[0]
    status, command = _main(sys.argv[1:])
    if command in _LEAVE_FAST:
        _leave_fast(status)
    return status


def _main(argv: list[str]) -> tuple[int, str | None]:
    """The exit status, and the command that ran (None when none did)."""
    parser = _parser_for(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2, None
    return _command(args), args.command


def _command(args: argparse.Namespace) -> int:
    settings: Settings | None = None
    try:
        settings = load_settings(args.config)
        if args.log_format:
            import dataclasses

            settings = dataclasses.replace(settings, logging=dataclasses.replace(settings.logging,
                                                                                 format=args.log_format))
        configure_logging(args.log_level or settings.logging.level, settings.logging.format)
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line; the traceback is for debug
        message, code = _one_line(exc, settings)
        if (args.log_level or "").upper() == "DEBUG" or logging.getLogger().isEnabledFor(logging.DEBUG):
            import traceback

            traceback.print_exc()
        print(f"faxbounce: {message}", file=sys.stderr)
        return code


def _one_line(exc: BaseException, settings: Settings | None) -> tuple[str, int]:
    """The message and exit code a user should see for `exc` (see the module docstring)."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from processor.run.daemon import ListenError

    if isinstance(exc, ListenError | DatabaseBusy | ProcessDied):
        return str(exc), EXIT_UNAVAILABLE
    if isinstance(exc, FaxbounceError):
        return str(exc), EXIT_SETUP
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"config: database.url: {exc}", EXIT_SETUP
    if isinstance(exc, DBAPIError):
        return _database_problem(str(exc.orig), _database_label(settings))
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror}", EXIT_UNAVAILABLE
    return (f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(run with --log-level debug for the traceback and report it)"), EXIT_INTERNAL


#: What the database drivers say → (problem, fix, exit code). The first line of the driver's text is matched.
_DATABASE_PROBLEMS: tuple[tuple[str, str, int], ...] = (
    (r'role "(?P<name>[^"]+)" does not exist',
     'the role {name} does not exist: create it (README "PostgreSQL") or fix database.url', EXIT_SETUP),
    (r'database "(?P<name>[^"]+)" does not exist',
     "the database {name} does not exist: createdb it (README \"PostgreSQL\") or fix database.url", EXIT_SETUP),
    (r'password authentication failed for user "(?P<name>[^"]+)"',
     "wrong password for {name}: fix database.url", EXIT_SETUP),
    (r"no pg_hba\.conf entry",
     "the server refuses this client (pg_hba.conf): allow it there or fix database.url", EXIT_SETUP),
    (r"(?:relation|table) \"?(?P<name>[\w.]+)\"? does not exist|no such table: (?P<table>\S+)",
     "the schema is missing or behind: run `faxbounce migrate`", EXIT_SETUP),
    (r"unable to open database file",
     "cannot open the SQLite file: check the path in database.url and its permissions", EXIT_SETUP),
    (r"Connection refused|could not connect|timeout expired|Name or service not known|No route to host"
     r"|server closed the connection|connection failed",
     "not answering: start it or fix the host and port in database.url", EXIT_UNAVAILABLE),
)


def _database_problem(driver_text: str, label: str) -> tuple[str, int]:
    for pattern, template, code in _DATABASE_PROBLEMS:
        match = re.search(pattern, driver_text)
        if match:
            name = next((v for v in match.groups() if v), "")
            return f"database {label}: {template.format(name=name)}", code
    first = next((line.strip() for line in driver_text.splitlines() if line.strip()), "error")
    return f"database {label}: {first}", EXIT_UNAVAILABLE


def _database_label(settings: Settings | None) -> str:
    """The URL without its password, for error lines."""
    if settings is None:
        return ""
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.database.url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is reported elsewhere
        return "(database.url)"


#: The global options that take a value (as a separate word or after `=`).
_GLOBAL_OPTIONS_WITH_VALUE = ("--config", "--log-level", "--log-format")


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """`_parser()`, with only the parser of the command `argv` names when that can be told: the parsers of every
    command were 22 argparse parsers, 9 ms of a 110 ms `faxbounce classify`. Help, an unknown command or an
    abbreviated global option get every parser, so that argparse lists the commands or the choices."""
    if (command := _command_in(argv)) is not None:
        only = _OnlyCommand(command)
        parser = _parser(only)
        if only.found:
            return parser
    return _parser()


def _command_in(argv: Sequence[str]) -> str | None:
    """The first word after the global options, or None when an option is not one of ours spelled out."""
    words = iter(argv)
    for word in words:
        if word in _GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif word.partition("=")[0] not in _GLOBAL_OPTIONS_WITH_VALUE or "=" not in word:
            return None  # --help, --version, an abbreviation, a typo: argparse decides
    return None


class _OnlyCommand:
    """The `add_subparsers` action as `_parser` sees it when one command runs: the other commands' parsers are
    not made (`_Unused` takes their arguments)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.found = False
        self.commands: Any = None

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self.command:
            return _UNUSED
        self.found = True
        return self.commands.add_parser(name, **kwargs)


class _Unused:
    """Stands for the parser of a command this run does not parse: every call is taken and dropped."""

    def __getattr__(self, name: str) -> Any:
        return self._take

    def _take(self, *args: Any, **kwargs: Any) -> _Unused:
        return self


_UNUSED = _Unused()


def _parser(only: _OnlyCommand | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, the global options and that one command."""
    parser = argparse.ArgumentParser(prog="faxbounce", description=__doc__)
    parser.add_argument("--version", action="version", version=f"faxbounce {__version__}")
    parser.add_argument("--config", metavar="PATH", help="TOML settings file (default: $FAXBOUNCE_CONFIG)")
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR (default: logging.level)")
    parser.add_argument("--log-format", choices=("text", "json"),
                        help="text lines, or one JSON object per line (default: logging.format)")
    sub: Any = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        only.commands, sub = sub, only

    p = sub.add_parser("serve", help="listen for SMTP and process what arrives")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.add_argument("--revision", default="head", help="Alembic revision (default: head)")
    p.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long a statement waits for a lock held by another session before the migration is "
                        "rolled back and tried again (4 tries; default 5; 0: no limit)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("ingest", help="store and process .eml files, mbox files, maildirs or IMAP folders")
    p.add_argument("paths", nargs="+", metavar="PATH_OR_URL",
                   help="file, mbox, maildir, directory, or imap[s]://user@host[:port]/FOLDER (read-only)")
    p.add_argument("--folder", help="IMAP folder for URLs that name none (default INBOX)")
    p.add_argument("--no-process", action="store_true", help="only store; the daemon's worker processes later")
    p.add_argument("--max-size", type=int, metavar="BYTES",
                   help="skip (and count) mails larger than this (default: smtp.max_message_size)")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("check", help="validate the configuration and run the health checks (exit 1 on failure)")
    p.add_argument("--offline", action="store_true",
                   help="do not ask the running daemon about its worker (config, database and backlog only)")
    p.add_argument("--json", action="store_true", help="print the health document as JSON")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("purge", help="drop raw mail bytes older than retention.raw_days, of unrelated mail older than "
                                     "retention.unrelated_raw_days (rows and results stay)")
    p.add_argument("--dry-run", action="store_true", help="only show what would be dropped")
    p.add_argument("--days", type=int, metavar="N", help="override retention.raw_days")
    p.add_argument("--unrelated-days", type=int, metavar="N", help="override retention.unrelated_raw_days")
    p.set_defaults(func=_cmd_purge)

    p = sub.add_parser("classify", help="classify mail files without a database")
    p.add_argument("files", nargs="+", metavar="FILE", help="mail files; - reads standard input")
    p.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="processes to share the files (default 0: one per core when there are "
                        "enough files to pay for it; 1: this process only); output order is the files' order")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("reprocess", help="run parse and classification again over stored mail")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--since", metavar="WHEN", help="mails received since WHEN (24h, 7d, 2026-11-01, ISO time)")
    group.add_argument("--all", action="store_true", help="every stored mail")
    p.set_defaults(func=_cmd_reprocess)

    p = sub.add_parser("hash-password", help="print an smtp.auth_users line for a user (reads the password)")
    p.add_argument("user")
    p.set_defaults(func=_cmd_hash_password)

    p = sub.add_parser("sql-grant-readonly", help="PostgreSQL: let ROLE read every table and view, nothing more")
    p.add_argument("role")
    p.add_argument("--print", action="store_true", help="print the SQL instead of running it")
    p.set_defaults(func=_cmd_grant_readonly)

    p = sub.add_parser("report", help="what needs action now: numbers to verify, faxes to resend, account problems")
    p.add_argument("--since", default="24h", metavar="WHEN", help="period (24h, 7d, 2026-11-01; default 24h)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--lang", choices=("ja", "en"), default="ja")
    p.add_argument("--exit-status", action="store_true",
                   help="exit 3 when something needs action, 0 when nothing does (for cron and monitoring)")
    p.set_defaults(func=_cmd_report)

    _notify_parsers(sub)

    p = sub.add_parser("explain", help="show the catalogue entries for a code, result line, label, message or reason")
    p.add_argument("key", metavar="CODE_OR_TEXT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_explain)
    return parser


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from processor.run.daemon import serve

    return serve(settings)


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import MIGRATION_LOCK_SECONDS, create_db_engine, current_revision, migrate

    lock_timeout = MIGRATION_LOCK_SECONDS if args.lock_timeout is None else args.lock_timeout
    if not lock_timeout >= 0:
        raise FaxbounceError("migrate: --lock-timeout must be a number of seconds, 0 or more")
    engine = create_db_engine(settings.database.url)
    migrate(engine, args.revision, lock_timeout=lock_timeout)
    print(f"database at revision {current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from processor.receive.ingest import IngestSourceError, Progress, format_summary, ingest, open_source
    from processor.run.pipeline import process_message
    from processor.store.db import create_db_engine
    from processor.store.stats import ingest_summary

    max_size = settings.smtp.max_message_size if args.max_size is None else args.max_size
    if max_size <= 0:
        raise FaxbounceError("ingest: --max-size must be a number of bytes above 0")
    engine = create_db_engine(settings.database.url)
    sources, failed, total = [], 0, 0
    for spec in args.paths:
        try:
            source = open_source(spec, args.folder, max_size)
            total += source.count()
        except IngestSourceError as exc:
            print(f"faxbounce: {exc}", file=sys.stderr)
            failed += 1
            continue
        sources.append(source)
    process = None if args.no_process else (lambda message_id: process_message(engine, message_id, settings))
    report = ingest(engine, sources, process=process, progress=Progress(total), max_size=max_size)
    for label, count in sorted(report.counts.items()):
        print(f"{count:8d}  {label}")
    if report.stored_ids and not args.no_process:
        print()
        print(format_summary(ingest_summary(engine, report.stored_ids)))
    if report.failed_mails:
        print(f"faxbounce: {report.failed_mails} mail(s) could not be read or stored (named above); fix and run "
              "the same command again: what is stored is skipped", file=sys.stderr)
    return 1 if failed or report.failed_sources or report.failed_mails else 0


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ops.metrics import Check, health_document, run_checks

    checks = [Check("config", True, f"valid ({settings.source})")]
    engine = _check_engine(settings, checks)
    if engine is not None:
        checks += run_checks(engine, settings.metrics)
        engine.dispose()
    if not args.offline:
        database = next((c for c in checks if c.name == "database"), None)
        checks.append(_daemon_worker_check(settings, database.data.get("identity") if database else None))
    if args.json:
        print(json.dumps(health_document(checks), ensure_ascii=False))
    else:
        for check in checks:
            print(f"{'ok' if check.ok else 'FAIL':4s}  {check.name:8s}  {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def _check_engine(settings: Settings, checks: list[Check]) -> Engine | None:
    """An engine for the checks that never creates anything (a missing SQLite file is a failure)."""
    from sqlalchemy.engine import make_url

    from processor.ops.metrics import Check
    from processor.store.db import create_db_engine

    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not Path(url.database).is_file():
            checks.append(Check("database", False, f"no database file {url.database}: run faxbounce migrate"))
            return None
        return create_db_engine(settings.database.url)
    return create_db_engine(settings.database.url, connect_args={"connect_timeout": 5})


def _daemon_worker_check(settings: Settings, identity: str | None) -> Check:
    """The worker is a child of `faxbounce serve`: ask the daemon's /healthz whether it is alive, and whether
    that daemon serves this configuration's database (`identity`; another instance may own the port)."""
    import urllib.error
    import urllib.request

    from processor.ops.metrics import Check

    if settings.metrics.port == 0:
        return Check("worker", True, "not checked: metrics.port = 0 (no health endpoint to ask)")
    host = settings.metrics.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.metrics.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: the body still says which check failed
        try:
            document = json.loads(exc.read())
        except ValueError:
            return Check("worker", False, f"{url} answered {exc.code}")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("worker", False, f"daemon not reachable at {url}: {reason} (is faxbounce serve running?)")
    checks = document.get("checks", {}) if isinstance(document, dict) else {}
    worker = checks.get("worker")
    if not isinstance(worker, dict):
        return Check("worker", False, f"{url} did not report a worker check")
    database = checks.get("database")
    theirs = database.get("data", {}).get("identity") if isinstance(database, dict) else None
    if identity is not None and theirs is not None and theirs != identity:
        return Check("worker", False, f"the daemon at {url} serves another database (id {theirs}, this "
                                      f"configuration's is {identity}): set metrics.port to this instance's port",
                     {"daemon_database": theirs, "database": identity})
    compared = "same database" if identity is not None and theirs == identity else "database not compared"
    return Check("worker", bool(worker.get("ok")), f"{worker.get('detail', '')} (daemon at {url}, {compared})")


def _cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ops.retention import purge_raw
    from processor.store.db import create_db_engine

    days = settings.retention.raw_days if args.days is None else args.days
    unrelated_days = settings.retention.unrelated_raw_days if args.unrelated_days is None else args.unrelated_days
    if days < 0 or unrelated_days < 0:
        raise FaxbounceError("purge: --days and --unrelated-days must be 0 or more")
    if days == 0 and unrelated_days == 0:
        print("retention.raw_days = 0 and retention.unrelated_raw_days = 0: raw mail is kept forever, "
              "nothing to purge")
        return 0
    engine = create_db_engine(settings.database.url)
    report = purge_raw(engine, days, unrelated_raw_days=unrelated_days, dry_run=args.dry_run)
    print(report.describe())
    return 0


def _cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from processor.run.batch import judge_files

    if args.jobs < 0:
        raise FaxbounceError("classify: --jobs must be 0 (one process per core for long lists) or more")
    status = 0
    for verdict in judge_files(args.files, settings, args.json, args.jobs):
        if verdict.err:
            sys.stdout.flush()
            sys.stderr.write(verdict.err)
        sys.stdout.write(verdict.out)
        status |= verdict.failed
    return status


def _cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from processor.run.pipeline import process_message
    from processor.store.db import create_db_engine
    from processor.store.inbound import reprocess_candidates

    engine = create_db_engine(settings.database.url)
    since = _parse_since(args.since) if args.since else None
    counts: Counter[str] = Counter()
    skipped = 0
    for batch in reprocess_candidates(engine, everything=args.all, since=since):
        skipped += len(batch.purged)
        for message_id in batch.ids:
            outcome = process_message(engine, message_id, _fresh_attempts(settings))
            if outcome is not None:
                counts[outcome.kind or outcome.status] += 1
    for label, count in sorted(counts.items()):
        print(f"{count:8d}  {label}")
    print(f"{sum(counts.values()):8d}  reprocessed")
    if skipped:
        print(f"{skipped:8d}  skipped (raw bytes purged by retention; results kept)")
    return 0


def _fresh_attempts(settings: Settings) -> Settings:
    """A manual reprocess is a deliberate retry: do not let earlier crash counts skip the mail."""
    import dataclasses

    return dataclasses.replace(settings, processing=dataclasses.replace(settings.processing, max_attempts=10**9))


def _cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from processor.receive.auth import hash_password

    if ":" in args.user or not args.user.strip():
        raise FaxbounceError("hash-password: the user name must be non-empty and contain no ':'")
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise FaxbounceError("hash-password: the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise FaxbounceError("hash-password: empty password")
    print(f"{args.user}:{hash_password(password)}")
    return 0


def _cmd_grant_readonly(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, readonly_grants, run_statements

    engine = create_db_engine(settings.database.url)
    statements = readonly_grants(engine, args.role)
    if args.print:
        print(";\n".join(statements) + ";")
        return 0
    run_statements(engine, statements)
    print(f"role {args.role} can now read faxbounce's tables and views (and nothing else)")
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ops.report import EXIT_ACTION_NEEDED, collect, render
    from processor.store.db import create_db_engine

    since = _parse_since(args.since)
    engine = create_db_engine(settings.database.url)
    items = collect(engine, since)
    sys.stdout.write(render(items, args.format, args.lang, since, settings.display.timezone,
                            settings.processing.default_country))
    return EXIT_ACTION_NEEDED if args.exit_status and items else 0


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """Every catalogue entry the text names: as copied from a mail (`送信結果：３９１２－…`), a label or a reason."""
    found: tuple[CatalogueEntry, ...] = search(args.key)
    if not found:
        print(f"faxbounce: {args.key!r} is in no catalogue ({', '.join(CATALOGUES)}); give a code (3912), "
              "a result line, a label (話中, Busy), a bounce message or a reason word", file=sys.stderr)
        return 1
    for entry in found:
        if args.json:
            print(json.dumps(entry.to_json(), ensure_ascii=False))
            continue
        retry = {True: "yes", False: "no", None: "-"}[entry.retryable]
        print(f"{entry.vendor} {entry.key} ({entry.catalogue})")
        for label, value in (("label", entry.label_en), ("label_ja", entry.label_ja), ("outcome", entry.outcome),
                             ("reason", entry.reason), ("retryable", retry), ("action_ja", entry.action_ja),
                             ("action_en", entry.action_en)):
            if value:
                print(f"  {label:10s} {value}")
    return 0


def _notify_parsers(sub: Any) -> None:
    """`webhooks`, `numbers` and `digest` (issue #13)."""
    p = sub.add_parser("webhooks", help="webhook deliveries: list, retry, send a test event")
    webhooks = p.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    q = webhooks.add_parser("list", help="deliveries, newest first (failed ones need a look)")
    q.add_argument("--state", choices=("pending", "delivered", "failed"))
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_cmd_webhooks_list)
    q = webhooks.add_parser("retry", help="send deliveries again now (same webhook-id)")
    target = q.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    target.add_argument("--failed", action="store_true", help="every failed delivery")
    q.set_defaults(func=_cmd_webhooks_retry)
    q = webhooks.add_parser("test", help="send a signed test event to every endpoint (or --url)")
    q.add_argument("--url", help="only the [[webhooks]] endpoint with this url")
    q.set_defaults(func=_cmd_webhooks_test)

    p = sub.add_parser("numbers", help="the number stop list: ok, check, stop")
    numbers = p.add_subparsers(dest="numbers_command", metavar="ACTION", required=True)
    q = numbers.add_parser("list", help="numbers and their verdicts (stop first)")
    q.add_argument("--verdict", choices=("ok", "check", "stop"))
    q.add_argument("--json", action="store_true", help="one JSON object per number, one per line")
    q.set_defaults(func=_cmd_numbers_list)
    q = numbers.add_parser("block", help="stop sending to NUMBER, whatever the results say")
    q.add_argument("number")
    q.add_argument("--note", help="why (shown in the list)")
    q.set_defaults(func=_cmd_numbers_block)
    q = numbers.add_parser("unblock", help="let the results decide NUMBER's verdict again")
    q.add_argument("number")
    q.set_defaults(func=_cmd_numbers_unblock)
    q = numbers.add_parser("export", help="the stop list for a spreadsheet or an address book")
    q.add_argument("--format", choices=("csv",), default="csv")
    q.add_argument("--verdict", choices=("ok", "check", "stop"))
    q.set_defaults(func=_cmd_numbers_export)

    p = sub.add_parser("digest", help="the daily digest: print it, or --send it through outbound.relay")
    p.add_argument("--since", default="24h", metavar="WHEN", help="period (24h, 7d, 2026-11-01; default 24h)")
    p.add_argument("--to", action="append", metavar="ADDR", help="recipient (default alerts.digest_to)")
    p.add_argument("--lang", choices=("ja", "en"), help="default alerts.lang")
    p.add_argument("--send", action="store_true", help="send it (else print the mail it would send)")
    p.set_defaults(func=_cmd_digest)


def _cmd_webhooks_list(args: argparse.Namespace, settings: Settings) -> int:
    from processor.notify.display import local_time, printable
    from processor.store.db import create_db_engine, session_scope
    from processor.store.notify import list_deliveries

    with session_scope(create_db_engine(settings.database.url)) as session:
        deliveries = list_deliveries(session, args.state, args.limit)
    if args.json:
        for d in deliveries:
            print(json.dumps({"id": d.id, "event_id": d.event_id, "channel": d.channel, "target": d.target,
                              "type": d.event_type, "state": d.state, "attempts": d.attempts,
                              "created_at": d.created_at.isoformat(), "next_attempt_at": d.next_attempt_at.isoformat(),
                              "last_error": d.last_error,
                              "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None},
                             ensure_ascii=False))
        return 0
    if not deliveries:
        print("no deliveries" + (f" in state {args.state}" if args.state else ""))
        return 0
    zone = settings.display.timezone
    for d in deliveries:
        when = local_time(d.delivered_at if d.state == "delivered" else d.next_attempt_at, zone)
        print(printable(f"{d.id:6d}  {d.state:9s}  {d.attempts:3d}x  {when}  {d.event_type:16s}  {d.event_id}  "
                        f"{d.target}" + (f"  ({d.last_error})" if d.last_error and d.state != "delivered" else ""),
                        keep_newlines=False))
    return 0


def _cmd_webhooks_retry(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, session_scope
    from processor.store.notify import retry_deliveries

    with session_scope(create_db_engine(settings.database.url)) as session:
        count = retry_deliveries(session, datetime.now(UTC), ids=args.ids, failed=args.failed)
    if not count and args.ids:
        print(f"faxbounce: webhooks retry: no undelivered delivery with id {', '.join(map(str, args.ids))} "
              "(see faxbounce webhooks list)", file=sys.stderr)
        return 1
    print(f"{count} deliver{'y' if count == 1 else 'ies'} due again now; the daemon sends them within "
          f"delivery.interval ({settings.delivery.interval:g}s)")
    return 0


def _cmd_webhooks_test(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    from processor.notify.events import TEST, webhook_body
    from processor.notify.webhooks import post

    endpoints = [w for w in settings.webhooks if args.url in (None, w.url)]
    if not endpoints:
        raise FaxbounceError("webhooks test: no [[webhooks]] endpoint is configured" +
                             (f" with url {args.url}" if args.url else "") + " (see config/faxbounce.toml)")
    now = datetime.now(UTC)
    failed = 0
    for endpoint in endpoints:
        message_id = f"msg_test_{uuid.uuid4().hex[:20]}"
        body = webhook_body(TEST, now, {"message": "faxbounce webhook test", "sent_at": now.isoformat()})
        outcome = post(endpoint, message_id, body, now)
        print(f"{'ok  ' if outcome.ok else 'FAIL'}  {endpoint.url}  {outcome.detail}  (webhook-id {message_id})")
        failed += not outcome.ok
    return 1 if failed else 0


def _number_arg(text: str, settings: Settings) -> str:
    from processor.parse.faxnumber import normalize_fax_number

    number = normalize_fax_number(text, settings.processing.default_country)
    if number is None:
        raise FaxbounceError(f"numbers: {text!r} is not a fax number (write it as 03-5555-0101 or +81355550101)")
    return number


def _cmd_numbers_list(args: argparse.Namespace, settings: Settings) -> int:
    from processor.notify.display import local_time, pad, printable
    from processor.store.db import create_db_engine, session_scope
    from processor.store.numbers import list_numbers

    with session_scope(create_db_engine(settings.database.url)) as session:
        _refresh_numbers(session, settings)
        rows = list_numbers(session, args.verdict)
    if args.json:
        for row in rows:
            print(json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()},
                             ensure_ascii=False))
        return 0
    if not rows:
        print("no numbers" + (f" with verdict {args.verdict}" if args.verdict else ""))
        return 0
    zone = settings.display.timezone
    for row in rows:
        line = (f"{row['verdict']:5s}  {pad(row['national'] or row['fax_number'], 16)}  {row['reason'] or '-':20s}  "
                f"{row['failures']:3d}  {local_time(row['last_failure_at'], zone)}"
                + (f"  {row['note']}" if row["note"] else ""))
        print(printable(line, keep_newlines=False))
    return 0


def _refresh_numbers(session: Session, settings: Settings) -> None:
    """Verdicts that time alone changes, and numbers from before the stop list existed."""
    from processor.store.numbers import backfill_numbers, refresh_open_verdicts

    country = settings.processing.default_country
    backfill_numbers(session, settings.numbers, country)
    refresh_open_verdicts(session, settings.numbers, country)


def _cmd_numbers_block(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, session_scope
    from processor.store.notify import enqueue_number_changes
    from processor.store.numbers import block_number

    number = _number_arg(args.number, settings)
    with session_scope(create_db_engine(settings.database.url)) as session:
        changes = block_number(session, number, args.note, settings.numbers, settings.processing.default_country)
        enqueue_number_changes(session, changes, settings)
    print(f"{number}: blocked (verdict stop)")
    return 0


def _cmd_numbers_unblock(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, session_scope
    from processor.store.numbers import unblock_number

    number = _number_arg(args.number, settings)
    with session_scope(create_db_engine(settings.database.url)) as session:
        removed = unblock_number(session, number, settings.numbers, settings.processing.default_country)
    if not removed:
        print(f"faxbounce: numbers unblock: {number} was not blocked (see faxbounce numbers list --verdict stop)",
              file=sys.stderr)
        return 1
    print(f"{number}: unblocked; its results decide its verdict again")
    return 0


def _cmd_numbers_export(args: argparse.Namespace, settings: Settings) -> int:
    from processor.notify.display import csv_text
    from processor.store.db import create_db_engine, session_scope
    from processor.store.numbers import STOPLIST_COLUMNS, list_numbers

    with session_scope(create_db_engine(settings.database.url)) as session:
        _refresh_numbers(session, settings)
        rows = list_numbers(session, args.verdict)
    sys.stdout.write(csv_text(STOPLIST_COLUMNS, ([r[c].isoformat() if isinstance(r[c], datetime) else r[c]
                                                  for c in STOPLIST_COLUMNS] for r in rows)))
    return 0


def _cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from processor.notify.digest import compose_digest
    from processor.notify.mailer import send_mail
    from processor.store.db import create_db_engine

    since = _parse_since(args.since)
    to = tuple(args.to or settings.alerts.digest_to)
    lang = args.lang or settings.alerts.lang
    if args.send and not to:
        raise FaxbounceError("digest --send: no recipient: give --to ADDR or set alerts.digest_to")
    if args.send and not settings.outbound.relay:
        raise FaxbounceError("digest --send: set outbound.relay (host:port) and outbound.from to send mail")
    engine = create_db_engine(settings.database.url)
    digest = compose_digest(engine, settings, since, to or ("(alerts.digest_to)",), lang)
    if not args.send:
        sys.stdout.write(digest.preview())
        return 0
    send_mail(settings.outbound, to, digest.message_bytes())
    print(f"digest sent to {', '.join(to)} through {settings.outbound.relay}: {digest.summary}")
    return 0


def _parse_since(text: str) -> datetime:
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FaxbounceError(f"--since: {text!r} is neither a duration (24h, 7d) nor an ISO date") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


if __name__ == "__main__":
    raise SystemExit(main())
