"""/headlines, /read and their buttons."""

from __future__ import annotations

import re
from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from compose.articles import render_article_batch
from compose.buttons import (
    MAX_HEADLINES,
    MAX_POSITION,
    ContinueArticle,
    MoreAllHeadlines,
    MoreHeadlines,
    ReadArticle,
    any_of,
    parse_int,
)
from compose.headlines import render_headlines
from compose.replies import (
    article_changed_answer,
    article_gone_answer,
    headlines_usage,
    no_article_text,
    read_usage,
    stale_button,
)
from handlers.common import NEW_MESSAGE, chat_button, command, links_in_groups, reply_html, subscriber_for
from handlers.context import NewsContext
from services import selection
from storage import articles as article_repo
from storage.models import Article

DEFAULT_HEADLINES = 5
# ASCII digits only ([0-9] rather than \d, which matches other scripts' digits too); the range is checked by
# parse_int. `/read_12`, also `/read_12@ournewsbot` in groups (the handler checks the name).
READ_SHORTCUT = re.compile(r"^/read_([0-9]+)(?:@(\w+))?\s*$", re.ASCII)


async def _send_headlines(
    update: Update, context: NewsContext, *, count: int, before_id: int | None, start_index: int, everything: bool
) -> None:
    async with context.db.session() as session:
        # Only the chat's choices are read: its bulletin times are not loaded.
        subscriber = await subscriber_for(session, update, context, with_times=False)
        if everything:
            chosen = await selection.everything_for(session, subscriber)
        else:
            chosen = await selection.selection_for(session, subscriber)
        # One extra row tells whether a "More" button has anything behind it.
        articles = await selection.latest_admitted(session, chosen, count + 1, before_id=before_id)
    has_more = len(articles) > count
    articles = articles[:count]
    next_start = start_index + len(articles)
    more: MoreHeadlines | MoreAllHeadlines | None = None
    if has_more and next_start <= MAX_POSITION:
        more = (MoreAllHeadlines if everything else MoreHeadlines)(articles[-1].id, count, next_start)
    note = selection.note(chosen, headlines=True) if start_index == 1 else ""
    text, keyboard = render_headlines(
        articles,
        now=context.now(),
        start_index=start_index,
        more=more,
        note=note,
        bot_username=links_in_groups(update, context),
    )
    await reply_html(update, text, reply_markup=keyboard)


async def headlines(update: Update, context: NewsContext) -> None:
    args = list(context.args or [])
    everything = bool(args) and args[0].lower() == "all"
    if everything:
        args = args[1:]
    count = DEFAULT_HEADLINES
    if args:
        parsed = parse_int(args[0], high=MAX_HEADLINES) if len(args) == 1 else None
        if parsed is None:
            await reply_html(update, headlines_usage())
            return
        count = parsed
    await _send_headlines(update, context, count=count, before_id=None, start_index=1, everything=everything)


async def more_headlines(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    button = MoreHeadlines.unpack(query.data) or MoreAllHeadlines.unpack(query.data)
    if button is None:
        await query.answer(stale_button())  # we never make such buttons
        return
    await query.answer()
    await _send_headlines(
        update,
        context,
        count=button.count,
        before_id=button.before_id,
        start_index=button.start_index,
        everything=isinstance(button, MoreAllHeadlines),
    )


async def _load_article(context: NewsContext, article_id: int) -> Article | None:
    async with context.db.session() as session:
        return await article_repo.get_article(session, article_id)


async def _send_article(update: Update, context: NewsContext, article_id: int) -> None:
    article = await _load_article(context, article_id)
    if article is None:
        await reply_html(update, no_article_text(article_id))
        return
    await _send_batch(update, render_article_batch(article))


async def open_article(update: Update, context: NewsContext, article_id: int) -> None:
    """What /read <id> answers: the article, or "no such article". Also used by /start read_<id>."""
    await _send_article(update, context, article_id)


async def _send_batch(update: Update, batch: Sequence[tuple[str, InlineKeyboardMarkup | None]]) -> None:
    for text, keyboard in batch:
        await reply_html(update, text, reply_markup=keyboard)


async def read(update: Update, context: NewsContext) -> None:
    args = context.args or []
    article_id = parse_int(args[0]) if len(args) == 1 else None
    if article_id is None:
        await reply_html(update, read_usage())
        return
    await _send_article(update, context, article_id)


async def read_shortcut(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    match = READ_SHORTCUT.match(message.text)
    assert match is not None
    addressed_to = match.group(2)
    if addressed_to and addressed_to.lower() != (context.bot.username or "").lower():
        return  # meant for another bot in this group
    article_id = parse_int(match.group(1))
    if article_id is None:
        await reply_html(update, read_usage())
        return
    await _send_article(update, context, article_id)


async def read_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    button = ReadArticle.unpack(query.data)
    if button is None:
        await query.answer(stale_button())
        return
    await query.answer()
    await _send_article(update, context, button.article_id)


async def continue_article(update: Update, context: NewsContext) -> None:
    """The Continue button under a long article: its next few parts."""
    query = update.callback_query
    assert query is not None
    button = ContinueArticle.unpack(query.data)
    if button is None:
        await query.answer(stale_button())
        return
    article_id = button.article_id
    article = await _load_article(context, article_id)
    if article is None:
        await query.answer(article_gone_answer(article_id))
        return
    batch = render_article_batch(article, first_part=button.first_part)
    if not batch:  # the article was rewritten shorter since the button was made
        await query.answer(article_changed_answer(article_id))
        return
    await query.answer()
    await _send_batch(update, batch)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("headlines", headlines),
        command("read", read),
        MessageHandler(filters.Regex(READ_SHORTCUT) & NEW_MESSAGE, read_shortcut),
        CallbackQueryHandler(chat_button(read_button), pattern=ReadArticle.pattern()),
        CallbackQueryHandler(chat_button(more_headlines), pattern=any_of(MoreHeadlines, MoreAllHeadlines)),
        CallbackQueryHandler(chat_button(continue_article), pattern=ContinueArticle.pattern()),
    ]
