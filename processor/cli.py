"""The `faxbounce` command: serve, migrate, ingest, classify, reprocess, explain."""

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

from processor import __version__
from processor.catalogues import CATALOGUES, CatalogueEntry, lookup
from processor.config import Settings, load_settings
from processor.errors import FaxbounceError, ParseError
from processor.logsetup import configure_logging

__all__ = ["main"]

log = logging.getLogger("processor.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
        configure_logging(args.log_level or settings.logging.level)
        return int(args.func(args, settings))
    except FaxbounceError as exc:
        print(f"faxbounce: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faxbounce", description=__doc__)
    parser.add_argument("--version", action="version", version=f"faxbounce {__version__}")
    parser.add_argument("--config", metavar="PATH", help="TOML settings file (default: $FAXBOUNCE_CONFIG)")
    parser.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR (default: logging.level)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="listen for SMTP and process what arrives")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.add_argument("--revision", default="head", help="Alembic revision (default: head)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("ingest", help="store and process .eml files, mbox files or maildirs")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--no-process", action="store_true", help="only store; the daemon's worker processes later")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("classify", help="classify mail files without a database")
    p.add_argument("files", nargs="+", metavar="FILE", help="mail files; - reads standard input")
    p.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
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
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("explain", help="show the catalogue entry for a code or bounce message")
    p.add_argument("key", metavar="CODE_OR_TEXT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_explain)
    return parser


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from processor.daemon import serve

    return serve(settings)


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, current_revision, migrate

    engine = create_db_engine(settings.database.url)
    migrate(engine, args.revision)
    print(f"database at revision {current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ingest import iter_mail_sources
    from processor.pipeline import process_message
    from processor.rawstore import Envelope, RawStore
    from processor.store.db import create_db_engine

    engine = create_db_engine(settings.database.url)
    store = RawStore(engine)
    counts: Counter[str] = Counter()
    missing = [p for p in args.paths if not p.exists()]
    for path in missing:
        print(f"faxbounce: {path}: no such file or directory", file=sys.stderr)
    for path in (p for p in args.paths if p.exists()):
        for source, raw in iter_mail_sources(path):
            if store.known(raw) is not None:  # cheaper than a write that finds the duplicate
                counts["skipped (already stored)"] += 1
                continue
            stored = store.put(raw, Envelope(mail_from=None, rcpt_tos=(), peer=f"ingest:{source}"[:2000]))
            if stored.duplicate:
                counts["skipped (already stored)"] += 1
                continue
            message_id = stored.id
            counts["stored"] += 1
            if not args.no_process:
                outcome = process_message(engine, message_id, settings)
                if outcome is not None:
                    counts[outcome.kind or outcome.status] += 1
    for label, count in sorted(counts.items()):
        print(f"{count:8d}  {label}")
    return 1 if missing else 0


def _cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from processor.pipeline import classify_bytes, trusted

    status = 0
    for name in args.files:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"faxbounce: {name}: {exc.strerror}", file=sys.stderr)
            status = 1
            continue
        try:
            mail, classification = classify_bytes(raw, settings.processing, settings.tracking)
            trust = trusted(mail, classification, settings)
        except ParseError as exc:
            print(f"faxbounce: {name}: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            document = {
                "source": name,
                "kind": str(classification.kind),
                "detected_by": classification.detected_by,
                "trusted": trust,
                "results": [r.to_json() for r in classification.results],
            }
            if classification.submission is not None:  # kind fax_submission (issue #5)
                document["submission"] = classification.submission.to_json()
                document["destinations"] = [d.to_json() for d in classification.submission.destinations]
            print(json.dumps(document, ensure_ascii=False))
            continue
        print(f"{name}: {classification.kind}" + (f" ({classification.detected_by})" if classification.detected_by
                                                   else ""))
        for d in classification.submission.destinations if classification.submission else ():
            print(f"  submitted {d.fax_number or d.fax_number_raw}  ({d.recipient}, {d.source})")
        for r in classification.results:
            target = r.fax_number or r.fax_number_raw or r.recipient or "-"
            print(f"  {r.outcome:9s} {r.reason:22s} {target}  code={r.code or '-'}"
                  + (f"  retryable={'yes' if r.retryable else 'no'}" if r.retryable is not None else ""))
            if r.action_en:
                print(f"    {r.action_en}")
    return status


def _cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from processor.pipeline import process_message
    from processor.store.db import create_db_engine, session_scope
    from processor.store.models import MessageStatus
    from processor.store.results import message_ids

    engine = create_db_engine(settings.database.url)
    since = _parse_since(args.since) if args.since else None
    statuses = None if (args.all or since) else [MessageStatus.RECEIVED, MessageStatus.UNPARSEABLE,
                                                  MessageStatus.ERROR]
    counts: Counter[str] = Counter()
    after = 0
    while True:
        with session_scope(engine) as session:
            ids = message_ids(session, statuses=statuses, since=since, after_id=after, limit=500)
        if not ids:
            break
        for message_id in ids:
            outcome = process_message(engine, message_id, _fresh_attempts(settings))
            if outcome is not None:
                counts[outcome.kind or outcome.status] += 1
        after = ids[-1]
    for label, count in sorted(counts.items()):
        print(f"{count:8d}  {label}")
    print(f"{sum(counts.values()):8d}  reprocessed")
    return 0


def _fresh_attempts(settings: Settings) -> Settings:
    """A manual reprocess is a deliberate retry: do not let earlier crash counts skip the mail."""
    import dataclasses

    return dataclasses.replace(settings, processing=dataclasses.replace(settings.processing, max_attempts=10**9))


def _cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from processor.smtpauth import hash_password

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
    from processor.store.db import create_db_engine, readonly_grants

    engine = create_db_engine(settings.database.url)
    statements = readonly_grants(engine, args.role)
    if args.print:
        print(";\n".join(statements) + ";")
        return 0
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    print(f"role {args.role} can now read faxbounce's tables and views (and nothing else)")
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from processor.report import collect, render
    from processor.store.db import create_db_engine

    since = _parse_since(args.since)
    engine = create_db_engine(settings.database.url)
    sys.stdout.write(render(collect(engine, since), args.format, args.lang, since))
    return 0


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    found: list[CatalogueEntry] = [e for name in CATALOGUES if (e := lookup(name, args.key)) is not None]
    if not found:
        print(f"faxbounce: {args.key!r} is in no catalogue ({', '.join(CATALOGUES)})", file=sys.stderr)
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
