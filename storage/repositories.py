"""Data access. Every function takes the caller's session and never commits: the unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ingest.types import ParsedArticle
from storage.models import Article, BulletinTime, Delivery, DeliveryArticle, DeliveryStatus, Subscriber


# ---------------------------------------------------------------- articles


@dataclass(frozen=True, slots=True)
class StoreResult:
    article: Article
    created: bool


async def store_article(session: AsyncSession, parsed: ParsedArticle, *, now: datetime) -> StoreResult:
    """Insert the article unless one with the same content fingerprint exists (then return that one)."""
    fingerprint = parsed.fingerprint()
    existing = await session.scalar(select(Article).where(Article.fingerprint == fingerprint))
    if existing is not None:
        return StoreResult(existing, created=False)
    article = Article(
        title=parsed.title,
        lead=parsed.lead,
        body=parsed.body,
        authors=list(parsed.authors),
        source=parsed.source,
        dateline=parsed.dateline,
        url=parsed.url,
        published_at=parsed.published_at,
        ingested_at=now,
        fingerprint=fingerprint,
        topics=list(parsed.topics),
    )
    try:
        # A savepoint, so losing an insert race to another process does not abort the caller's transaction.
        async with session.begin_nested():
            session.add(article)
    except IntegrityError:
        existing = await session.scalar(select(Article).where(Article.fingerprint == fingerprint))
        if existing is None:
            raise
        return StoreResult(existing, created=False)
    return StoreResult(article, created=True)


async def get_article(session: AsyncSession, article_id: int) -> Article | None:
    return await session.get(Article, article_id)


async def latest_articles(session: AsyncSession, limit: int, *, before_id: int | None = None) -> list[Article]:
    """Newest first by ingestion order; `before_id` pages further back."""
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Article.id < before_id)
    return list(await session.scalars(query))


async def articles_after(session: AsyncSession, after_id: int, limit: int) -> list[Article]:
    """The newest `limit` articles with id above `after_id`, newest first."""
    query = select(Article).where(Article.id > after_id).order_by(Article.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def newest_article_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Article.id), 0))) or 0)


# ---------------------------------------------------------------- subscribers


async def get_subscriber(session: AsyncSession, chat_id: int) -> Subscriber | None:
    return await session.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))


async def get_or_create_subscriber(
    session: AsyncSession,
    *,
    chat_id: int,
    chat_type: str,
    name: str,
    language: str | None,
    default_timezone: str,
) -> Subscriber:
    """The chat's row, created (not subscribed) on first contact; name and type kept current."""
    subscriber = await get_subscriber(session, chat_id)
    if subscriber is None:
        subscriber = Subscriber(
            chat_id=chat_id,
            chat_type=chat_type,
            name=name,
            language=language,
            timezone=default_timezone,
            active=False,
            last_article_id=0,
            times=[],  # set now so reading it never triggers a lazy load (not allowed under asyncio)
        )
        try:
            async with session.begin_nested():
                session.add(subscriber)
        except IntegrityError:
            subscriber = await get_subscriber(session, chat_id)
            if subscriber is None:
                raise
    subscriber.chat_type = chat_type
    subscriber.name = name
    if language:
        subscriber.language = language
    return subscriber


def set_bulletin_times(subscriber: Subscriber, times: Sequence[time]) -> None:
    wanted = sorted(set(times))
    current = {slot.local_time: slot for slot in subscriber.times}
    subscriber.times = [current.get(t) or BulletinTime(local_time=t) for t in wanted]


async def due_subscriber_ids(session: AsyncSession, now: datetime, limit: int = 500) -> list[int]:
    query = (
        select(Subscriber.id)
        .where(Subscriber.active.is_(True), Subscriber.next_bulletin_at <= now)
        .order_by(Subscriber.next_bulletin_at, Subscriber.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def active_subscriber_ids(session: AsyncSession) -> list[int]:
    query = select(Subscriber.id).where(Subscriber.active.is_(True)).order_by(Subscriber.id)
    return list(await session.scalars(query))


async def advance_schedule(
    session: AsyncSession,
    subscriber_id: int,
    *,
    expected_next: datetime | None,
    new_next: datetime | None,
    last_article_id: int | None = None,
    bulletin_at: datetime | None = None,
) -> bool:
    """Move a subscriber's schedule on, only if nobody else did meanwhile (compare-and-set).

    Returns False when another process already advanced it: the caller then drops its bulletin.
    """
    values: dict[str, object] = {"next_bulletin_at": new_next}
    if last_article_id is not None:
        values["last_article_id"] = last_article_id
    if bulletin_at is not None:
        values["last_bulletin_at"] = bulletin_at
    condition = (
        Subscriber.next_bulletin_at.is_(None) if expected_next is None else Subscriber.next_bulletin_at == expected_next
    )
    result = await session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_chat_gone(session: AsyncSession, chat_id: int, *, now: datetime) -> None:
    """Telegram says the chat blocked us or no longer exists: stop bulletins and cancel what is queued."""
    subscriber = await get_subscriber(session, chat_id)
    if subscriber is None:
        return
    subscriber.active = False
    subscriber.blocked_at = now
    subscriber.next_bulletin_at = None
    await cancel_pending_deliveries(session, subscriber.id, reason="chat blocked the bot or is gone")


async def cancel_pending_deliveries(session: AsyncSession, subscriber_id: int, *, reason: str) -> None:
    """Withdraw bulletins written for this subscriber but not yet sent."""
    await session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )


async def move_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its id changed."""
    target_taken = await get_subscriber(session, new_chat_id)
    if target_taken is not None:
        # The new chat already has a row (the group talked to us after migrating); keep that one.
        await session.execute(delete(Subscriber).where(Subscriber.chat_id == old_chat_id))
        return
    await session.execute(
        update(Subscriber).where(Subscriber.chat_id == old_chat_id).values(chat_id=new_chat_id, chat_type="supergroup")
    )
    await session.execute(update(Delivery).where(Delivery.chat_id == old_chat_id).values(chat_id=new_chat_id))


# ---------------------------------------------------------------- deliveries


def new_delivery(
    subscriber: Subscriber, *, kind: str, text: str, articles: Sequence[Article], slot_at: datetime | None, now: datetime
) -> Delivery:
    delivery = Delivery(
        subscriber_id=subscriber.id,
        chat_id=subscriber.chat_id,
        kind=kind,
        slot_at=slot_at,
        text=text,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        created_at=now,
    )
    delivery.articles = [DeliveryArticle(article_id=a.id, position=i) for i, a in enumerate(articles)]
    return delivery


async def claim_deliveries(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int, only_ids: Sequence[int] | None = None
) -> list[Delivery]:
    """Take pending rows (and SENDING rows whose lease ran out after a crash) for sending."""
    stale = now - lease
    query = (
        select(Delivery)
        .where(
            or_(
                Delivery.status == DeliveryStatus.PENDING.value,
                (Delivery.status == DeliveryStatus.SENDING.value) & (Delivery.claimed_at < stale),
            ),
            or_(Delivery.not_before.is_(None), Delivery.not_before <= now),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if only_ids is not None:
        query = query.where(Delivery.id.in_(list(only_ids)))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Dialect-specific, on purpose: lets several processes claim disjoint batches.
        query = query.with_for_update(skip_locked=True)
    rows = list(await session.scalars(query))
    for row in rows:
        row.status = DeliveryStatus.SENDING.value
        row.claimed_at = now
        row.attempts += 1
    return rows


async def release_claims(session: AsyncSession, delivery_ids: Sequence[int]) -> None:
    """Undo claims that were never attempted (an orderly shutdown)."""
    if not delivery_ids:
        return
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.SENDING.value)
        .values(status=DeliveryStatus.PENDING.value, claimed_at=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )


async def next_retry_at(session: AsyncSession) -> datetime | None:
    """When the earliest postponed pending row becomes due, if any."""
    return await session.scalar(
        select(func.min(Delivery.not_before)).where(Delivery.status == DeliveryStatus.PENDING.value)
    )


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows.all()}
