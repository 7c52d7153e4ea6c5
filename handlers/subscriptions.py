"""/subscribe, /unsubscribe, /timezone, /settings and the settings buttons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time
from functools import lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.context import NewsContext
from services.schedule import find_timezone, parse_time_of_day
from compose.buttons import MAX_TIMES, SettingsOff, SettingsOn, SettingsTimes, Subscribe
from compose.html import escape
from handlers.common import (
    activate_subscriber,
    chat_button,
    chat_subscriber,
    command,
    describe_next,
    format_times,
    reply_html,
    reschedule,
)
from storage.models import Subscriber
from storage.deliveries import cancel_pending_deliveries

# Buttons under /settings; the message is edited in place to show the result.
SETTINGS_BUTTONS = re.compile("|".join(kind.pattern().pattern for kind in (SettingsOn, SettingsOff, SettingsTimes)))
PRESETS: tuple[tuple[str, tuple[time, ...]], ...] = (
    ("☀️ Mornings", (time(7),)),
    ("🌗 Morning + evening", (time(7), time(19))),
    ("🗞 3× a day", (time(7), time(12), time(19))),
)
TIMEZONE_EXAMPLE = "/timezone Europe/Berlin (or America/New_York, Asia/Tokyo, UTC)"


async def _activate(session: AsyncSession, subscriber: Subscriber, times: Sequence[time] | None, context: NewsContext) -> None:
    await activate_subscriber(session, subscriber, times, default_times=context.settings.bulletin_times, now=context.now())


def settings_text(subscriber: Subscriber, now: datetime) -> str:
    times = [slot.local_time for slot in subscriber.times]
    status = "🔔 subscribed" if subscriber.active else "🔕 not subscribed"
    lines = [
        "<b>Your settings</b>",
        "",
        f"Bulletins: {status}",
        f"Times: {format_times(times) if times else 'none yet'}",
        f"Timezone: {escape(subscriber.timezone)}",
    ]
    if subscriber.active:
        lines.append(f"Next bulletin: {describe_next(subscriber.next_bulletin_at, subscriber.timezone, now)}")
    lines += ["", f"Change times with /subscribe HH:MM …, the zone with {escape(TIMEZONE_EXAMPLE)}"]
    return "\n".join(lines)


def settings_keyboard(subscriber: Subscriber) -> InlineKeyboardMarkup:
    preset_row = [
        InlineKeyboardButton(label, callback_data=SettingsTimes(times).pack())
        for label, times in PRESETS
    ]
    toggle = (
        InlineKeyboardButton("🔕 Unsubscribe", callback_data=SettingsOff().pack())
        if subscriber.active
        else InlineKeyboardButton("🔔 Subscribe", callback_data=SettingsOn().pack())
    )
    return InlineKeyboardMarkup([preset_row[:2], preset_row[2:] + [toggle]])


def subscribed_text(subscriber: Subscriber, now: datetime) -> str:
    times = [slot.local_time for slot in subscriber.times]
    return (
        f"✅ Subscribed. Bulletins at {format_times(times)} ({escape(subscriber.timezone)} time).\n"
        f"Next bulletin: {describe_next(subscriber.next_bulletin_at, subscriber.timezone, now)}.\n\n"
        f"Change the zone with {escape(TIMEZONE_EXAMPLE)}; /settings shows everything."
    )


def _parse_times(args: Sequence[str]) -> list[time]:
    """Times from `/subscribe 07:30 18:00` (commas allowed too); ValueError with a user-facing message."""
    parts = [part for arg in args for part in arg.replace(",", " ").split()]
    if len(parts) > MAX_TIMES:
        raise ValueError(f"At most {MAX_TIMES} times a day, please.")
    times = []
    for part in parts:
        try:
            if not part.isascii():  # the parser's \d would take other scripts' digits
                raise ValueError(part)
            times.append(parse_time_of_day(part))
        except ValueError:
            raise ValueError(f"“{escape(part[:40])}” is not a time of day. Use HH:MM, for example /subscribe 07:30 18:00") from None
    return sorted(set(times))


async def subscribe(update: Update, context: NewsContext) -> None:
    try:
        times = _parse_times(context.args or [])
    except ValueError as exc:
        await reply_html(update, str(exc))
        return
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        await _activate(session, subscriber, times, context)
        text = subscribed_text(subscriber, context.now())
    await reply_html(update, text)


async def unsubscribe(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        was_active = subscriber.active
        await _deactivate(session, subscriber)
    if was_active:
        await reply_html(update, "🔕 Bulletins stopped. Your times and timezone are kept: /subscribe to resume.")
    else:
        await reply_html(update, "You were not subscribed. /subscribe starts bulletins.")


async def _deactivate(session: AsyncSession, subscriber: Subscriber) -> None:
    subscriber.active = False
    subscriber.next_bulletin_at = None
    await cancel_pending_deliveries(session, subscriber.id, reason="unsubscribed")


@lru_cache(maxsize=1)
def iana_zone_names() -> frozenset[str]:
    """The zones of the IANA tz database, as the tzdata package lists them (with the old names kept as links,
    e.g. US/Eastern). zoneinfo.available_timezones() also lists what the OS zoneinfo directory holds besides
    zones: `localtime` (the host's own setting), `posixrules`, and the `posix/` and `right/` copies (`right/`
    counts leap seconds, so its clocks are ~27 s off). `Factory` is listed but is a placeholder, not a place."""
    return frozenset(files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()) - {"Factory"}


def user_timezone(text: str) -> str | None:
    """The canonical IANA zone name a user typed (any case, spaces for underscores), or None."""
    zone_name = find_timezone(text)
    return zone_name if zone_name in iana_zone_names() else None


async def set_timezone(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if not args:
        async with context.db.session() as session:
            subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
            current = subscriber.timezone
        await reply_html(update, f"Your timezone is {escape(current)}. To change it: {escape(TIMEZONE_EXAMPLE)}")
        return
    zone_name = user_timezone(" ".join(args))
    if zone_name is None:
        shown = escape(" ".join(args)[:64])
        await reply_html(update, f"“{shown}” is not a timezone I know. Use an IANA name, for example {escape(TIMEZONE_EXAMPLE)}")
        return
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        subscriber.timezone = zone_name
        now = context.now()
        reschedule(subscriber, now)
        local_now = now.astimezone(ZoneInfo(zone_name)).strftime("%H:%M")
        text = f"🕰 Timezone set to {escape(zone_name)} (it is {local_now} there)."
        if subscriber.active:
            text += f"\nNext bulletin: {describe_next(subscriber.next_bulletin_at, zone_name, now)}."
    await reply_html(update, text)


async def show_settings(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        text, keyboard = settings_text(subscriber, context.now()), settings_keyboard(subscriber)
    await reply_html(update, text, reply_markup=keyboard)


async def on_subscribe_button(update: Update, context: NewsContext) -> None:
    """The button under /start: subscribe with the current (or default) times and confirm."""
    query = update.callback_query
    assert query is not None
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        await _activate(session, subscriber, None, context)
        text = subscribed_text(subscriber, context.now())
    await query.answer("Subscribed")
    await reply_html(update, text)


async def on_settings_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    data = query.data
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        if SettingsOff.unpack(data):
            await _deactivate(session, subscriber)
            notice = "Bulletins stopped"
        elif SettingsOn.unpack(data):
            await _activate(session, subscriber, None, context)
            notice = "Subscribed"
        else:
            preset = SettingsTimes.unpack(data)
            if preset is None:  # a time like 25:00: we never make such buttons
                await query.answer("That button is out of date; try /settings again.")
                return
            times = sorted(set(preset.times))
            await _activate(session, subscriber, times, context)
            notice = f"Bulletins at {format_times(times)}"
        text, keyboard = settings_text(subscriber, context.now()), settings_keyboard(subscriber)
    await query.answer(notice)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        command("subscribe", subscribe),
        command("unsubscribe", unsubscribe),
        command("timezone", set_timezone),
        command("settings", show_settings),
        CallbackQueryHandler(chat_button(on_subscribe_button), pattern=Subscribe.pattern()),
        CallbackQueryHandler(chat_button(on_settings_button), pattern=SETTINGS_BUTTONS),
    ]
