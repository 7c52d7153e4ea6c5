"""/search <words> and its More button."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from compose.buttons import MAX_SEARCH_OFFSET, MoreResults
from compose.replies import stale_button
from compose.search import RESULTS_PER_PAGE, no_more_results, query_problem_text, render_search_results
from handlers.common import chat_button, command, links_in_groups, reply_html
from handlers.context import NewsContext
from model.search import MAX_SAVED_QUERY_CHARS, QueryProblem, SearchQuery, parse_query
from storage import follows as follow_repo
from storage import search as search_repo


async def hidden_source_ids(session: AsyncSession, chat_id: int | None) -> frozenset[int]:
    """Sources whose articles the chat `chat_id` may not find (inline mode: the user's private chat): the private
    sources it does not follow. The one place to ask for them, for /search, its More button and inline mode alike."""
    return await follow_repo.hidden_source_ids(session, chat_id)


async def _send_results(update: Update, context: NewsContext, query: SearchQuery, *, offset: int) -> bool:
    """One page of results from `offset` on; False when there was none (a More past the end)."""
    query_text = query.text()
    chat = update.effective_chat
    assert chat is not None, "/search and its button answer in a chat (chat_button keeps others away)"
    async with context.db.session() as session:
        hidden = await hidden_source_ids(session, chat.id)
        # One extra row tells whether a More button has anything behind it.
        found = await search_repo.search_articles(
            session, query, limit=RESULTS_PER_PAGE + 1, offset=offset, hidden_source_ids=hidden
        )
        next_offset = offset + RESULTS_PER_PAGE
        more = None
        if len(found) > RESULTS_PER_PAGE and next_offset <= MAX_SEARCH_OFFSET:
            query_id = await search_repo.save_query(session, query_text, now=context.now())
            more = MoreResults(query_id, next_offset)
    if not found and offset > 0:
        return False
    text, keyboard = render_search_results(
        found[:RESULTS_PER_PAGE],
        query_text=query_text,
        now=context.now(),
        start_index=offset + 1,
        more=more,
        bot_username=links_in_groups(update, context),
    )
    await reply_html(update, text, reply_markup=keyboard)
    return True


async def search(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    # The text after the command, as typed (context.args would lose the spacing inside quotes).
    parts = message.text.split(None, 1)
    parsed = parse_query(parts[1] if len(parts) > 1 else "")
    if isinstance(parsed, QueryProblem):
        await reply_html(update, query_problem_text(parsed))
        return
    await _send_results(update, context, parsed, offset=0)


async def more_results(update: Update, context: NewsContext) -> None:
    callback = update.callback_query
    assert callback is not None
    button = MoreResults.unpack(callback.data)
    if button is None:
        await callback.answer(stale_button())
        return
    async with context.db.session() as session:
        saved = await search_repo.saved_query(session, button.query_id)
    parsed = parse_query(saved, max_chars=MAX_SAVED_QUERY_CHARS) if saved is not None else None
    if not isinstance(parsed, SearchQuery):
        await callback.answer(stale_button())
        return
    await callback.answer()
    if not await _send_results(update, context, parsed, offset=button.offset):
        await reply_html(update, no_more_results())


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("search", search),
        CallbackQueryHandler(chat_button(more_results), pattern=MoreResults.pattern()),
    ]
