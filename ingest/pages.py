"""Article pages: main text and metadata with trafilatura, and completing a feed's short summary with them.

The feed's own title and date are kept when it has them (they are what the publisher meant for the
entry); the page fills in what the feed lacks: the full text, authors, a date for an undated entry, a
title for an untitled one. A page that fails to fetch or gives less text than the summary changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import trafilatura

from ingest.cleantext import clean_text
from ingest.fetch import PAGE_ACCEPT, FetchError, Fetcher
from ingest.htmltext import text_to_paragraphs
from ingest.types import ParsedArticle

__all__ = ["PageText", "complete_with_page", "extract_page", "fill_from_pages", "page_article"]

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 3 * 1024 * 1024
# Extracted text shorter than this is navigation or a paywall stub, not an article.
MIN_PAGE_TEXT_CHARS = 200
_DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


@dataclass(slots=True)
class PageText:
    title: str
    paragraphs: list[str]
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    url: str | None = None  # the page's canonical URL when it states one
    site_name: str | None = None
    topics: list[str] = field(default_factory=list)


def extract_page(page: bytes | str, url: str | None = None) -> PageText | None:
    """The main text and metadata of an article page, or None when there is no article text to find.

    What it finds becomes clean text (no lone surrogates or control characters) when it becomes a ParsedArticle.
    """
    if isinstance(page, str):
        page = clean_text(page)  # lxml refuses a str holding NUL or a lone surrogate outright
    try:
        document = trafilatura.bare_extraction(
            page,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception:  # trafilatura and lxml raise a variety of errors on broken markup
        log.warning("could not extract the article from %s", url or "a page", exc_info=True)
        return None
    if document is None or not getattr(document, "text", None):
        return None
    title = " ".join((document.title or "").split())
    paragraphs = text_to_paragraphs(document.text.replace("\n", "\n\n"))
    if paragraphs and title and _same_text(paragraphs[0], title):
        paragraphs = paragraphs[1:]  # the page's own headline repeated as the first line
    if sum(len(p) for p in paragraphs) < MIN_PAGE_TEXT_CHARS:
        return None
    authors = [a for a in (" ".join(part.split()) for part in re.split(r";|\band\b", document.author or "")) if a]
    return PageText(
        title=title,
        paragraphs=paragraphs,
        authors=authors,
        published_at=_page_date(document.date),
        url=document.url or url,
        site_name=document.sitename or None,
        topics=[t for t in (document.categories or []) + (document.tags or []) if t][:12],
    )


def complete_with_page(article: ParsedArticle, page: PageText) -> ParsedArticle:
    """The feed entry with the page's full text; the feed's title, date, authors and topics win when present."""
    summary_chars = sum(len(p) for p in article.paragraphs)
    if sum(len(p) for p in page.paragraphs) <= summary_chars:
        return article
    return replace(
        article,
        title=article.title or page.title,
        paragraphs=list(page.paragraphs),
        authors=article.authors or page.authors,
        published_at=article.published_at or page.published_at,
        topics=article.topics or page.topics,
    )


def page_article(page: PageText, *, url: str) -> ParsedArticle:
    """A stand-alone article from a page (`newsbot ingest https://...`)."""
    return ParsedArticle(
        title=page.title or page.paragraphs[0][:90],
        paragraphs=list(page.paragraphs),
        source=page.site_name,
        authors=page.authors,
        url=url,
        published_at=page.published_at,
        topics=page.topics,
    )


async def fill_from_pages(
    articles: Iterable[ParsedArticle], fetcher: Fetcher, *, concurrency: int = 4
) -> list[ParsedArticle]:
    """Fetch each article's page and complete it; same order out, unchanged where a page did not help."""
    gate = asyncio.Semaphore(concurrency)

    async def one(article: ParsedArticle) -> ParsedArticle:
        if not article.url:
            return article
        async with gate:
            try:
                result = await fetcher.get(article.url, accept=PAGE_ACCEPT, max_bytes=MAX_PAGE_BYTES)
            except FetchError as exc:
                log.info("article page %s: %s; keeping the feed's summary", article.url, exc)
                return article
        page = await asyncio.to_thread(extract_page, result.content, result.url)
        if page is None:
            log.info("article page %s: no article text found; keeping the feed's summary", article.url)
            return article
        return complete_with_page(article, page)

    return list(await asyncio.gather(*(one(a) for a in articles)))


def _same_text(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return re.sub(r"\W+", " ", text).strip().casefold()

    return norm(a) == norm(b)


def _page_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # a bare date: midnight UTC, as the text parser does
    return when.astimezone(timezone.utc)
