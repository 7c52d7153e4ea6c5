"""/sources, /addsource, /removesource: managing the feeds, for admins (ADMIN_IDS) only."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from compose.buttons import parse_int
from compose.sources import (
    ADD_USAGE,
    REFUSAL,
    REMOVE_USAGE,
    already_a_source_text,
    no_such_source_text,
    render_sources,
    source_added_text,
    source_error_text,
    source_removed_text,
)
from handlers.common import admins_only, command, reply_html
from handlers.context import NewsContext
from services.feeds import SourceError
from storage import sources as source_repo

MAX_INTERVAL_MINUTES = 1440


async def list_sources(update: Update, context: NewsContext) -> None:
    async with context.db.session() as session:
        sources = await source_repo.list_sources(session)
        counts = await source_repo.article_counts(session, [s.id for s in sources])
    for text in render_sources(sources, now=context.now(), counts=counts):
        await reply_html(update, text)


async def add_source(update: Update, context: NewsContext) -> None:
    args = context.args or []
    interval = parse_int(args[1], high=MAX_INTERVAL_MINUTES) if len(args) == 2 else None
    if not 1 <= len(args) <= 2 or (len(args) == 2 and interval is None):
        await reply_html(update, ADD_USAGE)
        return
    try:
        source, result = await context.feeds.add(args[0], interval_minutes=interval)
    except SourceError as exc:
        await reply_html(update, source_error_text(str(exc)))
        return
    if result is None:
        await reply_html(update, already_a_source_text(source))
        return
    await reply_html(update, source_added_text(source, result))


async def remove_source(update: Update, context: NewsContext) -> None:
    args = context.args or []
    source_id = parse_int(args[0].removeprefix("#")) if len(args) == 1 else None
    if source_id is None:
        await reply_html(update, REMOVE_USAGE)
        return
    removed = await context.feeds.remove(source_id)
    if removed is None:
        await reply_html(update, no_such_source_text(source_id))
        return
    await reply_html(update, source_removed_text(source_id, removed))


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("sources", admins_only(list_sources, refusal=REFUSAL)),
        # Adding fetches the feed and its pages: run it as its own task so other updates are not held up.
        command("addsource", admins_only(add_source, refusal=REFUSAL), block=False),
        command("removesource", admins_only(remove_source, refusal=REFUSAL)),
    ]
