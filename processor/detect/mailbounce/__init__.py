"""The generic delivery-report family: RFC 3464 DSNs, the MTAs' own bounce texts and Amazon SES notices.

Modules, in the order a mail goes through them:
- `detector`: `read_reports`, which reads the RFC 3464 fields and joins the readers below (`DeliveryReportDetector`,
  defined here, loads it on first use);
- `bounce_text`: the free-text reader (qmail, Exim, Exchange, Gmail, Japanese carriers, ...), with the
  MTAs' end markers (`end_markers.tsv`) and own wordings (`vendor_reasons.tsv`);
- `ses`: Amazon SES JSON notifications;
- `codes`: addresses, SMTP commands, replies and statuses inside free text;
- `rhost`: providers known by host name and their own codes and wordings (`rhost_hosts.tsv`,
  `rhost_reasons.tsv`, after Sisimai's Rhost), read before the generic phrases;
- `reason_match`: status and phrases to Sisimai's reason word, one check per reason (`FIRST_PASS`);
- `tables`: the loader of the data files (`status_reasons.tsv`, `phrases.tsv`, `pseudo_status.tsv` and
  the ones above), each checked at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from processor.detect.base import NeedsNoSettings
from processor.reasons import Kind

if TYPE_CHECKING:
    from processor.detect.base import Detection
    from processor.parse import ParsedMail

__all__ = ["DeliveryReportDetector"]


class DeliveryReportDetector(NeedsNoSettings):
    """The family's detector, last in `DETECTORS`. Its readers and their tables load on the first mail that
    reaches it, not when `processor.detect` is imported: they were a fifth of the imports of `faxbounce
    classify`, and a vendor notice is claimed before it gets here."""

    name: ClassVar[str] = "dsn"
    kind: ClassVar[Kind] = Kind.DSN

    def detect(self, mail: ParsedMail) -> Detection | None:
        from processor.detect.mailbounce.detector import read_reports  # the tables load here, once

        return read_reports(mail)
