"""Small pieces shared by the feature handlers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CommandHandler, filters

from compose.replies import group_admins_only_text, not_here
from handlers.context import NewsContext
from handlers.group_admins import in_group, sent_as_the_group
from services.channels import acting_channel_id, acting_for
from services.channels import channel_being_changed as channel_being_changed_now
from services.subscriptions import ChatInfo, chat_subscriber
from storage import subscribers as subscriber_repo
from storage.models import Subscriber
from storage.subscribers import ChatMarks

# Commands run for new messages only: python-telegram-bot's default also takes edited messages, which would
# re-run a command (and send its reply again) every time the user edits it.
NEW_MESSAGE = filters.UpdateType.MESSAGE

# What python-telegram-bot calls a handler callback (HandlerCallback), for our context type.
Callback = Callable[[Update, NewsContext], Coroutine[Any, Any, None]]


def command(name: str, callback: Callback, **kwargs: Any) -> CommandHandler[NewsContext, None]:
    """A CommandHandler for `/name` in new messages (never edits)."""
    return CommandHandler(name, callback, filters=NEW_MESSAGE, **kwargs)


def admins_only(callback: Callback, *, refusal: Callable[[], str]) -> Callback:
    """The handler for ADMIN_IDS only; anyone else gets `refusal()` (HTML, in the chat's language) and nothing is
    done."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: NewsContext) -> None:
        user = update.effective_user
        if user is None or user.id not in context.settings.admin_ids:
            await reply_html(update, refusal())
            return
        await callback(update, context)

    return guarded


async def may_change_settings(update: Update, context: NewsContext) -> bool:
    """True when the sender may change this chat's settings: anyone in a private chat, an admin of a group (an
    anonymous admin too). Otherwise the sender is told why, and nothing is to be changed."""
    if not in_group(update) or sent_as_the_group(update):
        return True
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    query = update.callback_query
    if user is not None and await context.services.group_admins.is_admin(
        context.bot, chat.id, user.id, fresh=query is not None
    ):
        return True
    if query is not None:
        await query.answer(group_admins_only_text(), show_alert=True)
    else:
        await reply_html(update, group_admins_only_text())
    return False


def group_admins_only(callback: Callback) -> Callback:
    """The handler changes the chat's settings: in groups, for its admins only (may_change_settings)."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: NewsContext) -> None:
        if await may_change_settings(update, context):
            await callback(update, context)

    return guarded


def chat_button(callback: Callback) -> Callback:
    """For button handlers that answer in the chat: a button on an inline message (sent via inline mode, so the
    callback carries no message and no chat) gets a short answer instead of reaching the handler."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: NewsContext) -> None:
        query = update.callback_query
        if query is not None and update.effective_chat is None:
            await query.answer(not_here())
            return
        await callback(update, context)

    return guarded


def chat_info(update: Update) -> ChatInfo:
    """The chat this update came from, as the subscriber row keeps it."""
    chat = update.effective_chat
    assert chat is not None, "handlers asking for the chat only receive chat updates"
    user = update.effective_user
    return ChatInfo(
        chat_id=chat.id,
        chat_type=chat.type,
        name=chat.title or chat.full_name or chat.username or str(chat.id),
        language=user.language_code if user else None,
        thread_id=forum_topic(update),
    )


def forum_topic(update: Update) -> int:
    """The forum topic an update came from (a command, or a button under the bot's message there); 0 outside
    topics, and in a forum's General topic, which Telegram treats as the chat itself."""
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or not chat.is_forum or message is None:
        return 0
    if isinstance(message, Message) and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return 0


async def chat_marks(context: NewsContext, chat_id: int, thread_id: int = 0) -> ChatMarks:
    """The chat's language and acting mark (storage.subscribers.ChatMarks) as read once for this update, by the
    first handler that asks (the per-update language step); read now if this update has not read that chat's.
    A handler that changes them afterwards calls forget_chat_marks."""
    kept = context.chat_marks
    if kept is not None and kept.chat_id == chat_id and kept.thread_id == thread_id:
        return kept
    marks = await subscriber_repo.chat_marks(context.db, chat_id, thread_id)
    context.chat_marks = marks
    return marks


async def channel_being_changed(update: Update, context: NewsContext) -> Subscriber | None:
    """The channel whose settings this private chat is changing now (/channels), if any: by the chat's marks, so
    the many chats changing none cost no query here."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return None
    marks = await chat_marks(context, chat.id)
    if acting_channel_id(marks, context.now()) is None:
        return None
    async with context.db.session() as session:
        return await channel_being_changed_now(session, marks, context.now())


def forget_chat_marks(context: NewsContext) -> None:
    """The chat's language or acting mark changed: whatever asks later in this update reads them again."""
    context.chat_marks = None


async def subscriber_for(
    session: AsyncSession, update: Update, context: NewsContext, *, with_times: bool = True
) -> Subscriber:
    """The target the update's commands act on, created on first contact: the chat (or its forum topic), or the
    channel a private chat is changing (/channels; handlers.channels.guard_acting has checked the user's rights).
    Without `with_times` the chat's own bulletin times are not loaded (for handlers that only read its choices;
    reading them raises)."""
    own = await chat_subscriber(session, chat_info(update), context.settings.default_timezone, with_times=with_times)
    if own.chat_type == "private":
        channel = await acting_for(session, own, context.now())
        if channel is not None:
            return channel
    return own


def links_in_groups(update: Update, context: NewsContext) -> str | None:
    """The bot's username in a group (lists there link articles to the bot: a /read_<id> or a Read button would
    post the whole article for everyone); None in a private chat (/read_<id> commands and Read buttons)."""
    return context.bot.username if in_group(update) else None


def channel_title(subscriber: Subscriber) -> str | None:
    """The channel's title when `subscriber` is a channel (its settings changed from a private chat)."""
    return subscriber.name if subscriber.chat_type == "channel" else None


async def reply_html(update: Update, text: str, *, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_html(text, do_quote=False, reply_markup=reply_markup)
        return
    # No message to reply to (e.g. a button's message given as InaccessibleMessage): the chat is still known.
    chat = update.effective_chat
    assert chat is not None, "replies go to a chat; chat_button keeps chat-less callbacks away"
    await chat.send_message(text, parse_mode="HTML", reply_markup=reply_markup)


async def edit_in_place(query: CallbackQuery, text: str, *, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Rewrite the message a button is under; a press that changes nothing (Telegram: "message is not modified")
    is fine."""
    try:
        await query.edit_message_text(text, reply_markup=reply_markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
