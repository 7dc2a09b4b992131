"""Submission tracking, the SQL part: submission rows, matches, and the sweep for overdue results.

Every function works inside the caller's transaction and only ever recomputes a submission's state from
what is stored (`processor.tracking.rules.decide`), so running any of them twice, or after a restart, changes
nothing more.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.config import TrackingSettings
from processor.domains import is_domain_or_subdomain
from processor.records import Classification, FaxSubmission
from processor.store.columns import fit
from processor.store.mailrow import MailRow
from processor.store.models import (
    FaxMatchRow,
    FaxResultRow,
    FaxSubmissionRow,
    InboundMessage,
    SubmissionState,
    UTCDateTime,
)
from processor.tracking.rules import (
    CLOCK_SKEW,
    Confidence,
    Match,
    Method,
    ResultFacts,
    SubmissionFacts,
    TrackingRules,
    choose,
    decide,
    normalize_message_id,
    subject_key,
)

__all__ = [
    "Lookahead",
    "StoredResult",
    "correlate_results",
    "forget_submission",
    "may_match",
    "record_submission",
    "rules_from",
    "submissions_decided_by",
    "sweep",
    "track_classification",
    "track_results_of",
]

log = logging.getLogger(__name__)
_BATCH = 500
_MATCHES = FaxMatchRow.__table__
_RESULTS = FaxResultRow.__table__
_SUBMISSIONS = FaxSubmissionRow.__table__
# Statements run once per result, built once (building and hashing them cost more than running them).
_EVENT_KEY = sa.select(_RESULTS.c.event_key).where(_RESULTS.c.id == sa.bindparam("result_id"))
_TWINS = (sa.select(_MATCHES.c.submission_id, _MATCHES.c.method, _MATCHES.c.confidence,
                    _RESULTS.c.original_message_id, _RESULTS.c.original_subject)
          .join(_RESULTS, _RESULTS.c.id == _MATCHES.c.result_id)
          .where(_RESULTS.c.event_key == sa.bindparam("event_key"), _RESULTS.c.id != sa.bindparam("result_id"))
          .order_by(_MATCHES.c.submission_id))
_TOLD = (sa.select(_MATCHES.c.submission_id).join(_RESULTS, _RESULTS.c.id == _MATCHES.c.result_id)
         .where(_RESULTS.c.transaction_id == sa.bindparam("transaction_id"),
                _RESULTS.c.id != sa.bindparam("result_id")))
_ADD_MATCHES = sa.insert(_MATCHES)
def _lookahead_statement() -> sa.CompoundSelect:
    """What `Lookahead` reads, in one statement (one round trip, one statement's overhead): rows of (what,
    value, at) where `what` is `key` (an event key with a matched result), `transaction` (a transaction id
    with a matched result), `message_id` (a Message-ID some submission has) or `number` (a submission of
    the number in the window, with its time; at most `:limit`)."""
    def rows(what: str, value: Any, at: Any = None) -> list[Any]:
        return [sa.literal_column(f"'{what}'", sa.String).label("what"),
                sa.type_coerce(value, sa.String).label("value"),
                (at if at is not None else sa.cast(sa.null(), UTCDateTime())).label("at")]

    numbers = (sa.select(_SUBMISSIONS.c.fax_number, _SUBMISSIONS.c.submitted_at)
               .where(_SUBMISSIONS.c.fax_number.in_(sa.bindparam("numbers", expanding=True)),
                      _SUBMISSIONS.c.submitted_at >= sa.bindparam("low", type_=UTCDateTime()),
                      _SUBMISSIONS.c.submitted_at <= sa.bindparam("high", type_=UTCDateTime()))
               .limit(sa.bindparam("limit")).subquery())
    return sa.union_all(
        sa.select(*rows("key", _RESULTS.c.event_key)).distinct()
        .join_from(_RESULTS, _MATCHES, _MATCHES.c.result_id == _RESULTS.c.id)
        .where(_RESULTS.c.event_key.in_(sa.bindparam("keys", expanding=True))),
        sa.select(*rows("transaction", _RESULTS.c.transaction_id)).distinct()
        .join_from(_RESULTS, _MATCHES, _MATCHES.c.result_id == _RESULTS.c.id)
        .where(_RESULTS.c.transaction_id.in_(sa.bindparam("transactions", expanding=True))),
        sa.select(*rows("message_id", _SUBMISSIONS.c.message_id)).distinct()
        .where(_SUBMISSIONS.c.message_id.in_(sa.bindparam("message_ids", expanding=True))),
        sa.select(*rows("number", numbers.c.fax_number, numbers.c.submitted_at)),
    )


_LOOKAHEAD = _lookahead_statement()
_RESOLVED = (SubmissionState.DELIVERED, SubmissionState.FAILED)


def rules_from(settings: TrackingSettings) -> TrackingRules:
    return TrackingRules(
        result_timeout=timedelta(seconds=settings.result_timeout),
        credit_hold_timeout=timedelta(seconds=settings.credit_hold_timeout),
        notifications=settings.notifications,
    )


def submissions_decided_by(session: Session, message_id: int) -> list[int]:
    """Submissions tied to this mail's results: read before the results are replaced, recomputed after."""
    return list(session.scalars(
        sa.select(FaxMatchRow.submission_id).join(FaxResultRow, FaxResultRow.id == FaxMatchRow.result_id)
        .where(FaxResultRow.inbound_message_id == message_id).distinct()))


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One result row just written, as correlation reads it: what the caller knows without reading it back."""

    facts: ResultFacts
    kind: str
    event_key: str | None


class Lookahead:
    """What a run of first-time result mails may correlate with, read once for the whole run (issue #12).

    Correlating one result reads up to three things: the matches of other copies of its event (`event_key`),
    the submissions that results with its transaction id are tied to, and the submissions it may belong to.
    Most results have none of them. Before a run of result mails is recorded, one statement reads which of
    the run's event keys and transaction ids have a matched result already, and the submissions the run's
    numbers and Message-IDs may find; a result that can find nothing then skips its look-ups, and every other
    one runs them as before, against what is stored at that moment. Only correlation changes what was read
    during such a run, and it tells the lookahead (`matched`); a submission mail, or a mail processed again,
    ends the run (it may add or remove submissions and matches)."""

    _LIMIT = 1000
    _SLACK = timedelta(seconds=1)
    """Times compared here are compared in SQL again; a margin makes sure no look-up is skipped wrongly."""

    def __init__(self, session: Session, results: Sequence[StoredResult], settings: TrackingSettings) -> None:
        window = timedelta(seconds=settings.match_window)
        keys = sorted({r.event_key for r in results if r.event_key})
        transactions = sorted({r.facts.transaction_id for r in results if r.facts.transaction_id})
        message_ids = sorted({m for r in results if (m := normalize_message_id(r.facts.original_message_id))})
        numbered = [r.facts for r in results if r.facts.fax_number]
        self.low = min((f.reference_time - window for f in numbered), default=None)
        self.high = max((f.reference_time + CLOCK_SKEW for f in numbered), default=None)
        found: dict[str, list[tuple[str, datetime | None]]] = {"key": [], "transaction": [], "message_id": [],
                                                                "number": []}
        # A Core statement, read under the caller's no_autoflush: on the connection, not through the ORM.
        for row in session.connection().execute(_LOOKAHEAD, {
                "keys": keys, "transactions": transactions, "message_ids": message_ids,
                "numbers": sorted({f.fax_number for f in numbered}),
                "low": self.low - self._SLACK if self.low is not None else None,
                "high": self.high + self._SLACK if self.high is not None else None, "limit": self._LIMIT + 1}):
            found[row.what].append((row.value, row.at))
        self.event_keys: set[str] = {value for value, _at in found["key"]}
        self.transactions: set[str] = {value for value, _at in found["transaction"]}
        self.message_ids: set[str] = {value for value, _at in found["message_id"]}
        self.submitted: dict[str, list[datetime]] | None = {}
        if len(found["number"]) > self._LIMIT:
            self.submitted = None  # too many to hold: every result looks its candidates up
        else:
            for number, at in found["number"]:
                self.submitted.setdefault(number, []).append(_aware(at))  # type: ignore[arg-type]

    def may_twin(self, key: str | None) -> bool:
        return key is not None and key in self.event_keys

    def may_be_told(self, transaction_id: str | None) -> bool:
        return bool(transaction_id) and transaction_id in self.transactions

    def may_have_candidates(self, result: ResultFacts, told: set[int], window: timedelta) -> bool:
        if told or normalize_message_id(result.original_message_id) in self.message_ids:
            return True
        if not result.fax_number:
            return False
        since, until = result.reference_time - window, result.reference_time + CLOCK_SKEW
        if self.submitted is None or self.low is None or self.high is None or since < self.low or until > self.high:
            return True  # not read for this range: look
        return any(since - self._SLACK <= at <= until + self._SLACK
                   for at in self.submitted.get(result.fax_number, ()))

    def matched(self, key: str | None, transaction_id: str | None) -> None:
        """A result with this key and transaction id was just tied to a submission."""
        if key:
            self.event_keys.add(key)
        if transaction_id:
            self.transactions.add(transaction_id)


def track_classification(session: Session, message: InboundMessage | MailRow, classification: Classification,
                         settings: TrackingSettings, affected: Sequence[int] = (),
                         now: datetime | None = None, first_time: bool = False,
                         stored: Sequence[StoredResult] | None = None, lookahead: Lookahead | None = None) -> None:
    """The pipeline's hook, in the transaction that stored the classification. `affected`: what
    `submissions_decided_by` said before the mail's old results were deleted. `first_time`: the mail was
    never processed before, so it has no submission rows or matches to undo (the common case, and cheaper).
    `stored`: the mail's result rows as just written (in id order), so they need not be read back;
    `lookahead`: what the run of result mails this one belongs to may correlate with (see `Lookahead`)."""
    if classification.submission is not None:
        record_submission(session, message, classification.submission, settings, now)
    elif first_time:
        if may_match(classification, settings):
            if stored is None:
                track_results_of(session, message.id, settings, now, fresh=True)
            else:
                _correlate(session, [(s.facts, s.kind) for s in stored], settings, now, fresh=True,
                           event_keys={s.facts.id: s.event_key for s in stored}, lookahead=lookahead)
    else:
        forget_submission(session, message.id, settings, now)
        track_results_of(session, message.id, settings, now)
    _recompute(session, list(affected), settings, now)


def record_submission(session: Session, message: InboundMessage | MailRow, submission: FaxSubmission,
                      settings: TrackingSettings, now: datetime | None = None) -> list[int]:
    """Store one row per destination (idempotent: a reprocessed mail keeps its rows and their ids), then tie
    results that arrived before this copy (late BCC copies) to them. Returns the rows' ids."""
    now = now or datetime.now(UTC)
    received = _aware(message.received_at)
    submitted = submission.submitted_at
    window = timedelta(seconds=settings.match_window)
    if submitted is None or submitted > received + CLOCK_SKEW:
        submitted = received  # no Date, or one in the future: when the copy arrived
    submitted = submitted.astimezone(UTC)
    existing = {row.recipient: row for row in session.scalars(
        sa.select(FaxSubmissionRow).where(FaxSubmissionRow.inbound_message_id == message.id)
        .execution_options(populate_existing=True))}
    wanted = {fit(FaxSubmissionRow.recipient, d.recipient) or "": d for d in submission.destinations}
    for recipient, row in existing.items():
        if recipient not in wanted:
            session.delete(row)
    rows: list[FaxSubmissionRow] = []
    for recipient, destination in wanted.items():
        row = existing.get(recipient)
        if row is None:
            row = FaxSubmissionRow(inbound_message_id=message.id, recipient=recipient, state=SubmissionState.SUBMITTED,
                                   state_at=submitted, created_at=now)
            session.add(row)
        row.message_id = fit(FaxSubmissionRow.message_id, submission.message_id)
        row.sender = fit(FaxSubmissionRow.sender, submission.sender)
        row.return_path = fit(FaxSubmissionRow.return_path, submission.return_path or message.mail_from or None)
        row.subject = fit(FaxSubmissionRow.subject, submission.subject)
        row.subject_base = fit(FaxSubmissionRow.subject_base, submission.subject_base)
        row.fax_number = destination.fax_number
        row.fax_number_raw = fit(FaxSubmissionRow.fax_number_raw, destination.fax_number_raw)
        row.found_in = destination.source
        row.submitted_at = submitted
        rows.append(row)
    session.flush()
    ids = [row.id for row in rows]
    numbers = sorted({row.fax_number for row in rows if row.fax_number})
    orphans = _unmatched_results(session, message_id=submission.message_id, numbers=numbers,
                                 since=submitted - CLOCK_SKEW, until=submitted + window + CLOCK_SKEW)
    correlate_results(session, orphans, settings, now)
    _recompute(session, ids, settings, now)
    return ids


def forget_submission(session: Session, message_id: int, settings: TrackingSettings,
                      now: datetime | None = None) -> None:
    """A mail that is no longer a submission (reprocessed under other settings): drop its rows and give
    the results they had to whatever else they match."""
    ids = list(session.scalars(sa.select(FaxSubmissionRow.id).where(FaxSubmissionRow.inbound_message_id == message_id)))
    if not ids:
        return
    results = list(session.scalars(sa.select(FaxMatchRow.result_id).where(FaxMatchRow.submission_id.in_(ids))))
    session.execute(sa.delete(FaxSubmissionRow).where(FaxSubmissionRow.id.in_(ids)))
    correlate_results(session, results, settings, now)


def track_results_of(session: Session, message_id: int, settings: TrackingSettings,
                     now: datetime | None = None, fresh: bool = False) -> None:
    """After a result or bounce mail was (re)classified: tie its results to their submissions."""
    session.flush()
    result_ids = list(session.scalars(
        sa.select(FaxResultRow.id).where(FaxResultRow.inbound_message_id == message_id).order_by(FaxResultRow.id)))
    correlate_results(session, result_ids, settings, now, fresh=fresh)


def correlate_results(session: Session, result_ids: Iterable[int], settings: TrackingSettings,
                      now: datetime | None = None, fresh: bool = False) -> int:
    """Tie each result to its submission destination(s); returns how many matches were made. `fresh`:
    the results were just inserted, so none can be matched already."""
    return _correlate(session, _result_facts(session, list(result_ids)), settings, now, fresh=fresh)


def _correlate(session: Session, results: Sequence[tuple[ResultFacts, str]], settings: TrackingSettings,
               now: datetime | None = None, fresh: bool = False,
               event_keys: Mapping[int, str | None] | None = None, lookahead: Lookahead | None = None) -> int:
    """`correlate_results` for results already read (ordered by their mail's arrival, then id); `event_keys`:
    their `event_key`s, when known (else each is read); `lookahead`: which look-ups can find nothing."""
    now = now or datetime.now(UTC)
    window = timedelta(seconds=settings.match_window)
    domains = tuple(d.lower() for d in settings.fax_domains)
    made = 0
    for facts, kind in results:
        if kind == "dsn" and not _at_fax_domain(facts.recipient, domains):
            continue  # a mail-level report about an ordinary mailbox is not about a fax
        if not fresh and session.scalar(sa.select(sa.func.count()).select_from(_MATCHES)
                                        .where(_MATCHES.c.result_id == facts.id)):
            continue
        key = event_keys[facts.id] if event_keys is not None else _event_key(session, facts.id)
        matches = _twin_matches(session, facts, key) if lookahead is None or lookahead.may_twin(key) else None
        if matches is None:
            matches = choose(facts, _candidates(session, facts, window, lookahead), window)
        if matches:
            session.execute(_ADD_MATCHES, [
                {"result_id": facts.id, "submission_id": match.submission_id, "method": str(match.method),
                 "confidence": str(match.confidence), "matched_at": now} for match in matches])
            made += len(matches)
            if lookahead is not None:
                lookahead.matched(key, facts.transaction_id)
            _recompute(session, [m.submission_id for m in matches], settings, now)
    return made


def sweep(session: Session, settings: TrackingSettings, now: datetime | None = None,
          on_swept: Callable[[Session, list[int]], object] | None = None) -> int:
    """Give overdue faxes their state (`no_result`, or `delivered` under `failure_only`); returns how many
    rows changed. Only the ids of open rows past a deadline are read; they are recomputed in batches.
    `on_swept(session, ids)` sees each batch after its recompute, in the same transaction (the outbox writes
    `fax.no_result` there)."""
    now = now or datetime.now(UTC)
    rules = rules_from(settings)
    shortest = min(rules.result_timeout, rules.credit_hold_timeout)
    # The overdue ids of each deadline from its own index, (state, submitted_at) and (state, state_at): open
    # faxes are few whatever the history. An OR of both under ORDER BY id LIMIT read every submission ever
    # stored in id order (40 ms a sweep at 125,000), as did a UNION of the two (SQLite merges its branches in id
    # order, so it walked the primary key).
    overdue = {*session.scalars(sa.select(_SUBMISSIONS.c.id).where(
                   _SUBMISSIONS.c.state == SubmissionState.SUBMITTED,
                   _SUBMISSIONS.c.submitted_at <= now - rules.result_timeout)),
               *session.scalars(sa.select(_SUBMISSIONS.c.id).where(
                   _SUBMISSIONS.c.state == SubmissionState.PENDING,
                   _SUBMISSIONS.c.state_at <= now - shortest))}
    ordered = sorted(overdue)
    changed = 0
    for start in range(0, len(ordered), _BATCH):
        ids = ordered[start:start + _BATCH]
        changed += _recompute(session, ids, settings, now)
        if on_swept is not None:
            on_swept(session, ids)
    if changed:
        log.info("tracking sweep: %d fax(es) changed state", changed)
    return changed


def _recompute(session: Session, submission_ids: Sequence[int], settings: TrackingSettings,
               now: datetime | None = None) -> int:
    """Apply `decide` to these rows; returns how many changed."""
    if not submission_ids:
        return 0
    now = now or datetime.now(UTC)
    rules = rules_from(settings)
    changed = 0
    for start in range(0, len(submission_ids), _BATCH):
        chunk = list(dict.fromkeys(submission_ids[start:start + _BATCH]))
        rows = list(session.scalars(sa.select(FaxSubmissionRow).where(FaxSubmissionRow.id.in_(chunk))
                                    .execution_options(populate_existing=True)))
        matched: dict[int, list[tuple[ResultFacts, Match]]] = {row.id: [] for row in rows}
        links = session.execute(sa.select(FaxMatchRow.submission_id, FaxMatchRow.result_id, FaxMatchRow.method,
                                          FaxMatchRow.confidence).where(FaxMatchRow.submission_id.in_(chunk))).all()
        facts = {f.id: f for f, _ in _result_facts(session, [link.result_id for link in links])}
        for link in links:
            if link.result_id in facts:
                match = Match(link.submission_id, Method(link.method), Confidence(link.confidence))
                matched[link.submission_id].append((facts[link.result_id], match))
        for row in rows:
            decision = decide(_aware(row.submitted_at), matched[row.id], now, rules)
            told = [f for f, _ in sorted(matched[row.id], key=lambda fm: (fm[0].at, fm[0].id)) if f.transaction_id]
            values = {
                "transaction_id": told[-1].transaction_id[:128] if told else None,
                "state": str(decision.state), "state_at": decision.state_at,
                "reason": str(decision.reason) if decision.reason else None,
                "result_id": decision.result_id,
                "match_method": str(decision.method) if decision.method else None,
                "match_confidence": str(decision.confidence) if decision.confidence else None,
                "note_ja": decision.note_ja, "note_en": decision.note_en,
            }
            current = {name: getattr(row, name) for name in values}
            current["state_at"] = _aware(row.state_at)
            if current != values:
                for name, value in values.items():
                    setattr(row, name, value)
                changed += 1
    session.flush()
    return changed


def _result_facts(session: Session, result_ids: list[int]) -> list[tuple[ResultFacts, str]]:
    facts: list[tuple[ResultFacts, str]] = []
    for start in range(0, len(result_ids), _BATCH):
        chunk = result_ids[start:start + _BATCH]
        rows = session.execute(
            sa.select(FaxResultRow.id, FaxResultRow.kind, FaxResultRow.outcome, FaxResultRow.reason,
                      FaxResultRow.occurred_at, FaxResultRow.fax_number, FaxResultRow.recipient,
                      FaxResultRow.transaction_id, FaxResultRow.original_message_id, FaxResultRow.original_subject,
                      FaxResultRow.submitted_at, InboundMessage.received_at)
            .join(InboundMessage, InboundMessage.id == FaxResultRow.inbound_message_id)
            .where(FaxResultRow.id.in_(chunk)).order_by(InboundMessage.received_at, FaxResultRow.id)).all()
        for row in rows:
            received = _aware(row.received_at)
            facts.append((ResultFacts(
                id=row.id, outcome=row.outcome, reason=row.reason, at=_aware(row.occurred_at) or received,
                fax_number=row.fax_number, recipient=row.recipient, transaction_id=row.transaction_id,
                original_message_id=row.original_message_id, original_subject=row.original_subject,
                submitted_at=_aware(row.submitted_at)), row.kind))
    return facts


def _event_key(session: Session, result_id: int) -> str | None:
    return session.scalar(_EVENT_KEY, {"result_id": result_id})


def _twin_matches(session: Session, facts: ResultFacts, key: str | None) -> list[Match] | None:
    """The matches of another copy of the same fax event (same `event_key`: a forward and the original, one
    notice in two mailboxes), which this copy shares; None when no other copy is matched. Without this, a second
    copy would pass over the submission the first one decided and take the next open one to the same number.

    Without a transaction id the key is the number, the code and the second the fax was sent: two faxes to one
    number in one second share it. Copies of one notice also name the same original mail and subject, so a
    result that names another Message-ID or subject than the other copy is another fax, matched on its own."""
    if key is None:
        return None
    rows = session.execute(_TWINS, {"event_key": key, "result_id": facts.id}).all()
    message_id, subject = normalize_message_id(facts.original_message_id), subject_key(facts.original_subject)
    matches = {row.submission_id: Match(row.submission_id, Method(row.method), Confidence(row.confidence))
               for row in rows if _same_original(row, message_id, subject)}
    return list(matches.values()) or None


def _same_original(twin: sa.Row[Any], message_id: str | None, subject: str) -> bool:
    """Whether another copy names the original mail this result names, as far as both name it."""
    other_id = normalize_message_id(twin.original_message_id)
    if message_id and other_id and message_id != other_id:
        return False
    other_subject = subject_key(twin.original_subject)
    return not (subject and other_subject and subject != other_subject)


def _candidates(session: Session, result: ResultFacts, window: timedelta,
                lookahead: Lookahead | None = None) -> list[SubmissionFacts]:
    reference = result.reference_time
    message_id = normalize_message_id(result.original_message_id)
    told: set[int] = set()
    if result.transaction_id and (lookahead is None or lookahead.may_be_told(result.transaction_id)):
        # Known only from results already tied to a submission (never from this result itself, so a
        # reprocessed result is matched by the same evidence as the first time).
        told = set(session.scalars(_TOLD, {"transaction_id": result.transaction_id, "result_id": result.id}))
    shape = (bool(message_id), bool(told), bool(result.fax_number))
    if not any(shape) or (lookahead is not None and not lookahead.may_have_candidates(result, told, window)):
        return []
    other = bool(result.fax_number and result.transaction_id)
    rows = session.execute(_candidates_query(shape, other), {
        "message_id": message_id, "told": sorted(told), "fax_number": result.fax_number,
        "since": reference - window, "until": reference + CLOCK_SKEW,
        "transaction_id": result.transaction_id}).all()
    return [SubmissionFacts(
        id=row.id, submitted_at=_aware(row.submitted_at), fax_number=row.fax_number, recipient=row.recipient,
        message_id=row.message_id, subject_base=row.subject_base,
        transaction_id=result.transaction_id if row.id in told else None,
        resolved=row.state in _RESOLVED and row.result_id is not None,
        other_transaction=bool(other and row.other_transaction)) for row in rows]


#: A submission tied to a result of another transaction: another fax (a held one, say), whatever its state.
_OTHER_TRANSACTION = sa.exists().where(
    _MATCHES.c.submission_id == _SUBMISSIONS.c.id, _RESULTS.c.id == _MATCHES.c.result_id,
    _RESULTS.c.transaction_id.is_not(None), _RESULTS.c.transaction_id != sa.bindparam("transaction_id"))


@functools.cache
def _candidates_query(shape: tuple[bool, bool, bool], other: bool = False) -> sa.Select[Any]:
    """The submissions a result may belong to: the same Message-ID, the submissions results with the same
    transaction id are tied to, and the same number within the window (each when the result has it); with
    `other`, whether each is tied to a result of another transaction id already."""
    by_message_id, by_told, by_number = shape
    conditions = []
    if by_message_id:
        conditions.append(_SUBMISSIONS.c.message_id == sa.bindparam("message_id"))
    if by_told:
        conditions.append(_SUBMISSIONS.c.id.in_(sa.bindparam("told", expanding=True)))
    if by_number:
        conditions.append(sa.and_(_SUBMISSIONS.c.fax_number == sa.bindparam("fax_number"),
                                  _SUBMISSIONS.c.submitted_at >= sa.bindparam("since", type_=UTCDateTime()),
                                  _SUBMISSIONS.c.submitted_at <= sa.bindparam("until", type_=UTCDateTime())))
    flag = _OTHER_TRANSACTION if other else sa.false()
    return (sa.select(_SUBMISSIONS.c.id, _SUBMISSIONS.c.submitted_at, _SUBMISSIONS.c.fax_number,
                      _SUBMISSIONS.c.recipient, _SUBMISSIONS.c.message_id, _SUBMISSIONS.c.subject_base,
                      _SUBMISSIONS.c.state, _SUBMISSIONS.c.result_id, flag.label("other_transaction"))
            .where(sa.or_(*conditions)).order_by(_SUBMISSIONS.c.submitted_at, _SUBMISSIONS.c.id).limit(_BATCH))


def _unmatched_results(session: Session, *, message_id: str | None, numbers: Sequence[str], since: datetime,
                       until: datetime) -> list[int]:
    conditions = []
    if message_id:
        conditions.append(FaxResultRow.original_message_id.in_(_message_id_forms(message_id)))
    if numbers:
        reference = sa.func.coalesce(FaxResultRow.submitted_at, FaxResultRow.occurred_at, InboundMessage.received_at)
        conditions.append(sa.and_(FaxResultRow.fax_number.in_(list(numbers)),
                                  reference >= since, reference <= until))
    if not conditions:
        return []
    unmatched = ~sa.exists().where(FaxMatchRow.result_id == FaxResultRow.id)
    return list(session.scalars(
        sa.select(FaxResultRow.id).join(InboundMessage, InboundMessage.id == FaxResultRow.inbound_message_id)
        .where(sa.or_(*conditions), unmatched).order_by(InboundMessage.received_at, FaxResultRow.id)
        .limit(_BATCH)))


def _message_id_forms(message_id: str) -> list[str]:
    core = message_id.strip("<>")
    return [message_id, core]


def may_match(classification: Classification, settings: TrackingSettings) -> bool:
    """Whether any result could belong to a submission (the test correlate_results applies, in memory):
    most delivery reports are about ordinary mailboxes and need no look-up at all."""
    if classification.kind != "dsn":
        return bool(classification.results)
    domains = tuple(d.lower() for d in settings.fax_domains)
    return any(_at_fax_domain(r.recipient, domains) for r in classification.results)


def _at_fax_domain(address: str | None, domains: Sequence[str]) -> bool:
    return is_domain_or_subdomain((address or "").rpartition("@")[2].rstrip(">"), domains)


def _aware(value: datetime | None) -> datetime | None:  # type: ignore[return]
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
