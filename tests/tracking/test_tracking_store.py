"""Submissions, correlation and the sweep through the real pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from submissionfactory import faxtc_bounce, result, submission

from processor.config import Settings, TrackingSettings
from processor.run.pipeline import process_message
from processor.store.db import session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.tracking import sweep

SETTINGS = Settings()
SUBMISSION_COLUMNS = {
    "id", "inbound_message_id", "message_id", "sender", "return_path", "subject", "subject_base", "recipient",
    "fax_number", "fax_number_raw", "found_in", "submitted_at", "state", "state_at", "reason", "result_id",
    "match_method", "match_confidence", "transaction_id", "note_ja", "note_en", "created_at",
}


def _process(engine: Engine, raw: bytes, settings: Settings = SETTINGS, mail_from: str = "taro@example.co.jp",
             rcpts: tuple[str, ...] = ("fax-copy@faxbounce.test",)) -> int:
    stored = RawStore(engine).put(raw, Envelope(mail_from, rcpts))
    outcome = process_message(engine, stored.id, settings)
    assert outcome is not None and outcome.status == "processed"
    return stored.id


def _rows(engine: Engine, query: str, **params: object) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(query), params))


def _status(engine: Engine) -> dict[str, sa.Row]:
    return {r.fax_number: r for r in _rows(engine, "SELECT * FROM fax_status ORDER BY submission_id")}


def _sweep(engine: Engine, settings: Settings = SETTINGS, after: timedelta = timedelta(hours=2)) -> int:
    with session_scope(engine) as session:
        return sweep(session, settings.tracking, now=datetime.now(UTC) + after)


def test_one_row_per_destination_with_the_documented_columns(engine: Engine, data_dir: Path) -> None:
    message_id = _process(engine, (data_dir / "submissions/list-01.eml").read_bytes())
    rows = _rows(engine, "SELECT * FROM fax_submissions ORDER BY id")
    assert set(rows[0]._mapping) == SUBMISSION_COLUMNS
    assert [r.fax_number for r in rows] == ["+81344772288", "+81344772289", "+81344772290", "+81344772291",
                                            "+81344772292", "+12139999999", "+12139999998"]
    assert [r.fax_number_raw for r in rows][:4] == ["0344772288", "03-4477-2289", "0081344772290", "0081-3-44772291"]
    first = rows[0]
    assert first.inbound_message_id == message_id
    assert (first.message_id, first.sender, first.return_path) == ("<list01@example.co.jp>", "taro@example.co.jp",
                                                                  "taro@example.co.jp")
    assert (first.subject, first.subject_base) == ("請求書 /h 山田商事 御中", "請求書")
    assert (first.result_id, first.found_in, first.recipient) == (None, "to", "0344772288@fax.tc")
    # Dated 2026-11-20 10:10 JST: overdue (no_result) unless this machine's clock is earlier than that.
    assert first.state in ("submitted", "no_result") and first.state_at >= first.submitted_at
    kind = _rows(engine, "SELECT kind FROM inbound_messages WHERE id = :id", id=message_id)[0].kind
    assert kind == "fax_submission"


def test_result_after_submission_delivered_with_method_and_confidence(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"], "見積書送付の件 /b"))
    _process(engine, result("03-5555-0101", "0", subject="見積書送付の件", transaction_id="700000001"), mail_from="")
    row = _status(engine)["+81355550101"]
    assert (row.state, row.reason, row.match_method, row.match_confidence) == ("delivered", "delivered",
                                                                               "number_subject", "medium")
    assert row.transaction_id == "700000001" and row.result_id is not None and row.action is None
    match = _rows(engine, "SELECT * FROM fax_matches")
    assert [(m.result_id, m.method, m.confidence) for m in match] == [(row.result_id, "number_subject", "medium")]


def test_failed_result_carries_its_reason_and_action(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"]))
    _process(engine, result("03-5555-0101", "3912", "FAX番号が使用不可です"), mail_from="")
    row = _status(engine)["+81355550101"]
    assert (row.state, row.reason, row.code, row.action) == ("failed", "invalid_number", "3912", "verify_number")
    assert not row.retryable and "FAX番号" in row.action_ja


def test_late_bcc_copy_matches_the_result_that_came_first(engine: Engine) -> None:
    sent = datetime.now(UTC) - timedelta(minutes=20)
    _process(engine, result("0355550101", "6017", "話中", when=sent + timedelta(seconds=30)), mail_from="")
    assert _rows(engine, "SELECT * FROM fax_matches") == []  # kept unmatched
    _process(engine, submission(["03-5555-0101"], when=sent))
    row = _status(engine)["+81355550101"]
    assert (row.state, row.reason, row.action, bool(row.retryable)) == ("failed", "busy", "resend", True)
    assert row.match_method == "number_subject"


def test_list_send_matches_each_destination_and_the_silent_one_has_no_result(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101", "06-5555-0202", "045-555-0303"], "注文書 /rs"))
    _process(engine, result("06-5555-0202", "0", subject="注文書", transaction_id="1"), mail_from="")
    _process(engine, result("03-5555-0101", "8021", "応答なし", subject="注文書", transaction_id="2"),
             mail_from="")
    assert _sweep(engine) == 1
    states = {n: (r.state, r.reason) for n, r in _status(engine).items()}
    assert states == {"+81355550101": ("failed", "no_answer"), "+81655550202": ("delivered", "delivered"),
                      "+81455550303": ("no_result", "no_result")}
    silent = _status(engine)["+81455550303"]
    assert silent.action == "account" and "送信許可" in silent.action_ja and "authorised" in silent.action_en
    assert _sweep(engine) == 0  # idempotent


def test_bounce_matches_its_submission_by_message_id(engine: Engine, data_dir: Path) -> None:
    _process(engine, (data_dir / "not/submission-copy-01.eml").read_bytes())
    _process(engine, (data_dir / "faxtc/bounce-02.eml").read_bytes(), mail_from="")
    rows = _status(engine)
    assert {n: (r.state, r.reason, r.match_method, r.match_confidence) for n, r in rows.items()} == {
        "+81355550101": ("failed", "password_missing", "message_id", "high"),
        "+81655550202": ("failed", "password_missing", "message_id", "high"),
    }
    assert {r.action for r in rows.values()} == {"account"}


def test_no_result_then_a_late_result_still_updates(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"], when=datetime.now(UTC) - timedelta(hours=3)))
    assert _status(engine)["+81355550101"].state == "no_result"  # already overdue when it arrived
    _process(engine, result("03-5555-0101", "0", when=datetime.now(UTC) - timedelta(hours=3)), mail_from="")
    row = _status(engine)["+81355550101"]
    assert row.state == "delivered" and "送信許可" not in row.action_ja and row.match_method == "number_subject"


def test_sweep_respects_the_configured_timeout(engine: Engine) -> None:
    settings = dataclasses.replace(SETTINGS, tracking=TrackingSettings(result_timeout=600))
    _process(engine, submission(["03-5555-0101"]), settings)
    assert _sweep(engine, settings, timedelta(minutes=9)) == 0
    assert _status(engine)["+81355550101"].state == "submitted"
    assert _sweep(engine, settings, timedelta(minutes=11)) == 1
    row = _status(engine)["+81355550101"]
    assert row.state == "no_result" and "10分" in row.action_ja


def test_credit_hold_is_pending_until_24_hours(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"]))
    _process(engine, result("03-5555-0101", "-22", transaction_id="555"), mail_from="")
    assert (_status(engine)["+81355550101"].state, _status(engine)["+81355550101"].reason) == ("pending",
                                                                                                "credit_hold")
    assert _sweep(engine, after=timedelta(hours=23)) == 0
    assert _sweep(engine, after=timedelta(hours=25)) == 1
    row = _status(engine)["+81355550101"]
    assert (row.state, row.action) == ("no_result", "account") and "-22" in row.action_en
    # The final result, same transaction id, no subject: matched by transaction id.
    _process(engine, result("03-5555-0101", "0", subject="", transaction_id="555"), mail_from="")
    row = _status(engine)["+81355550101"]
    assert (row.state, row.match_method, row.match_confidence) == ("delivered", "transaction_id", "high")


def test_failure_only_accounts_take_silence_as_delivered(engine: Engine) -> None:
    settings = dataclasses.replace(SETTINGS, tracking=TrackingSettings(notifications="failure_only"))
    _process(engine, submission(["03-5555-0101"]), settings)
    assert _sweep(engine, settings) == 1
    row = _status(engine)["+81355550101"]
    assert (row.state, row.match_method, row.match_confidence) == ("delivered", "silence", "low")


def test_number_alone_is_low_confidence(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"], "まったく別の件名"))
    _process(engine, result("03-5555-0101", "0", subject="見積書"), mail_from="")
    row = _status(engine)["+81355550101"]
    assert (row.state, row.match_method, row.match_confidence) == ("delivered", "number_time", "low")


def test_reprocessing_is_idempotent(engine: Engine) -> None:
    sub_id = _process(engine, submission(["03-5555-0101", "06-5555-0202"]))
    res_id = _process(engine, result("03-5555-0101", "3912", "FAX番号が使用不可です"), mail_from="")
    before = [tuple(r) for r in _rows(engine, "SELECT submission_id, state, reason, match_method FROM fax_status")]
    ids = [r.id for r in _rows(engine, "SELECT id FROM fax_submissions ORDER BY id")]
    for message_id in (res_id, sub_id, res_id):
        process_message(engine, message_id, SETTINGS)
    after = [tuple(r) for r in _rows(engine, "SELECT submission_id, state, reason, match_method FROM fax_status")]
    assert after == before
    assert [r.id for r in _rows(engine, "SELECT id FROM fax_submissions ORDER BY id")] == ids
    assert len(_rows(engine, "SELECT * FROM fax_matches")) == 1
    assert _rows(engine, "SELECT state FROM fax_status WHERE result_id IS NOT NULL")[0].state == "failed"


def test_untrackable_results_and_dsns_stay_unmatched(engine: Engine) -> None:
    _process(engine, submission(["03-5555-0101"]))
    _process(engine, result("06-5555-0202", "0"), mail_from="")  # another number
    assert _rows(engine, "SELECT * FROM fax_matches") == []
    assert _status(engine)["+81355550101"].state == "submitted"


def test_sweep_reads_both_deadlines_in_batches(engine: Engine) -> None:
    """More overdue faxes than one batch, of both kinds (no result after `result_timeout`, held past
    `credit_hold_timeout`), among faxes not yet due and faxes already decided: each overdue one changes state
    once, whatever batch it falls in, and nothing else does."""
    from processor.store.models import FaxSubmissionRow
    from processor.store.tracking import _BATCH

    now = datetime.now(UTC)
    rules = SETTINGS.tracking
    overdue_submitted = now - timedelta(seconds=rules.result_timeout + 60)
    overdue_held = now - timedelta(seconds=rules.credit_hold_timeout + 60)
    kinds = [("submitted", overdue_submitted, overdue_submitted), ("pending", now - timedelta(days=3), overdue_held),
             ("submitted", now, now), ("pending", now, now), ("delivered", overdue_submitted, overdue_submitted),
             ("no_result", overdue_submitted, overdue_submitted)]
    rows = []
    for i in range(_BATCH * 2 + 50):
        state, submitted_at, state_at = kinds[i % 3 if i % 7 else 3 + i % 3]
        rows.append({"inbound_message_id": 1, "recipient": f"{i}@fax.tc", "found_in": "to", "state": state,
                     "submitted_at": submitted_at, "state_at": state_at, "created_at": now,
                     "fax_number": f"+8130{i:08d}"})
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO inbound_messages (id, received_at, rcpt_tos, size, sha256, status, attempts) "
            "VALUES (1, :at, '[]', 1, :sha, 'processed', 1)"), {"at": now, "sha": "0" * 64})
        connection.execute(FaxSubmissionRow.__table__.insert(), rows)
    due = [i for i, row in enumerate(rows, start=1) if (row["state"], row["submitted_at"], row["state_at"]) in (
        kinds[0], kinds[1])]
    assert len(due) > _BATCH
    with engine.connect() as connection:
        before = dict(connection.execute(sa.text("SELECT id, state FROM fax_submissions")).all())
    with session_scope(engine) as session:
        assert sweep(session, rules, now=now) == len(due)
    with engine.connect() as connection:
        after = dict(connection.execute(sa.text("SELECT id, state FROM fax_submissions")).all())
    assert {i for i in after if after[i] != before[i]} == set(due)
    assert {after[i] for i in due} == {"no_result"}


def _by_submission(engine: Engine) -> list[tuple[object, ...]]:
    return [tuple(r) for r in _rows(engine, "SELECT subject, state, transaction_id, match_method FROM fax_status "
                                            "ORDER BY submission_id")]


def test_a_result_by_number_skips_a_fax_tied_to_another_transaction(engine: Engine) -> None:
    """A fax held for credit (-22, transaction 10901) is another fax than the one sent after it to the same number:
    the later fax's result (10902) is not the held one's, although the held one is the oldest still open."""
    at = datetime.now(UTC) - timedelta(minutes=30)
    _process(engine, submission(["03-5555-0101"], "見積書 /b", when=at))
    _process(engine, result("03-5555-0101", "-22", subject="見積書", transaction_id="10901",
                            when=at + timedelta(minutes=1)), mail_from="")
    _process(engine, submission(["03-5555-0101"], "見積書 /b", when=at + timedelta(minutes=5)))
    _process(engine, result("03-5555-0101", "0", subject="見積書", transaction_id="10902",
                            when=at + timedelta(minutes=6)), mail_from="")
    assert _by_submission(engine) == [("見積書 /b", "pending", "10901", "number_subject"),
                                      ("見積書 /b", "delivered", "10902", "number_subject")]


def test_two_faxes_to_one_number_in_one_second_are_no_copies_of_one_notice(engine: Engine) -> None:
    """Without a transaction id a result's event key is the number, the code and the second it was sent: two
    faxes in one second share it. Their results name different originals (subject, Message-ID), so each is
    tied to its own fax, not to the first as a copy of its notice."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    first = submission(["03-5555-0101"], "請求書 /b", when=at, message_id="<one@example.co.jp>")
    second = submission(["03-5555-0101"], "注文書 /b", when=at, message_id="<two@example.co.jp>")
    _process(engine, first)
    _process(engine, second)
    _process(engine, faxtc_bounce(first), mail_from="")
    _process(engine, faxtc_bounce(second), mail_from="")
    assert [(state, method) for _subject, state, _tx, method in _by_submission(engine)] == [
        ("failed", "message_id"), ("failed", "message_id")]


def test_results_without_transaction_ids_of_two_faxes_in_one_second(engine: Engine) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    _process(engine, submission(["03-5555-0101"], "請求書 /b", when=at))
    _process(engine, submission(["03-5555-0101"], "注文書 /b", when=at))
    for subject in ("注文書", "請求書"):
        _process(engine, result("03-5555-0101", "0", subject=subject, transaction_id=None, when=at), mail_from="")
    assert _by_submission(engine) == [("請求書 /b", "delivered", None, "number_subject"),
                                      ("注文書 /b", "delivered", None, "number_subject")]


def test_a_bounce_of_a_mail_never_copied_fails_no_other_fax(engine: Engine) -> None:
    """A bounce names its original's Message-ID: a fax to the same number that is another mail is not it, even
    when no copy of the bounced mail reached faxbounce; that fax's own result still decides it."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    _process(engine, submission(["03-5555-0101"], "見積書送付の件", when=at, message_id="<s1@example.co.jp>"))
    never = submission(["03-5555-0101"], "見積書送付の件", when=at + timedelta(minutes=1),
                       message_id="<never@example.co.jp>")
    _process(engine, faxtc_bounce(never, "No recipients found"), mail_from="")
    assert _by_submission(engine) == [("見積書送付の件", "submitted", None, None)]
    _process(engine, result("03-5555-0101", "0", subject="見積書送付の件", transaction_id="20001",
                            when=at + timedelta(minutes=3)), mail_from="")
    assert _by_submission(engine) == [("見積書送付の件", "delivered", "20001", "number_subject")]


def test_a_mail_refused_whole_fails_every_destination_bcc_included(engine: Engine) -> None:
    """A password (or signature, attachment…) refusal is the mail's: every fax of it failed, also the one only in
    Bcc, which the returned original no longer lists. A wrong number is the recipient's: only the numbers named."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for cause, expected in (("Cannot find password in body", ["failed", "failed", "failed"]),
                            ("No recipients found", ["failed", "failed", "submitted"])):
        with engine.begin() as connection:
            for table in ("fax_matches", "fax_submissions", "fax_results", "inbound_raw", "inbound_messages"):
                connection.execute(sa.text(f"DELETE FROM {table}"))
        message_id = f"<{len(cause)}@example.co.jp>"
        copy = submission(["03-5555-0101", "06-5555-0202", "045-555-0303"], "見積書 /b", when=at,
                          message_id=message_id, header="Bcc")  # the copy faxbounce gets names all three
        returned = submission(["03-5555-0101", "06-5555-0202"], "見積書 /b", when=at, message_id=message_id)
        _process(engine, copy)
        _process(engine, faxtc_bounce(returned, cause), mail_from="")
        assert [row.state for row in _rows(engine, "SELECT state FROM fax_status ORDER BY submission_id")] == expected
