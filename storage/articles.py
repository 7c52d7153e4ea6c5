"""Articles: storing a parsed article once per story, and reading them back. Every function takes the caller's
session and never commits: the unit of work does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from model.articles import ParsedArticle
from model.identity import canonical_url, guid_key
from model.topics import normalise_topics
from storage.models import (
    Article,
)
from storage.session import add_unless_taken


@dataclass(frozen=True, slots=True)
class StoreResult:
    article: Article
    created: bool
    updated: bool = False  # an existing article was rewritten with a changed feed entry


async def store_article(
    session: AsyncSession,
    parsed: ParsedArticle,
    *,
    now: datetime,
    source_id: int | None = None,
    entry_hash: str | None = None,
    seen_at: datetime | None = None,
    page_tries_left: int | None = None,
) -> StoreResult:
    """Store the article once: an existing row with the same story is returned instead.

    The same story is, in this order: the same GUID from the same source, the same canonical URL (see
    model.identity), or the same text (content fingerprint). When a feed entry (`source_id` given) matches an
    article from that same source by GUID or URL and its text changed, that row is updated in place.
    `seen_at` is the publication time given to a new article whose entry carries no usable date.
    `page_tries_left` goes on a new or rewritten row: its article page is still to fetch (see Article).
    """
    fingerprint = parsed.fingerprint()
    guid = guid_key(parsed.guid)
    canonical = canonical_url(parsed.url)
    existing, matched_by = await _find_same_story(
        session, source_id=source_id, guid=guid, canonical=canonical, fingerprint=fingerprint
    )
    if existing is not None:
        fingerprint_free = existing.fingerprint == fingerprint or await _fingerprint_free(session, fingerprint)
        return _same_story(
            existing, matched_by, parsed, fingerprint=fingerprint, guid=guid, source_id=source_id,
            entry_hash=entry_hash, fingerprint_free=fingerprint_free, now=now, page_tries_left=page_tries_left,
        )  # fmt: skip
    article = _new_article(
        parsed, fingerprint=fingerprint, guid=guid, canonical=canonical, source_id=source_id,
        entry_hash=entry_hash, now=now, seen_at=seen_at, page_tries_left=page_tries_left,
    )  # fmt: skip

    async def stored_meanwhile() -> Article | None:
        found, _ = await _find_same_story(
            session, source_id=None, guid=None, canonical=canonical, fingerprint=fingerprint
        )
        return found

    stored, created = await add_unless_taken(session, article, stored_meanwhile)
    return StoreResult(stored, created=created)


async def store_articles(
    session: AsyncSession,
    items: Sequence[tuple[ParsedArticle, str | None]],
    *,
    now: datetime,
    source_id: int | None = None,
    seen_at: datetime | None = None,
    page_tries: Sequence[int | None] | None = None,
) -> list[StoreResult]:
    """`store_article` for many (article, entry_hash) pairs at once, with the same rules and results in order.

    One query finds every stored candidate and new rows go in as one multi-row insert, instead of a few
    round trips per article. Should another writer store one of the same stories meanwhile (the insert
    fails on a unique key), the new ones are stored one by one, each with its own check.
    `page_tries`, when given, is each item's `page_tries_left` (see store_article).
    """
    tries = list(page_tries) if page_tries is not None else [None] * len(items)
    assert len(tries) == len(items)
    keyed = [(parsed, entry_hash, parsed.fingerprint(), guid_key(parsed.guid), canonical_url(parsed.url))
             for parsed, entry_hash in items]  # fmt: skip
    pool = await _candidates(
        session,
        source_id=source_id,
        fingerprints={k[2] for k in keyed},
        canonicals={k[4] for k in keyed if k[4]},
        guids={k[3] for k in keyed if k[3]},
    )
    index = _StoryIndex(pool, source_id)
    results: list[StoreResult] = []
    fresh: list[Article] = []
    for (parsed, entry_hash, fingerprint, guid, canonical), tries_left in zip(keyed, tries, strict=True):
        existing, matched_by = _match(index.candidates(guid, canonical, fingerprint), source_id=source_id, guid=guid,
                                      canonical=canonical, fingerprint=fingerprint)  # fmt: skip
        if existing is not None:
            holder = index.by_fingerprint.get(fingerprint)
            fingerprint_free = holder is None or holder is existing
            results.append(_same_story(
                existing, matched_by, parsed, fingerprint=fingerprint, guid=guid, source_id=source_id,
                entry_hash=entry_hash, fingerprint_free=fingerprint_free, now=now, page_tries_left=tries_left,
            ))  # fmt: skip
            continue
        article = _new_article(
            parsed, fingerprint=fingerprint, guid=guid, canonical=canonical, source_id=source_id,
            entry_hash=entry_hash, now=now, seen_at=seen_at, page_tries_left=tries_left,
        )  # fmt: skip
        index.add(article)  # a later entry of this batch can be the same story
        fresh.append(article)
        results.append(StoreResult(article, created=True))
    if not fresh:
        return results
    try:
        async with session.begin_nested():
            session.add_all(fresh)
    except IntegrityError:
        retried = []
        for (parsed, entry_hash), tries_left, result in zip(items, tries, results, strict=True):
            if result.created:
                result = await store_article(
                    session, parsed, now=now, source_id=source_id, entry_hash=entry_hash, seen_at=seen_at,
                    page_tries_left=tries_left,
                )  # fmt: skip
            retried.append(result)
        return retried
    return results


class _StoryIndex:
    """Stored and just-created articles by fingerprint, canonical URL and (this source's) GUID.

    Rewrites in place (changed entries) are not re-indexed: a batch never holds two versions of one entry.
    """

    def __init__(self, articles: Iterable[Article], source_id: int | None) -> None:
        self.source_id = source_id
        self.by_fingerprint: dict[str, Article] = {}
        self.by_canonical: dict[str, Article] = {}
        self.by_guid: dict[str, Article] = {}
        for article in articles:
            self.add(article)

    def add(self, article: Article) -> None:
        self.by_fingerprint.setdefault(article.fingerprint, article)
        if article.canonical_url:
            self.by_canonical.setdefault(article.canonical_url, article)
        if article.guid and self.source_id is not None and article.source_id == self.source_id:
            self.by_guid.setdefault(article.guid, article)

    def candidates(self, guid: str | None, canonical: str | None, fingerprint: str) -> list[Article]:
        found = [self.by_guid.get(guid) if guid else None, self.by_canonical.get(canonical) if canonical else None,
                 self.by_fingerprint.get(fingerprint)]  # fmt: skip
        return [article for article in found if article is not None]


_IN_CHUNK = 300  # values per IN (...) list, well below every backend's parameter limit


async def _candidates(
    session: AsyncSession, *, source_id: int | None, fingerprints: set[str], canonicals: set[str], guids: set[str]
) -> list[Article]:
    found: dict[int, Article] = {}

    async def load(condition: Any) -> None:
        for article in await session.scalars(select(Article).where(condition)):
            found[article.id] = article

    for chunk in _chunks(fingerprints):
        await load(Article.fingerprint.in_(chunk))
    for chunk in _chunks(canonicals):
        await load(Article.canonical_url.in_(chunk))
    if source_id is not None:
        for chunk in _chunks(guids):
            await load((Article.source_id == source_id) & Article.guid.in_(chunk))
    return sorted(found.values(), key=lambda a: a.id)


def _chunks(values: set[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK)]


def _new_article(
    parsed: ParsedArticle,
    *,
    fingerprint: str,
    guid: str | None,
    canonical: str | None,
    source_id: int | None,
    entry_hash: str | None,
    now: datetime,
    seen_at: datetime | None,
    page_tries_left: int | None = None,
) -> Article:
    return Article(
        title=parsed.title,
        lead=parsed.lead,
        body=parsed.body,
        authors=list(parsed.authors),
        source=parsed.source,
        dateline=parsed.dateline,
        url=parsed.url,
        published_at=parsed.published_at or seen_at,
        ingested_at=now,
        fingerprint=fingerprint,
        topics=normalise_topics(parsed.topics),
        source_id=source_id,
        guid=guid,
        canonical_url=canonical,
        entry_hash=entry_hash,
        page_tries_left=page_tries_left,
    )


def _same_story(
    existing: Article,
    matched_by: str,
    parsed: ParsedArticle,
    *,
    fingerprint: str,
    guid: str | None,
    source_id: int | None,
    entry_hash: str | None,
    fingerprint_free: bool,
    now: datetime,
    page_tries_left: int | None = None,
) -> StoreResult:
    """The story is stored already: update it in place when its own feed changed it, else leave it."""
    if source_id is not None and existing.source_id == source_id and matched_by != "text":
        if existing.fingerprint == fingerprint:
            # The same entry, perhaps under a re-issued GUID: remember how the feed names it now.
            existing.guid = guid or existing.guid
            existing.entry_hash = entry_hash or existing.entry_hash
        elif (matched_by == "guid" or existing.guid is None or guid is None) and fingerprint_free:
            _rewrite(existing, parsed, fingerprint=fingerprint, entry_hash=entry_hash, now=now)
            existing.page_tries_left = page_tries_left  # the new text's page state replaces the old one's
            return StoreResult(existing, created=False, updated=True)
    return StoreResult(existing, created=False)


async def _find_same_story(
    session: AsyncSession, *, source_id: int | None, guid: str | None, canonical: str | None, fingerprint: str
) -> tuple[Article | None, str]:
    conditions = [Article.fingerprint == fingerprint]
    if canonical is not None:
        conditions.append(Article.canonical_url == canonical)
    if guid is not None and source_id is not None:
        conditions.append((Article.source_id == source_id) & (Article.guid == guid))
    candidates = list(await session.scalars(select(Article).where(or_(*conditions)).limit(5)))
    return _match(candidates, source_id=source_id, guid=guid, canonical=canonical, fingerprint=fingerprint)


def _match(
    candidates: Sequence[Article], *, source_id: int | None, guid: str | None, canonical: str | None, fingerprint: str
) -> tuple[Article | None, str]:
    """The stored story this article is: a GUID match from the same source ("guid") wins, then the canonical
    URL ("url"), then the text ("text"); ("", None) when there is none."""
    best: tuple[int, Article] | None = None
    for article in candidates:
        if guid is not None and source_id is not None and article.source_id == source_id and article.guid == guid:
            rank = 0
        elif canonical is not None and article.canonical_url == canonical:
            rank = 1
        elif article.fingerprint == fingerprint:
            rank = 2
        else:
            continue
        if best is None or rank < best[0]:
            best = (rank, article)
    if best is None:
        return None, ""
    return best[1], ("guid", "url", "text")[best[0]]


async def _fingerprint_free(session: AsyncSession, fingerprint: str) -> bool:
    return await session.scalar(select(Article.id).where(Article.fingerprint == fingerprint)) is None


def _rewrite(
    article: Article, parsed: ParsedArticle, *, fingerprint: str, entry_hash: str | None, now: datetime
) -> None:
    article.title = parsed.title
    article.lead = parsed.lead
    article.body = parsed.body
    article.authors = list(parsed.authors)
    article.topics = normalise_topics(parsed.topics)
    article.fingerprint = fingerprint
    if parsed.url:
        article.url = parsed.url
    if parsed.published_at is not None:
        article.published_at = parsed.published_at
    if entry_hash is not None:
        article.entry_hash = entry_hash
    article.updated_at = now


async def known_entries(
    session: AsyncSession, source_id: int, *, guids: Sequence[str], urls: Sequence[str]
) -> list[tuple[int | None, str | None, str | None, str | None]]:
    """(source_id, guid, canonical_url, entry_hash) of stored articles matching these GUIDs or canonical URLs."""
    keys = [key for key in (guid_key(g) for g in guids) if key]
    canonicals = [c for c in (canonical_url(u) for u in urls) if c]
    conditions: list[ColumnElement[bool]] = []
    if keys:
        conditions.append((Article.source_id == source_id) & Article.guid.in_(keys))
    if canonicals:
        conditions.append(Article.canonical_url.in_(canonicals))
    if not conditions:
        return []
    query = select(Article.source_id, Article.guid, Article.canonical_url, Article.entry_hash).where(or_(*conditions))
    return [(source, guid, url, entry_hash) for source, guid, url, entry_hash in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class PendingPage:
    """A stored feed article that still has only its summary: its page is to be fetched on a later poll."""

    article_id: int
    # The stored article as the parser would give it, so the page completes it the way it completes an entry.
    parsed: ParsedArticle
    entry_hash: str | None
    tries_left: int
    published_at: datetime | None
    canonical_url: str | None


async def pending_pages(session: AsyncSession, source_id: int, limit: int) -> list[PendingPage]:
    """This source's articles whose page is still to fetch, newest first (by publication time)."""
    query = (
        select(Article)
        .where(Article.source_id == source_id, Article.page_tries_left > 0)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(limit)
    )
    return [
        PendingPage(
            article_id=row.id,
            parsed=ParsedArticle(
                title=row.title,
                paragraphs=row.body.split("\n\n") if row.body else [],  # the body is the paragraphs joined
                source=row.source,
                authors=list(row.authors or []),
                dateline=row.dateline,
                url=row.url,
                published_at=row.published_at,
                topics=list(row.topics or []),
                guid=row.guid,  # its stored key, which guid_key() keeps as it is
            ),
            entry_hash=row.entry_hash,
            tries_left=row.page_tries_left or 0,
            published_at=row.published_at,
            canonical_url=row.canonical_url,
        )
        for row in await session.scalars(query)
    ]


async def set_page_tries(session: AsyncSession, tries_left: dict[int, int | None]) -> None:
    """Set `page_tries_left` of these articles (by id); None: the page is done with."""
    by_value: dict[int | None, list[int]] = {}
    for article_id, value in tries_left.items():
        by_value.setdefault(value, []).append(article_id)
    for value, ids in by_value.items():
        await session.execute(update(Article).where(Article.id.in_(ids)).values(page_tries_left=value))


async def get_article(session: AsyncSession, article_id: int) -> Article | None:
    return await session.get(Article, article_id)


async def latest_articles(session: AsyncSession, limit: int, *, before_id: int | None = None) -> list[Article]:
    """Newest first by ingestion order; `before_id` pages further back."""
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Article.id < before_id)
    return list(await session.scalars(query))


async def articles_after(
    session: AsyncSession, after_id: int, limit: int, *, before_id: int | None = None
) -> list[Article]:
    """The newest `limit` articles with id above `after_id` (and below `before_id` when given), newest first."""
    query = select(Article).where(Article.id > after_id).order_by(Article.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Article.id < before_id)
    return list(await session.scalars(query))


async def recent_topic_lists(session: AsyncSession, since: datetime, *, limit: int = 5000) -> list[list[str]]:
    """The topics of the newest `limit` articles stored since `since` (one list per article)."""
    query = select(Article.topics).where(Article.ingested_at >= since).order_by(Article.id.desc()).limit(limit)
    return [list(topics or []) for topics in await session.scalars(query)]
