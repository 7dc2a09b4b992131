"""Outbound mail through the operator's relay (`[outbound]`), with stdlib smtplib.

Only mail faxbounce writes itself (the digest, sender alerts) is ever sent: received mail is never relayed.
STARTTLS, when asked for, is required (no silent fallback to clear text), and AUTH only follows it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence

from processor.config import OutboundSettings
from processor.errors import FaxbounceError

__all__ = ["MailError", "send_mail"]


class MailError(FaxbounceError):
    """The relay could not be reached or refused the mail; the message names the relay and the reply."""


def send_mail(settings: OutboundSettings, recipients: Sequence[str], message: bytes) -> None:
    """Hand one mail to the relay for these recipients; raises MailError with one readable line."""
    if not settings.relay:
        raise MailError("outbound.relay is not set: faxbounce has no relay to send mail through")
    host, _, port = settings.relay.rpartition(":")
    host = host.strip("[]")
    try:
        with smtplib.SMTP(host, int(port), timeout=settings.timeout) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise MailError(f"relay {settings.relay} does not offer STARTTLS (outbound.starttls = true)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password)
            refused = smtp.sendmail(settings.sender, list(recipients), message)
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise MailError(f"relay {settings.relay} answered {exc.smtp_code} {' '.join(text.split())}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"relay {settings.relay} refused every recipient: {_refusals(exc.recipients)}") from None
    except smtplib.SMTPException as exc:
        raise MailError(f"relay {settings.relay}: {exc}") from None
    except ssl.SSLError as exc:
        raise MailError(f"relay {settings.relay}: TLS failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise MailError(f"relay {settings.relay} not reachable: {exc.strerror or exc}") from None
    if refused:
        raise MailError(f"relay {settings.relay} refused {_refusals(refused)}")


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({code} {reply.decode('utf-8', 'replace')})"
                     for address, (code, reply) in refused.items())
