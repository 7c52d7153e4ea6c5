"""Search results (/search) and inline-mode answers (@bot words), and the short replies of both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResultArticle, InputTextMessageContent

from compose._listing import clean_source, clean_title, deep_link, join_meta, render_numbered
from compose.buttons import MoreResults
from compose.headlines import format_age, headline_metas, headlines_keyboard, more_label
from compose.html import MESSAGE_LIMIT, escape
from compose.i18n import gettext as _
from compose.text import truncate
from compose.types import ArticleLike
from model.search import MAX_QUERY_CHARS, QueryProblem

RESULTS_PER_PAGE = 5
INLINE_RESULTS = 20
QUERY_SHOWN = 80  # characters of the query repeated in a reply
INLINE_TITLE_CHARS = 120
INLINE_MESSAGE_TITLE_CHARS = 1000


def search_usage() -> str:
    return _(
        "Usage: /search &lt;words&gt;, e.g. /search oil prices. "
        'Put a phrase in quotes ("central bank") and a minus before a word to leave it out (-sport).'
    )


def no_more_results() -> str:
    return _("No more results.")


def query_problem_text(problem: QueryProblem) -> str:
    if problem is QueryProblem.EMPTY:
        return search_usage()
    if problem is QueryProblem.TOO_LONG:
        return _("That search is too long. Use at most {most} characters.").format(most=MAX_QUERY_CHARS)
    if problem is QueryProblem.NO_WORDS:
        return _("Search for words: that query has no letters or digits.")
    return _("Tell me what to look for, not only what to leave out: add a word without a minus.")


def _shown_query(query_text: str) -> str:
    return escape(truncate(query_text, QUERY_SHOWN))


def no_results_text(query_text: str) -> str:
    return _("Nothing matches <i>{query}</i>. Try fewer words, or other forms of them.").format(
        query=_shown_query(query_text)
    )


def render_search_results(
    articles: Sequence[ArticleLike],
    *,
    query_text: str,
    now: datetime,
    start_index: int = 1,
    more: MoreResults | None = None,
    bot_username: str | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of results, numbered from `start_index`, as /headlines shows them: title, then source, age and
    `/read_<id>`; 'Read' buttons and a 'More ›' button when `more` is given (with `bot_username`, for groups: a Read
    link to the bot instead of the command and the buttons). No articles: no_results_text."""
    if not articles:
        return no_results_text(query_text), None
    heading = _("<b>Search:</b> <i>{query}</i>").format(query=_shown_query(query_text))
    titles = [clean_title(article.title) for article in articles]
    metas = headline_metas(articles, now, bot_username)
    text = render_numbered(heading, titles, (), start_index=start_index, limit=MESSAGE_LIMIT, metas_html=metas)
    keyboard = headlines_keyboard(articles, start_index=start_index, read_buttons=bot_username is None)
    rows = [list(row) for row in keyboard.inline_keyboard] if keyboard is not None else []
    if more is not None:
        rows.append([InlineKeyboardButton(more_label(), callback_data=more.pack())])
    return text, InlineKeyboardMarkup(rows) if rows else None


def inline_message_html(article: ArticleLike, *, bot_username: str) -> str:
    """What choosing an inline result posts: the headline, its source, a link to the article, a deep link."""
    lines = [f"<b>{escape(truncate(clean_title(article.title), INLINE_MESSAGE_TITLE_CHARS))}</b>"]
    source = clean_source(article.source)
    if source:
        lines.append(escape(source))
    links = []
    if article.url:
        label = escape(_("Read the article"))
        links.append(f'<a href="{escape(article.url, quote=True)}">{label}</a>')
    link = escape(deep_link(bot_username, article.id), quote=True)
    label = escape(_("Open in the bot"))
    links.append(f'<a href="{link}">{label}</a>')
    lines.append(" · ".join(links))
    return "\n".join(lines)


def inline_results(
    articles: Sequence[ArticleLike], *, now: datetime, bot_username: str
) -> list[InlineQueryResultArticle]:
    """One inline result per article (at most INLINE_RESULTS): the title, 'source · age', and the message that
    choosing it posts. Result ids are the article ids, unique and well within Telegram's 64 bytes."""
    return [
        InlineQueryResultArticle(
            id=str(article.id),
            title=truncate(clean_title(article.title), INLINE_TITLE_CHARS),
            description=join_meta(
                clean_source(article.source), format_age(article.published_at or article.ingested_at, now)
            ),
            input_message_content=InputTextMessageContent(
                inline_message_html(article, bot_username=bot_username), parse_mode="HTML"
            ),
        )
        for article in articles[:INLINE_RESULTS]
    ]
