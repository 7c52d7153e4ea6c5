"""Article pages: main text and metadata with trafilatura, and completing a feed's short summary with them.

The feed's own title and date are kept when it has them (they are what the publisher meant for the
entry); the page fills in what the feed lacks: the full text, authors, a date for an undated entry, a
title for an untitled one. A page that fails to fetch or gives less text than the summary changes nothing.
Page fetches are bounded: a few at once, at most PAGES_PER_HOST at once to one host, and none past a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import trafilatura
from trafilatura.settings import Document

from ingest.fetch import PAGE_ACCEPT, Fetcher, FetchError
from ingest.htmltext import text_to_paragraphs
from model.articles import ParsedArticle
from model.text import clean_text

__all__ = [
    "HostGates", "PageFill", "PageText", "complete_with_page", "extract_page", "fill_from_pages", "fill_pages",
    "page_article",
]  # fmt: skip

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 3 * 1024 * 1024
# Extracted text shorter than this is navigation or a paywall stub, not an article.
MIN_PAGE_TEXT_CHARS = 200
# Pages fetched at once from one host: enough to be quick, few enough not to hammer a publisher's site.
PAGES_PER_HOST = 2
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
    if not isinstance(document, Document) or not document.text:  # None, or a dict only when as_dict=True
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


def page_article(page: PageText, *, url: str | None) -> ParsedArticle:
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


class HostGates:
    """At most `per_host` page fetches at once to one host, for everyone who fetches through the same object."""

    def __init__(self, per_host: int = PAGES_PER_HOST) -> None:
        self.per_host = per_host
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}  # host -> (its gate, fetches holding or waiting)

    @asynccontextmanager
    async def hold(self, url: str) -> AsyncIterator[None]:
        host = _host(url)
        gate, users = self._gates.get(host) or (asyncio.Semaphore(self.per_host), 0)
        self._gates[host] = (gate, users + 1)
        try:
            async with gate:
                yield
        finally:
            gate, users = self._gates[host]
            if users == 1:
                del self._gates[host]  # nobody left on this host: the map does not grow with every host ever seen
            else:
                self._gates[host] = (gate, users - 1)


@dataclass(frozen=True, slots=True)
class PageFill:
    article: ParsedArticle  # completed from its page, or as it was
    tried: bool = False  # its page fetch started (and failed, found nothing, or completed the article)
    cut_off: bool = False  # ... but the deadline came before it finished


async def fill_pages(
    articles: Iterable[ParsedArticle],
    fetcher: Fetcher,
    *,
    concurrency: int = 4,
    hosts: HostGates | None = None,
    deadline: float | None = None,
) -> list[PageFill]:
    """Fetch each article's page and complete it; same order out, unchanged where a page did not help.

    At most `concurrency` pages at once, and at most the host limit of `hosts` (a fresh HostGates unless shared)
    per host. At `deadline` (event loop time) fetching stops: pages not done by then leave their article as it was.
    Pages are started in the given order, so put the most wanted first.
    """
    wanted = list(articles)
    fills = [PageFill(article) for article in wanted]
    gate = asyncio.Semaphore(concurrency)
    gates = hosts or HostGates()

    async def one(index: int, article: ParsedArticle) -> None:
        if not article.url:
            return
        async with gates.hold(article.url), gate:
            fills[index] = PageFill(article, tried=True, cut_off=True)  # until it finishes
            try:
                result = await fetcher.get(article.url, accept=PAGE_ACCEPT, max_bytes=MAX_PAGE_BYTES)
            except FetchError as exc:
                log.info("article page %s: %s; keeping the feed's summary", article.url, exc)
                fills[index] = PageFill(article, tried=True)
                return
        page = await asyncio.to_thread(extract_page, result.content, result.url)
        if page is None:
            log.info("article page %s: no article text found; keeping the feed's summary", article.url)
            fills[index] = PageFill(article, tried=True)
            return
        fills[index] = PageFill(complete_with_page(article, page), tried=True)

    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.gather(*(one(i, article) for i, article in enumerate(wanted)))
    except TimeoutError:
        done = sum(1 for fill in fills if fill.tried and not fill.cut_off)
        log.info("page fetching stopped at the deadline: %s of %s pages done; the rest keep their summaries",
                 done, len(wanted))  # fmt: skip
    return fills


async def fill_from_pages(
    articles: Iterable[ParsedArticle], fetcher: Fetcher, *, concurrency: int = 4
) -> list[ParsedArticle]:
    """Fetch each article's page and complete it; same order out, unchanged where a page did not help."""
    return [fill.article for fill in await fill_pages(articles, fetcher, concurrency=concurrency)]


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a malformed URL (the fetch will fail on it): a gate of its own
        return url


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
        when = when.replace(tzinfo=UTC)  # a bare date: midnight UTC, as the text parser does
    return when.astimezone(UTC)
