"""/start and /help: what the bot does, with a button that subscribes."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from compose.buttons import parse_int
from compose.help import help_text
from compose.welcome import welcome, welcome_back, welcome_keyboard
from handlers.articles import open_article
from handlers.common import command, reply_html, subscriber_for
from handlers.context import NewsContext
from services.subscriptions import resume_if_returning

READ_PAYLOAD = "read_"  # /start read_<id>: the deep link of an article shared through inline mode


async def start(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if len(args) == 1 and args[0].startswith(READ_PAYLOAD):
        article_id = parse_int(args[0].removeprefix(READ_PAYLOAD))
        if article_id is not None:
            await open_article(update, context, article_id)
            return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        came_back = await resume_if_returning(
            session, subscriber, default_times=context.settings.bulletin_times, now=context.now()
        )
    if came_back:
        await reply_html(update, welcome() + welcome_back())
        return
    await reply_html(update, welcome(), reply_markup=welcome_keyboard())


async def help_command(update: Update, context: NewsContext) -> None:
    await reply_html(update, help_text())


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [command("start", start), command("help", help_command)]
