"""/start and /help: what the bot does, with a button that subscribes."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from compose.help import help_text
from compose.welcome import WELCOME, WELCOME_BACK, welcome_keyboard
from handlers.common import command, reply_html, subscriber_for
from handlers.context import NewsContext
from services.subscriptions import resume_if_returning


async def start(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        came_back = await resume_if_returning(
            session, subscriber, default_times=context.settings.bulletin_times, now=context.now()
        )
    if came_back:
        await reply_html(update, WELCOME + WELCOME_BACK)
        return
    await reply_html(update, WELCOME, reply_markup=welcome_keyboard())


async def help_command(update: Update, context: NewsContext) -> None:
    await reply_html(update, help_text())


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [command("start", start), command("help", help_command)]
