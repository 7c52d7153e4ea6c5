"""The /headlines list: one message with numbered titles and an inline keyboard to open them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import (
    chunked,
    clean_source,
    clean_title,
    deep_link_html,
    join_meta,
    read_command,
    render_numbered,
)
from compose.buttons import MAX_HEADLINES, MoreAllHeadlines, MoreHeadlines, ReadArticle
from compose.html import MESSAGE_LIMIT, escape
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
    articles: Sequence[ArticleLike],
    *,
    start_index: int = 1,
    more: MoreHeadlines | MoreAllHeadlines | None = None,
    read_buttons: bool = True,
) -> InlineKeyboardMarkup | None:
    """'📖 N' buttons (ReadArticle) in rows of five, then a 'More ›' row when `more` says what it lists. Without
    `read_buttons` (in groups, where a whole article would be posted for everyone) only the More row; None when
    that leaves no button."""
    buttons = [
        InlineKeyboardButton(f"📖 {start_index + offset}", callback_data=ReadArticle(article.id).pack())
        for offset, article in enumerate(articles)
    ]
    rows = chunked(buttons, BUTTONS_PER_ROW) if read_buttons else []
    if more is not None:
        rows.append([InlineKeyboardButton(more_label(), callback_data=more.pack())])
    return InlineKeyboardMarkup(rows) if rows else None


def headline_metas(articles: Sequence[ArticleLike], now: datetime, bot_username: str | None = None) -> list[str]:
    """Each article's line under its title, as HTML: 'source · age · /read_<id>'; with `bot_username` (groups,
    where a /read_<id> would answer everyone) 'source · age · Read', Read opening the article in the bot."""
    metas = []
    for article in articles:
        source, age = clean_source(article.source), format_age(article.published_at or article.ingested_at, now)
        if bot_username is None:
            metas.append(escape(join_meta(source, age, read_command(article.id))))
        else:
            metas.append(join_meta(escape(source), escape(age), deep_link_html(bot_username, article.id, _("Read"))))
    return metas


def render_headlines(
    articles: Sequence[ArticleLike],
    *,
    now: datetime,
    start_index: int = 1,
    more: MoreHeadlines | MoreAllHeadlines | None = None,
    limit: int = MESSAGE_LIMIT,
    note: str = "",
    bot_username: str | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One message listing up to MAX_HEADLINES articles, numbered from `start_index`, with its keyboard.

    Each entry: '<b>title</b>' then 'source · age · /read_<id>' (with `bot_username`, for groups: a Read link to
    the bot, and no Read buttons). Titles are shortened with an ellipsis
    when needed to stay within `limit` visible units. No articles gives ('No headlines yet.', None).
    Raises ValueError for more than MAX_HEADLINES articles. `note` (HTML) ends the message.
    """
    if not articles:
        empty = _("No headlines yet.")
        return (f"{empty}\n\n{note}" if note else empty), None
    if len(articles) > MAX_HEADLINES:
        raise ValueError(f"at most {MAX_HEADLINES} headlines fit in one message, got {len(articles)}")
    titles = [clean_title(article.title) for article in articles]
    metas = headline_metas(articles, now, bot_username)
    keyboard = headlines_keyboard(articles, start_index=start_index, more=more, read_buttons=bot_username is None)
    heading = "<b>" + _("Latest headlines") + "</b>"
    text = render_numbered(
        heading, titles, (), start_index=start_index, limit=limit, footer_html=note, metas_html=metas
    )
    return text, keyboard
