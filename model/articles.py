"""The value every ingest path produces and storage consumes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from model.identity import MAX_URL_LENGTH, content_fingerprint
from model.text import clean_line, clean_text, clean_url

# The most characters ingest stores in each bounded column (storage.models sizes its columns with these).
MAX_TITLE_CHARS = 300  # articles.title is TEXT, but a headline this long is not one; as sources.title
MAX_SOURCE_CHARS = 200  # articles.source
MAX_DATELINE_CHARS = 200  # articles.dateline
MAX_NAME_CHARS = 200  # one author or topic (JSON lists without a column limit: bounded so a byline fits a message)
MAX_FEED_TITLE_CHARS = 300  # sources.title
MAX_LANGUAGE_CHARS = 35  # sources.language: RFC 5646 tags that matter fit in 35 (its section 4.4.1)
MAX_URL_CHARS = MAX_URL_LENGTH  # sources.url, sources.site_url, articles.canonical_url


class ArticleParseError(ValueError):
    """The input holds no article we can store (empty, no title, no body)."""


def _names(values: Iterable[str]) -> list[str]:
    return [name for name in (clean_line(value, MAX_NAME_CHARS) for value in values) if name]


def _optional_line(limit: int | None) -> Callable[[str | None], str | None]:
    return lambda value: clean_line(value, limit) or None if value else None


# How each field is made storable; every assignment goes through these (see ParsedArticle.__setattr__).
_CLEAN_ARTICLE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "title": lambda value: clean_line(value, MAX_TITLE_CHARS),
    "paragraphs": lambda values: [p for p in map(clean_text, values) if p.strip()],
    "source": _optional_line(MAX_SOURCE_CHARS),
    "authors": _names,
    "dateline": _optional_line(MAX_DATELINE_CHARS),
    "url": lambda value: clean_url(value, MAX_URL_CHARS),
    "topics": _names,
    "guid": _optional_line(None),  # not cut: storage keys long ids by their hash
}


@dataclass(slots=True)
class ParsedArticle:
    """One article as ingest hands it to storage. Its text is clean by construction: every field assigned, at
    construction, by `dataclasses.replace` or later, is cleaned and cut to its column (model.text), so
    nothing stored from it can fail for its encoding, a NUL or its length, whichever parser made it."""

    title: str
    paragraphs: list[str]
    source: str | None = None
    authors: list[str] = field(default_factory=list)
    dateline: str | None = None
    url: str | None = None
    published_at: datetime | None = None  # timezone-aware when known
    topics: list[str] = field(default_factory=list)
    guid: str | None = None  # the entry's id in its feed, when it came from one

    def __setattr__(self, name: str, value: Any) -> None:
        clean = _CLEAN_ARTICLE_FIELDS.get(name)
        object.__setattr__(self, name, clean(value) if clean is not None else value)

    @property
    def lead(self) -> str:
        return self.paragraphs[0] if self.paragraphs else ""

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    def fingerprint(self) -> str:
        """Identity of the story's text: same title and body (modulo case, spacing, punctuation) -> same value."""
        return content_fingerprint(self.title, self.body)
