"""Inline mode: '@bot words' in any chat lists matching articles; an empty query lists the latest ones."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, InlineQueryHandler

from compose.buttons import parse_int
from compose.search import INLINE_RESULTS, inline_results
from handlers.context import NewsContext
from handlers.search import hidden_source_ids
from model.search import QueryProblem, parse_query
from storage import articles as article_repo
from storage import search as search_repo

CACHE_SECONDS = 30  # new articles arrive all the time: let Telegram reuse an answer only briefly
MAX_INLINE_OFFSET = 100  # how far scrolling goes through one inline query's results


async def inline_search(update: Update, context: NewsContext) -> None:
    inline_query = update.inline_query
    assert inline_query is not None
    offset = parse_int(inline_query.offset, low=0, high=MAX_INLINE_OFFSET) if inline_query.offset else 0
    parsed = parse_query(inline_query.query)
    if offset is None or (isinstance(parsed, QueryProblem) and parsed is not QueryProblem.EMPTY):
        # A forged offset, or a query that cannot be run (too long, no words): no results, nothing to scroll.
        await inline_query.answer([], cache_time=CACHE_SECONDS, is_personal=True)  # no next_offset: nothing more
        return
    async with context.db.session() as session:
        if isinstance(parsed, QueryProblem):  # empty: the latest headlines
            found = await article_repo.latest_articles(session, INLINE_RESULTS) if offset == 0 else []
        else:
            found = await search_repo.search_articles(
                session, parsed, limit=INLINE_RESULTS, offset=offset, hidden_source_ids=hidden_source_ids(context)
            )
    next_offset = offset + INLINE_RESULTS
    more = len(found) == INLINE_RESULTS and next_offset <= MAX_INLINE_OFFSET and not isinstance(parsed, QueryProblem)
    results = inline_results(found, now=context.now(), bot_username=context.bot.username)
    # None rather than "" when there is no more: with Defaults set, python-telegram-bot 22 sends an empty string
    # as "[]" (it takes "" for an empty sequence of poll options), and clients would scroll to offset "[]".
    await inline_query.answer(
        results, cache_time=CACHE_SECONDS, is_personal=True, next_offset=str(next_offset) if more else None
    )


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [InlineQueryHandler(inline_search)]
