"""Keeping bot tokens out of text: logs, tracebacks, and error descriptions stored with deliveries.

The token travels in the path of every Bot API request (/bot<token>/method), so anything that echoes a URL can
carry it, sometimes upper- or lower-cased.
"""

from __future__ import annotations

import re

REDACTED = "<token>"

# Anything shaped like a bot token (digits, ':' or its URL-encoded form, 20+ token characters), known or not.
_TOKEN_SHAPED = r"\d{3,}(?::|%3a)[a-z0-9_-]{20,}"


class Redactor:
    """Replaces bot tokens in text: the known ones, their secret halves, and anything token-shaped."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern = re.compile(_TOKEN_SHAPED, re.IGNORECASE)

    def add_secret(self, token: str) -> None:
        token = token.strip()
        if not token:
            return
        # The part after the colon is the secret; the bot id before it is public and too short to match on.
        secret = token.split(":", 1)[-1]
        self._secrets.update(part for part in (token, secret) if len(part) >= 8)
        alternatives = [re.escape(part) for part in sorted(self._secrets, key=len, reverse=True)]
        self._pattern = re.compile("|".join([_TOKEN_SHAPED, *alternatives]), re.IGNORECASE)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text)
