"""`newsbot ingest FILE|URL ...`: text articles, feed and HTML files, feed and page URLs."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

# Imported lazily (inside the functions): building the argument parser must stay cheap for every command.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.settings import Settings
    from ingest.fetch import Fetcher
    from model.articles import ParsedArticle
    from storage.articles import StoreResult
    from storage.session import Database

log = logging.getLogger(__name__)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "ingest",
        help="store articles from text files ('-' reads standard input), feed or HTML files, feed or page URLs",
    )
    parser.add_argument("files", nargs="+", metavar="FILE|URL")


async def ingest(settings: Settings, names: Sequence[str]) -> int:
    from bot.runner import prepare_database
    from model.text import clean_line, clean_text
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    readable = 0
    try:
        await prepare_database(db)
        for name in names:
            # A file name that is not UTF-8 arrives with lone surrogates, which print() cannot write.
            label = "<stdin>" if name == "-" else clean_text(name)
            try:
                readable += await _ingest_one(db, name, label, allow_private_urls=settings.allow_private_urls)
            except Exception as exc:  # whatever one file or URL does, it costs one line and the batch goes on
                log.debug("ingest of %s failed", label, exc_info=True)
                print(f"skipped {label}: {type(exc).__name__}: {clean_line(str(exc), 200)}")
    finally:
        await db.dispose()
    return 0 if readable else 1


async def _ingest_one(db: Database, name: str, label: str, *, allow_private_urls: bool) -> bool:
    """Store one file or URL, printing one line per article or one line saying why not; whether it was readable."""
    from ingest.plaintext import parse_plaintext
    from model.articles import ArticleParseError
    from storage.articles import store_article

    # Feeds and pages; None: plain text.
    handled = await ingest_feed_or_page(db, name, label, allow_private_urls=allow_private_urls)
    if handled is not None:
        return handled
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"skipped {label}: cannot read it ({exc.__class__.__name__}: {exc})")
        return False
    try:
        parsed = parse_plaintext(text)
    except ArticleParseError as exc:
        print(f"skipped {label}: {exc}")
        return False
    async with db.session() as session:
        now = datetime.now(UTC)
        result = await store_article(session, parsed, now=now)
        await _record_alerts(session, [result], now=now)
        article_id = result.article.id
    if result.created:
        print(f"stored {label} as article {article_id}: {parsed.title}")
    else:
        print(f"skipped {label}: already stored as article {article_id}")
    return True


async def ingest_feed_or_page(db: Database, name: str, label: str, *, allow_private_urls: bool = False) -> bool | None:
    """Store what a feed or page URL, or a feed or HTML file, holds; prints a line per article.

    Returns None when `name` is neither (the caller reads it as a text article), else whether it could be read.
    """
    from ingest.feeds import sniff
    from ingest.fetch import PAGE_ACCEPT, Fetcher, FetchError

    if name == "-":
        return None
    if name.startswith(("http://", "https://")):
        async with Fetcher(allow_private_urls=allow_private_urls) as fetcher:
            try:
                result = await fetcher.get(name, accept=f"{PAGE_ACCEPT}, application/rss+xml, application/atom+xml")
            except FetchError as exc:
                print(f"skipped {label}: cannot fetch it ({exc})")
                return False
            return await _ingest_document(db, fetcher, result.content, url=result.url, label=label,
                                          content_type=result.content_type)  # fmt: skip
    try:
        data = Path(name).read_bytes()
    except OSError:
        return None  # the text path reports it
    if sniff(data) not in {"feed", "json-feed", "html"}:
        return None
    async with Fetcher(allow_private_urls=allow_private_urls) as fetcher:
        return await _ingest_document(
            db, fetcher, data, url=Path(name).resolve().as_uri(), label=label, content_type=None
        )


async def _ingest_document(
    db: Database, fetcher: Fetcher, data: bytes, *, url: str, label: str, content_type: str | None
) -> bool:
    from ingest.feeds import FeedError, parse_feed, sniff
    from ingest.pages import extract_page, fill_from_pages, page_article

    kind = sniff(data)
    now = datetime.now(UTC)
    if kind == "html":
        page = extract_page(data, url if url.startswith("http") else None)
        if page is None:
            print(f"skipped {label}: no article text found in the page")
            return False
        article = page_article(page, url=url if url.startswith("http") else None)
        await _store(db, [article], [label], now=now)
        return True
    try:
        feed = parse_feed(data, url=url, content_type=content_type, now=now)
    except FeedError as exc:
        print(f"skipped {label}: {exc}")
        return False
    if feed.warning:
        print(f"note on {label}: {feed.warning}")
    articles = [entry.article for entry in feed.entries]
    short = [i for i, entry in enumerate(feed.entries) if entry.summary_only]
    if short:
        completed = await fill_from_pages([articles[i] for i in short], fetcher)
        for i, article in zip(short, completed, strict=True):
            articles[i] = article
    await _store(db, articles, [f"{label} entry {n}" for n in range(1, len(articles) + 1)], now=now)
    return True


async def _store(db: Database, articles: Sequence[ParsedArticle], labels: Sequence[str], *, now: datetime) -> None:
    from storage.articles import store_articles

    async with db.session() as session:
        results = await store_articles(session, [(article, None) for article in articles], now=now, seen_at=now)
        await _record_alerts(session, results, now=now)
        for article, label, result in zip(articles, labels, results, strict=True):
            if result.created:
                print(f"stored {label} as article {result.article.id}: {article.title}")
            else:
                print(f"skipped {label}: already stored as article {result.article.id}")


async def _record_alerts(session: AsyncSession, results: Sequence[StoreResult], *, now: datetime) -> None:
    """The chats' alerts matched by the articles just created, in the transaction that stores them."""
    from services.alerts import AlertMatcher

    await AlertMatcher().record(session, [result.article for result in results if result.created], now=now)
