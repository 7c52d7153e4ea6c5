"""What the renderers need from an article, as a structural type.

Read-only properties rather than plain attributes, so that the SQLAlchemy model, frozen dataclasses and
classes computing `lead`/`body` as properties (like `model.articles.ParsedArticle`) all satisfy it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class ArticleLike(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def lead(self) -> str: ...

    @property
    def body(self) -> str:
        """Paragraphs separated by a blank line ("\\n\\n")."""
        ...

    @property
    def authors(self) -> Sequence[str]: ...

    @property
    def source(self) -> str | None: ...

    @property
    def dateline(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def published_at(self) -> datetime | None:
        """Timezone-aware UTC, when known."""
        ...

    @property
    def ingested_at(self) -> datetime:
        """Timezone-aware UTC."""
        ...
