"""Channels: /channels (the channels a user manages), adding one with Telegram's chat picker, changing one's
settings from the private chat, and the notes the bot sends its manager."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from telegram import (
    ChatAdministratorRights,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestChat,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from compose.buttons import ManageChannel
from compose.html import escape
from compose.i18n import gettext as _
from compose.subscriptions import SubscriberLike, format_times

# The chat picker's request id: the chat_shared message that answers it carries it back.
ADD_CHANNEL_REQUEST = 1


def add_channel_label() -> str:
    return _("➕ Add a channel")


class ChannelLike(SubscriberLike, Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def blocked_at(self) -> object: ...


def _post_right() -> ChatAdministratorRights:
    """Posting, and nothing else: what the bot needs in a channel and what the user must be able to give it."""
    return ChatAdministratorRights(
        is_anonymous=False,
        can_manage_chat=False,
        can_delete_messages=False,
        can_manage_video_chats=False,
        can_restrict_members=False,
        can_promote_members=False,
        can_change_info=False,
        can_invite_users=False,
        can_post_stories=False,
        can_edit_stories=False,
        can_delete_stories=False,
        can_post_messages=True,
    )


def add_channel_keyboard() -> ReplyKeyboardMarkup:
    """A keyboard button that opens Telegram's channel picker, showing only channels where the user may post and
    could make the bot an administrator that posts (Telegram asks to grant that right on the way)."""
    picker = KeyboardButtonRequestChat(
        request_id=ADD_CHANNEL_REQUEST,
        chat_is_channel=True,
        user_administrator_rights=_post_right(),
        bot_administrator_rights=_post_right(),
        request_title=True,
    )
    return ReplyKeyboardMarkup(
        [[KeyboardButton(add_channel_label(), request_chat=picker)]], resize_keyboard=True, one_time_keyboard=True
    )


def remove_keyboard() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()


def _status(channel: ChannelLike) -> str:
    if channel.blocked_at is not None and not channel.active:
        return "⛔ " + _("paused: I may not post there")
    if not channel.active:
        return "🔕 " + _("not subscribed")
    times = format_times([slot.local_time for slot in channel.times])
    return "🔔 " + _("{times} ({zone})").format(times=times, zone=escape(channel.timezone))


def channels_text(channels: Sequence[ChannelLike]) -> str:
    heading = _("<b>Your channels</b>")
    if not channels:
        none_yet = _(
            "None yet. Make me an administrator of a channel with the right to post messages, or press "
            "“{button}” below, and I will post bulletins there."
        ).format(button=add_channel_label())
        return f"{heading}\n\n{none_yet}"
    lines = [heading, ""]
    lines += [f"• <b>{escape(channel.name)}</b>: {_status(channel)}" for channel in channels]
    lines += ["", _("Press a channel to change its settings. To add one, use the button below.")]
    return "\n".join(lines)


def channels_keyboard(channels: Sequence[ChannelLike]) -> InlineKeyboardMarkup | None:
    if not channels:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(f"⚙️ {channel.name[:60]}", callback_data=ManageChannel(channel.id).pack())]
            for channel in channels
        ]
    )


def add_channel_hint() -> str:
    return _("To add a channel, press the button below and pick it.")


def channels_in_private() -> str:
    return _("Send /channels to me in a private chat to manage the channels I post in.")


def no_such_channel() -> str:
    return _("I don't post in that channel for you any more. /channels lists yours.")


def acting_text(title: str) -> str:
    return _(
        "⚙️ Now changing <b>{channel}</b>. For the next hour, /subscribe, /unsubscribe, /timezone, /settings, "
        "/follow, /unfollow, /add, /remove, /topics, /filter, /alert and /language here apply to the channel. "
        "/done returns to this chat's own settings."
    ).format(channel=escape(title))


def done_acting() -> str:
    return _("Back to this chat's own settings.")


def not_acting() -> str:
    return _("You are changing this chat's own settings already. /channels lists your channels.")


def no_longer_admin_text(title: str) -> str:
    return _(
        "You are no longer an administrator of <b>{channel}</b>, so I stopped changing it for you. "
        "Your commands apply to this chat again."
    ).format(channel=escape(title))


def channel_added_text(title: str, *, resumed: bool) -> str:
    if resumed:
        return "📢 " + _("I can post in <b>{channel}</b> again: its bulletins resume with the settings it had.").format(
            channel=escape(title)
        )
    return "📢 " + _(
        "I will post bulletins in <b>{channel}</b>, on the default schedule. /channels here changes its times, "
        "sources and topics."
    ).format(channel=escape(title))


def channel_paused_text(title: str) -> str:
    return "⛔ " + _(
        "I can no longer post in <b>{channel}</b>, so its bulletins are paused. Its settings are kept: make me an "
        "administrator there with the right to post, and they resume."
    ).format(channel=escape(title))


def cannot_post_text(title: str) -> str:
    return _(
        "I am not an administrator of <b>{channel}</b> with the right to post yet. Add me there with that right (or "
        "pick the channel again and allow it), and I will start."
    ).format(channel=escape(title))


def not_channel_admin_text(title: str) -> str:
    return _("Only administrators of <b>{channel}</b> can set up its bulletins.").format(channel=escape(title))
