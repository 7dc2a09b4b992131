"""One logging format for the daemon, the worker process and the CLI: text lines, or JSON lines.

A line about one mail carries its id: log it with `extra={"mail_id": id}` (the JSON format has it as
`mail_id`). Never log mail bodies; subjects and addresses only where an operator needs them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Control characters (C0, DEL, C1, Unicode line breaks) and how a text line shows them."""


class TextFormatter(logging.Formatter):
    """One line per event: control characters in the message (a client's HELO, MAIL FROM or command,
    which may carry CR, LF or terminal escapes) are shown escaped, so no one can forge a log line. A
    traceback, appended after the line, keeps its own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_CONTROLS)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, process, message, mail_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        mail_id = getattr(record, "mail_id", None)
        if mail_id is not None:
            document["mail_id"] = mail_id
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # aiosmtpd logs every command at INFO; its connection lines are enough at WARNING for operators.
    quiet = max(logging.WARNING, logging.getLogger().level)
    logging.getLogger("mail.log").setLevel(quiet)
    logging.getLogger("alembic").setLevel(quiet)
