"""Subscribers and their bulletin schedules. Every function takes the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import Row, bindparam, case, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from storage.models import (
    BulletinTime,
    Subscriber,
)
from storage.session import Database, add_unless_taken
from storage.types import UTCDateTime

# A chat's row (or its marks) by chat and thread: the statements of every command, built once (built per call,
# each cost its construction and its cache key again).
_THIS_CHAT = (Subscriber.chat_id == bindparam("chat_id"), Subscriber.thread_id == bindparam("thread_id"))
_CHAT_ROW = select(Subscriber).where(*_THIS_CHAT)
_CHAT_ROW_WITHOUT_TIMES = _CHAT_ROW.options(raiseload(Subscriber.times))
_CHAT_MARKS = select(Subscriber.language, Subscriber.acting_for_id, Subscriber.acting_until).where(*_THIS_CHAT)


async def get_subscriber(
    session: AsyncSession, chat_id: int, thread_id: int = 0, *, with_times: bool = True
) -> Subscriber | None:
    """The target for a chat (thread 0) or for one topic of a forum. Without `with_times` its bulletin times are
    not loaded (one query less), and reading them raises instead of querying: for callers that only read the
    chat's choices."""
    query = _CHAT_ROW if with_times else _CHAT_ROW_WITHOUT_TIMES
    return await session.scalar(query, {"chat_id": chat_id, "thread_id": thread_id})


async def chat_targets(session: AsyncSession, chat_id: int) -> list[Subscriber]:
    """Every target in a chat: the chat itself and its forum topics."""
    return list(await session.scalars(select(Subscriber).where(Subscriber.chat_id == chat_id)))


async def get_or_create_subscriber(
    session: AsyncSession,
    *,
    chat_id: int,
    chat_type: str,
    name: str,
    language: str | None,
    default_timezone: str,
    thread_id: int = 0,
    with_times: bool = True,
) -> Subscriber:
    """The target's row, created (not subscribed) on first contact; name and type kept current. `language` (the
    user's Telegram language_code) is the target's language from its creation on: later contacts, whoever makes
    them, do not change it (only /language does), so a group keeps the language of whoever brought the bot in.
    `with_times`: see get_subscriber."""
    found = await get_subscriber(session, chat_id, thread_id, with_times=with_times)
    if found is None:
        subscriber = Subscriber(
            chat_id=chat_id,
            thread_id=thread_id,
            chat_type=chat_type,
            name=name,
            language=language,
            timezone=default_timezone,
            active=False,
            last_article_id=0,
            times=[],  # set now so reading it never triggers a lazy load (not allowed under asyncio)
        )
        subscriber, _ = await add_unless_taken(session, subscriber, lambda: get_subscriber(session, chat_id, thread_id))
    else:
        subscriber = found
    subscriber.chat_type = chat_type
    subscriber.name = name
    return subscriber


async def managed_channels(session: AsyncSession, user_id: int) -> list[Subscriber]:
    """The channels `user_id` manages, by title."""
    query = select(Subscriber).where(Subscriber.managed_by == user_id, Subscriber.chat_type == "channel")
    return list(await session.scalars(query.order_by(Subscriber.name, Subscriber.id)))


async def subscriber_by_id(session: AsyncSession, subscriber_id: int) -> Subscriber | None:
    return await session.get(Subscriber, subscriber_id)


@dataclass(frozen=True, slots=True)
class ChatMarks:
    """What an update needs of its chat's row before any feature handles it: the chat's language, and the channel
    target a private chat is changing until when (services.channels). All None before the chat has a row."""

    chat_id: int
    thread_id: int  # the forum topic (0: the chat itself)
    language: str | None = None
    acting_for_id: int | None = None
    acting_until: datetime | None = None


async def chat_marks(db: Database, chat_id: int, thread_id: int = 0) -> ChatMarks:
    """The chat's (or its forum topic's) marks: the one read every update makes before it is handled, its language
    and its acting mark together. One statement, so outside any transaction (autocommit): on PostgreSQL no BEGIN
    and COMMIT around it, two round trips fewer than a unit of work."""
    async with db.single_statement() as connection:
        row = (await connection.execute(_CHAT_MARKS, {"chat_id": chat_id, "thread_id": thread_id})).first()
    if row is None:
        return ChatMarks(chat_id, thread_id)
    return ChatMarks(chat_id, thread_id, row.language, row.acting_for_id, row.acting_until)


def set_bulletin_times(subscriber: Subscriber, times: Sequence[time]) -> None:
    wanted = sorted(set(times))
    current = {slot.local_time: slot for slot in subscriber.times}
    subscriber.times = [current.get(t) or BulletinTime(local_time=t) for t in wanted]


async def due_subscribers(
    session: AsyncSession, now: datetime, *, limit: int = 500, after: tuple[datetime, int] | None = None
) -> list[tuple[datetime, int]]:
    """(next_bulletin_at, id) of active subscribers due at `now`, oldest first; `after` continues from a page's
    last pair (keyset paging: a subscriber left due, e.g. one whose zone fails, cannot stall the pages)."""
    query = (
        select(Subscriber.next_bulletin_at, Subscriber.id)
        .where(Subscriber.active.is_(True), Subscriber.next_bulletin_at <= now)
        .order_by(Subscriber.next_bulletin_at, Subscriber.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Subscriber.next_bulletin_at, Subscriber.id) > tuple_(*after))
    return [(row.next_bulletin_at, row.id) for row in await session.execute(query)]


@dataclass(frozen=True, slots=True)
class BulletinTarget:
    """What writing a subscriber's bulletin reads of it, as a plain row. Loading ORM objects with their bulletin
    times was about 40% of preparing's CPU (bench/prepare_bench.py), for rows preparing never changes."""

    id: int
    chat_id: int
    thread_id: int
    chat_type: str
    language: str | None
    timezone: str
    active: bool
    next_bulletin_at: datetime | None
    last_article_id: int
    follows_all: bool
    topics: Sequence[str]
    filter_terms: Sequence[str]
    local_times: tuple[time, ...]

    @classmethod
    def of(cls, subscriber: Subscriber) -> BulletinTarget:
        return _target(subscriber, tuple(slot.local_time for slot in subscriber.times))


def _target(row: Subscriber | Row[Any], local_times: tuple[time, ...]) -> BulletinTarget:
    return BulletinTarget(
        id=row.id,
        chat_id=row.chat_id,
        thread_id=row.thread_id,
        chat_type=row.chat_type,
        language=row.language,
        timezone=row.timezone,
        active=row.active,
        next_bulletin_at=row.next_bulletin_at,
        last_article_id=row.last_article_id,
        follows_all=row.follows_all,
        topics=row.topics,
        filter_terms=row.filter_terms,
        local_times=local_times,
    )


_TARGET_COLUMNS = [getattr(Subscriber, name) for name in BulletinTarget.__dataclass_fields__ if name != "local_times"]


async def bulletin_targets(session: AsyncSession, subscriber_ids: Sequence[int]) -> list[BulletinTarget]:
    """The subscribers as bulletin targets, in the order given (missing ones left out): two Core queries."""
    ids = list(subscriber_ids)
    times: dict[int, list[time]] = {}
    for subscriber_id, local_time in await session.execute(
        select(BulletinTime.subscriber_id, BulletinTime.local_time)
        .where(BulletinTime.subscriber_id.in_(ids))
        .order_by(BulletinTime.subscriber_id, BulletinTime.local_time)
    ):
        times.setdefault(subscriber_id, []).append(local_time)
    found = {
        row.id: _target(row, tuple(times.get(row.id, ())))
        for row in await session.execute(select(*_TARGET_COLUMNS).where(Subscriber.id.in_(ids)))
    }
    return [found[i] for i in ids if i in found]


async def active_subscribers_page(session: AsyncSession, *, after: int, limit: int) -> list[Subscriber]:
    """Active subscribers with an id above `after`, in id order (keyset paging)."""
    query = select(Subscriber).where(Subscriber.active.is_(True), Subscriber.id > after).order_by(Subscriber.id)
    return list(await session.scalars(query.limit(limit)))


# advance_due_schedules: up to this many kinds of moves in a page, one UPDATE per kind; more, one UPDATE with CASEs.
MAX_SCHEDULE_GROUPS = 16


@dataclass(frozen=True, slots=True)
class ScheduleMove:
    """One due subscriber's next bulletin time, and the new "new since" mark when a bulletin is written."""

    subscriber_id: int
    next_at: datetime | None
    last_article_id: int | None = None  # None: nothing new, no bulletin (only the schedule moves)


async def advance_due_schedules(session: AsyncSession, moves: Sequence[ScheduleMove], *, now: datetime) -> set[int]:
    """Move many due subscribers' schedules; the ids that moved.

    A compare-and-set per subscriber: only those still due at `now` move. One that another process (or the
    user's /subscribe or /unsubscribe) moved meanwhile is left alone and its bulletin must be dropped.

    The subscribers due at one slot mostly move alike (the same next time, the same new mark): each such group is
    one UPDATE of its ids. Only a page with many different moves takes one UPDATE with a CASE per column, whose
    500 bound values cost about 0.06 ms of CPU per subscriber to build and compile.
    """
    groups: dict[tuple[datetime | None, int | None], list[int]] = {}
    for move in moves:
        groups.setdefault((move.next_at, move.last_article_id), []).append(move.subscriber_id)
    if len(groups) > MAX_SCHEDULE_GROUPS:
        return await _advance_case_by_case(session, moves, now=now)
    table = Subscriber.__table__
    moved: set[int] = set()
    for (next_at, mark), ids in groups.items():
        values: dict[str, Any] = {"next_bulletin_at": next_at}
        if mark is not None:
            values |= {"last_article_id": mark, "last_bulletin_at": now}
        statement = (
            update(table)
            .where(table.c.id.in_(ids), table.c.active.is_(True), table.c.next_bulletin_at <= now)
            .values(**values)
            .returning(table.c.id)
        )
        moved.update(await session.scalars(statement))
    return moved


async def _advance_case_by_case(session: AsyncSession, moves: Sequence[ScheduleMove], *, now: datetime) -> set[int]:
    table = Subscriber.__table__
    with_news = [move for move in moves if move.last_article_id is not None]
    values: dict[str, Any] = {
        "next_bulletin_at": case(
            {move.subscriber_id: literal(move.next_at, UTCDateTime) for move in moves}, value=table.c.id
        )
    }
    if with_news:
        values["last_article_id"] = case(
            {move.subscriber_id: literal(move.last_article_id) for move in with_news},
            value=table.c.id,
            else_=table.c.last_article_id,
        )
        values["last_bulletin_at"] = case(
            (table.c.id.in_([move.subscriber_id for move in with_news]), literal(now, UTCDateTime)),
            else_=table.c.last_bulletin_at,
        )
    statement = (
        update(table)
        .where(
            table.c.id.in_([move.subscriber_id for move in moves]),
            table.c.active.is_(True),
            table.c.next_bulletin_at <= now,
        )
        .values(**values)
        .returning(table.c.id)
    )
    return set(await session.scalars(statement))


async def move_marks(session: AsyncSession, marks: dict[int, int], *, now: datetime) -> None:
    """Set "new since" marks (subscriber id -> highest article id offered) for bulletins written outside the
    schedule, in one statement."""
    if not marks:
        return
    table = Subscriber.__table__
    await session.execute(
        update(table)
        .where(table.c.id.in_(list(marks)))
        .values(
            last_article_id=case({sid: literal(mark) for sid, mark in marks.items()}, value=table.c.id),
            last_bulletin_at=literal(now, UTCDateTime),
        )
    )
