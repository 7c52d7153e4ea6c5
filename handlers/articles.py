"""/headlines, /read and their buttons."""

from __future__ import annotations

import re
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import NewsContext
from compose.articles import render_article
from compose.headlines import render_headlines
from handlers.common import reply_html
from storage import repositories as repo

DEFAULT_HEADLINES = 5
MAX_HEADLINES = 20
HEADLINES_USAGE = f"Usage: /headlines [N], where N is a number from 1 to {MAX_HEADLINES}."
READ_USAGE = "Usage: /read &lt;id&gt;, e.g. /read 12. The ids are in /headlines."
# `/read_12`, also `/read_12@ournewsbot` in groups (the bot name is checked by the handler).
READ_SHORTCUT = re.compile(r"^/read_(\d{1,12})(?:@(\w+))?\s*$")
READ_BUTTON = re.compile(r"^read:(\d{1,12})$")
MORE_BUTTON = re.compile(r"^more:(\d{1,12}):(\d{1,2}):(\d{1,6})$")


async def _send_headlines(update: Update, context: NewsContext, *, count: int, before_id: int | None, start_index: int) -> None:
    async with context.db.session() as session:
        # One extra row tells whether a "More" button has anything behind it.
        articles = await repo.latest_articles(session, count + 1, before_id=before_id)
    has_more = len(articles) > count
    articles = articles[:count]
    cursor = f"{articles[-1].id}:{count}:{start_index + len(articles)}" if has_more else None
    text, keyboard = render_headlines(articles, now=context.now(), start_index=start_index, more_cursor=cursor)
    await reply_html(update, text, reply_markup=keyboard)


async def headlines(update: Update, context: NewsContext) -> None:
    args = context.args or []
    count = DEFAULT_HEADLINES
    if args:
        if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_HEADLINES:
            await reply_html(update, HEADLINES_USAGE)
            return
        count = int(args[0])
    await _send_headlines(update, context, count=count, before_id=None, start_index=1)


async def more_headlines(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    match = MORE_BUTTON.match(query.data)
    assert match is not None  # the handler's pattern guarantees it
    before_id, count, start_index = (int(group) for group in match.groups())
    await query.answer()
    await _send_headlines(update, context, count=min(max(count, 1), MAX_HEADLINES), before_id=before_id, start_index=start_index)


async def _send_article(update: Update, context: NewsContext, article_id: int) -> None:
    async with context.db.session() as session:
        article = await repo.get_article(session, article_id)
    if article is None:
        await reply_html(update, f"There is no article {article_id}. /headlines lists the latest ones.")
        return
    for part in render_article(article):
        await reply_html(update, part)


async def read(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if len(args) != 1 or not args[0].isdigit() or len(args[0]) > 12:
        await reply_html(update, READ_USAGE)
        return
    await _send_article(update, context, int(args[0]))


async def read_shortcut(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    match = READ_SHORTCUT.match(message.text)
    assert match is not None
    addressed_to = match.group(2)
    if addressed_to and addressed_to.lower() != (context.bot.username or "").lower():
        return  # meant for another bot in this group
    await _send_article(update, context, int(match.group(1)))


async def read_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    match = READ_BUTTON.match(query.data)
    assert match is not None
    await query.answer()
    await _send_article(update, context, int(match.group(1)))


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("headlines", headlines),
        CommandHandler("read", read),
        MessageHandler(filters.Regex(READ_SHORTCUT) & filters.UpdateType.MESSAGE, read_shortcut),
        CallbackQueryHandler(read_button, pattern=READ_BUTTON),
        CallbackQueryHandler(more_headlines, pattern=MORE_BUTTON),
    ]
