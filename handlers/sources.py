"""/sources, /addsource, /removesource: managing the feeds, for admins (ADMIN_IDS) only."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from handlers.context import NewsContext
from services.feeds import SourceError
from compose.buttons import parse_int
from compose.html import escape
from compose.sources import render_sources, source_name
from compose.text import truncate
from handlers.common import admins_only, command, reply_html
from storage import sources as source_repo

REFUSAL = "Sorry, only the bot's admins can manage news sources."
ADD_USAGE = "Usage: /addsource &lt;URL&gt; [minutes], e.g. /addsource https://example.org/feed.xml 30"
REMOVE_USAGE = "Usage: /removesource &lt;id&gt;. /sources lists the ids."
MAX_LISTED_TITLES = 5
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
        await reply_html(update, f"❌ {escape(truncate(str(exc), 500))}")
        return
    name = escape(truncate(source_name(source), 120))
    if result is None:
        await reply_html(update, f"Already a source: <b>#{source.id}</b> {name}")
        return
    lines = [f"✅ Added source <b>#{source.id}</b> {name}, polled every {source.interval_minutes} min."]
    if not result.ok:
        lines.append(f"Its first poll failed: {escape(truncate(result.error or '', 300))}")
    else:
        lines.append(f"{len(result.added)} new article{'s' if len(result.added) != 1 else ''} stored.")
        lines += [f"• {escape(truncate(title, 100))} /read_{article_id}" for article_id, title in result.added[:MAX_LISTED_TITLES]]
        if result.warning:
            lines.append(f"<i>Note:</i> {escape(truncate(result.warning, 300))}")
    await reply_html(update, "\n".join(lines))


async def remove_source(update: Update, context: NewsContext) -> None:
    args = context.args or []
    source_id = parse_int(args[0].removeprefix("#")) if len(args) == 1 else None
    if source_id is None:
        await reply_html(update, REMOVE_USAGE)
        return
    removed = await context.feeds.remove(source_id)
    if removed is None:
        await reply_html(update, f"There is no source #{source_id}. /sources lists them.")
        return
    await reply_html(
        update,
        f"🗑 Removed source <b>#{source_id}</b> {escape(truncate(source_name(removed), 120))}. "
        "Its articles stay readable.",
    )


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        command("sources", admins_only(list_sources, refusal=REFUSAL)),
        # Adding fetches the feed and its pages: run it as its own task so other updates are not held up.
        command("addsource", admins_only(add_source, refusal=REFUSAL), block=False),
        command("removesource", admins_only(remove_source, refusal=REFUSAL)),
    ]
