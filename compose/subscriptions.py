"""Bulletin subscriptions: /subscribe, /unsubscribe, /timezone and /settings, with the settings keyboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import MAX_TIMES, SettingsOff, SettingsOn, SettingsTimes
from compose.html import escape


class TimeSlotLike(Protocol):
    @property
    def local_time(self) -> time: ...


class SubscriberLike(Protocol):
    """What these views read of a subscriber (storage's Subscriber row has it)."""

    @property
    def active(self) -> bool: ...

    @property
    def timezone(self) -> str:
        """IANA name."""
        ...

    @property
    def next_bulletin_at(self) -> datetime | None:
        """UTC, when subscribed."""
        ...

    @property
    def times(self) -> Sequence[TimeSlotLike]: ...


# Buttons under /settings: label and the times the preset sets.
PRESETS: tuple[tuple[str, tuple[time, ...]], ...] = (
    ("☀️ Mornings", (time(7),)),
    ("🌗 Morning + evening", (time(7), time(19))),
    ("🗞 3× a day", (time(7), time(12), time(19))),
)
TIMEZONE_EXAMPLE = "/timezone Europe/Berlin (or America/New_York, Asia/Tokyo, UTC)"
UNSUBSCRIBED = "🔕 Bulletins stopped. Your times and timezone are kept: /subscribe to resume."
NOT_SUBSCRIBED = "You were not subscribed. /subscribe starts bulletins."
TOO_MANY_TIMES = f"At most {MAX_TIMES} times a day, please."
# The answers (plain text) of the buttons.
SUBSCRIBED_ANSWER = "Subscribed"
STOPPED_ANSWER = "Bulletins stopped"
OUTDATED_PRESET_ANSWER = "That button is out of date; try /settings again."


def format_times(times: Sequence[time]) -> str:
    """'07:00', '07:00 and 19:00', '07:00, 12:00 and 19:00'."""
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


def settings_text(subscriber: SubscriberLike, now: datetime) -> str:
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


def settings_keyboard(subscriber: SubscriberLike) -> InlineKeyboardMarkup:
    preset_row = [InlineKeyboardButton(label, callback_data=SettingsTimes(times).pack()) for label, times in PRESETS]
    toggle = (
        InlineKeyboardButton("🔕 Unsubscribe", callback_data=SettingsOff().pack())
        if subscriber.active
        else InlineKeyboardButton("🔔 Subscribe", callback_data=SettingsOn().pack())
    )
    return InlineKeyboardMarkup([preset_row[:2], preset_row[2:] + [toggle]])


def subscribed_text(subscriber: SubscriberLike, now: datetime) -> str:
    times = [slot.local_time for slot in subscriber.times]
    return (
        f"✅ Subscribed. Bulletins at {format_times(times)} ({escape(subscriber.timezone)} time).\n"
        f"Next bulletin: {describe_next(subscriber.next_bulletin_at, subscriber.timezone, now)}.\n\n"
        f"Change the zone with {escape(TIMEZONE_EXAMPLE)}; /settings shows everything."
    )


def not_a_time_text(typed: str) -> str:
    """/subscribe given something that is not a time of day; `typed` is that word (outside text)."""
    return f"“{escape(typed[:40])}” is not a time of day. Use HH:MM, for example /subscribe 07:30 18:00"


def times_answer(times: Sequence[time]) -> str:
    """A preset button's answer (plain text)."""
    return f"Bulletins at {format_times(times)}"


def current_timezone_text(zone_name: str) -> str:
    return f"Your timezone is {escape(zone_name)}. To change it: {escape(TIMEZONE_EXAMPLE)}"


def unknown_timezone_text(typed: str) -> str:
    """/timezone given a name that is not an IANA zone; `typed` is what came after the command."""
    return f"“{escape(typed[:64])}” is not a timezone I know. Use an IANA name, for example {escape(TIMEZONE_EXAMPLE)}"


def timezone_set_text(subscriber: SubscriberLike, now: datetime) -> str:
    """The zone just set (`subscriber.timezone`) with its local time now, and the next bulletin when subscribed."""
    zone_name = subscriber.timezone
    local_now = now.astimezone(ZoneInfo(zone_name)).strftime("%H:%M")
    text = f"🕰 Timezone set to {escape(zone_name)} (it is {local_now} there)."
    if subscriber.active:
        text += f"\nNext bulletin: {describe_next(subscriber.next_bulletin_at, zone_name, now)}."
    return text
