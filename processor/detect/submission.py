r"""Fax submissions: mails sent to an e-mail-to-fax service, one fax per `<number>@fax.tc` recipient.

Recognised by the mail's own recipients only: To, Cc, Bcc (kept in the sender's BCC copy by some
mailers) and the envelope recipients of the stored copy (`ParsedMail.envelope_recipients`). An embedded
original never counts (fax.tc bounces carry the refused submission inside), and neither do mails from
the fax domain itself (results and bounces) or delivery reports. A copy made by a Postfix
`recipient_bcc_maps` pcre entry (`/^(.+)@fax\.tc$/ fax-submissions+$1@…`) names its number in the
sub-address of its envelope recipient: that is the only trace of a destination given in Bcc alone, since
`sendmail -t` and every MUA strip the Bcc header. The number is the address's local part
in the configured form (`tracking.number_pattern`); the subject loses InterFAX's trailing options
(`/b`, `/h text`, `/d 2026-11-20 10:00`, …) so it can be compared with a result's original subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from processor import regex_cache
from processor.detect.base import Detection, DetectorSettings
from processor.detect.subjects import normalize_message_id, strip_subject_options
from processor.domains import is_domain_or_subdomain, normalize_domain
from processor.parse import ParsedMail
from processor.parse.mail import address_of, address_pairs
from processor.reasons import Kind
from processor.records import FaxDestination, FaxSubmission

__all__ = ["SubmissionDetector"]

DEFAULTS = DetectorSettings()
DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})
MAX_DESTINATIONS = 1000  # InterFAX takes 500 per mail; more is not a submission we can track sensibly


class SubmissionDetector:
    name: ClassVar[str] = "fax_submission"
    kind: ClassVar[Kind] = Kind.FAX_SUBMISSION

    def __init__(self, domains: Iterable[str] = DEFAULTS.fax_domains,
                 number_pattern: str = DEFAULTS.number_pattern,
                 submission_mailbox: str = DEFAULTS.submission_mailbox) -> None:
        self.domains = tuple(normalize_domain(d) for d in domains if d.strip())
        self.domain_labels = tuple(tuple(domain.split(".")) for domain in self.domains)
        self.number_re = regex_cache.compile(number_pattern)
        self.subaddress_prefix = submission_mailbox.strip().lower() + "+" if submission_mailbox.strip() else ""

    def configured(self, settings: DetectorSettings) -> SubmissionDetector:
        return SubmissionDetector(settings.fax_domains, settings.number_pattern, settings.submission_mailbox)

    def detect(self, mail: ParsedMail) -> Detection | None:
        """The submission (no results: a submission reports nothing yet), or None."""
        submission = self._read(mail)
        return None if submission is None else Detection(submission=submission)

    def _read(self, mail: ParsedMail) -> FaxSubmission | None:
        local, _, domain = mail.from_address.partition("@")
        if is_domain_or_subdomain(domain, self.domains) or local in DAEMON_LOCALPARTS:
            return None  # the service's own mail: results and bounces
        if mail.content_type == "multipart/report":
            return None
        destinations: dict[str, FaxDestination] = {}
        for source in ("to", "cc", "bcc"):
            if self.may_name_fax_domain(values := mail.header_all(source)):
                for address in _addresses(values):
                    self._add(destinations, address, source)
        for address in mail.envelope_recipients:
            address = address.strip().strip("<>").lower()
            self._add(destinations, self._from_subaddress(address) or address, "envelope")
        if not destinations:
            return None
        subject = mail.subject_as_written or None  # stored and shown: as sent, not folded for matching
        return_path = address_of(mail.header("return-path") or "")[1].lower() or None
        return FaxSubmission(
            destinations=tuple(destinations.values())[:MAX_DESTINATIONS],
            message_id=normalize_message_id(mail.message_id),
            sender=mail.from_address or None,
            return_path=return_path,
            subject=subject,
            subject_base=strip_subject_options(subject) if subject is not None else None,
            submitted_at=mail.date if mail.date is not None and mail.date.tzinfo is not None else None,
        )

    def may_name_fax_domain(self, values: Iterable[str]) -> bool:
        """False when no address in `values` can be at a fax domain: some label of each domain is missing from
        the text. Most mail is no submission, and the address parser was a fifth of reading it. Labels, not the
        whole name, because the parser joins a domain written with obsolete spacing or comments (`fax . tc`)."""
        text = " ".join(values).lower()
        return any(all(label in text for label in labels) for labels in self.domain_labels)

    def _add(self, found: dict[str, FaxDestination], address: str, source: str) -> None:
        local, at, domain = address.rpartition("@")
        if not at or not is_domain_or_subdomain(domain, self.domains) or address in found:
            return
        if len(local) > 1 and local[0] == local[-1] == '"':  # `"03-5555-0101"@fax.tc` is the same mailbox
            local = local[1:-1]
        match = self.number_re.fullmatch(local)
        if match is None:
            return
        number = match.group("number") if "number" in self.number_re.groupindex else match.group(0)
        found[address] = FaxDestination(recipient=address, fax_number_raw=number, source=source)

    def _from_subaddress(self, address: str) -> str | None:
        """`fax-submissions+0355550101@faxbounce.example.com` → `0355550101@fax.tc` (the first fax domain)."""
        local, at, _domain = address.rpartition("@")
        if not at or not self.subaddress_prefix or not self.domains or not local.startswith(self.subaddress_prefix):
            return None
        return f"{local[len(self.subaddress_prefix):]}@{self.domains[0]}"

    def _fax_domain(self, domain: str) -> bool:
        domain = domain.lower().strip(".")
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


def _addresses(values: Iterable[str]) -> list[str]:
    try:
        pairs = address_pairs(values)
    except Exception:  # noqa: BLE001 - the stdlib parser has raised on hostile input before
        return []
    return [address.strip().lower() for _, address in pairs if "@" in address]
