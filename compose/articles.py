"""A whole article as one or more Telegram HTML messages."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import ContinueArticle
from compose.html import MESSAGE_LIMIT, escape, split_message
from compose.i18n import gettext as _
from compose.i18n import join_and
from compose.text import one_line, short_date
from compose.types import ArticleLike

META_SEPARATOR = " · "
# A long article comes this many messages at a time, the last with a Continue button: one /read must not flood
# the chat (a 1 MB article is ~250 messages) nor hold the bot's send rate for long.
PARTS_PER_BATCH = 3
# callback_data of the Continue button: 'readpart:<article id>:<first part to send, 1-based>'.


def byline(authors: Sequence[str]) -> str | None:
    """'By A', 'By A and B', 'By A, B and C' (in the current language); None when there are no (non-blank) authors."""
    names = [one_line(name) for name in authors]
    names = [name for name in names if name]
    if not names:
        return None
    return _("By {authors}").format(authors=join_and(names))


def meta_line(article: ArticleLike) -> str | None:
    """'Reuters · By A and B · MOSCOW · 13 Jan 2022' (plain text), skipping whatever is missing.

    The date is `published_at`, or `ingested_at` when the publication time is unknown (as ages are).
    """
    moment = article.published_at or article.ingested_at
    parts = [
        one_line(article.source or ""),
        byline(article.authors) or "",
        one_line(article.dateline or ""),
        short_date(moment) if moment is not None else "",
    ]
    parts = [part for part in parts if part]
    return META_SEPARATOR.join(parts) if parts else None


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL Telegram will accept as a link, else None."""
    if not url:
        return None
    url = url.strip()
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def paragraphs(article: ArticleLike) -> list[str]:
    """The body's paragraphs (stripped, blanks dropped), led by `lead` only if the body doesn't hold it."""
    body = article.body.replace("\r\n", "\n").replace("\r", "\n")
    paras = [para.strip() for para in body.split("\n\n")]
    paras = [para for para in paras if para]
    lead = (article.lead or "").strip()
    if lead and one_line(lead) not in one_line(body):
        paras.insert(0, lead)
    return paras


def article_blocks(article: ArticleLike) -> list[str]:
    """Title, meta line, paragraphs and source link as separate balanced HTML blocks."""
    blocks: list[str] = []
    title = one_line(article.title)
    if title:
        blocks.append(f"<b>{escape(title)}</b>")
    meta = meta_line(article)
    if meta:
        blocks.append(f"<i>{escape(meta)}</i>")
    blocks.extend(escape(para) for para in paragraphs(article))
    url = safe_url(article.url)
    if url:
        label = escape(_("Source"))
        blocks.append(f'<a href="{escape(url, quote=True)}">{label}</a>')
    return blocks


def render_article(article: ArticleLike, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The whole article as HTML messages, each within `limit` visible UTF-16 units (at least one)."""
    messages = split_message(article_blocks(article), limit=limit)
    if not messages:  # no title, body or link at all: still say something
        messages = ["<i>" + _("Article {id} has no text.").format(id=article.id) + "</i>"]
    return messages


def continue_keyboard(article_id: int, next_part: int, total: int) -> InlineKeyboardMarkup:
    """'Continue (part 4 of 12)', sending parts `next_part`... of article `article_id`."""
    data = ContinueArticle(article_id, next_part).pack()
    label = _("Continue (part {part} of {total})").format(part=next_part, total=total)
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])


def render_article_batch(
    article: ArticleLike, *, first_part: int = 1, count: int = PARTS_PER_BATCH, limit: int = MESSAGE_LIMIT
) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """Parts `first_part`.. (1-based, at most `count`) of `render_article`, each with its keyboard: the last one
    gets a Continue button when parts remain. Empty when `first_part` is not a part of the article (a stale
    button: the article was rewritten shorter)."""
    parts = render_article(article, limit=limit)
    if not 1 <= first_part <= len(parts):
        return []
    batch = parts[first_part - 1 : first_part - 1 + count]
    next_part = first_part + len(batch)
    keyboards: list[InlineKeyboardMarkup | None] = [None] * len(batch)
    if next_part <= len(parts):
        keyboards[-1] = continue_keyboard(article.id, next_part, len(parts))
    return list(zip(batch, keyboards, strict=True))
