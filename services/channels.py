"""Channels as bulletin targets, and a private chat changing a channel's settings.

A channel becomes a target when a user makes the bot an administrator there with the right to post; that user
manages it from their private chat (/channels). Taking the right away, or removing the bot, pauses the channel
with its settings kept; giving it back resumes it. To change a channel's settings the manager picks it under
/channels: for ACTING_FOR, the settings commands of their private chat then apply to the channel (the handlers
check first that they are still an administrator there).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.subscriptions import activate_subscriber
from storage import subscribers as subscriber_repo
from storage.deliveries import mark_target_gone, move_chat
from storage.models import Subscriber
from storage.subscribers import ChatMarks

ACTING_FOR = timedelta(hours=1)
CHANNEL = "channel"


class ChannelChange(enum.Enum):
    ADDED = "added"  # a new target, on the default schedule
    RESUMED = "resumed"  # back, with the settings it had
    UNCHANGED = "unchanged"  # already posting there


async def channel_joined(
    session: AsyncSession,
    *,
    chat_id: int,
    title: str,
    managed_by: int,
    language: str | None,
    default_timezone: str,
    default_times: Sequence[time],
    now: datetime,
) -> tuple[Subscriber, ChannelChange]:
    """The bot may post in the channel: it becomes (again) a subscribed target managed by `managed_by`."""
    channel = await subscriber_repo.get_or_create_subscriber(
        session,
        chat_id=chat_id,
        chat_type=CHANNEL,
        name=title,
        language=language,
        default_timezone=default_timezone,
    )
    channel.managed_by = managed_by
    if channel.active:
        return channel, ChannelChange.UNCHANGED
    known = bool(channel.times)
    await activate_subscriber(session, channel, None, default_times=default_times, now=now)
    return channel, ChannelChange.RESUMED if known else ChannelChange.ADDED


async def bot_left_chat(session: AsyncSession, chat_id: int, *, now: datetime, status: str) -> list[Subscriber]:
    """The bot can no longer post in the chat (removed, or its post right taken away; `status`: its membership
    now): its targets pause, their settings kept. Returns the targets that were active."""
    reason = f"the bot's membership became {status}"
    paused = []
    for target in await subscriber_repo.chat_targets(session, chat_id):
        if target.active:
            paused.append(target)
        await mark_target_gone(session, target, now=now, reason=reason)
    return paused


async def chat_migrated(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup (Telegram's migrate_to_chat_id): its targets move to the new id."""
    await move_chat(session, old_chat_id, new_chat_id)


async def managed_channels(session: AsyncSession, user_id: int) -> list[Subscriber]:
    return await subscriber_repo.managed_channels(session, user_id)


async def managed_channel(session: AsyncSession, user_id: int, subscriber_id: int) -> Subscriber | None:
    """The channel target `subscriber_id`, if `user_id` manages it."""
    channel = await subscriber_repo.subscriber_by_id(session, subscriber_id)
    if channel is None or channel.chat_type != CHANNEL or channel.managed_by != user_id:
        return None
    return channel


def act_for(private: Subscriber, channel: Subscriber, now: datetime) -> None:
    """The private chat's settings commands apply to `channel` for a while."""
    private.acting_for_id = channel.id
    private.acting_until = now + ACTING_FOR


def stop_acting(private: Subscriber) -> bool:
    """Back to the private chat's own settings; True when it was acting for a channel."""
    was_acting = private.acting_for_id is not None
    private.acting_for_id = None
    private.acting_until = None
    return was_acting


def acting_channel_id(marks: ChatMarks, now: datetime) -> int | None:
    """The channel target a private chat is changing now, by its marks (read once per update, with its language:
    most chats change no channel, and then nothing more is read)."""
    return _in_force(marks.acting_for_id, marks.acting_until, now) if marks.thread_id == 0 else None


async def channel_being_changed(session: AsyncSession, marks: ChatMarks, now: datetime) -> Subscriber | None:
    """The channel the private chat of `marks` is changing now, if any, without loading the chat's own row."""
    return await _channel(session, acting_channel_id(marks, now))


async def acting_for(session: AsyncSession, private: Subscriber, now: datetime) -> Subscriber | None:
    """The channel whose settings the private chat's commands change now, if any."""
    return await _channel(session, _in_force(private.acting_for_id, private.acting_until, now))


def _in_force(acting_for_id: int | None, acting_until: datetime | None, now: datetime) -> int | None:
    """The channel of an acting mark (act_for) that has not run out at `now`."""
    return acting_for_id if acting_until is not None and acting_until > now else None


async def _channel(session: AsyncSession, channel_id: int | None) -> Subscriber | None:
    return await subscriber_repo.subscriber_by_id(session, channel_id) if channel_id is not None else None
