"""Compose: pure functions from domain objects to Telegram HTML text and inline keyboards.

Nothing here sees an Update or does I/O. All outside text is escaped; every message fits Telegram's limits. The
bot's own words come from the gettext catalogues, in the current language (compose/i18n.py).
"""

from compose.articles import render_article
from compose.bulletins import edition_name, render_bulletin
from compose.headlines import format_age, render_headlines
from compose.html import CALLBACK_DATA_LIMIT, MESSAGE_LIMIT, escape, split_message, visible_length, visible_text
from compose.types import ArticleLike

__all__ = [
    "CALLBACK_DATA_LIMIT",
    "MESSAGE_LIMIT",
    "ArticleLike",
    "edition_name",
    "escape",
    "format_age",
    "render_article",
    "render_bulletin",
    "render_headlines",
    "split_message",
    "visible_length",
    "visible_text",
]
