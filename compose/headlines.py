"""The /headlines list: one message with numbered titles and an inline keyboard to open them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import (
    chunked,
    clean_source,
    clean_title,
    join_meta,
    read_command,
    render_numbered,
)
from compose.buttons import MAX_HEADLINES, MoreAllHeadlines, MoreHeadlines, ReadArticle
from compose.html import MESSAGE_LIMIT
from compose.i18n import gettext as _
from compose.i18n import ngettext
from compose.text import as_utc
from compose.types import ArticleLike

BUTTONS_PER_ROW = 5


def more_label() -> str:
    return _("More ›")


def format_age(published: datetime, now: datetime) -> str:
    """'just now' (under a minute, or in the future), '5 min ago', '3 h ago', '2 d ago' (rounded down), in the
    current language.

    Naive datetimes are taken to be UTC.
    """
    seconds = (as_utc(now) - as_utc(published)).total_seconds()
    if seconds < 60:
        return _("just now")
    if seconds < 3600:
        count = int(seconds // 60)
        return ngettext("{count} min ago", "{count} min ago", count).format(count=count)
    if seconds < 86400:
        count = int(seconds // 3600)
        return ngettext("{count} h ago", "{count} h ago", count).format(count=count)
    count = int(seconds // 86400)
    return ngettext("{count} d ago", "{count} d ago", count).format(count=count)


def headlines_keyboard(
    articles: Sequence[ArticleLike], *, start_index: int = 1, more: MoreHeadlines | MoreAllHeadlines | None = None
) -> InlineKeyboardMarkup:
    """'📖 N' buttons (ReadArticle) in rows of five, then a 'More ›' row when `more` says what it lists."""
    buttons = [
        InlineKeyboardButton(f"📖 {start_index + offset}", callback_data=ReadArticle(article.id).pack())
        for offset, article in enumerate(articles)
    ]
    rows = chunked(buttons, BUTTONS_PER_ROW)
    if more is not None:
        rows.append([InlineKeyboardButton(more_label(), callback_data=more.pack())])
    return InlineKeyboardMarkup(rows)


def headline_metas(articles: Sequence[ArticleLike], now: datetime) -> list[str]:
    """Each article's line under its title: 'source · age · /read_<id>' (plain text)."""
    return [
        join_meta(
            clean_source(article.source),
            format_age(article.published_at or article.ingested_at, now),
            read_command(article.id),
        )
        for article in articles
    ]


def render_headlines(
    articles: Sequence[ArticleLike],
    *,
    now: datetime,
    start_index: int = 1,
    more: MoreHeadlines | MoreAllHeadlines | None = None,
    limit: int = MESSAGE_LIMIT,
    note: str = "",
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One message listing up to MAX_HEADLINES articles, numbered from `start_index`, with its keyboard.

    Each entry: '<b>title</b>' then 'source · age · /read_<id>'. Titles are shortened with an ellipsis
    when needed to stay within `limit` visible units. No articles gives ('No headlines yet.', None).
    Raises ValueError for more than MAX_HEADLINES articles. `note` (HTML) ends the message.
    """
    if not articles:
        empty = _("No headlines yet.")
        return (f"{empty}\n\n{note}" if note else empty), None
    if len(articles) > MAX_HEADLINES:
        raise ValueError(f"at most {MAX_HEADLINES} headlines fit in one message, got {len(articles)}")
    titles = [clean_title(article.title) for article in articles]
    metas = headline_metas(articles, now)
    keyboard = headlines_keyboard(articles, start_index=start_index, more=more)
    heading = "<b>" + _("Latest headlines") + "</b>"
    text = render_numbered(heading, titles, metas, start_index=start_index, limit=limit, footer_html=note)
    return text, keyboard
