"""/language and its buttons: the chat's language. Also the per-update step that makes the chat's language the
current one (compose.i18n) before any feature handler runs."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, TypeHandler

from compose.buttons import ChooseLanguage
from compose.i18n import SUPPORTED_LANGUAGES, current_language, set_language, supported_language
from compose.language import language_menu, language_set_answer, language_set_text, unknown_language_text
from compose.replies import stale_button
from handlers.common import (
    channel_being_changed,
    chat_button,
    chat_marks,
    command,
    edit_in_place,
    forget_chat_marks,
    forum_topic,
    group_admins_only,
    reply_html,
    subscriber_for,
)
from handlers.context import NewsContext
from services import preferences

# Before every feature (python-telegram-bot runs lower groups first, each update in a task of its own).
LANGUAGE_GROUP = -2


async def use_chat_language(update: Update, context: NewsContext) -> None:
    """Make the chat's stored language the current one for the rest of this update; before the chat has a row,
    and for updates without a chat (inline queries), the user's Telegram language. The one small query also
    reads the chat's acting mark, kept for the channel guard and the features (handlers.common.chat_marks)."""
    user = update.effective_user
    own = user.language_code if user else None
    set_language(own)  # first, so that even a failing query below leaves no other update's language behind
    chat = update.effective_chat
    if chat is not None:
        marks = await chat_marks(context, chat.id, forum_topic(update))
        if marks.language:
            set_language(marks.language)


def per_update() -> BaseHandler[Update, NewsContext, None]:
    """The handler bot/app.py adds in LANGUAGE_GROUP."""
    return TypeHandler(Update, use_chat_language)


async def language_command(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if not args:
        # The target's language: this chat's (current already), or the channel's it is changing (/channels).
        channel = await channel_being_changed(update, context)
        language = supported_language(channel.language) if channel is not None else current_language()
        text, keyboard = language_menu(language)
        await reply_html(update, text, reply_markup=keyboard)
        return
    wanted = args[0].lower()
    if len(args) != 1 or wanted not in SUPPORTED_LANGUAGES:
        await reply_html(update, unknown_language_text(" ".join(args)))
        return
    await group_admins_only(_choose)(update, context)


async def _choose(update: Update, context: NewsContext) -> None:
    """`/language <code>` from someone who may change the chat's settings."""
    language = supported_language((context.args or [""])[0])
    await _store(update, context, language)
    await reply_html(update, language_set_text())


async def _store(update: Update, context: NewsContext, language: str) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        preferences.set_language(subscriber, language)
    forget_chat_marks(context)
    set_language(language)  # the rest of this update speaks it already


async def on_language_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    button = ChooseLanguage.unpack(query.data)
    if button is None or button.code not in SUPPORTED_LANGUAGES:
        await query.answer(stale_button())  # a language this bot no longer speaks
        return
    await _store(update, context, button.code)
    await query.answer(language_set_answer())
    text, keyboard = language_menu(button.code)
    await edit_in_place(query, language_set_text() + "\n\n" + text, reply_markup=keyboard)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("language", language_command),
        CallbackQueryHandler(chat_button(group_admins_only(on_language_button)), pattern=ChooseLanguage.pattern()),
    ]
