"""/bulletin: the bulletin right now, sent at once (never queued behind a scheduled run)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from handlers.context import NewsContext
from handlers.common import chat_subscriber, command, reply_html


async def bulletin(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await chat_subscriber(session, update, context.settings.default_timezone)
        delivery_id = await context.bulletins.prepare_now(session, subscriber, kind="manual")
    if delivery_id is None:
        await reply_html(update, "Nothing new since your last bulletin. /headlines shows the latest news.")
        return
    summary = await context.bulletins.send_now([delivery_id])
    if summary.sent == 0 and summary.retried:
        await reply_html(update, "Telegram asked me to slow down; your bulletin follows in a moment.")


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [command("bulletin", bulletin)]
