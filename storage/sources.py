"""Feed sources: data access. Like the other storage modules, every function takes the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from model.articles import MAX_FEED_TITLE_CHARS, MAX_URL_CHARS
from model.sources import REPORT_AFTER, REPORT_AFTER_FAILURES, backoff
from model.text import clean_line
from storage.models import Article, ArticleSource, Source, SourceFollow
from storage.session import add_unless_taken


async def get_source(session: AsyncSession, source_id: int) -> Source | None:
    return await session.get(Source, source_id)


async def source_by_url(session: AsyncSession, url: str) -> Source | None:
    return await session.scalar(select(Source).where(Source.url == url))


async def list_sources(session: AsyncSession) -> list[Source]:
    return list(await session.scalars(select(Source).order_by(Source.id)))


async def add_source(
    session: AsyncSession,
    url: str,
    *,
    interval_minutes: int,
    now: datetime,
    title: str = "",
    site_url: str | None = None,
    language: str | None = None,
    public: bool = True,
    added_by: int | None = None,
) -> tuple[Source, bool]:
    """The source for this URL, created (due at once) unless it exists; returns (source, created).

    `public=False` with `added_by` (a chat id) makes a private source: a user's own feed."""
    existing = await source_by_url(session, url)
    if existing is not None:
        return existing, False
    source = Source(
        url=url,
        title=title[:MAX_FEED_TITLE_CHARS],
        site_url=site_url,
        language=language,
        interval_minutes=interval_minutes,
        created_at=now,
        next_poll_at=None,
        consecutive_failures=0,
        public=public,
        added_by=added_by,
    )
    return await add_unless_taken(session, source, lambda: source_by_url(session, url))


async def visible_sources(session: AsyncSession, subscriber_id: int) -> list[Source]:
    """The sources a chat may see: every public one, and the private ones it follows; by id."""
    followed = select(SourceFollow.source_id).where(SourceFollow.subscriber_id == subscriber_id)
    query = select(Source).where(or_(Source.public.is_(True), Source.id.in_(followed))).order_by(Source.id)
    return list(await session.scalars(query))


async def set_public(session: AsyncSession, source_id: int, public: bool) -> Source | None:
    source = await session.get(Source, source_id)
    if source is not None:
        source.public = public
    return source


async def delete_with_own_articles(session: AsyncSession, source_id: int) -> int:
    """Delete the source and the articles no other source also carried; how many articles went."""
    other_carrier = (
        select(ArticleSource.article_id)
        .where(ArticleSource.article_id == Article.id, ArticleSource.source_id != source_id)
        .exists()
    )
    carried_here = select(ArticleSource.article_id).where(ArticleSource.source_id == source_id)
    only_here = or_(Article.id.in_(carried_here), Article.source_id == source_id)
    result = await session.execute(
        delete(Article).where(only_here, ~other_carrier).execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    await session.execute(delete(Source).where(Source.id == source_id))
    return result.rowcount


async def claim_for_update(session: AsyncSession, source_id: int, now: datetime) -> Source | None:
    """Start the poll's write transaction with a write to the source row, and return the row (None if gone).

    Writing first matters on SQLite: its Python driver opens a transaction only at the first write, so a
    savepoint taken before any write (store_article takes one per article) would be the outermost
    transaction and its RELEASE would commit. It also takes SQLite's write lock up front, so the duplicate
    checks that follow cannot race with another poll. On PostgreSQL it just locks this one row.
    """
    result = await session.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(last_polled_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)  # what an UPDATE gives; Session.execute is typed as any Result
    if result.rowcount != 1:
        return None
    source = await session.get(Source, source_id, populate_existing=True)
    return source


async def remove_source(session: AsyncSession, source_id: int) -> Source | None:
    """Delete the source; its articles stay (their source_id becomes NULL). Returns the removed row."""
    source = await session.get(Source, source_id)
    if source is None:
        return None
    await session.execute(delete(Source).where(Source.id == source_id))
    return source


async def due_source_ids(session: AsyncSession, now: datetime, limit: int = 1000) -> list[int]:
    query = (
        select(Source.id)
        .where(or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
        .order_by(Source.next_poll_at.is_(None).desc(), Source.next_poll_at, Source.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def article_counts(session: AsyncSession, source_ids: Sequence[int]) -> dict[int, int]:
    """How many stored stories each source carried (a story several feeds carried counts for each)."""
    if not source_ids:
        return {}
    rows = await session.execute(
        select(ArticleSource.source_id, func.count())
        .where(ArticleSource.source_id.in_(list(source_ids)))
        .group_by(ArticleSource.source_id)
    )
    return {int(source_id): int(count) for source_id, count in rows.all()}


def record_success(
    source: Source,
    *,
    now: datetime,
    etag: str | None,
    last_modified: str | None,
    note: str | None = None,
    moved_to: str | None = None,
) -> bool:
    """A poll worked (new content or 304). Returns True when the source had been reported as failing."""
    was_reported = source.reported_at is not None
    source.last_polled_at = now
    source.last_success_at = now
    source.last_error = _error_text(note) if note else None
    source.consecutive_failures = 0
    source.failing_since = None
    source.reported_at = None
    source.next_poll_at = now + timedelta(minutes=source.interval_minutes)
    if etag is not None or last_modified is not None:
        source.etag = etag[:512] if etag else None
        source.last_modified = last_modified[:100] if last_modified else None
    # A redirect target too long for the column is not remembered; the old URL still leads there.
    if moved_to and moved_to != source.url and len(moved_to) <= MAX_URL_CHARS:
        source.url = moved_to
    return was_reported


def record_failure(source: Source, *, now: datetime, error: str) -> None:
    source.last_polled_at = now
    source.last_error = _error_text(error)
    source.consecutive_failures += 1
    if source.failing_since is None:
        source.failing_since = now
    source.next_poll_at = now + backoff(source.interval_minutes, source.consecutive_failures)


def _error_text(text: str) -> str:
    """Errors quote what servers and parsers said: cleaned like any outside text, so storing them cannot fail."""
    return clean_line(text, 2000)


async def sources_to_report(session: AsyncSession, now: datetime) -> list[Source]:
    query = select(Source).where(
        Source.reported_at.is_(None),
        Source.consecutive_failures > 0,
        or_(Source.consecutive_failures >= REPORT_AFTER_FAILURES, Source.failing_since <= now - REPORT_AFTER),
    )
    return list(await session.scalars(query.order_by(Source.id)))
