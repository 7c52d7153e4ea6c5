"""Bulletin subscriptions: /subscribe, /unsubscribe, /timezone and /settings, with the settings keyboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import MAX_TIMES, SettingsOff, SettingsOn, SettingsTimes
from compose.html import escape
from compose.i18n import N_, format_date, format_time, join_and, pgettext
from compose.i18n import gettext as _


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
    (N_("☀️ Mornings"), (time(7),)),
    (N_("🌗 Morning + evening"), (time(7), time(19))),
    (N_("🗞 3× a day"), (time(7), time(12), time(19))),
)


def timezone_example() -> str:
    return _("/timezone Europe/Berlin (or America/New_York, Asia/Tokyo, UTC)")


def unsubscribed() -> str:
    return "🔕 " + _("Bulletins stopped. Your times and timezone are kept: /subscribe to resume.")


def not_subscribed() -> str:
    return _("You were not subscribed. /subscribe starts bulletins.")


def too_many_times() -> str:
    return _("At most {most} times a day, please.").format(most=MAX_TIMES)


# The answers (plain text) of the buttons.


def subscribed_answer() -> str:
    return _("Subscribed")


def stopped_answer() -> str:
    return _("Bulletins stopped")


def outdated_preset_answer() -> str:
    return _("That button is out of date; try /settings again.")


def format_times(times: Sequence[time]) -> str:
    """'07:00', '07:00 and 19:00', '07:00, 12:00 and 19:00' (the 'and' in the current language)."""
    return join_and([format_time(t) for t in times])


def describe_next(when_utc: datetime | None, zone_name: str, now_utc: datetime) -> str:
    """'today at 12:00', 'tomorrow at 07:00' or 'Mon 30 Nov at 07:00', in the subscriber's zone and the current
    language."""
    if when_utc is None:
        return _("not scheduled")
    zone = ZoneInfo(zone_name)
    local = when_utc.astimezone(zone)
    today = now_utc.astimezone(zone).date()
    clock = format_time(local)
    days = (local.date() - today).days
    if days == 0:
        return _("today at {time}").format(time=clock)
    if days == 1:
        return _("tomorrow at {time}").format(time=clock)
    # Translators: a CLDR date pattern (EEE short weekday, d day, MMM short month) for the next bulletin's day.
    day = format_date(local, pgettext("date pattern", "EEE d MMM"))
    return _("{day} at {time}").format(day=day, time=clock)


def settings_text(subscriber: SubscriberLike, now: datetime, *, channel: str | None = None) -> str:
    """The settings view; `channel`: the title of the channel whose settings these are (changed from a private
    chat, see /channels)."""
    times = [slot.local_time for slot in subscriber.times]
    status = "🔔 " + _("subscribed") if subscriber.active else "🔕 " + _("not subscribed")
    heading = (
        _("<b>Settings of {channel}</b>").format(channel=escape(channel)) if channel else _("<b>Your settings</b>")
    )
    lines = [
        heading,
        "",
        _("Bulletins: {status}").format(status=status),
        _("Times: {times}").format(times=format_times(times) if times else _("none yet")),
        _("Timezone: {zone}").format(zone=escape(subscriber.timezone)),
    ]
    if subscriber.active:
        when = describe_next(subscriber.next_bulletin_at, subscriber.timezone, now)
        lines.append(_("Next bulletin: {when}").format(when=when))
    lines += [
        "",
        _("Change times with /subscribe HH:MM …, the zone with {example}").format(example=escape(timezone_example())),
    ]
    return "\n".join(lines)


def settings_keyboard(subscriber: SubscriberLike) -> InlineKeyboardMarkup:
    preset_row = [InlineKeyboardButton(_(label), callback_data=SettingsTimes(times).pack()) for label, times in PRESETS]
    toggle = (
        InlineKeyboardButton("🔕 " + _("Unsubscribe"), callback_data=SettingsOff().pack())
        if subscriber.active
        else InlineKeyboardButton("🔔 " + _("Subscribe"), callback_data=SettingsOn().pack())
    )
    return InlineKeyboardMarkup([preset_row[:2], preset_row[2:] + [toggle]])


def subscribed_text(subscriber: SubscriberLike, now: datetime) -> str:
    times = [slot.local_time for slot in subscriber.times]
    when = describe_next(subscriber.next_bulletin_at, subscriber.timezone, now)
    return "\n".join(
        [
            "✅ "
            + _("Subscribed. Bulletins at {times} ({zone} time).").format(
                times=format_times(times), zone=escape(subscriber.timezone)
            ),
            _("Next bulletin: {when}.").format(when=when),
            "",
            _("Change the zone with {example}; /settings shows everything.").format(example=escape(timezone_example())),
        ]
    )


def not_a_time_text(typed: str) -> str:
    """/subscribe given something that is not a time of day; `typed` is that word (outside text)."""
    return _("“{typed}” is not a time of day. Use HH:MM, for example /subscribe 07:30 18:00").format(
        typed=escape(typed[:40])
    )


def times_answer(times: Sequence[time]) -> str:
    """A preset button's answer (plain text)."""
    return _("Bulletins at {times}").format(times=format_times(times))


def current_timezone_text(zone_name: str) -> str:
    return _("Your timezone is {zone}. To change it: {example}").format(
        zone=escape(zone_name), example=escape(timezone_example())
    )


def unknown_timezone_text(typed: str) -> str:
    """/timezone given a name that is not an IANA zone; `typed` is what came after the command."""
    return _("“{typed}” is not a timezone I know. Use an IANA name, for example {example}").format(
        typed=escape(typed[:64]), example=escape(timezone_example())
    )


def timezone_set_text(subscriber: SubscriberLike, now: datetime) -> str:
    """The zone just set (`subscriber.timezone`) with its local time now, and the next bulletin when subscribed."""
    zone_name = subscriber.timezone
    local_now = format_time(now.astimezone(ZoneInfo(zone_name)))
    text = "🕰 " + _("Timezone set to {zone} (it is {time} there).").format(zone=escape(zone_name), time=local_now)
    if subscriber.active:
        when = describe_next(subscriber.next_bulletin_at, zone_name, now)
        text += "\n" + _("Next bulletin: {when}.").format(when=when)
    return text
