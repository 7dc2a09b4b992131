"""Closed vocabularies: kinds of mail, outcomes, submission states, and the reason words stored in
`fax_results.reason`.

Fax reasons are faxbounce's own cross-vendor words; mail reasons are Sisimai's words so that users who
know Sisimai read them the same way. Every catalogue row must use one of these (a test checks it).
"""

from __future__ import annotations

from enum import StrEnum, unique

__all__ = [
    "RETRYABLE_REASONS",
    "FaxReason",
    "Kind",
    "MailReason",
    "Outcome",
    "SubmissionState",
    "is_known_reason",
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


#: Reasons for which sending the same fax again later may succeed (issue #2's list).
RETRYABLE_REASONS: frozenset[str] = frozenset(
    {
        FaxReason.BUSY,
        FaxReason.NO_ANSWER,
        FaxReason.COMMUNICATION_ERROR,
        FaxReason.REMOTE_HANGUP,
        FaxReason.LINE_ERROR,
        FaxReason.INTERNAL_ERROR,
        FaxReason.TIMEOUT,
        FaxReason.SERVER_SUSPENDED,
    }
)

_ALL_REASONS: frozenset[str] = frozenset(FaxReason) | frozenset(MailReason)


def is_known_reason(word: str) -> bool:
    return word in _ALL_REASONS


def retryable_for(reason: str, outcome: Outcome) -> bool | None:
    """Whether resending may help: None for deliveries and pending faxes, else by reason."""
    if outcome is not Outcome.FAILED:
        return None
    return reason in RETRYABLE_REASONS
