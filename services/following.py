"""Which sources a chat reads: listing, following and unfollowing, a user's own feeds.

A chat starts out following every public source (Subscriber.follows_all). `/add` lets any user add a feed of
their own: one source row per feed URL (polled once however many chats follow it), private to the chats that
follow it until an admin makes it public. A private source nobody follows any more is deleted with the articles
no other source carried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from model.terms import fold
from services.feeds import FeedService, PollResult, SourceError
from storage import follows as follow_repo
from storage import sources as source_repo
from storage.models import Source, Subscriber
from storage.session import Database

MAX_NAME_QUERY = 100  # a source name typed in /follow longer than this is refused
MAX_CANDIDATES = 8  # an ambiguous name lists at most this many sources


@dataclass(frozen=True, slots=True)
class SourceView:
    """One line of a chat's /sources."""

    source: Source
    articles: int
    following: bool


@dataclass(slots=True)
class Lookup:
    """What a typed id or name found among the sources a chat may see: one source, several, or none."""

    found: Source | None = None
    candidates: list[Source] = field(default_factory=list)


async def chat_sources(session: AsyncSession, subscriber: Subscriber) -> list[SourceView]:
    """The public sources and the chat's private ones, each with its article count and whether it is followed."""
    sources = await source_repo.visible_sources(session, subscriber.id)
    followed = (await follow_repo.followed_sources(session, [subscriber.id])).get(subscriber.id, frozenset())
    counts = await source_repo.article_counts(session, [s.id for s in sources])
    return [SourceView(s, counts.get(s.id, 0), s.id in followed) for s in sources]


def find_source(sources: Sequence[Source], typed: str) -> Lookup:
    """`#12`, `12`, or a case- and accent-insensitive part of a title (an exact title wins over parts)."""
    typed = " ".join(typed.split())
    digits = typed.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 10:
        return Lookup(found=next((s for s in sources if s.id == int(digits)), None))
    wanted = fold(typed)
    if not wanted:
        return Lookup()
    exact = [s for s in sources if fold(s.title or "") == wanted]
    if len(exact) == 1:
        return Lookup(found=exact[0])
    matches = [s for s in sources if wanted in fold(s.title or "") or wanted in fold(s.url)]
    if len(matches) == 1:
        return Lookup(found=matches[0])
    return Lookup(candidates=matches[:MAX_CANDIDATES])


async def lookup(session: AsyncSession, subscriber: Subscriber, typed: str) -> Lookup:
    return find_source(await source_repo.visible_sources(session, subscriber.id), typed)


async def followed_lookup(session: AsyncSession, subscriber: Subscriber, typed: str) -> Lookup:
    """Like lookup, among the sources the chat follows."""
    followed = (await follow_repo.followed_sources(session, [subscriber.id])).get(subscriber.id, frozenset())
    visible = await source_repo.visible_sources(session, subscriber.id)
    return find_source([s for s in visible if s.id in followed], typed)


async def follow(session: AsyncSession, subscriber: Subscriber, source: Source) -> bool:
    return await follow_repo.follow(session, subscriber, source.id)


async def unfollow(session: AsyncSession, subscriber: Subscriber, source: Source) -> bool:
    """Stop following; a private source nobody follows any more goes, with the articles only it carried."""
    changed = await follow_repo.unfollow(session, subscriber, source.id)
    if changed and not source.public and await follow_repo.follower_count(session, source.id) == 0:
        await source_repo.delete_with_own_articles(session, source.id)
    return changed


class TooManySources(Exception):
    """The chat follows MAX_SOURCES_PER_CHAT private sources already."""


@dataclass(frozen=True, slots=True)
class Added:
    source: Source
    first_poll: PollResult | None  # None: the feed was a source already (now followed by the chat)
    newly_followed: bool


async def add_own_feed(
    db: Database, feeds: FeedService, subscriber: Subscriber, url: str, *, max_sources: int
) -> Added:
    """A user's `/add <URL>`: checked and polled like an admin's source, followed by the chat.

    Raises SourceError when the URL is not a feed (nor a page naming one), TooManySources at the cap.
    """
    async with db.session() as session:
        if await follow_repo.private_follow_count(session, subscriber.id) >= max_sources:
            raise TooManySources
    source, first_poll = await feeds.add(url, public=False, added_by=subscriber.chat_id)
    async with db.session() as session:
        fresh = await source_repo.get_source(session, source.id)
        if fresh is None:  # removed meanwhile by an admin
            raise SourceError("that source was removed meanwhile; try again")
        row = await session.get(Subscriber, subscriber.id)
        assert row is not None
        newly = await follow_repo.follow(session, row, fresh.id)
    return Added(fresh, first_poll, newly)


async def make_public(session: AsyncSession, source_id: int, public: bool) -> Source | None:
    return await source_repo.set_public(session, source_id, public)
