"""Alerts (a chat's terms to hear about at once) and their matches waiting for an alert message. Every function
takes the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alert, AlertMatch, Article, Subscriber

# ---------------------------------------------------------------------------- a chat's alerts


async def chat_alerts(session: AsyncSession, subscriber_id: int) -> list[Alert]:
    """The chat's alerts, oldest first (the order /alert numbers them in)."""
    query = select(Alert).where(Alert.subscriber_id == subscriber_id).order_by(Alert.id)
    return list(await session.scalars(query))


async def add_alert(session: AsyncSession, subscriber_id: int, terms: list[str], *, now: datetime) -> Alert:
    """A new alert. Its created_at is later than every other alert's, even with a clock that stands still or
    steps back: (count, max id, max created_at) then changes with every change of the table (alerts_version)."""
    latest = await session.scalar(select(func.max(Alert.created_at)))
    created_at = now if latest is None or now > latest else latest + timedelta(microseconds=1)
    alert = Alert(subscriber_id=subscriber_id, terms=terms, created_at=created_at)
    session.add(alert)
    await session.flush()
    return alert


async def remove_alert(session: AsyncSession, subscriber_id: int, alert_id: int) -> bool:
    """Remove one of the chat's alerts and the matches of it not yet sent; False when it has no such alert."""
    owned = await session.scalar(select(Alert.id).where(Alert.id == alert_id, Alert.subscriber_id == subscriber_id))
    if owned is None:
        return False
    # The matches first: removing the alert sets their alert_id to NULL (ON DELETE SET NULL).
    await session.execute(delete(AlertMatch).where(AlertMatch.alert_id == alert_id, AlertMatch.delivery_id.is_(None)))
    await session.execute(delete(Alert).where(Alert.id == alert_id))
    return True


# ---------------------------------------------------------------------------- every alert, for matching


@dataclass(frozen=True, slots=True)
class AlertsVersion:
    """Changes whenever an alert is added or removed: the count, or the newest id, or the newest created_at (an
    SQLite id reused after removing the newest alert comes with a later created_at, unless the clock stood still
    or stepped back in between: services.alerts also counts the changes made in its own process)."""

    count: int
    max_id: int
    max_created_at: datetime | None


async def alerts_version(session: AsyncSession) -> AlertsVersion:
    row = (await session.execute(select(func.count(), func.max(Alert.id), func.max(Alert.created_at)))).one()
    return AlertsVersion(int(row[0] or 0), int(row[1] or 0), row[2])


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    subscriber_id: int
    terms: list[str]


async def alerts_after(session: AsyncSession, after_id: int = 0) -> list[AlertRow]:
    """Every alert with an id above `after_id`, in id order."""
    query = select(Alert.id, Alert.subscriber_id, Alert.terms).where(Alert.id > after_id).order_by(Alert.id)
    return [AlertRow(row.id, row.subscriber_id, list(row.terms)) for row in await session.execute(query)]


async def alerts_changed_since(session: AsyncSession, version: AlertsVersion) -> list[AlertRow]:
    """Alerts added after `version` was read: those with a higher id or a later created_at, in id order."""
    query = select(Alert.id, Alert.subscriber_id, Alert.terms).order_by(Alert.id)
    if version.max_created_at is not None:
        query = query.where(or_(Alert.id > version.max_id, Alert.created_at > version.max_created_at))
    return [AlertRow(row.id, row.subscriber_id, list(row.terms)) for row in await session.execute(query)]


async def reachable_chats(session: AsyncSession, subscriber_ids: Collection[int]) -> set[int]:
    """Those of the chats that have not blocked the bot."""
    found: set[int] = set()
    ids = sorted(subscriber_ids)
    for start in range(0, len(ids), 500):
        query = select(Subscriber.id).where(
            Subscriber.id.in_(ids[start : start + 500]), Subscriber.blocked_at.is_(None)
        )
        found.update(await session.scalars(query))
    return found


@dataclass(frozen=True, slots=True)
class NewMatch:
    subscriber_id: int
    article_id: int
    alert_id: int


async def insert_matches(session: AsyncSession, matches: Sequence[NewMatch], *, now: datetime) -> None:
    """Matches of newly stored articles (one per chat and article: the caller keeps them distinct)."""
    if matches:
        # On the connection: one executemany, without the ORM's per-row bookkeeping (a popular story can match
        # thousands of chats).
        await (await session.connection()).execute(
            insert(AlertMatch.__table__),
            [
                {
                    "subscriber_id": match.subscriber_id,
                    "article_id": match.article_id,
                    "alert_id": match.alert_id,
                    "matched_at": now,
                }
                for match in matches
            ],
        )


# ---------------------------------------------------------------------------- alert messages


@dataclass(frozen=True, slots=True)
class DueChat:
    subscriber_id: int
    chat_id: int
    last_alert_at: datetime | None
    thread_id: int = 0  # the forum topic, when the target is one
    language: str | None = None  # the chat's, for the words around the headlines
    chat_type: str = "private"  # posts in groups and channels link articles to the bot


async def due_alert_chats(
    session: AsyncSession, *, now: datetime, min_interval: timedelta, after_id: int, limit: int
) -> list[DueChat]:
    """Chats with an id above `after_id` that have matches waiting, whose last alert message was at least
    `min_interval` ago (or never) and that have not blocked the bot; in id order."""
    query = (
        select(
            Subscriber.id,
            Subscriber.chat_id,
            Subscriber.last_alert_at,
            Subscriber.thread_id,
            Subscriber.language,
            Subscriber.chat_type,
        )
        .where(
            Subscriber.id > after_id,
            Subscriber.blocked_at.is_(None),
            or_(Subscriber.last_alert_at.is_(None), Subscriber.last_alert_at <= now - min_interval),
            select(AlertMatch.id)
            .where(AlertMatch.subscriber_id == Subscriber.id, AlertMatch.delivery_id.is_(None))
            .exists(),
        )
        .order_by(Subscriber.id)
        .limit(limit)
    )
    return [
        DueChat(
            row.id,
            row.chat_id,
            row.last_alert_at,
            thread_id=row.thread_id,
            language=row.language,
            chat_type=row.chat_type,
        )
        for row in await session.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class WaitingMatch:
    match_id: int
    alert_id: int | None
    article: Article


async def waiting_matches(session: AsyncSession, subscriber_id: int) -> list[WaitingMatch]:
    """The chat's matches not yet in an alert message, oldest article first."""
    query = (
        select(AlertMatch.id, AlertMatch.alert_id, Article)
        .join(Article, Article.id == AlertMatch.article_id)
        .where(AlertMatch.subscriber_id == subscriber_id, AlertMatch.delivery_id.is_(None))
        .order_by(Article.id)
    )
    return [WaitingMatch(row[0], row[1], row[2]) for row in await session.execute(query)]


async def alert_terms(session: AsyncSession, alert_ids: Collection[int]) -> dict[int, list[str]]:
    if not alert_ids:
        return {}
    rows = await session.execute(select(Alert.id, Alert.terms).where(Alert.id.in_(sorted(alert_ids))))
    return {row.id: list(row.terms) for row in rows}


async def take_alert_turn(
    session: AsyncSession, subscriber_id: int, *, previous: datetime | None, now: datetime
) -> bool:
    """Compare-and-set of the chat's last alert time: False when another process prepared its alert first."""
    condition = Subscriber.last_alert_at.is_(None) if previous is None else Subscriber.last_alert_at == previous
    moved = await session.scalar(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, condition)
        .values(last_alert_at=now)
        .returning(Subscriber.id)
    )
    return moved is not None


async def mark_sent_in(session: AsyncSession, match_ids: Sequence[int], delivery_id: int) -> None:
    """These matches went into that alert message."""
    if match_ids:
        await session.execute(
            update(AlertMatch)
            .where(AlertMatch.id.in_(list(match_ids)), AlertMatch.delivery_id.is_(None))
            .values(delivery_id=delivery_id)
            .execution_options(synchronize_session=False)
        )
