"""Channels (and groups) the bot is added to or removed from, /channels, the channel picker, and a private chat
changing a channel's settings (/done to stop)."""

from __future__ import annotations

import logging

from telegram import ChatMember, ChatMemberAdministrator, ChatMemberOwner, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from compose.buttons import ManageChannel
from compose.channels import (
    ADD_CHANNEL_REQUEST,
    acting_text,
    add_channel_hint,
    add_channel_keyboard,
    cannot_post_text,
    channel_added_text,
    channel_paused_text,
    channels_in_private,
    channels_keyboard,
    channels_text,
    done_acting,
    no_longer_admin_text,
    no_such_channel,
    not_acting,
    not_channel_admin_text,
    remove_keyboard,
)
from compose.subscriptions import settings_keyboard, settings_text
from handlers.common import (
    channel_being_changed,
    chat_button,
    chat_info,
    command,
    forget_chat_marks,
    reply_html,
)
from handlers.context import NewsContext
from services import channels as channel_service
from services.channels import ChannelChange
from services.subscriptions import chat_subscriber
from storage import subscribers as subscriber_repo

log = logging.getLogger(__name__)

# Before the feature handlers (group 0): a private chat changing a channel is checked first.
GUARD_GROUP = -1
GONE = frozenset({ChatMember.LEFT, ChatMember.BANNED})


def may_post(member: ChatMember) -> bool:
    """The bot may post in the channel as this member: its owner, or an administrator with the post right."""
    if isinstance(member, ChatMemberOwner):
        return True
    return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)


async def _tell(context: NewsContext, user_id: int | None, text: str) -> None:
    """A note to a user in private; one who never started the bot cannot get it (Telegram refuses), and that is
    fine."""
    if user_id is None:
        return
    try:
        await context.bot.send_message(user_id, text)
    except TelegramError as exc:
        log.info("could not tell user %s about a channel: %s", user_id, exc.message)


async def _join(context: NewsContext, chat_id: int, title: str, user_id: int, language: str | None) -> ChannelChange:
    async with context.db.session() as session:
        _, change = await channel_service.channel_joined(
            session,
            chat_id=chat_id,
            title=title,
            managed_by=user_id,
            language=language,
            default_timezone=context.settings.default_timezone,
            default_times=context.settings.bulletin_times,
            now=context.now(),
        )
    return change


async def on_membership(update: Update, context: NewsContext) -> None:
    """my_chat_member: someone changed the bot's membership in a chat."""
    change = update.my_chat_member
    assert change is not None
    chat, member, by = change.chat, change.new_chat_member, change.from_user
    if chat.type == ChatType.CHANNEL and may_post(member):
        title = chat.title or str(chat.id)
        joined = await _join(context, chat.id, title, by.id, by.language_code)
        if joined is not ChannelChange.UNCHANGED:
            await _tell(context, by.id, channel_added_text(title, resumed=joined is ChannelChange.RESUMED))
        return
    if chat.type == ChatType.CHANNEL or member.status in GONE:
        # Out of the chat, or in a channel without the right to post: its targets pause, settings kept.
        async with context.db.session() as session:
            paused = await channel_service.bot_left_chat(session, chat.id, now=context.now(), status=member.status)
        if chat.type == ChatType.CHANNEL:
            for target in paused:
                await _tell(context, target.managed_by, channel_paused_text(target.name))


async def on_migration(update: Update, context: NewsContext) -> None:
    """A group became a supergroup: Telegram says so in both chats; whichever comes first moves its targets."""
    message = update.effective_message
    assert message is not None
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    async with context.db.session() as session:
        await channel_service.chat_migrated(session, old, new)


async def list_channels(update: Update, context: NewsContext) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != ChatType.PRIVATE or user is None:
        await reply_html(update, channels_in_private())
        return
    async with context.db.session() as session:
        channels = await channel_service.managed_channels(session, user.id)
        text, keyboard = channels_text(channels), channels_keyboard(channels)
    if keyboard is not None:
        await reply_html(update, text, reply_markup=keyboard)
        text = add_channel_hint()
    # A keyboard button (not an inline one) opens Telegram's chat picker, so it comes in a message of its own.
    message = update.effective_message
    assert message is not None
    await message.reply_html(text, do_quote=False, reply_markup=add_channel_keyboard())


async def on_chat_shared(update: Update, context: NewsContext) -> None:
    """The user picked a channel with the "Add a channel" button."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.chat_shared is not None and user is not None
    shared = message.chat_shared
    if shared.request_id != ADD_CHANNEL_REQUEST:
        return
    title = shared.title or str(shared.chat_id)
    if not await context.services.group_admins.is_admin(context.bot, shared.chat_id, user.id, fresh=True):
        await message.reply_html(not_channel_admin_text(title), do_quote=False, reply_markup=remove_keyboard())
        return
    try:
        bot_member = await context.bot.get_chat_member(shared.chat_id, context.bot.id)
    except TelegramError:
        bot_member = None
    if bot_member is None or not may_post(bot_member):
        await message.reply_html(cannot_post_text(title), do_quote=False, reply_markup=remove_keyboard())
        return
    change = await _join(context, shared.chat_id, title, user.id, user.language_code)
    # Telegram also sends my_chat_member when the picker made the bot an admin; whichever comes first adds it.
    text = channel_added_text(title, resumed=change is ChannelChange.RESUMED)
    await message.reply_html(text, do_quote=False, reply_markup=remove_keyboard())


async def on_manage_button(update: Update, context: NewsContext) -> None:
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    button = ManageChannel.unpack(query.data)
    assert button is not None, "routed by ManageChannel's pattern"
    async with context.db.session() as session:
        channel = await channel_service.managed_channel(session, user.id, button.subscriber_id)
        title = channel.name if channel else ""
    if channel is None:
        await query.answer(no_such_channel(), show_alert=True)
        return
    if not await context.services.group_admins.is_admin(context.bot, channel.chat_id, user.id, fresh=True):
        await query.answer()
        await reply_html(update, not_channel_admin_text(title))
        return
    async with context.db.session() as session:
        private = await chat_subscriber(session, chat_info(update), context.settings.default_timezone)
        channel = await channel_service.managed_channel(session, user.id, button.subscriber_id)
        if channel is None:
            await query.answer(no_such_channel(), show_alert=True)
            return
        channel_service.act_for(private, channel, context.now())
        settings, keyboard = settings_text(channel, context.now(), channel=title), settings_keyboard(channel)
    forget_chat_marks(context)
    await query.answer()
    await reply_html(update, acting_text(title))
    await reply_html(update, settings, reply_markup=keyboard)


async def done(update: Update, context: NewsContext) -> None:
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        await reply_html(update, channels_in_private())
        return
    async with context.db.session() as session:
        private = await subscriber_repo.get_subscriber(session, chat.id)
        was_acting = private is not None and channel_service.stop_acting(private)
    forget_chat_marks(context)
    await reply_html(update, done_acting() if was_acting else not_acting())


async def guard_acting(update: Update, context: NewsContext) -> None:
    """A private chat changing a channel: before its command or button is handled, check with Telegram that the
    user is still an administrator of the channel (cached for commands, asked again for buttons). If not, the
    chat returns to its own settings, the user is told, and the update goes no further."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != ChatType.PRIVATE or user is None:
        return
    message = update.message
    if update.callback_query is None and (message is None or not (message.text or "").startswith("/")):
        return
    channel = await channel_being_changed(update, context)  # no query for a chat changing no channel
    if channel is None:
        return
    fresh = update.callback_query is not None
    if await context.services.group_admins.is_admin(context.bot, channel.chat_id, user.id, fresh=fresh):
        return
    async with context.db.session() as session:
        private = await subscriber_repo.get_subscriber(session, chat.id)
        if private is not None:
            channel_service.stop_acting(private)
    forget_chat_marks(context)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await reply_html(update, no_longer_admin_text(channel.name))
    raise ApplicationHandlerStop


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        ChatMemberHandler(on_membership, chat_member_types=ChatMemberHandler.MY_CHAT_MEMBER),
        command("channels", list_channels),
        command("done", done),
        MessageHandler(filters.StatusUpdate.CHAT_SHARED, on_chat_shared),
        MessageHandler(filters.StatusUpdate.MIGRATE, on_migration),
        CallbackQueryHandler(chat_button(on_manage_button), pattern=ManageChannel.pattern()),
    ]


def guards() -> list[BaseHandler[Update, NewsContext, None]]:
    """Handlers for GUARD_GROUP, ahead of every feature."""
    return [TypeHandler(Update, guard_acting)]
