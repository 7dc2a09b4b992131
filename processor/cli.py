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
from typing import TYPE_CHECKING

from processor import __version__
from processor.catalogues import CATALOGUES, CatalogueEntry, search
from processor.config import Settings, load_settings
from processor.errors import FaxbounceError, ParseError
from processor.logsetup import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from processor.ops.metrics import Check

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
        if args.log_format:
            import dataclasses

            settings = dataclasses.replace(settings, logging=dataclasses.replace(settings.logging,
                                                                                 format=args.log_format))
        configure_logging(args.log_level or settings.logging.level, settings.logging.format)
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
    parser.add_argument("--log-format", choices=("text", "json"),
                        help="text lines, or one JSON object per line (default: logging.format)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="listen for SMTP and process what arrives")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.add_argument("--revision", default="head", help="Alembic revision (default: head)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("ingest", help="store and process .eml files, mbox files, maildirs or IMAP folders")
    p.add_argument("paths", nargs="+", metavar="PATH_OR_URL",
                   help="file, mbox, maildir, directory, or imap[s]://user@host[:port]/FOLDER (read-only)")
    p.add_argument("--folder", help="IMAP folder for URLs that name none (default INBOX)")
    p.add_argument("--no-process", action="store_true", help="only store; the daemon's worker processes later")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("check", help="validate the configuration and run the health checks (exit 1 on failure)")
    p.add_argument("--offline", action="store_true",
                   help="do not ask the running daemon about its worker (config, database and backlog only)")
    p.add_argument("--json", action="store_true", help="print the health document as JSON")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("purge", help="drop raw mail bytes older than retention.raw_days (rows and results stay)")
    p.add_argument("--dry-run", action="store_true", help="only show what would be dropped")
    p.add_argument("--days", type=int, metavar="N", help="override retention.raw_days")
    p.set_defaults(func=_cmd_purge)

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

    p = sub.add_parser("explain", help="show the catalogue entries for a code, result line, label, message or reason")
    p.add_argument("key", metavar="CODE_OR_TEXT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_explain)
    return parser


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from processor.run.daemon import serve

    return serve(settings)


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from processor.store.db import create_db_engine, current_revision, migrate

    engine = create_db_engine(settings.database.url)
    migrate(engine, args.revision)
    print(f"database at revision {current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from processor.receive.ingest import IngestSourceError, Progress, format_summary, ingest, open_source, summary_rows
    from processor.run.pipeline import process_message
    from processor.store.db import create_db_engine

    engine = create_db_engine(settings.database.url)
    sources, failed, total = [], 0, 0
    for spec in args.paths:
        try:
            source = open_source(spec, args.folder)
            total += source.count()
        except IngestSourceError as exc:
            print(f"faxbounce: {exc}", file=sys.stderr)
            failed += 1
            continue
        sources.append(source)
    process = None if args.no_process else (lambda message_id: process_message(engine, message_id, settings))
    report = ingest(engine, sources, process=process, progress=Progress(total))
    for label, count in sorted(report.counts.items()):
        print(f"{count:8d}  {label}")
    if report.stored_ids and not args.no_process:
        print()
        print(format_summary(summary_rows(engine, report.stored_ids)))
    return 1 if failed or report.failed_sources else 0


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ops.metrics import Check, health_document, run_checks

    checks = [Check("config", True, f"valid ({settings.source})")]
    engine = _check_engine(settings, checks)
    if engine is not None:
        checks += run_checks(engine, settings.metrics)
        engine.dispose()
    if not args.offline:
        checks.append(_daemon_worker_check(settings))
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


def _daemon_worker_check(settings: Settings) -> Check:
    """The worker is a child of `faxbounce serve`: ask the daemon's /healthz whether it is alive."""
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
    worker = document.get("checks", {}).get("worker")
    if not isinstance(worker, dict):
        return Check("worker", False, f"{url} did not report a worker check")
    return Check("worker", bool(worker.get("ok")), f"{worker.get('detail', '')} (daemon at {url})")


def _cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from processor.ops.retention import purge_raw
    from processor.store.db import create_db_engine

    days = settings.retention.raw_days if args.days is None else args.days
    if days < 0:
        raise FaxbounceError("purge: --days must be 0 or more")
    if days == 0:
        print("retention.raw_days = 0: raw mail is kept forever, nothing to purge")
        return 0
    engine = create_db_engine(settings.database.url)
    report = purge_raw(engine, days, dry_run=args.dry_run)
    print(report.describe())
    return 0


def _cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from processor.run.pipeline import classify_bytes, trusted

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
    from processor.ops.report import collect, render
    from processor.store.db import create_db_engine

    since = _parse_since(args.since)
    engine = create_db_engine(settings.database.url)
    sys.stdout.write(render(collect(engine, since), args.format, args.lang, since))
    return 0


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
