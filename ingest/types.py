"""The value every ingest path produces and storage consumes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime


class ArticleParseError(ValueError):
    """The input holds no article we can store (empty, no title, no body)."""


@dataclass(slots=True)
class ParsedArticle:
    title: str
    paragraphs: list[str]
    source: str | None = None
    authors: list[str] = field(default_factory=list)
    dateline: str | None = None
    url: str | None = None
    published_at: datetime | None = None  # timezone-aware when known
    topics: list[str] = field(default_factory=list)
    guid: str | None = None  # the entry's id in its feed, when it came from one

    @property
    def lead(self) -> str:
        return self.paragraphs[0] if self.paragraphs else ""

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    def fingerprint(self) -> str:
        """Identity of the story's text: same title and body (modulo case, spacing, punctuation) -> same value."""
        return content_fingerprint(self.title, self.body)


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def content_fingerprint(title: str, body: str) -> str:
    def norm(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold()
        return _NON_WORD.sub(" ", text).strip()

    digest = hashlib.sha256()
    digest.update(norm(title).encode())
    digest.update(b"\x00")
    digest.update(norm(body).encode())
    return digest.hexdigest()
