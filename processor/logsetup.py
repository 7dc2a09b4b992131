"""One logging format for the daemon, the worker process and the CLI."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        force=True,
    )
    # aiosmtpd logs every command at INFO; its connection lines are enough at WARNING for operators.
    quiet = max(logging.WARNING, logging.getLogger().level)
    logging.getLogger("mail.log").setLevel(quiet)
    logging.getLogger("alembic").setLevel(quiet)
