"""The number stop list, the SQL part: verdict rows kept up to date, manual blocks, and the list.

`number_verdicts` is derived data: `refresh_numbers` recomputes a number's row from every result stored about
it (`processor.notify.stoplist.decide_number`) in the caller's transaction, so the pipeline keeps it current
with each result and running it again changes nothing. `number_blocks` holds the operators' blocks, which no
reprocessing touches. People and programs read the view `number_stoplist`, which joins the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.config import NumberSettings
from processor.notify.display import national
from processor.notify.stoplist import NumberEvent, NumberVerdict, Verdict, decide_number
from processor.store.models import (
    FaxMatchRow,
    FaxResultRow,
    NumberBlockRow,
    NumberVerdictRow,
    UTCDateTime,
)
from processor.tracking.rules import NUMBER_REASONS

__all__ = [
    "STOPLIST_COLUMNS",
    "VerdictChange",
    "backfill_numbers",
    "block_number",
    "dialect_insert",
    "list_numbers",
    "refresh_numbers",
    "refresh_open_verdicts",
    "unblock_number",
]

STOPLIST_COLUMNS = ("fax_number", "national", "verdict", "reason", "failures", "last_failure_at",
                    "last_delivered_at", "blocked", "note")
"""The columns of the view `number_stoplist` and the keys of `faxbounce numbers list --json`."""
_BATCH = 500
_COMPARED = ("national", "verdict", "reason", "failures", "last_failure_at", "last_delivered_at")


@dataclass(frozen=True, slots=True)
class VerdictChange:
    fax_number: str
    before: str | None
    """The verdict before (None: the number had no row)."""
    after: NumberVerdict


def dialect_insert(session: Session, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def refresh_numbers(session: Session, numbers: Iterable[str | None], rules: NumberSettings, country: str = "JP",
                    now: datetime | None = None, flush: bool = True) -> list[VerdictChange]:
    """Recompute the verdict rows of these numbers; returns every row whose verdict changed. `flush=False`:
    the caller wrote its results with statements, so there is nothing to flush first."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return []
    now = now or datetime.now(UTC)
    if flush:
        session.flush()
    changes: list[VerdictChange] = []
    table = NumberVerdictRow.__table__
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start:start + _BATCH]
        states = _states(session, chunk)
        events = _events(session, states, now, rules)
        writes: list[dict[str, Any]] = []
        for number in chunk:
            state = states[number]
            verdict = decide_number(events.get(number, ()), now, rules, blocked=state.blocked)
            values = {"national": national(number, country), "verdict": str(verdict.verdict),
                      "reason": verdict.reason, "failures": verdict.failures,
                      "last_failure_at": verdict.last_failure_at, "last_delivered_at": verdict.last_delivered_at}
            old = state.stored
            if old is not None and all(_same(old[name], values[name]) for name in _COMPARED):
                continue  # unchanged: no write (the periodic look at open verdicts stays cheap)
            writes.append({"fax_number": number, **values, "updated_at": now})
            if old is None or old["verdict"] != verdict.verdict:
                changes.append(VerdictChange(number, old["verdict"] if old is not None else None, verdict))
        if writes:  # one statement for the chunk's changed rows
            statement = dialect_insert(session, table)
            session.connection().execute(statement.on_conflict_do_update(
                index_elements=["fax_number"],
                set_={name: statement.excluded[name] for name in (*_COMPARED, "updated_at")}), writes)
    return changes


def _same(stored: Any, value: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(value, datetime):
        stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
        return stored == value
    return bool(stored == value)


def refresh_open_verdicts(session: Session, rules: NumberSettings, country: str = "JP",
                          now: datetime | None = None) -> list[VerdictChange]:
    """Numbers whose verdict is not `ok` may turn `ok` with time alone (failures age out): look again."""
    numbers = list(session.scalars(sa.select(NumberVerdictRow.fax_number)
                                   .where(NumberVerdictRow.verdict != str(Verdict.OK))))
    return refresh_numbers(session, numbers, rules, country, now)


def backfill_numbers(session: Session, rules: NumberSettings, country: str = "JP", now: datetime | None = None,
                     limit: int = 5000) -> list[VerdictChange]:
    """Give a row to numbers that have results but none yet (results stored before revision 0006)."""
    missing = list(session.scalars(
        sa.select(FaxResultRow.fax_number).distinct()
        .where(FaxResultRow.fax_number.is_not(None), FaxResultRow.kind != "dsn",
               ~sa.exists().where(NumberVerdictRow.fax_number == FaxResultRow.fax_number))
        .limit(limit)))
    return refresh_numbers(session, missing, rules, country, now)


def block_number(session: Session, fax_number: str, note: str | None, rules: NumberSettings, country: str = "JP",
                 now: datetime | None = None) -> list[VerdictChange]:
    """Block a number by hand (its verdict is `stop` from now on); blocking again replaces the note."""
    now = now or datetime.now(UTC)
    values = {"note": note, "blocked_at": now}
    statement = dialect_insert(session, NumberBlockRow.__table__).values(fax_number=fax_number, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["fax_number"], set_=values))
    return refresh_numbers(session, [fax_number], rules, country, now)


def unblock_number(session: Session, fax_number: str, rules: NumberSettings, country: str = "JP",
                   now: datetime | None = None) -> bool:
    """Remove a manual block; the results decide the verdict again. False when the number was not blocked."""
    removed = session.execute(sa.delete(NumberBlockRow).where(NumberBlockRow.fax_number == fax_number)).rowcount
    refresh_numbers(session, [fax_number], rules, country, now)
    return bool(removed)


_STOPLIST = sa.text(
    "SELECT fax_number, national, verdict, reason, failures, last_failure_at, last_delivered_at, blocked, note "
    "FROM number_stoplist WHERE (:verdict IS NULL OR verdict = :verdict) "
    "ORDER BY CASE verdict WHEN 'stop' THEN 0 WHEN 'check' THEN 1 ELSE 2 END, last_failure_at DESC, fax_number"
).columns(last_failure_at=UTCDateTime(), last_delivered_at=UTCDateTime(), blocked=sa.Boolean())


def list_numbers(session: Session, verdict: str | None = None) -> list[dict[str, Any]]:
    """The stop list as the view has it (stop first, then check, then ok), optionally one verdict only."""
    rows = session.execute(_STOPLIST.bindparams(sa.bindparam("verdict", type_=sa.String())), {"verdict": verdict})
    return [{**row._asdict(), "blocked": bool(row.blocked)} for row in rows]


def _events(session: Session, states: dict[str, _NumberState], now: datetime,
            rules: NumberSettings) -> dict[str, list[NumberEvent]]:
    """What the rules need about these numbers, read without walking their history: each number's latest
    delivery and latest failure (`_states`), and of the failures that can still count (after the latest
    delivery, younger than decay_days) the latest result of each fax event. A number faxed every day for years
    has thousands of results, and this runs for every batch of results about it, so its cost must not grow
    with them."""
    decay_cut = now - timedelta(days=rules.decay_days)
    transient_cut = now - timedelta(days=rules.transient_window_days)
    events: dict[str, list[NumberEvent]] = {}
    for number, state in states.items():
        delivered, failed = state.delivered, state.failed
        if delivered is None and failed is None:
            continue
        found = events[number] = []
        if delivered is not None:
            found.append(NumberEvent("delivery", delivered, "delivered", "delivered", None))
        if failed is None:
            continue
        # The latest failure, for last_failure_at (no reason, not retryable: it counts in no class itself).
        found.append(NumberEvent("latest", failed, "failed", "", None))
        bound = max(decay_cut, delivered or decay_cut)
        if failed > bound:
            rows = session.connection().execute(_COUNTING, {"number": number, "bound": bound,
                                                            "transient_cut": transient_cut})
            found.extend(NumberEvent(
                event=fax_event_key(row.id, number, row.submission_id, row.vendor, row.transaction_id,
                                    row.original_message_id),
                at=_utc(row.at), outcome="failed", reason=row.reason, retryable=row.retryable) for row in rows)
    return events


def _counting_failures() -> Any:
    """The failures of `:number` after `:bound` that count in a class of `decide_number` (a number failure, or a
    transient one after `:transient_cut`), the latest result of each class and fax event, in id order.

    Rows are grouped by the raw parts of `fax_event_key` (where all are empty, each result is its own event),
    which is never coarser than the key, so what `decide_number` keeps of each event is among them. They come
    from the range `(fax_number, outcome, happened_at)` of the index, dated and undated alike (revision 0009)."""
    submission = (sa.select(sa.func.min(FaxMatchRow.submission_id)).where(FaxMatchRow.result_id == FaxResultRow.id)
                  .scalar_subquery())
    candidates = (sa.select(FaxResultRow.id, FaxResultRow.reason, FaxResultRow.retryable, FaxResultRow.vendor,
                            FaxResultRow.transaction_id, FaxResultRow.original_message_id,
                            submission.label("submission_id"), FaxResultRow.happened_at.label("at"))
                  .where(FaxResultRow.fax_number == sa.bindparam("number"), FaxResultRow.outcome == "failed",
                         FaxResultRow.happened_at > sa.bindparam("bound"), FaxResultRow.kind != "dsn")
                  .subquery())
    c = candidates.c
    kind = sa.case((c.reason.in_(sorted(NUMBER_REASONS)), "number"),
                   (sa.and_(c.retryable.is_(True), c.at > sa.bindparam("transient_cut")), "transient"))
    transaction, original = sa.func.nullif(c.transaction_id, ""), sa.func.nullif(c.original_message_id, "")
    alone = sa.case((sa.and_(c.submission_id.is_(None), transaction.is_(None), original.is_(None)), c.id))
    ranked = sa.select(c, sa.func.row_number().over(
        partition_by=(kind, c.submission_id, c.vendor, transaction, original, alone),
        order_by=(c.at.desc(), c.id.desc())).label("rank")).where(kind.is_not(None)).subquery()
    return (sa.select(ranked.c.id, ranked.c.reason, ranked.c.retryable, ranked.c.vendor, ranked.c.transaction_id,
                      ranked.c.original_message_id, ranked.c.submission_id,
                      sa.type_coerce(ranked.c.at, UTCDateTime()).label("at"))
            .where(ranked.c.rank == 1).order_by(ranked.c.id))


_COUNTING = _counting_failures()


@dataclass(frozen=True, slots=True)
class _NumberState:
    """What a number's refresh starts from, read in one statement (`_states`)."""

    delivered: datetime | None
    """The latest delivery (a dated result's time, or an undated one's arrival)."""
    failed: datetime | None
    """The latest failure, likewise (mail bounces, kind `dsn`, are no fax's failure)."""
    blocked: bool
    """An operator blocked the number (`number_blocks`)."""
    stored: dict[str, Any] | None
    """Its row in `number_verdicts` as stored (the `_COMPARED` columns), None: it has none."""


def _states(session: Session, numbers: Sequence[str]) -> dict[str, _NumberState]:
    """Each number's latest delivery and latest failure, from the end of the index (fax_number, outcome,
    happened_at), whether it is blocked, and its verdict row as stored. One statement for all the numbers,
    whose shape does not depend on how many there are (they come as one JSON or array value), so it is
    compiled once and costs one round trip: it runs in the transaction that records each mail."""
    dialect = session.get_bind().dialect.name
    wanted: Any = list(numbers) if dialect == "postgresql" else json.dumps(list(numbers))
    states: dict[str, _NumberState] = {}
    for row in session.connection().execute(_states_statement(dialect), {"numbers": wanted}):
        stored = {name: getattr(row, name) for name in _COMPARED} if row.verdict is not None else None
        states[row.fax_number] = _NumberState(_utc(row.delivered), _utc(row.failed), bool(row.blocked), stored)
    return states


@cache
def _states_statement(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        wanted = (sa.func.unnest(sa.bindparam("numbers", type_=ARRAY(sa.String))).table_valued("fax_number")
                  .render_derived(name="wanted"))
        number = wanted.c.fax_number
    else:  # SQLite: the rows of a JSON array
        wanted = sa.func.json_each(sa.bindparam("numbers", type_=sa.String)).table_valued("value")
        number = wanted.c.value
    columns = []
    for outcome in ("delivered", "failed"):
        latest = (sa.select(FaxResultRow.happened_at)
                  .where(FaxResultRow.fax_number == number, FaxResultRow.outcome == outcome,
                         FaxResultRow.happened_at.is_not(None), FaxResultRow.kind != "dsn")
                  .order_by(FaxResultRow.happened_at.desc()).limit(1).scalar_subquery())
        columns.append(sa.type_coerce(latest, UTCDateTime()).label(outcome))
    verdicts, blocks = NumberVerdictRow.__table__, NumberBlockRow.__table__
    blocked = sa.exists().where(blocks.c.fax_number == number).label("blocked")
    stored = [verdicts.c[name] for name in _COMPARED]
    return (sa.select(sa.type_coerce(number, sa.String).label("fax_number"), *columns, blocked, *stored)
            .select_from(wanted.outerjoin(verdicts, verdicts.c.fax_number == number)))


def _utc(value: datetime | None) -> Any:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fax_event_key(result_id: int, fax_number: str | None, submission_id: int | None, vendor: str | None,
                  transaction_id: str | None, original_message_id: str | None) -> str:
    """What one fax event is, whichever mail told of it: the submission it belongs to, else the service's
    transaction id, else the original mail's Message-ID and the number, else the result itself."""
    if submission_id is not None:
        return f"submission:{submission_id}"
    if transaction_id:
        return f"transaction:{vendor}:{transaction_id}"
    if original_message_id:
        return f"original:{original_message_id.strip('<>')}:{fax_number}"
    return f"result:{result_id}"
