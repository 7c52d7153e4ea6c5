"""/subscribe, /unsubscribe, /timezone, /settings and the settings buttons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from compose.buttons import MAX_TIMES, SettingsOff, SettingsOn, SettingsTimes, Subscribe
from compose.subscriptions import (
    current_timezone_text,
    not_a_time_text,
    not_subscribed,
    outdated_preset_answer,
    settings_keyboard,
    settings_text,
    stopped_answer,
    subscribed_answer,
    subscribed_text,
    times_answer,
    timezone_set_text,
    too_many_times,
    unknown_timezone_text,
    unsubscribed,
)
from handlers.common import (
    channel_title,
    chat_button,
    command,
    edit_in_place,
    group_admins_only,
    reply_html,
    subscriber_for,
)
from handlers.context import NewsContext
from services.schedule import parse_time_of_day, user_timezone
from services.subscriptions import (
    activate_subscriber,
    change_timezone,
    deactivate_subscriber,
)
from storage.models import Subscriber

# Buttons under /settings; the message is edited in place to show the result.
SETTINGS_BUTTONS = re.compile("|".join(kind.pattern().pattern for kind in (SettingsOn, SettingsOff, SettingsTimes)))


async def _activate(
    session: AsyncSession, subscriber: Subscriber, times: Sequence[time] | None, context: NewsContext
) -> None:
    await activate_subscriber(
        session, subscriber, times, default_times=context.settings.bulletin_times, now=context.now()
    )


def _parse_times(args: Sequence[str]) -> list[time]:
    """Times from `/subscribe 07:30 18:00` (commas allowed too); ValueError with a user-facing message."""
    parts = [part for arg in args for part in arg.replace(",", " ").split()]
    if len(parts) > MAX_TIMES:
        raise ValueError(too_many_times())
    times = []
    for part in parts:
        try:
            if not part.isascii():  # the parser's \d would take other scripts' digits
                raise ValueError(part)
            times.append(parse_time_of_day(part))
        except ValueError:
            raise ValueError(not_a_time_text(part)) from None
    return sorted(set(times))


async def subscribe(update: Update, context: NewsContext) -> None:
    try:
        times = _parse_times(context.args or [])
    except ValueError as exc:
        await reply_html(update, str(exc))
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        await _activate(session, subscriber, times, context)
        text = subscribed_text(subscriber, context.now())
    await reply_html(update, text)


async def unsubscribe(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        was_active = await deactivate_subscriber(session, subscriber)
    await reply_html(update, unsubscribed() if was_active else not_subscribed())


async def set_timezone(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if not args:
        async with context.db.session() as session:
            subscriber = await subscriber_for(session, update, context)
            current = subscriber.timezone
        await reply_html(update, current_timezone_text(current))
        return
    zone_name = user_timezone(" ".join(args))
    if zone_name is None:
        await reply_html(update, unknown_timezone_text(" ".join(args)))
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        now = context.now()
        change_timezone(subscriber, zone_name, now)
        text = timezone_set_text(subscriber, now)
    await reply_html(update, text)


async def show_settings(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        text, keyboard = (
            settings_text(subscriber, context.now(), channel=channel_title(subscriber)),
            settings_keyboard(subscriber),
        )
    await reply_html(update, text, reply_markup=keyboard)


async def on_subscribe_button(update: Update, context: NewsContext) -> None:
    """The button under /start: subscribe with the current (or default) times and confirm."""
    query = update.callback_query
    assert query is not None
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        await _activate(session, subscriber, None, context)
        text = subscribed_text(subscriber, context.now())
    await query.answer(subscribed_answer())
    await reply_html(update, text)


async def on_settings_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    data = query.data
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        if SettingsOff.unpack(data):
            await deactivate_subscriber(session, subscriber)
            notice = stopped_answer()
        elif SettingsOn.unpack(data):
            await _activate(session, subscriber, None, context)
            notice = subscribed_answer()
        else:
            preset = SettingsTimes.unpack(data)
            if preset is None:  # a time like 25:00: we never make such buttons
                await query.answer(outdated_preset_answer())
                return
            times = sorted(set(preset.times))
            await _activate(session, subscriber, times, context)
            notice = times_answer(times)
        text, keyboard = (
            settings_text(subscriber, context.now(), channel=channel_title(subscriber)),
            settings_keyboard(subscriber),
        )
    await query.answer(notice)
    await edit_in_place(query, text, reply_markup=keyboard)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("subscribe", group_admins_only(subscribe)),
        command("unsubscribe", group_admins_only(unsubscribe)),
        command("timezone", group_admins_only(set_timezone)),
        command("settings", show_settings),
        CallbackQueryHandler(chat_button(group_admins_only(on_subscribe_button)), pattern=Subscribe.pattern()),
        CallbackQueryHandler(chat_button(group_admins_only(on_settings_button)), pattern=SETTINGS_BUTTONS),
    ]
