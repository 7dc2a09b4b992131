"""How often the generic delivery-report detector agrees with Sisimai over the shared bounce corpus.

Run: `.venv/bin/python bench/corpus_agreement.py [--corpus PATH] [--show-misses] [--dsn-only]`.

Every `bsd/*.eml` goes through `parse_mail` + `classify` (timed, single core). Each row of
`EXPECTED-sisimai.tsv` (file, 1-based index of the failed recipient in that mail) is compared with our
result at the same position: recipient agreement = we produced a result at that index, status and reason
agreement = same delivery status / reason word. Rows whose reason is `feedback` or `vacation` are not
bounces for us: they count separately and must give no result. `compare()` is imported by the tests.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from processor.detect import classify  # noqa: E402
from processor.detect.mailbounce import DeliveryReportDetector  # noqa: E402
from processor.parse import ParsedMail, parse_mail  # noqa: E402
from processor.reasons import Kind  # noqa: E402
from processor.records import Classification  # noqa: E402

__all__ = ["Agreement", "Row", "classify_corpus", "classify_dsn_only", "compare", "fax_claims", "read_expected"]

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "set-of-emails"
NOT_BOUNCES = frozenset({"feedback", "vacation"})
#: What classify() may call a corpus mail: every one is a mail bounce, a non-bounce or unrelated, never a fax.
NOT_FAX = frozenset({Kind.DSN, Kind.UNRELATED})


@dataclass(frozen=True, slots=True)
class Row:
    file: str
    index: int
    status: str
    reply: str
    reason: str


@dataclass(slots=True)
class Agreement:
    rows: int = 0
    recipient: int = 0
    status: int = 0
    reason: int = 0
    not_bounce_rows: int = 0
    not_bounce_ok: int = 0
    misses: list[str] = field(default_factory=list)

    def percent(self, count: int) -> float:
        return 100.0 * count / self.rows if self.rows else 0.0


def read_expected(corpus: Path) -> list[Row]:
    with (corpus / "EXPECTED-sisimai.tsv").open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return [
        Row(r["file"], int(r["index"]), r["deliverystatus"], r["replycode"], r["reason"])
        for r in csv.DictReader(lines, delimiter="\t")
    ]


def classify_dsn_only(mail: ParsedMail) -> Classification:
    """The generic detector alone, as `classify` would report it: agreement without the fax detectors' say."""
    detection = DeliveryReportDetector().detect(mail)
    if detection is None:
        return Classification(kind=Kind.UNRELATED)
    return Classification(kind=DeliveryReportDetector.kind, detected_by=DeliveryReportDetector.name,
                          results=detection.results)


def classify_corpus(
    corpus: Path, names: set[str] | None = None, errors: dict[str, str] | None = None, dsn_only: bool = False
) -> tuple[dict[str, Classification], float]:
    """Classification per `bsd/<file>` and the seconds spent parsing and classifying (reading excluded).

    A mail whose parse or classification raises counts as unclassified and is listed in `errors`, so that
    one broken detector (another stage's work in progress) does not hide every other figure.
    """
    paths = sorted((corpus / "bsd").glob("*.eml"))
    raws = {f"bsd/{p.name}": p.read_bytes() for p in paths if names is None or f"bsd/{p.name}" in names}
    results: dict[str, Classification] = {}
    run = classify_dsn_only if dsn_only else classify
    started = time.perf_counter()
    for name, raw in raws.items():
        try:
            results[name] = run(parse_mail(raw))
        except Exception as exc:  # noqa: BLE001 - reported below, never silently
            results[name] = Classification(kind=Kind.UNRELATED)
            if errors is not None:
                errors[name] = f"{type(exc).__name__}: {exc}"
    return results, time.perf_counter() - started


def compare(rows: list[Row], results: dict[str, Classification]) -> Agreement:
    """Row-by-row agreement between Sisimai's expectations and our classifications."""
    agreement = Agreement()
    for row in rows:
        got = results.get(row.file)
        ours = [r for r in got.results if r.vendor == "mail"] if got else []
        if row.reason in NOT_BOUNCES:
            agreement.not_bounce_rows += 1
            if not ours:
                agreement.not_bounce_ok += 1
            else:
                agreement.misses.append(f"{row.file}#{row.index}: not a bounce ({row.reason}) but got {ours[0].reason}")
            continue
        agreement.rows += 1
        if row.index > len(ours):
            agreement.misses.append(f"{row.file}#{row.index}: no result (want {row.status} {row.reason})")
            continue
        agreement.recipient += 1
        result = ours[row.index - 1]
        status_ok = result.smtp_status == row.status
        reason_ok = result.reason == row.reason
        agreement.status += status_ok
        agreement.reason += reason_ok
        if not (status_ok and reason_ok):
            message = (result.vendor_message or "")[:160]
            agreement.misses.append(
                f"{row.file}#{row.index}: got {result.smtp_status} {result.reason} want {row.status} {row.reason}"
                f" [{result.recipient}] {message}"
            )
    return agreement


def fax_claims(results: dict[str, Classification]) -> list[str]:
    """Corpus mails that a fax detector claimed (`file: kind by detector`): the corpus holds no fax mail."""
    return [f"{name}: {c.kind} by {c.detected_by}" for name, c in sorted(results.items()) if c.kind not in NOT_FAX]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--dsn-only", action="store_true", help="run the generic detector alone, not classify()")
    args = parser.parse_args(argv)
    rows = read_expected(args.corpus)
    errors: dict[str, str] = {}
    logging.getLogger("processor.detect").disabled = True  # failures are counted and shown once below
    results, seconds = classify_corpus(args.corpus, errors=errors, dsn_only=args.dsn_only)
    agreement = compare(rows, results)
    per_file: dict[str, int] = defaultdict(int)
    for row in rows:
        per_file[row.file] += 1
    extra = sum(
        1 for name, c in results.items()
        if name in per_file and len([r for r in c.results if r.vendor == "mail"]) > per_file[name]
    )
    if args.show_misses:
        for miss in agreement.misses:
            print(miss)
        print()
    n = agreement.rows
    if errors:
        print(f"mails that raised (counted as no result): {len(errors)}, e.g. {next(iter(errors.items()))}")
    print(f"rows compared: {n} (feedback/vacation rows excluded: {agreement.not_bounce_rows})")
    print(f"recipient agreement: {agreement.percent(agreement.recipient):.1f}% ({agreement.recipient}/{n})")
    print(f"status agreement:    {agreement.percent(agreement.status):.1f}% ({agreement.status}/{n})")
    print(f"reason agreement:    {agreement.percent(agreement.reason):.1f}% ({agreement.reason}/{n})")
    print(f"not-bounce rows with no result: {agreement.not_bounce_ok}/{agreement.not_bounce_rows}")
    print(f"mails with more results than Sisimai rows: {extra}")
    if not args.dsn_only:
        claims = fax_claims(results)
        print(f"fax detectors claiming any of the corpus bounces: {len(claims) or 'none'}"
              + (f", e.g. {'; '.join(claims[:3])}" if claims else ""))
    print(f"speed: {len(results)} mails in {seconds:.2f} s = {len(results) / seconds:.0f} mails/s (parse+classify)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
