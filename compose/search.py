"""Search results (/search) and inline-mode answers (@bot words), and the short replies of both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InlineQueryResultArticle, InputTextMessageContent

from compose._listing import clean_source, clean_title, deep_link, join_meta, render_numbered
from compose.buttons import MoreResults
from compose.headlines import MORE_LABEL, format_age, headline_metas, headlines_keyboard
from compose.html import MESSAGE_LIMIT, escape
from compose.text import truncate
from compose.types import ArticleLike
from model.search import MAX_QUERY_CHARS, QueryProblem

RESULTS_PER_PAGE = 5
INLINE_RESULTS = 20
QUERY_SHOWN = 80  # characters of the query repeated in a reply
INLINE_TITLE_CHARS = 120
INLINE_MESSAGE_TITLE_CHARS = 1000
READ_LINK_LABEL = "Read the article"
OPEN_IN_BOT_LABEL = "Open in the bot"

SEARCH_USAGE = (
    "Usage: /search &lt;words&gt;, e.g. /search oil prices. "
    'Put a phrase in quotes ("central bank") and a minus before a word to leave it out (-sport).'
)
QUERY_TOO_LONG = f"That search is too long. Use at most {MAX_QUERY_CHARS} characters."
QUERY_NO_WORDS = "Search for words: that query has no letters or digits."
QUERY_ONLY_EXCLUSIONS = "Tell me what to look for, not only what to leave out: add a word without a minus."
NO_MORE_RESULTS = "No more results."

PROBLEM_REPLIES = {
    QueryProblem.EMPTY: SEARCH_USAGE,
    QueryProblem.TOO_LONG: QUERY_TOO_LONG,
    QueryProblem.NO_WORDS: QUERY_NO_WORDS,
    QueryProblem.ONLY_EXCLUSIONS: QUERY_ONLY_EXCLUSIONS,
}


def query_problem_text(problem: QueryProblem) -> str:
    return PROBLEM_REPLIES[problem]


def _shown_query(query_text: str) -> str:
    return escape(truncate(query_text, QUERY_SHOWN))


def no_results_text(query_text: str) -> str:
    return f"Nothing matches <i>{_shown_query(query_text)}</i>. Try fewer words, or other forms of them."


def render_search_results(
    articles: Sequence[ArticleLike],
    *,
    query_text: str,
    now: datetime,
    start_index: int = 1,
    more: MoreResults | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of results, numbered from `start_index`, as /headlines shows them: title, then source, age and
    `/read_<id>`; 'Read' buttons and a 'More ›' button when `more` is given. No articles: no_results_text."""
    if not articles:
        return no_results_text(query_text), None
    heading = f"<b>Search:</b> <i>{_shown_query(query_text)}</i>"
    titles = [clean_title(article.title) for article in articles]
    metas = headline_metas(articles, now)
    text = render_numbered(heading, titles, metas, start_index=start_index, limit=MESSAGE_LIMIT)
    rows = [list(row) for row in headlines_keyboard(articles, start_index=start_index).inline_keyboard]
    if more is not None:
        rows.append([InlineKeyboardButton(MORE_LABEL, callback_data=more.pack())])
    return text, InlineKeyboardMarkup(rows)


def inline_message_html(article: ArticleLike, *, bot_username: str) -> str:
    """What choosing an inline result posts: the headline, its source, a link to the article, a deep link."""
    lines = [f"<b>{escape(truncate(clean_title(article.title), INLINE_MESSAGE_TITLE_CHARS))}</b>"]
    source = clean_source(article.source)
    if source:
        lines.append(escape(source))
    links = []
    if article.url:
        links.append(f'<a href="{escape(article.url, quote=True)}">{READ_LINK_LABEL}</a>')
    links.append(f'<a href="{escape(deep_link(bot_username, article.id), quote=True)}">{OPEN_IN_BOT_LABEL}</a>')
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
