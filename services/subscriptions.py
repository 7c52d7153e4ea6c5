"""Subscription use cases: the chat's subscriber row, bulletins on and off, the timezone.

Every function takes the caller's session and never commits (the caller's unit of work does); the handlers read
the chat from the Update into a ChatInfo and render the result with compose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from services.schedule import next_for_subscriber
from storage import subscribers as subscriber_repo
from storage.deliveries import cancel_pending_deliveries
from storage.models import Subscriber


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """The chat an update came from, as the subscriber row keeps it."""

    chat_id: int
    chat_type: str  # Telegram's: "private", "group", "supergroup", "channel"
    name: str  # the group's title or the person's name
    language: str | None  # the user's language code, when Telegram gives one
    thread_id: int = 0  # the forum topic the update came from (0: the chat itself)


async def chat_subscriber(
    session: AsyncSession, chat: ChatInfo, default_timezone: str, *, with_times: bool = True
) -> Subscriber:
    """The row for the chat, created on first contact (in `default_timezone`, not subscribed). Without
    `with_times` its bulletin times are left unloaded (storage.subscribers.get_subscriber)."""
    return await subscriber_repo.get_or_create_subscriber(
        session,
        chat_id=chat.chat_id,
        chat_type=chat.chat_type,
        name=chat.name,
        language=chat.language,
        default_timezone=default_timezone,
        thread_id=chat.thread_id,
        with_times=with_times,
    )


def reschedule(subscriber: Subscriber, now: datetime) -> None:
    """Recompute the next bulletin from the stored times and zone (or clear it when unsubscribed)."""
    subscriber.next_bulletin_at = next_for_subscriber(subscriber, now) if subscriber.active else None


async def activate_subscriber(
    session: AsyncSession,
    subscriber: Subscriber,
    times: Sequence[time] | None,
    *,
    default_times: Sequence[time],
    now: datetime,
) -> None:
    """Bulletins on: at `times` if given, else the times kept from before, else the defaults."""
    if times:
        subscriber_repo.set_bulletin_times(subscriber, times)
    elif not subscriber.times:
        subscriber_repo.set_bulletin_times(subscriber, default_times)
    if not subscriber.active:
        subscriber.subscribed_at = now
    subscriber.active = True
    subscriber.blocked_at = None
    await session.flush()
    reschedule(subscriber, now)


async def resume_if_returning(
    session: AsyncSession, subscriber: Subscriber, *, default_times: Sequence[time], now: datetime
) -> bool:
    """A chat that had blocked the bot and now talks to it again gets its bulletins back; True when it did."""
    came_back = subscriber.blocked_at is not None and bool(subscriber.times)
    if came_back:
        await activate_subscriber(session, subscriber, None, default_times=default_times, now=now)
    return came_back


async def deactivate_subscriber(session: AsyncSession, subscriber: Subscriber) -> bool:
    """Bulletins off (times and zone kept), and the bulletins written but not yet sent withdrawn.

    True when the subscriber had been subscribed."""
    was_active = subscriber.active
    subscriber.active = False
    subscriber.next_bulletin_at = None
    await cancel_pending_deliveries(session, subscriber.id, reason="unsubscribed")
    return was_active


def change_timezone(subscriber: Subscriber, zone_name: str, now: datetime) -> None:
    """Move the subscriber to `zone_name` (a name user_timezone gave); their next bulletin follows."""
    subscriber.timezone = zone_name
    reschedule(subscriber, now)
