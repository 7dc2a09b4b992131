"""Which submission a result belongs to, and the state that follows: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processor.reasons import SubmissionState
from processor.tracking.rules import (
    ACCOUNT_REASONS,
    NUMBER_REASONS,
    Confidence,
    Match,
    Method,
    ResultFacts,
    SubmissionFacts,
    TrackingRules,
    action_group,
    choose,
    decide,
    normalize_message_id,
)

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)
RULES = TrackingRules()


def sub(id_: int, number: str = "+81355550101", minutes: int = 0, subject: str = "見積書", **kw) -> SubmissionFacts:
    return SubmissionFacts(id=id_, submitted_at=T0 + timedelta(minutes=minutes), fax_number=number,
                           recipient=f"{number}@fax.tc", subject_base=subject, message_id=kw.pop("mid", None), **kw)


def res(id_: int = 100, number: str | None = "+81355550101", minutes: int = 5, outcome: str = "delivered",
        reason: str = "delivered", **kw) -> ResultFacts:
    return ResultFacts(id=id_, outcome=outcome, reason=reason, at=T0 + timedelta(minutes=minutes), fax_number=number,
                       **kw)


def test_message_id_first() -> None:
    candidates = [sub(1, subject="x", mid="<a@b>"), sub(2, subject="見積書")]
    matches = choose(res(original_message_id="a@b", original_subject="見積書"), candidates, WINDOW)
    assert matches == [Match(1, Method.MESSAGE_ID, Confidence.HIGH)]


def test_bounce_without_recipient_fails_every_destination_of_the_mail() -> None:
    candidates = [sub(1, mid="<a@b>"), sub(2, "+81655550202", mid="<a@b>"), sub(3)]
    matches = choose(res(number=None, original_message_id="<a@b>", outcome="failed", reason="password_missing"),
                     candidates, WINDOW)
    assert [(m.submission_id, m.method) for m in matches] == [(1, Method.MESSAGE_ID), (2, Method.MESSAGE_ID)]


def test_bounce_with_recipients_matches_its_own_destination_of_a_list_send() -> None:
    candidates = [sub(1, mid="<a@b>"), sub(2, "+81655550202", mid="<a@b>")]
    matches = choose(res(number="+81655550202", original_message_id="<a@b>"), candidates, WINDOW)
    assert matches == [Match(2, Method.MESSAGE_ID, Confidence.HIGH)]


def test_transaction_id_when_one_side_knows_it() -> None:
    candidates = [sub(1, transaction_id="612345678", resolved=True), sub(2)]
    assert choose(res(transaction_id="612345678"), candidates, WINDOW) == [
        Match(1, Method.TRANSACTION_ID, Confidence.HIGH)]


def test_transaction_id_of_another_number_is_no_evidence() -> None:
    candidates = [sub(1, "+81655550202", transaction_id="612345678")]
    assert choose(res(transaction_id="612345678"), candidates, WINDOW) == []


def test_number_and_subject_beat_number_alone() -> None:
    candidates = [sub(1, subject="請求書"), sub(2, minutes=1, subject="見積書 /b")]
    assert choose(res(original_subject="見積書"), candidates, WINDOW) == [
        Match(2, Method.NUMBER_SUBJECT, Confidence.MEDIUM)]


def test_number_and_time_alone_is_low_confidence_and_takes_the_oldest_open_one() -> None:
    candidates = [sub(1, resolved=True), sub(2, minutes=1, subject=None), sub(3, minutes=2, subject=None)]
    assert choose(res(minutes=10), candidates, WINDOW) == [Match(2, Method.NUMBER_TIME, Confidence.LOW)]


def test_outside_the_window_or_another_number_matches_nothing() -> None:
    assert choose(res(minutes=5), [sub(1, minutes=-60 * 49)], WINDOW) == []
    assert choose(res(minutes=5), [sub(1, minutes=60)], WINDOW) == []  # submitted after the result
    assert choose(res(number="+81655550202"), [sub(1)], WINDOW) == []
    assert choose(res(number=None), [sub(1)], WINDOW) == []


def test_window_is_measured_from_the_services_receipt_time() -> None:
    late_mail = res(minutes=60 * 50, submitted_at=T0 + timedelta(minutes=1))
    assert choose(late_mail, [sub(1)], WINDOW) == [Match(1, Method.NUMBER_TIME, Confidence.LOW)]
    assert choose(res(minutes=60 * 50), [sub(1)], WINDOW) == []


def test_list_send_each_destination_separately() -> None:
    candidates = [sub(1), sub(2, "+81655550202"), sub(3, "+81455550303")]
    assert [choose(res(number=n), candidates, WINDOW)[0].submission_id
            for n in ("+81455550303", "+81355550101", "+81655550202")] == [3, 1, 2]


def test_normalize_message_id() -> None:
    assert normalize_message_id(" <a@b> ") == normalize_message_id("a@b") == "<a@b>"
    assert normalize_message_id("<>") is None and normalize_message_id(None) is None


def _m(method: Method = Method.NUMBER_SUBJECT) -> Match:
    return Match(1, method, Confidence.MEDIUM)


def test_decide_no_result_after_the_timeout_with_causes() -> None:
    assert decide(T0, [], T0 + timedelta(minutes=59), RULES).state == SubmissionState.SUBMITTED
    decision = decide(T0, [], T0 + timedelta(minutes=61), RULES)
    assert (decision.state, decision.state_at, decision.reason) == (
        SubmissionState.NO_RESULT, T0 + timedelta(minutes=60), "no_result")
    assert "送信許可" in decision.note_ja and "authorised sender" in decision.note_en
    assert "failure_only" in decision.note_en and "never reached" in decision.note_en


def test_decide_failure_only_silence_means_delivered() -> None:
    rules = TrackingRules(notifications="failure_only")
    decision = decide(T0, [], T0 + timedelta(hours=2), rules)
    assert (decision.state, decision.reason, decision.method) == (
        SubmissionState.DELIVERED, "delivered", Method.SILENCE)
    late_failure = res(outcome="failed", reason="busy", minutes=130)
    assert decide(T0, [(late_failure, _m())], T0 + timedelta(hours=3), rules).state == SubmissionState.FAILED


def test_decide_latest_final_result_wins_and_late_results_update() -> None:
    failed = res(1, outcome="failed", reason="busy", minutes=5)
    delivered = res(2, minutes=20)
    decision = decide(T0, [(failed, _m()), (delivered, _m(Method.MESSAGE_ID))], T0 + timedelta(days=3), RULES)
    assert (decision.state, decision.result_id, decision.method) == (SubmissionState.DELIVERED, 2, Method.MESSAGE_ID)
    assert decision.note_ja is None
    decision = decide(T0, [(failed, _m())], T0 + timedelta(days=3), RULES)
    assert (decision.state, decision.reason, decision.state_at) == (SubmissionState.FAILED, "busy", failed.at)


def test_decide_credit_hold_is_pending_for_24_hours() -> None:
    hold = res(outcome="pending", reason="credit_hold", minutes=5)
    assert decide(T0, [(hold, _m())], T0 + timedelta(hours=23), RULES).state == SubmissionState.PENDING
    decision = decide(T0, [(hold, _m())], T0 + timedelta(hours=25), RULES)
    assert (decision.state, decision.state_at) == (SubmissionState.NO_RESULT, hold.at + timedelta(hours=24))
    assert "-22" in decision.note_en
    later = res(2, minutes=60 * 30)
    assert decide(T0, [(hold, _m()), (later, _m())], T0 + timedelta(hours=31), RULES).state == SubmissionState.DELIVERED


def test_decide_is_deterministic() -> None:
    now = T0 + timedelta(hours=5)
    assert decide(T0, [], now, RULES) == decide(T0, [], now + timedelta(hours=1), RULES)


@pytest.mark.parametrize(("state", "reason", "group"), [
    ("failed", "invalid_number", "verify_number"), ("failed", "voice_answer", "verify_number"),
    ("failed", "no_recipients", "verify_number"), ("failed", "busy", "resend"),
    ("failed", "render_failed", "resend"), ("failed", "credit_limit", "account"),
    ("failed", "password_missing", "account"), ("no_result", "no_result", "account"),
    ("pending", "credit_hold", "account"), ("delivered", "delivered", None), ("submitted", None, None),
])
def test_action_groups(state: str, reason: str | None, group: str | None) -> None:
    assert action_group(state, reason) == group


def test_reason_groups_do_not_overlap() -> None:
    assert not NUMBER_REASONS & ACCOUNT_REASONS
