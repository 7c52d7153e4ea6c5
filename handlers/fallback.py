"""Everything no feature handled: unknown commands and plain text get a short, helpful answer."""

from __future__ import annotations

from telegram import MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from compose.replies import plain_text_reply, unknown_command_text
from compose.replies import stale_button as stale_button_text
from handlers.common import NEW_MESSAGE, reply_html
from handlers.context import NewsContext


async def unknown_command(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    command = message.parse_entities([MessageEntity.BOT_COMMAND])
    word = next(iter(command.values()), message.text.split()[0])
    name, _, addressed_to = word.partition("@")
    is_private = message.chat.type == ChatType.PRIVATE
    if not is_private and addressed_to.lower() != (context.bot.username or "").lower():
        return  # in groups, only answer commands addressed to this bot
    await reply_html(update, unknown_command_text(name))


async def stale_button(update: Update, context: NewsContext) -> None:
    """A button from an old message (or one we no longer understand): stop the spinner and say so."""
    query = update.callback_query
    assert query is not None
    await query.answer(stale_button_text(), show_alert=False)


async def plain_text(update: Update, context: NewsContext) -> None:
    await reply_html(update, plain_text_reply())


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        MessageHandler(filters.COMMAND & NEW_MESSAGE, unknown_command),
        CallbackQueryHandler(stale_button),
        # Groups: stay quiet about ordinary conversation.
        MessageHandler(filters.ChatType.PRIVATE & NEW_MESSAGE & ~filters.COMMAND, plain_text),
    ]
