"""Closed vocabularies: kinds of mail, outcomes, submission states, and the reason words stored in
`fax_results.reason`.

Fax reasons are faxbounce's own cross-vendor words; mail reasons are Sisimai's words so that users who
know Sisimai read them the same way. Every catalogue row must use one of these (a test checks it).
"""

from __future__ import annotations

from enum import StrEnum, unique
from pathlib import Path

__all__ = [
    "RETRYABLE_REASONS",
    "FaxReason",
    "Kind",
    "MailReason",
    "Outcome",
    "SubmissionState",
    "is_known_reason",
    "load_retry_policy",
    "retryable_for",
]


@unique
class Kind(StrEnum):
    """What a mail is, as printed by `classify --json` and stored in `fax_results.kind`."""

    INTERFAX_RESULT = "interfax_result"
    INTERFAX_BOUNCE = "interfax_bounce"
    SATISFAXTION_RESULT = "satisfaxtion_result"
    DSN = "dsn"
    FAX_SUBMISSION = "fax_submission"
    """A mail sent to the fax service (`<number>@fax.tc`): tracked in `fax_submissions`, no result."""
    UNRECOGNIZED = "unrecognized"
    """Bears a vendor's marks (sending domain, result subject, `送信結果` label, `*** … ***` line) but no result
    could be read from it: stored with no result, warned about and listed as mail to look at, never dropped."""
    UNRELATED = "unrelated"


@unique
class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"


@unique
class SubmissionState(StrEnum):
    """Where one destination of a fax submission stands: `fax_submissions.state` and the tracking rules."""

    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"
    NO_RESULT = "no_result"


@unique
class FaxReason(StrEnum):
    """Why a fax (or its submission mail) did or did not go through."""

    DELIVERED = "delivered"
    IN_PROGRESS = "in_progress"
    CREDIT_HOLD = "credit_hold"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID_NUMBER = "invalid_number"
    VOICE_ANSWER = "voice_answer"
    COMMUNICATION_ERROR = "communication_error"
    REMOTE_HANGUP = "remote_hangup"
    LINE_ERROR = "line_error"
    INCOMPATIBLE_DEVICE = "incompatible_device"
    CALL_REJECTED = "call_rejected"
    RENDER_FAILED = "render_failed"
    CREDIT_LIMIT = "credit_limit"
    ACCOUNT_LOCKED = "account_locked"
    INTERNAL_ERROR = "internal_error"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    # fax.tc bounces: the submission mail itself was refused
    PASSWORD_MISSING = "password_missing"
    PASSWORD_INVALID = "password_invalid"
    NO_RECIPIENTS = "no_recipients"
    UNSUPPORTED_ATTACHMENT = "unsupported_attachment"
    TICKET_AUTH_ENABLED = "ticket_auth_enabled"
    SIGNATURE_MISSING = "signature_missing"
    NO_DOCUMENTS = "no_documents"
    # NET SatisFAXtion CAS errors (STATUS_NUM)
    SESSION_STATE = "session_state"
    SERVER_NOT_FOUND = "server_not_found"
    INVALID_REQUEST = "invalid_request"
    INVALID_LOGIN = "invalid_login"
    TIMEOUT = "timeout"
    FILE_NOT_AVAILABLE = "file_not_available"
    USER_NOT_FOUND = "user_not_found"
    MESSAGE_NOT_FOUND = "message_not_found"
    ACCESS_DENIED = "access_denied"
    SERVER_SUSPENDED = "server_suspended"
    VALIDATION_FAILED = "validation_failed"
    CONTENT_LOAD_FAILED = "content_load_failed"


@unique
class MailReason(StrEnum):
    """Sisimai's bounce reason words, for generic delivery status notifications."""

    DELIVERED = "delivered"
    USERUNKNOWN = "userunknown"
    HOSTUNKNOWN = "hostunknown"
    MAILBOXFULL = "mailboxfull"
    MESGTOOBIG = "mesgtoobig"
    EXCEEDLIMIT = "exceedlimit"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    FILTERED = "filtered"
    SPAMDETECTED = "spamdetected"
    VIRUSDETECTED = "virusdetected"
    SECURITYERROR = "securityerror"
    NETWORKERROR = "networkerror"
    SYSTEMERROR = "systemerror"
    SYSTEMFULL = "systemfull"
    MAILERERROR = "mailererror"
    NOTACCEPT = "notaccept"
    NORELAYING = "norelaying"
    SUSPEND = "suspend"
    HASMOVED = "hasmoved"
    CONTENTERROR = "contenterror"
    NOTCOMPLIANTRFC = "notcompliantrfc"
    POLICYVIOLATION = "policyviolation"
    SPEEDING = "speeding"
    TOOMANYCONN = "toomanyconn"
    AUTHFAILURE = "authfailure"
    BADREPUTATION = "badreputation"
    FAILEDSTARTTLS = "failedstarttls"
    REQUIREPTR = "requireptr"
    SYNTAXERROR = "syntaxerror"
    ONHOLD = "onhold"
    VACATION = "vacation"
    FEEDBACK = "feedback"
    UNDEFINED = "undefined"


_ALL_REASONS: frozenset[str] = frozenset(FaxReason) | frozenset(MailReason)


def is_known_reason(word: str) -> bool:
    return word in _ALL_REASONS


def retryable_for(reason: str, outcome: Outcome) -> bool | None:
    """Whether resending may help: None for deliveries and pending faxes, else the reason's row of `retry.tsv`.

    The single entry point of the retry policy (catalogues and detectors call it); an unknown word is False.
    """
    if outcome is not Outcome.FAILED:
        return None
    return reason in RETRYABLE_REASONS


def load_retry_policy(text: str, filename: str) -> frozenset[str]:
    """The reasons marked `yes` in a retry table; every reason word must have exactly one row.

    Raises ValueError naming file and line (this leaf module imports nothing of the package, so not
    CatalogueError): the table ships inside the package and is checked at import, never at classification.
    """
    seen: dict[str, bool] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        reason, _, answer = line.partition("\t")
        where = f"{filename}:{number}"
        if reason not in _ALL_REASONS:
            raise ValueError(f"{where}: {reason!r} is not a reason word of processor.reasons")
        if answer not in ("yes", "no"):
            raise ValueError(f"{where}: retryable must be yes or no, found {answer!r}")
        if reason in seen:
            raise ValueError(f"{where}: reason {reason!r} is listed twice")
        seen[reason] = answer == "yes"
    if missing := sorted(_ALL_REASONS - seen.keys()):
        raise ValueError(f"{filename}: no row for {', '.join(missing)}: say whether a resend may help")
    return frozenset(reason for reason, retry in seen.items() if retry)


_RETRY_TABLE = Path(__file__).with_name("catalogues") / "retry.tsv"  # not importlib.resources: start-up time
#: Reasons for which sending the same fax or mail again later may succeed (`catalogues/retry.tsv`).
RETRYABLE_REASONS: frozenset[str] = load_retry_policy(_RETRY_TABLE.read_text(encoding="utf-8"), "retry.tsv")
