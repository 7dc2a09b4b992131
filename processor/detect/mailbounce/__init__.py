"""The generic delivery-report family: RFC 3464 DSNs, the MTAs' own bounce texts and Amazon SES notices.

Modules, in the order a mail goes through them:
- `detector`: `DeliveryReportDetector`, which reads the RFC 3464 fields and joins the readers below;
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

from processor.detect.mailbounce.detector import (
    DeliveryReportDetector,
    is_auto_reply,
    is_feedback_report,
    read_delivery_status,
)

__all__ = ["DeliveryReportDetector", "is_auto_reply", "is_feedback_report", "read_delivery_status"]
