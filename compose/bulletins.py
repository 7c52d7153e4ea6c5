"""Scheduled bulletins: one message of numbered headlines, named after the subscriber's time of day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from compose._listing import article_meta_html, clean_title, render_numbered
from compose.html import MESSAGE_LIMIT, escape
from compose.i18n import gettext as _
from compose.text import long_date
from compose.types import ArticleLike


def edition_name(local_time: datetime | time) -> str:
    """In the current language: 'Morning bulletin' 04:00–10:59, 'Midday bulletin' 11:00–15:59, 'Evening bulletin' otherwise."""
    hour = local_time.hour
    if 4 <= hour < 11:
        return _("Morning bulletin")
    if 11 <= hour < 16:
        return _("Midday bulletin")
    return _("Evening bulletin")


def bulletin_heading(local_now: datetime) -> str:
    """'<b>Midday bulletin · Friday 27 November 2026</b>' in the current language, from the fields of the local time
    as given."""
    return f"<b>{escape(edition_name(local_now))} · {escape(long_date(local_now))}</b>"


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
    metas = [article_meta_html(article, bot_username) for article in articles]
    heading = bulletin_heading(local_now)
    return render_numbered(heading, titles, (), start_index=1, limit=limit, footer_html=note, metas_html=metas)
