"""Logging set-up that keeps the bot token out of every log line, traceback and printed error.

The token travels in the path of every Bot API request (/bot<token>/method), so anything that echoes a URL can
carry it: httpx's request lines, an error body from the Bot API or a proxy in front of it (sometimes upper- or
lower-cased), an exception message, a traceback. Redaction therefore runs on the finished text, after the
formatter has added the traceback, and matches the token whatever its case.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

from model.secrets import Redactor

# One per process: the CLI registers the token as soon as the settings are read.
redact = Redactor()


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole text, traceback and stack included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class QuietJsonErrors(logging.Filter):
    """python-telegram-bot logs an unreadable Bot API answer with the JSON parser's traceback; the line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        from_ptb = record.name.startswith("telegram.")
        if from_ptb and record.exc_info and isinstance(record.exc_info[1], json.JSONDecodeError):
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str, *, secrets: Iterable[str] = ()) -> None:
    for secret in secrets:
        redact.add_secret(secret)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(QuietJsonErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per HTTP request is noise at INFO, and those lines are where tokens would leak.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def print_error(message: str) -> None:
    """One line on standard error for the person at the terminal, token redacted."""
    print(f"newsbot: {redact(message)}", file=sys.stderr)
