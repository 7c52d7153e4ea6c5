"""Numbered lists of headlines that must fit one message: shared by headlines and bulletins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from compose.html import escape, visible_length
from compose.i18n import gettext as _
from compose.text import one_line, truncate, utf16_len
from compose.types import ArticleLike

SOURCE_MAX = 64  # a source name is a publication's name; cap untrusted ones so titles keep the room
MIN_TITLE = 12  # below this a truncated title says nothing: refuse instead

T = TypeVar("T")


def clean_title(title: str) -> str:
    return one_line(title) or _("Untitled")


def clean_source(source: str | None) -> str:
    return truncate(one_line(source or ""), SOURCE_MAX)


def read_command(article_id: int) -> str:
    """'/read_12': Telegram makes it tappable in plain text, so it is never wrapped in tags."""
    return f"/read_{article_id}"


def deep_link(bot_username: str, article_id: int) -> str:
    """The t.me link that opens the article in a private chat with the bot (/start read_<id>): what posts in
    channels and groups use, where a /read_<id> command cannot be tapped (a channel) or would answer everyone."""
    return f"https://t.me/{bot_username}?start=read_{article_id}"


def deep_link_html(bot_username: str, article_id: int, label: str) -> str:
    return f'<a href="{escape(deep_link(bot_username, article_id), quote=True)}">{escape(label)}</a>'


def article_meta_html(article: ArticleLike, bot_username: str | None) -> str:
    """An entry's second line in a bulletin or an alert, as HTML: 'source · /read_<id>' in a private chat; with
    `bot_username` (posts in channels and groups), 'source · Read' with Read linking to the article in the bot."""
    source = clean_source(article.source)
    if bot_username is None:
        return escape(join_meta(source, read_command(article.id)))
    return join_meta(escape(source), deep_link_html(bot_username, article.id, _("Read")))


def join_meta(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def fit_titles(titles: Sequence[str], room: int) -> list[str]:
    """Shorten the longest titles (with an ellipsis) until their total UTF-16 length is at most `room`.

    Every title is cut to the same cap, the largest that fits, so short titles stay whole.
    Raises ValueError when even MIN_TITLE-unit titles would not fit.
    """
    lengths = [utf16_len(title) for title in titles]
    if sum(lengths) <= room:
        return list(titles)
    low, high = 0, max(lengths)  # invariant: cap `low` fits, cap `high` doesn't
    while high - low > 1:
        middle = (low + high) // 2
        if sum(min(length, middle) for length in lengths) <= room:
            low = middle
        else:
            high = middle
    if low < MIN_TITLE:
        raise ValueError("too many headlines to fit in one message")
    return [truncate(title, low) for title in titles]


def render_numbered(
    heading_html: str,
    titles: Sequence[str],
    meta_lines: Sequence[str],
    *,
    start_index: int,
    limit: int,
    footer_html: str = "",
    metas_html: Sequence[str] | None = None,
) -> str:
    """'{heading}\\n\\n1. <b>title</b>\\nmeta\\n\\n2. ...' with titles shortened to keep within `limit`.

    `titles` and `meta_lines` are plain text (escaped here); `metas_html`, when given, are HTML meta lines used
    instead (see article_meta_html); `footer_html`, when given, closes the message.
    """
    metas = [escape(meta) for meta in meta_lines] if metas_html is None else list(metas_html)

    def build(shown: Sequence[str]) -> str:
        entries = [
            f"{start_index + offset}. <b>{escape(title)}</b>\n{meta}"
            for offset, (title, meta) in enumerate(zip(shown, metas, strict=True))
        ]
        return "\n\n".join([heading_html, *entries, *([footer_html] if footer_html else [])])

    fixed = visible_length(build([""] * len(titles)))
    return build(fit_titles(titles, limit - fixed))


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
