"""Test data: articles stored through the real repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from model.articles import ParsedArticle
from storage.articles import store_article
from storage.models import Article
from storage.session import Database


def parsed(
    title: str,
    *,
    paragraphs: list[str] | None = None,
    source: str | None = "Reuters",
    authors: list[str] | None = None,
    dateline: str | None = None,
    published_at: datetime | None = None,
) -> ParsedArticle:
    return ParsedArticle(
        title=title,
        paragraphs=paragraphs or [f"Body of {title}.", "A second paragraph."],
        source=source,
        authors=authors or [],
        dateline=dateline,
        published_at=published_at,
    )


async def add_articles(db: Database, *titles: str, now: datetime | None = None, **kwargs: object) -> list[Article]:
    """Store one article per title, oldest first (later titles get higher ids)."""
    now = now or datetime.now(UTC)
    stored = []
    async with db.session() as session:
        for offset, title in enumerate(titles):
            result = await store_article(
                session,
                parsed(title, **kwargs),
                now=now - timedelta(minutes=len(titles) - offset),  # type: ignore[arg-type]
            )
            stored.append(result.article)
    return stored
