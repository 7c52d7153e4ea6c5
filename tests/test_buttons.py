"""The callback_data codec: every button the bot makes fits Telegram's 64 bytes and parses back to its values;
anything else a client could send back is refused (None), never an exception."""

from __future__ import annotations

from datetime import time

import pytest

from compose.buttons import (
    MAX_BUTTON_TIMES,
    MAX_HEADLINES,
    MAX_ID,
    MAX_POSITION,
    ButtonData,
    ContinueArticle,
    MoreHeadlines,
    ReadArticle,
    SettingsOff,
    SettingsOn,
    SettingsTimes,
    Subscribe,
)

MOST_TIMES = tuple(time(hour, 59) for hour in range(23, 23 - MAX_BUTTON_TIMES, -1))
# The largest value of each kind: the longest callback_data the bot can make.
LARGEST: list[ButtonData] = [
    ReadArticle(MAX_ID),
    MoreHeadlines(MAX_ID, MAX_HEADLINES, MAX_POSITION),
    ContinueArticle(MAX_ID, MAX_POSITION),
    Subscribe(),
    SettingsOn(),
    SettingsOff(),
    SettingsTimes(MOST_TIMES),
]


@pytest.mark.parametrize("button", LARGEST, ids=lambda button: type(button).__name__)
def test_the_longest_data_of_each_kind_fits_and_round_trips(button: ButtonData) -> None:
    data = button.pack()
    assert len(data.encode("utf-8")) <= 64
    assert type(button).unpack(data) == button
    assert type(button).pattern().match(data)


def test_the_formats_are_those_already_in_chats() -> None:
    """Buttons under messages sent before the codec existed must keep working."""
    assert ReadArticle(12).pack() == "read:12"
    assert MoreHeadlines(40, 5, 6).pack() == "more:40:5:6"
    assert ContinueArticle(7, 4).pack() == "readpart:7:4"
    assert Subscribe().pack() == "subscribe"
    assert (SettingsOn().pack(), SettingsOff().pack()) == ("settings:on", "settings:off")
    assert SettingsTimes((time(7), time(19, 30))).pack() == "settings:times:07:00,19:30"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (ReadArticle, "read:0"),
        (ReadArticle, f"read:{MAX_ID + 1}"),
        (ReadArticle, "read:²"),
        (ReadArticle, "read:٣"),
        (ReadArticle, "read:12\n"),
        (ReadArticle, "read:12:1"),
        (ReadArticle, "read:-1"),
        (ReadArticle, "read: 1"),
        (ReadArticle, "more:1:1:1"),
        (ReadArticle, None),
        (MoreHeadlines, "more:1:21:1"),
        (MoreHeadlines, "more:1:0:1"),
        (MoreHeadlines, "more:1:5"),
        (MoreHeadlines, f"more:1:5:{MAX_POSITION + 1}"),
        (ContinueArticle, "readpart:1:0"),
        (ContinueArticle, "readpart:99999999999:1"),
        (Subscribe, "subscribe:1"),
        (SettingsOn, "settings:on\n"),
        (SettingsTimes, "settings:times:"),
        (SettingsTimes, "settings:times:24:00"),
        (SettingsTimes, "settings:times:07:60"),
        (SettingsTimes, "settings:times:7:00"),
        (SettingsTimes, "settings:times:07:00,"),
        (SettingsTimes, "settings:times:" + ",".join(["07:00"] * (MAX_BUTTON_TIMES + 1))),
    ],
)
def test_anything_else_is_refused(kind: type[ButtonData], data: str | None) -> None:
    assert kind.unpack(data) is None


def test_values_a_button_cannot_carry_are_refused_when_packing() -> None:
    with pytest.raises(ValueError, match="is outside 1\\.\\."):
        ReadArticle(MAX_ID + 1).pack()
    with pytest.raises(ValueError, match="21 is outside 1\\.\\.20"):
        MoreHeadlines(1, MAX_HEADLINES + 1, 1).pack()
    with pytest.raises(ValueError, match="from 1 to 8 times, not 0"):
        SettingsTimes(()).pack()
    with pytest.raises(ValueError, match="from 1 to 8 times, not 9"):
        SettingsTimes(MOST_TIMES + (time(0),)).pack()


def test_kinds_do_not_take_each_others_data() -> None:
    kinds: list[type[ButtonData]] = [type(button) for button in LARGEST]
    for button in LARGEST:
        data = button.pack()
        assert [kind for kind in kinds if kind.pattern().match(data)] == [type(button)]
