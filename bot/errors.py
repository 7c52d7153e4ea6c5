"""The last line of defence: log the failure, tell the user briefly, tell admins, keep running."""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import NewsContext

log = logging.getLogger(__name__)

USER_APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."


async def on_error(update: object, context: NewsContext) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, USER_APOLOGY)
        except TelegramError:
            log.warning("could not tell chat %s about the error", update.effective_chat.id)
    error_name = type(context.error).__name__ if context.error else "error"
    for admin_id in context.settings.admin_ids:
        try:
            await context.bot.send_message(
                admin_id, f"⚠️ newsbot: {html.escape(error_name)} while handling an update (see the logs).", parse_mode=None
            )
        except TelegramError:
            log.warning("could not notify admin %s", admin_id)
