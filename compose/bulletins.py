"""Scheduled bulletins: one message of numbered headlines, named after the subscriber's time of day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from compose._listing import clean_source, clean_title, deep_link_html, join_meta, read_command, render_numbered
from compose.html import MESSAGE_LIMIT, escape
from compose.text import long_date
from compose.types import ArticleLike


def edition_name(local_time: datetime | time) -> str:
    """'Morning bulletin' 04:00–10:59, 'Midday bulletin' 11:00–15:59, 'Evening bulletin' otherwise."""
    hour = local_time.hour
    if 4 <= hour < 11:
        return "Morning bulletin"
    if 11 <= hour < 16:
        return "Midday bulletin"
    return "Evening bulletin"


def bulletin_heading(local_now: datetime) -> str:
    """'<b>Midday bulletin · Friday 27 November 2026</b>', from the fields of the local time as given."""
    return f"<b>{escape(edition_name(local_now))} · {escape(long_date(local_now))}</b>"


READ_IN_BOT_LABEL = "Read"


def render_bulletin(
    articles: Sequence[ArticleLike],
    *,
    local_now: datetime,
    limit: int = MESSAGE_LIMIT,
    note: str = "",
    bot_username: str | None = None,
) -> str:
    """The bulletin as one HTML message within `limit` visible units (titles shortened if needed).

    `note` (HTML, e.g. compose.selection.selection_note) ends the message.
    Each entry: '<b>title</b>' then 'source · /read_<id>'; with `bot_username` (posts in channels and groups),
    'source · Read' linking to the bot instead. Raises ValueError for an empty list, or when so many articles
    are given that even shortened titles can't fit.
    """
    if not articles:
        raise ValueError("a bulletin needs at least one article")
    titles = [clean_title(article.title) for article in articles]
    heading = bulletin_heading(local_now)
    if bot_username is None:
        metas = [join_meta(clean_source(article.source), read_command(article.id)) for article in articles]
        return render_numbered(heading, titles, metas, start_index=1, limit=limit, footer_html=note)
    sources = [clean_source(article.source) for article in articles]
    links = [deep_link_html(bot_username, article.id, READ_IN_BOT_LABEL) for article in articles]
    return render_numbered(heading, titles, sources, start_index=1, limit=limit, footer_html=note, links_html=links)
