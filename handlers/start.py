"""/start and /help: what the bot does, with a button that subscribes."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler

from handlers.context import NewsContext
from compose.buttons import Subscribe
from handlers.commands import help_text
from handlers.common import activate_subscriber, chat_subscriber, command, reply_html

WELCOME = (
    "<b>Welcome to newsbot!</b>\n\n"
    "I keep the latest news for you: /headlines shows what is new, /read gives you a whole article, "
    "and I can send you a short bulletin of new headlines at the times you choose, in your timezone.\n\n"
    "Tap the button to get bulletins, or /help for every command."
)


WELCOME_BACK = "\n\nWelcome back: your bulletins are on again. /settings shows them."


async def start(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        # A chat that had blocked the bot and now talks to it again gets its bulletins back.
        came_back = subscriber.blocked_at is not None and bool(subscriber.times)
        if came_back:
            await activate_subscriber(
                session, subscriber, None, default_times=context.settings.bulletin_times, now=context.now()
            )
    if came_back:
        await reply_html(update, WELCOME + WELCOME_BACK)
        return
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("🔔 Subscribe to bulletins", callback_data=Subscribe().pack())]])
    await reply_html(update, WELCOME, reply_markup=keyboard)


async def help_command(update: Update, context: NewsContext) -> None:
    await reply_html(update, help_text())


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [command("start", start), command("help", help_command)]
