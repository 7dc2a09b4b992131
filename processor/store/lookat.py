"""Mail a person should read: the `mail_to_look_at` view (revision 0004), for `faxbounce report`.

`unrecognized` mail bears a fax service's marks but gave no result; `unparseable` and `error` mail could not be
processed at all. Their raw bytes are kept (until retention drops them), so a fixed catalogue or detector and
`faxbounce reprocess` can still read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from processor.store.models import UTCDateTime

__all__ = ["MailToLookAt", "mail_to_look_at"]


@dataclass(frozen=True, slots=True)
class MailToLookAt:
    inbound_message_id: int
    received_at: datetime
    problem: str
    """`unrecognized`, `unparseable` or `error`."""
    from_address: str | None
    subject: str | None
    error: str | None


_QUERY = sa.text(
    "SELECT inbound_message_id, received_at, problem, from_address, subject, error FROM mail_to_look_at "
    "WHERE received_at >= :since ORDER BY received_at, inbound_message_id"
).bindparams(sa.bindparam("since", type_=UTCDateTime())).columns(received_at=UTCDateTime())


def mail_to_look_at(connection: Connection, since: datetime) -> list[MailToLookAt]:
    """The mails received since `since` that a person should read, oldest first."""
    return [MailToLookAt(row.inbound_message_id, row.received_at, row.problem, row.from_address, row.subject,
                         row.error) for row in connection.execute(_QUERY, {"since": since})]
