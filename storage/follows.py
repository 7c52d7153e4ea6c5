"""Which sources each chat reads, and which sources carried each story. Every function takes the caller's session
and never commits.

A chat with `follows_all` reads every public source (including ones added later) plus the sources in its follows
(its own private feeds). Its first unfollow writes the public sources it still wants into its follows and clears
`follows_all`: from then on it reads exactly its follows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ArticleSource, Source, SourceFollow, Subscriber
from storage.types import utcnow


async def public_source_ids(session: AsyncSession) -> frozenset[int]:
    return frozenset(await session.scalars(select(Source.id).where(Source.public.is_(True))))


async def followed_sources(
    session: AsyncSession, subscriber_ids: Collection[int] | Mapping[int, bool]
) -> dict[int, frozenset[int]]:
    """Each chat's effective set of followed source ids (chats that do not exist are left out). Given a mapping of
    chat ids to their `follows_all`, as a caller holding the rows has them, it is not read again."""
    if not subscriber_ids:
        return {}
    ids = list(subscriber_ids)
    if isinstance(subscriber_ids, Mapping):
        everything = dict(subscriber_ids)
    else:
        everything = {
            row.id: row.follows_all
            for row in await session.execute(
                select(Subscriber.id, Subscriber.follows_all).where(Subscriber.id.in_(ids))
            )
        }
    explicit: dict[int, set[int]] = {subscriber_id: set() for subscriber_id in everything}
    rows = await session.execute(
        select(SourceFollow.subscriber_id, SourceFollow.source_id).where(SourceFollow.subscriber_id.in_(ids))
    )
    for subscriber_id, source_id in rows.all():
        explicit[subscriber_id].add(source_id)
    public = await public_source_ids(session) if any(everything.values()) else frozenset()
    return {
        subscriber_id: frozenset(explicit[subscriber_id] | public)
        if follows_all
        else frozenset(explicit[subscriber_id])
        for subscriber_id, follows_all in everything.items()
    }


async def follow(session: AsyncSession, subscriber: Subscriber, source_id: int) -> bool:
    """Follow the source; False when the chat followed it already."""
    if source_id in (await followed_sources(session, [subscriber.id])).get(subscriber.id, frozenset()):
        return False
    session.add(SourceFollow(subscriber_id=subscriber.id, source_id=source_id, created_at=utcnow()))
    await session.flush()
    return True


async def unfollow(session: AsyncSession, subscriber: Subscriber, source_id: int) -> bool:
    """Stop following the source; False when the chat did not follow it."""
    current = (await followed_sources(session, [subscriber.id])).get(subscriber.id, frozenset())
    if source_id not in current:
        return False
    if subscriber.follows_all:
        # From the first unfollow on, the chat follows the set it chose: write it out.
        explicit = set(
            await session.scalars(select(SourceFollow.source_id).where(SourceFollow.subscriber_id == subscriber.id))
        )
        now = utcnow()
        session.add_all(
            SourceFollow(subscriber_id=subscriber.id, source_id=other, created_at=now)
            for other in sorted(current - explicit - {source_id})
        )
        subscriber.follows_all = False
    await session.execute(
        delete(SourceFollow).where(SourceFollow.subscriber_id == subscriber.id, SourceFollow.source_id == source_id)
    )
    await session.flush()
    return True


async def follower_count(session: AsyncSession, source_id: int) -> int:
    """Chats that follow the source by a follows row (chats reading it through follows_all are not counted)."""
    count = await session.scalar(select(func.count()).where(SourceFollow.source_id == source_id))
    return int(count or 0)


async def private_follow_count(session: AsyncSession, subscriber_id: int) -> int:
    """How many private sources (users' own feeds) the chat follows: what MAX_SOURCES_PER_CHAT caps."""
    count = await session.scalar(
        select(func.count())
        .select_from(SourceFollow)
        .join(Source, Source.id == SourceFollow.source_id)
        .where(SourceFollow.subscriber_id == subscriber_id, Source.public.is_(False))
    )
    return int(count or 0)


async def record_carriers(session: AsyncSession, pairs: Iterable[tuple[int, int]]) -> None:
    """Remember that these (article_id, source_id) pairs happened: the source carried the story."""
    wanted = set(pairs)
    if not wanted:
        return
    article_ids = sorted({article_id for article_id, _ in wanted})
    known: set[tuple[int, int]] = set()
    for start in range(0, len(article_ids), 500):
        chunk = article_ids[start : start + 500]
        rows = await session.execute(
            select(ArticleSource.article_id, ArticleSource.source_id).where(ArticleSource.article_id.in_(chunk))
        )
        known.update((article_id, source_id) for article_id, source_id in rows.all())
    fresh = sorted(wanted - known)
    if fresh:
        await session.execute(
            insert(ArticleSource),
            [{"article_id": article_id, "source_id": source_id} for article_id, source_id in fresh],
        )


async def carriers(session: AsyncSession, article_ids: Collection[int]) -> dict[int, frozenset[int]]:
    """The sources that carried each of these articles (articles carried by none, e.g. ingested text files,
    are left out: every chat reads them)."""
    found: dict[int, set[int]] = {}
    ids = sorted(article_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(ArticleSource.article_id, ArticleSource.source_id).where(
                ArticleSource.article_id.in_(ids[start : start + 500])
            )
        )
        for article_id, source_id in rows.all():
            found.setdefault(article_id, set()).add(source_id)
    return {article_id: frozenset(sources) for article_id, sources in found.items()}


async def hidden_source_ids(session: AsyncSession, chat_id: int | None) -> frozenset[int]:
    """The private sources this chat (by Telegram chat id; None: nobody) does not follow: their articles are not
    its to find."""
    followed = (
        select(SourceFollow.source_id)
        .join(Subscriber, Subscriber.id == SourceFollow.subscriber_id)
        .where(Subscriber.chat_id == chat_id)
    )
    query = select(Source.id).where(Source.public.is_(False))
    if chat_id is not None:
        query = query.where(Source.id.not_in(followed))
    return frozenset(await session.scalars(query))
