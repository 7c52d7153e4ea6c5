"""Small pieces shared by the feature handlers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import CommandHandler, filters

from services.schedule import next_for_subscriber
from storage import subscribers as subscriber_repo
from storage.models import Subscriber

STALE_BUTTON = "This button no longer works. Send /help to start again."
NOT_HERE = "This button no longer works here. Send /help to me in a private chat."
# Commands run for new messages only: python-telegram-bot's default also takes edited messages, which would
# re-run a command (and send its reply again) every time the user edits it.
NEW_MESSAGE = filters.UpdateType.MESSAGE

Callback = Callable[[Update, Any], Awaitable[None]]


def command(name: str, callback: Callback, **kwargs: Any) -> CommandHandler:  # type: ignore[type-arg]
    """A CommandHandler for `/name` in new messages (never edits)."""
    return CommandHandler(name, callback, filters=NEW_MESSAGE, **kwargs)


def admins_only(callback: Callback, *, refusal: str) -> Callback:
    """The handler for ADMIN_IDS only; anyone else gets `refusal` (HTML) and nothing is done."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: Any) -> None:
        user = update.effective_user
        if user is None or user.id not in context.settings.admin_ids:
            await reply_html(update, refusal)
            return
        await callback(update, context)

    return guarded


def chat_button(callback: Callback) -> Callback:
    """For button handlers that answer in the chat: a button on an inline message (sent via inline mode, so the
    callback carries no message and no chat) gets a short answer instead of reaching the handler."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: Any) -> None:
        query = update.callback_query
        if query is not None and update.effective_chat is None:
            await query.answer(NOT_HERE)
            return
        await callback(update, context)

    return guarded


async def chat_subscriber(session: AsyncSession, update: Update, default_timezone: str) -> Subscriber:
    """The row for the chat this update came from, created on first contact."""
    chat = update.effective_chat
    assert chat is not None, "handlers using chat_subscriber only receive chat updates"
    user = update.effective_user
    name = chat.title or chat.full_name or chat.username or str(chat.id)
    language = user.language_code if user else None
    return await subscriber_repo.get_or_create_subscriber(
        session, chat_id=chat.id, chat_type=chat.type, name=name, language=language, default_timezone=default_timezone
    )


def reschedule(subscriber: Subscriber, now: datetime) -> None:
    """Recompute the next bulletin from the stored times and zone (or clear it when unsubscribed)."""
    subscriber.next_bulletin_at = next_for_subscriber(subscriber, now) if subscriber.active else None


async def activate_subscriber(
    session: AsyncSession, subscriber: Subscriber, times: Sequence[time] | None, *, default_times: Sequence[time], now: datetime
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


async def reply_html(update: Update, text: str, **kwargs: object) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_html(text, do_quote=False, **kwargs)  # type: ignore[arg-type]
        return
    # No message to reply to (e.g. a button's message given as InaccessibleMessage): the chat is still known.
    chat = update.effective_chat
    assert chat is not None, "replies go to a chat; chat_button keeps chat-less callbacks away"
    await chat.send_message(text, parse_mode="HTML", **kwargs)  # type: ignore[arg-type]


def format_times(times: list[time]) -> str:
    labels = [t.strftime("%H:%M") for t in times]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def describe_next(when_utc: datetime | None, zone_name: str, now_utc: datetime) -> str:
    """'today at 12:00', 'tomorrow at 07:00' or 'Mon 30 Nov at 07:00', in the subscriber's zone."""
    if when_utc is None:
        return "not scheduled"
    zone = ZoneInfo(zone_name)
    local = when_utc.astimezone(zone)
    today = now_utc.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b')} at {clock}"

