"""The views moved out of the handlers (compose/subscriptions, sources, replies, help): the cases the chat tests
do not reach, rendered from plain values instead of database rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from compose.buttons import SettingsOff, SettingsOn, SettingsTimes
from compose.help import COMMANDS, bot_commands, help_text
from compose.replies import unknown_command_text
from compose.sources import source_added_text
from compose.subscriptions import (
    describe_next,
    format_times,
    not_a_time_text,
    settings_keyboard,
    settings_text,
    timezone_set_text,
    unknown_timezone_text,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


@dataclass
class Slot:
    local_time: time


@dataclass
class FakeSubscriber:
    active: bool = False
    timezone: str = "UTC"
    next_bulletin_at: datetime | None = None
    times: list[Slot] = field(default_factory=list)


@dataclass
class FakeSource:
    id: int = 7
    url: str = "https://example.org/feed.xml"
    title: str = "Example <News>"
    interval_minutes: int = 15
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    reported_at: datetime | None = None
    next_poll_at: datetime | None = None
    public: bool = True


@dataclass
class FirstPoll:
    ok: bool = True
    error: str | None = None
    warning: str | None = None
    added: Sequence[tuple[int, str]] = ()


def test_format_times() -> None:
    assert format_times([]) == ""
    assert format_times([time(7)]) == "07:00"
    assert format_times([time(7), time(19)]) == "07:00 and 19:00"
    assert format_times([time(7), time(12, 30), time(19)]) == "07:00, 12:30 and 19:00"


def test_describe_next_in_the_subscribers_zone() -> None:
    assert describe_next(None, "UTC", NOW) == "not scheduled"
    assert describe_next(datetime(2026, 11, 30, 19, 0, tzinfo=UTC), "UTC", NOW) == "today at 19:00"
    # 23:30 UTC is already tomorrow in Berlin (UTC+1 in winter).
    assert describe_next(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Berlin", NOW) == "tomorrow at 00:30"
    assert describe_next(datetime(2026, 12, 3, 7, 0, tzinfo=UTC), "UTC", NOW) == "Thu 3 Dec at 07:00"


def test_settings_of_a_chat_that_never_subscribed() -> None:
    text = settings_text(FakeSubscriber(timezone="America/New_York"), NOW)
    assert text.splitlines()[:5] == [
        "<b>Your settings</b>",
        "",
        "Bulletins: 🔕 not subscribed",
        "Times: none yet",
        "Timezone: America/New_York",
    ]
    assert "Next bulletin" not in text


def test_settings_keyboard_presets_and_toggle() -> None:
    def rows(subscriber: FakeSubscriber) -> list[list[tuple[str, object]]]:
        keyboard = settings_keyboard(subscriber)
        return [[(button.text, button.callback_data) for button in row] for row in keyboard.inline_keyboard]

    off = rows(FakeSubscriber(active=False))
    assert off == [
        [("☀️ Mornings", SettingsTimes((time(7),)).pack()), ("🌗 Morning + evening", "settings:times:07:00,19:00")],
        [("🗞 3× a day", "settings:times:07:00,12:00,19:00"), ("🔔 Subscribe", SettingsOn().pack())],
    ]
    assert rows(FakeSubscriber(active=True))[1][1] == ("🔕 Unsubscribe", SettingsOff().pack())


def test_timezone_set_with_and_without_bulletins() -> None:
    berlin = FakeSubscriber(timezone="Europe/Berlin")
    assert timezone_set_text(berlin, NOW) == "🕰 Timezone set to Europe/Berlin (it is 13:00 there)."
    berlin.active, berlin.next_bulletin_at = True, datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    assert timezone_set_text(berlin, NOW).endswith("\nNext bulletin: today at 19:00.")


def test_outside_text_is_escaped_and_cut() -> None:
    assert unknown_command_text("/<b>") == "Sorry, I don't know /&lt;b&gt;. /help lists what I can do."
    assert unknown_command_text("/" + "x" * 100).count("x") == 63
    assert not_a_time_text("<7>").startswith("“&lt;7&gt;” is not a time of day.")
    assert unknown_timezone_text("a&b" * 30).startswith("“" + "a&amp;b" * 21 + "a”")


def test_source_added_when_the_first_poll_failed_or_warned() -> None:
    failed = source_added_text(FakeSource(), FirstPoll(ok=False, error="HTTP 404 <not found>"))
    assert failed == (
        "✅ Added source <b>#7</b> Example &lt;News&gt;, polled every 15 min.\n"
        "Its first poll failed: HTTP 404 &lt;not found&gt;"
    )
    added = [(i, f"Title {i}") for i in range(1, 8)]
    warned = source_added_text(FakeSource(), FirstPoll(added=added, warning="charset <repaired>")).splitlines()
    assert warned[1] == "7 new articles stored."
    assert warned[2:7] == [f"• Title {i} /read_{i}" for i in range(1, 6)]  # five listed at most
    assert warned[7] == "<i>Note:</i> charset &lt;repaired&gt;"
    one = source_added_text(FakeSource(), FirstPoll(added=[(3, "Only")])).splitlines()
    assert one[1:] == ["1 new article stored.", "• Only /read_3"]


def test_help_and_the_command_menu_list_the_same_commands() -> None:
    assert [(c.command, c.description) for c in bot_commands()] == list(COMMANDS)
    lines = help_text().splitlines()
    assert lines[:2] == ["<b>What I can do</b>", ""]
    assert lines[3] == "/read — Read an article: /read &lt;id&gt;"
    assert len(lines) == 2 + len(COMMANDS)
