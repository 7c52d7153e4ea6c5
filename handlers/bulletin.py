"""/bulletin: the bulletin right now, sent at once (never queued behind a scheduled run)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from compose.replies import nothing_new, slowed_down
from handlers.common import command, reply_html, subscriber_for
from handlers.context import NewsContext


async def bulletin(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        delivery_id = await context.bulletins.prepare_now(session, subscriber, kind="manual")
    if delivery_id is None:
        await reply_html(update, nothing_new())
        return
    summary = await context.bulletins.send_now([delivery_id])
    if summary.sent == 0 and summary.retried:
        await reply_html(update, slowed_down())


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [command("bulletin", bulletin)]
