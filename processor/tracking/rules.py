"""Submission tracking, the pure part: subject keys, which submission a result belongs to, and its state.

A fax submission (a mail to `<number>@fax.tc`) gets one row per destination in `fax_submissions`. Each
result or bounce is tied to one of them by the best evidence available (`choose`), and every submission's
state is a function of the results tied to it and of the time (`decide`), so applying it again gives the
same answer: the sweep is idempotent and survives restarts because it keeps nothing outside the database.

No SQL here (that is `processor/store/tracking.py`), so all of it is tested without a database.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum, unique

from processor import regex_cache
from processor.catalogues import whole_mail_reasons
from processor.detect.subjects import normalize_message_id, strip_subject_options
from processor.reasons import FaxReason, Outcome, SubmissionState

__all__ = [
    "ACCOUNT_REASONS",
    "NUMBER_REASONS",
    "Confidence",
    "Decision",
    "Match",
    "Method",
    "ResultFacts",
    "SubmissionFacts",
    "TrackingRules",
    "action_group",
    "choose",
    "decide",
    "normalize_message_id",
    "strip_subject_options",
    "subject_key",
]

SUBJECT_KEY_LENGTH = 60
_SPACES = regex_cache.compile(r"\s+")
"""InterFAX returns at most 60 characters of the subject as the original subject."""
CLOCK_SKEW = timedelta(minutes=10)
"""A result may carry a time slightly before the submission's Date header (clocks differ)."""


@unique
class Method(StrEnum):
    """How a result was tied to a submission, best evidence first."""

    MESSAGE_ID = "message_id"
    TRANSACTION_ID = "transaction_id"
    NUMBER_SUBJECT = "number_subject"
    NUMBER_TIME = "number_time"
    SILENCE = "silence"
    """No result at all, and `tracking.notifications = failure_only`: silence means delivered."""


@unique
class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


METHOD_CONFIDENCE = {
    Method.MESSAGE_ID: Confidence.HIGH,
    Method.TRANSACTION_ID: Confidence.HIGH,
    Method.NUMBER_SUBJECT: Confidence.MEDIUM,
    Method.NUMBER_TIME: Confidence.LOW,
    Method.SILENCE: Confidence.LOW,
}

#: Failures that say the number itself is wrong: call it and check that a fax answers.
NUMBER_REASONS: frozenset[str] = frozenset({
    FaxReason.INVALID_NUMBER, FaxReason.VOICE_ANSWER, FaxReason.CALL_REJECTED, FaxReason.INCOMPATIBLE_DEVICE,
    FaxReason.NO_RECIPIENTS,
})
#: Failures (and states) that only the account's owner can fix: credit, passwords, sender registration.
ACCOUNT_REASONS: frozenset[str] = frozenset({
    FaxReason.CREDIT_LIMIT, FaxReason.ACCOUNT_LOCKED, FaxReason.CREDIT_HOLD, FaxReason.PASSWORD_MISSING,
    FaxReason.PASSWORD_INVALID, FaxReason.TICKET_AUTH_ENABLED, FaxReason.SIGNATURE_MISSING,
    FaxReason.INVALID_LOGIN, FaxReason.ACCESS_DENIED, FaxReason.USER_NOT_FOUND, FaxReason.SERVER_SUSPENDED,
    SubmissionState.NO_RESULT,
})

def subject_key(subject: str | None) -> str:
    """What two subjects are compared by: NFKC, options removed, spaces collapsed, case folded, 60 chars. NFKC
    first: a submission's subject is kept as written (`見積書　／b`), a result's as the vendor echoes it."""
    text = strip_subject_options(unicodedata.normalize("NFKC", subject or ""))
    return _SPACES.sub(" ", text).strip().casefold()[:SUBJECT_KEY_LENGTH]


@dataclass(frozen=True, slots=True)
class ResultFacts:
    """What correlation needs to know of one result row."""

    id: int
    outcome: str
    reason: str
    at: datetime
    """When the result happened: `occurred_at`, else when its mail was received."""
    fax_number: str | None = None
    recipient: str | None = None
    transaction_id: str | None = None
    original_message_id: str | None = None
    original_subject: str | None = None
    submitted_at: datetime | None = None
    """When the service says it received the fax mail (InterFAX's SubmitTime / 受付日時, a bounce's
    original Date): the time window is measured from it, else from `at`."""

    @property
    def reference_time(self) -> datetime:
        return self.submitted_at or self.at


@dataclass(frozen=True, slots=True)
class SubmissionFacts:
    """What correlation needs to know of one submission destination."""

    id: int
    submitted_at: datetime
    fax_number: str | None = None
    recipient: str | None = None
    message_id: str | None = None
    subject_base: str | None = None
    transaction_id: str | None = None
    resolved: bool = False
    """A delivered or failed result is already tied to it."""
    other_transaction: bool = False
    """A result of another transaction id than the one being matched is tied to it: it is another fax (one held
    for credit, say), so a result found by number only is not its."""


@dataclass(frozen=True, slots=True)
class Match:
    submission_id: int
    method: Method
    confidence: Confidence


_WHOLE_MAIL = whole_mail_reasons()


def choose(result: ResultFacts, candidates: Sequence[SubmissionFacts], window: timedelta) -> list[Match]:
    """The submission destination(s) this result reports on, best evidence first; [] when none fits.

    Several when a bounce names no recipient, or says the mail itself was refused (its password, signature or
    attachments: `whole_mail` in the catalogue): every destination of that mail failed, a Bcc one too, which
    the returned original's To and Cc do not list.
    """
    message_id = normalize_message_id(result.original_message_id)
    if message_id:
        same_mail = [c for c in candidates if c.message_id == message_id]
        if same_mail and (not (result.fax_number or result.recipient) or result.reason in _WHOLE_MAIL):
            return [Match(c.id, Method.MESSAGE_ID, Confidence.HIGH) for c in same_mail]
        hits = [c for c in same_mail if _same_destination(c, result)]
        if hits:
            return [Match(_first_open(hits).id, Method.MESSAGE_ID, Confidence.HIGH)]
    if result.transaction_id:
        hits = [c for c in candidates if c.transaction_id == result.transaction_id
                and not (c.fax_number and result.fax_number and c.fax_number != result.fax_number)]
        if hits:
            return [Match(_first_open(hits).id, Method.TRANSACTION_ID, Confidence.HIGH)]
    if not result.fax_number:
        return []
    reference = result.reference_time
    # A result that names its original mail (a bounce returns it) is not another mail's: a fax whose Message-ID
    # differs is passed over (the original may be a mail faxbounce never saw a copy of).
    near = [c for c in candidates
            if c.fax_number == result.fax_number and not c.resolved and not c.other_transaction
            and not (message_id and c.message_id and c.message_id != message_id)
            and reference - window <= c.submitted_at <= reference + CLOCK_SKEW]
    key = subject_key(result.original_subject)
    if key:
        same_subject = [c for c in near if subject_key(c.subject_base) == key]
        if same_subject:
            return [Match(_oldest(same_subject).id, Method.NUMBER_SUBJECT, Confidence.MEDIUM)]
    if near:
        return [Match(_oldest(near).id, Method.NUMBER_TIME, Confidence.LOW)]
    return []


def _same_destination(candidate: SubmissionFacts, result: ResultFacts) -> bool:
    if candidate.fax_number and result.fax_number:
        return candidate.fax_number == result.fax_number
    return bool(candidate.recipient and result.recipient
                and candidate.recipient.lower() == result.recipient.strip().lower())


def _oldest(candidates: Sequence[SubmissionFacts]) -> SubmissionFacts:
    return min(candidates, key=lambda c: (c.submitted_at, c.id))


def _first_open(candidates: Sequence[SubmissionFacts]) -> SubmissionFacts:
    open_ = [c for c in candidates if not c.resolved]
    return _oldest(open_ or candidates)


@dataclass(frozen=True, slots=True)
class TrackingRules:
    """The settings `decide` needs (a plain copy of `tracking.*`, so this module needs no config)."""

    result_timeout: timedelta = timedelta(minutes=60)
    credit_hold_timeout: timedelta = timedelta(hours=24)
    notifications: str = "always"
    """`always` or `failure_only` (then silence after the timeout means delivered)."""


@dataclass(frozen=True, slots=True)
class Decision:
    state: SubmissionState
    state_at: datetime
    reason: str | None = None
    result_id: int | None = None
    method: Method | None = None
    confidence: Confidence | None = None
    note_ja: str | None = None
    note_en: str | None = None


def decide(submitted_at: datetime, results: Sequence[tuple[ResultFacts, Match]], now: datetime,
           rules: TrackingRules) -> Decision:
    """The state of one submission destination from the results tied to it and the time.

    The latest delivered or failed result decides; else the latest pending one (a credit hold turns
    into `no_result` after `credit_hold_timeout`, other pending states after `result_timeout`); with no
    result at all, `result_timeout` after submission gives `no_result` (or `delivered` when the account
    sends failure notifications only). Times of the change are derived from the inputs, not from `now`,
    so deciding again gives the same row.
    """
    final = [(r, m) for r, m in results if r.outcome in (Outcome.DELIVERED, Outcome.FAILED)]
    if final:
        result, match = max(final, key=lambda rm: (rm[0].at, rm[0].id))
        return Decision(SubmissionState(result.outcome), result.at, result.reason, result.id, match.method,
                        match.confidence)
    pending = [(r, m) for r, m in results if r.outcome == Outcome.PENDING]
    if pending:
        result, match = max(pending, key=lambda rm: (rm[0].at, rm[0].id))
        hold = result.reason == FaxReason.CREDIT_HOLD
        deadline = result.at + (rules.credit_hold_timeout if hold else rules.result_timeout)
        if now >= deadline:
            ja, en = (_CREDIT_HOLD_NOTE if hold else _PENDING_NOTE)
            hours = _hours(rules.credit_hold_timeout if hold else rules.result_timeout)
            return Decision(SubmissionState.NO_RESULT, deadline, SubmissionState.NO_RESULT, result.id, match.method,
                            match.confidence, ja.format(hours=hours), en.format(hours=hours))
        return Decision(SubmissionState.PENDING, result.at, result.reason, result.id, match.method, match.confidence)
    deadline = submitted_at + rules.result_timeout
    if now < deadline:
        return Decision(SubmissionState.SUBMITTED, submitted_at)
    minutes = _minutes(rules.result_timeout)
    if rules.notifications == "failure_only":
        return Decision(SubmissionState.DELIVERED, deadline, FaxReason.DELIVERED, None, Method.SILENCE, Confidence.LOW,
                        _SILENCE_NOTE[0].format(minutes=minutes), _SILENCE_NOTE[1].format(minutes=minutes))
    return Decision(SubmissionState.NO_RESULT, deadline, SubmissionState.NO_RESULT, None, None, None,
                    _NO_RESULT_NOTE[0].format(minutes=minutes), _NO_RESULT_NOTE[1].format(minutes=minutes))


def action_group(state: str, reason: str | None) -> str | None:
    """Which pile of `faxbounce report` a fax belongs in: `verify_number`, `resend`, `account`, or None."""
    if state not in (SubmissionState.FAILED, SubmissionState.NO_RESULT, SubmissionState.PENDING):
        return None
    if reason in NUMBER_REASONS:
        return "verify_number"
    if state in (SubmissionState.NO_RESULT, SubmissionState.PENDING) or reason in ACCOUNT_REASONS:
        return "account"
    return "resend"


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g}"


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g}"


_NO_RESULT_NOTE = (
    "送信から{minutes}分以内に結果通知もエラーメールも届いていません。考えられる原因: "
    "(1) 送信元アドレスがInterFAXの送信許可アドレスに登録されていない(この場合エラーメールは送られません。"
    "Webの送信履歴で確認してください)。(2) 結果通知メールが「送信しない」または「失敗時のみ」に設定されている"
    "(「失敗時のみ」なら届かないことは成功を意味します。tracking.notifications = \"failure_only\" を設定してください)。"
    "(3) メールがFAXサービスに届いていない(送信側メールサーバーのログを確認してください)。",
    "No result notification or error mail arrived within {minutes} minutes of the submission. Likely causes: "
    "(1) the sending address is not registered as an authorised sender (InterFAX sends no error mail then; "
    "check the web history); (2) result notifications are switched off or set to \"on failure only\" (then "
    "silence means success: set tracking.notifications = \"failure_only\"); (3) the mail never reached the "
    "fax service (check your mail server's log).",
)
_CREDIT_HOLD_NOTE = (
    "クレジット不足で保留(-22)のまま{hours}時間以上結果が届いていません。クレジットを追加し、Webの送信履歴で"
    "状態を確認してください。",
    "Held for lack of credit (-22) and no result for over {hours} hours: add credit and check the web history.",
)
_PENDING_NOTE = (
    "処理中の通知のあと{hours}時間以上結果が届いていません。Webの送信履歴で状態を確認してください。",
    "Reported as in progress, then no result for over {hours} hours: check the web history.",
)
_SILENCE_NOTE = (
    "失敗時のみ通知の設定(tracking.notifications = \"failure_only\")で、{minutes}分以内に失敗通知が"
    "届かなかったため送信成功とみなしました。",
    "No failure notification within {minutes} minutes and the account notifies on failure only "
    "(tracking.notifications = \"failure_only\"): taken as delivered.",
)
