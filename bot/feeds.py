"""Polling feed sources: fetch, parse, complete summaries from article pages, store, back off, report.

One poll of one source:
1. read the source row (short transaction); fetch its feed with the stored validators (no transaction open);
2. parse it (in a worker thread) and ask the database which entries are already stored unchanged;
3. fetch the pages of new entries that carry only a short summary (bounded concurrency);
4. store every new or changed entry and the source's new state in ONE transaction.
Any failure (network, HTTP status, not a feed, empty feed, oversized, timeout, a bug) rolls that transaction
back and records the error on the source in a separate one, with an exponential backoff; other sources are
not affected. A source failing for long (storage.sources.needs_report) is reported once to the admins, and
they are told again when it recovers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from telegram import Bot
from telegram.error import TelegramError

from compose.sources import render_failure_report, render_recovery
from ingest.feeds import FeedEntry, FeedError, ParsedFeed, discover_feed_links, parse_feed, sniff
from ingest.fetch import FetchError, FetchResult, Fetcher
from ingest.pages import fill_from_pages
from ingest.urls import canonical_url
from storage import repositories as repo
from storage import sources as source_repo
from storage.models import Source
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
DEFAULT_PAGE_CONCURRENCY = 4
DEFAULT_FETCH_TIMEOUT = 20.0
DEFAULT_MAX_FEED_BYTES = 5 * 1024 * 1024


class SourceError(Exception):
    """A URL could not be added as a source; the message says why."""


@dataclass
class PollResult:
    source_id: int
    url: str
    title: str = ""
    ok: bool = True
    not_modified: bool = False
    added: list[tuple[int, str]] = field(default_factory=list)  # (article id, title)
    updated: list[tuple[int, str]] = field(default_factory=list)
    unchanged: int = 0  # entries already stored (from this source or another)
    error: str | None = None
    warning: str | None = None
    recovered: bool = False  # it had been reported as failing and works again

    def line(self) -> str:
        name = f"source {self.source_id} ({self.title or self.url})"
        if not self.ok:
            return f"{name}: failed: {self.error}"
        if self.not_modified:
            return f"{name}: not modified"
        text = f"{name}: {len(self.added)} new, {len(self.updated)} updated, {self.unchanged} already stored"
        return text + (f" (warning: {self.warning})" if self.warning else "")


@dataclass
class PollSummary:
    results: list[PollResult] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(len(r.added) for r in self.results)

    @property
    def updated(self) -> int:
        return sum(len(r.updated) for r in self.results)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    def line(self) -> str:
        return (
            f"feed poll: sources={len(self.results)} added={self.added} updated={self.updated} "
            f"failed={self.failed} not_modified={sum(1 for r in self.results if r.not_modified)}"
        )


@dataclass
class FetchedFeed:
    result: FetchResult
    feed: ParsedFeed | None  # None when the server answered 304
    # The URL to keep for the source: the one asked for, unless it moved permanently or named its feed.
    source_url: str


class FeedService:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = DEFAULT_CONCURRENCY,
        page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        max_feed_bytes: int = DEFAULT_MAX_FEED_BYTES,
        fetch_pages: bool = True,
        default_interval: int = 15,
        allow_private_urls: bool = False,
        page_fetches_per_poll: int = 10,
        poll_timeout: float = 120.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.concurrency = concurrency
        self.page_concurrency = page_concurrency
        self.fetch_timeout = fetch_timeout
        self.max_feed_bytes = max_feed_bytes
        self.fetch_pages = fetch_pages
        self.default_interval = default_interval
        self.allow_private_urls = allow_private_urls
        self.page_fetches_per_poll = page_fetches_per_poll
        self.poll_timeout = poll_timeout
        self._job_lock = asyncio.Lock()
        self._configured = False
        # SQLite has one writer: polls that store at the same time only wait on its lock in sleeps of up to
        # 100 ms. Taking turns here instead keeps fetching and parsing concurrent and storing back to back.
        self._store_turn = asyncio.Lock() if db.engine.dialect.name == "sqlite" else None

    def fetcher(self) -> Fetcher:
        return Fetcher(
            timeout=self.fetch_timeout,
            max_bytes=self.max_feed_bytes,
            max_connections=self.concurrency * 4,
            allow_private_urls=self.allow_private_urls,
        )

    # ------------------------------------------------------------------ managing sources

    async def ensure_sources(self, urls: Iterable[str]) -> list[Source]:
        """Sources for these URLs (the FEEDS setting), created unchecked when missing; returns the new ones."""
        created = []
        async with self.db.session() as session:
            for url in urls:
                source, is_new = await source_repo.add_source(
                    session, url, interval_minutes=self.default_interval, now=self.clock()
                )
                if is_new:
                    created.append(source)
        for source in created:
            log.info("added source %s from the FEEDS setting: %s", source.id, source.url)
        return created

    async def add(self, url: str, *, interval_minutes: int | None = None) -> tuple[Source, PollResult | None]:
        """Check that the URL is a feed (or a page that names one), store it as a source and poll it now.

        Returns (source, result of its first poll); the result is None when the source already existed.
        Raises SourceError when the URL cannot be read as a feed.
        """
        url = url.strip()
        if "://" not in url:
            url = "https://" + url
        if canonical_url(url) is None:
            raise SourceError(f"{url} is not an http(s) URL")
        async with self.db.session() as session:
            existing = await source_repo.source_by_url(session, url)
        if existing is not None:
            return existing, None
        now = self.clock()
        async with self.fetcher() as fetcher:
            try:
                fetched = await self._fetch_feed(fetcher, url, etag=None, last_modified=None, now=now, discover=True)
            except (FetchError, FeedError) as exc:
                raise SourceError(f"cannot use {url} as a source: {exc}") from None
            assert fetched.feed is not None
            async with self.db.session() as session:
                source, created = await source_repo.add_source(
                    session,
                    fetched.source_url,
                    interval_minutes=interval_minutes or self.default_interval,
                    now=now,
                    title=fetched.feed.title,
                    site_url=fetched.feed.site_url,
                    language=fetched.feed.language,
                )
            if not created:
                return source, None
            log.info("added source %s: %s (%s)", source.id, source.title, source.url)
            result = await self._poll_fetched(fetcher, source.id, fetched, now=now)
        async with self.db.session() as session:
            fresh = await source_repo.get_source(session, source.id)
        return fresh or source, result

    async def remove(self, source_id: int) -> Source | None:
        async with self.db.session() as session:
            return await source_repo.remove_source(session, source_id)

    # ------------------------------------------------------------------ polling

    async def run_job(self, bot: Bot, *, admin_ids: Iterable[int], feeds: Sequence[str] = ()) -> PollSummary | None:
        """What the periodic job does: add configured feeds once, poll the due sources, tell admins."""
        if self._job_lock.locked():
            log.debug("feed poll still running; skipping this turn")
            return None
        async with self._job_lock:
            if not self._configured:
                await self.ensure_sources(feeds)
                self._configured = True
            summary = await self.poll_due()
            if summary.results:
                log.info(summary.line())
            await self.report(bot, admin_ids, recovered=[r for r in summary.results if r.recovered])
            return summary

    async def poll_due(self, *, now: datetime | None = None) -> PollSummary:
        now = now or self.clock()
        async with self.db.session() as session:
            due = await source_repo.due_source_ids(session, now)
        return await self.poll(due, now=now)

    async def poll(self, source_ids: Sequence[int] | None = None, *, now: datetime | None = None) -> PollSummary:
        """Poll these sources (every source when None) now, `concurrency` at a time."""
        now = now or self.clock()
        if source_ids is None:
            async with self.db.session() as session:
                source_ids = [s.id for s in await source_repo.list_sources(session)]
        if not source_ids:
            return PollSummary()
        gate = asyncio.Semaphore(self.concurrency)
        async with self.fetcher() as fetcher:

            async def one(source_id: int) -> PollResult | None:
                async with gate:
                    return await self.poll_source(fetcher, source_id, now=now)

            results = await asyncio.gather(*(one(source_id) for source_id in source_ids))
        return PollSummary([r for r in results if r is not None])

    async def poll_source(self, fetcher: Fetcher, source_id: int, *, now: datetime) -> PollResult | None:
        """Poll one source; never raises for the source's own problems. None when the source is gone."""
        async with self.db.session() as session:
            source = await source_repo.get_source(session, source_id)
            if source is None:
                return None
            url, etag, last_modified = source.url, source.etag, source.last_modified
        try:
            fetched = await self._fetch_feed(fetcher, url, etag=etag, last_modified=last_modified, now=now)
            return await self._poll_fetched(fetcher, source_id, fetched, now=now)
        except (FetchError, FeedError) as exc:
            error = str(exc)
            log.warning("source %s (%s) failed: %s", source_id, url, error)
        except Exception as exc:  # a bug or a database problem: still only this source's poll fails
            error = f"internal error: {type(exc).__name__}: {exc}"
            log.error("source %s (%s) failed unexpectedly", source_id, url, exc_info=True)
        async with self.db.session() as session:
            source = await source_repo.get_source(session, source_id)
            if source is None:
                return None
            source_repo.record_failure(source, now=now, error=error)
            title = source.title
        return PollResult(source_id, url, title=title, ok=False, error=error)

    async def _fetch_feed(
        self,
        fetcher: Fetcher,
        url: str,
        *,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
        discover: bool = False,
    ) -> FetchedFeed:
        result = await fetcher.get(url, etag=etag, last_modified=last_modified)
        source_url = result.moved_to or url
        if result.not_modified:
            return FetchedFeed(result, None, source_url)
        if discover and sniff(result.content) == "html":
            # A site's home page: follow the feed it advertises.
            links = discover_feed_links(result.content, result.url)
            if links:
                log.info("%s is a page; using the feed it names: %s", url, links[0])
                result = await fetcher.get(links[0])
                source_url = result.moved_to or links[0]
        feed = await asyncio.to_thread(
            parse_feed, result.content, url=result.url, content_type=result.content_type, now=now
        )
        return FetchedFeed(result, feed, source_url)

    async def _poll_fetched(self, fetcher: Fetcher, source_id: int, fetched: FetchedFeed, *, now: datetime) -> PollResult | None:
        result, feed = fetched.result, fetched.feed
        if feed is None:  # 304: nothing changed since the last poll
            async with self.db.session() as session:
                source = await source_repo.get_source(session, source_id)
                if source is None:
                    return None
                recovered = source_repo.record_success(
                    source, now=now, etag=result.etag, last_modified=result.last_modified, note=None
                )
                return PollResult(source_id, source.url, title=source.title, not_modified=True, recovered=recovered)
        if feed.warning:
            log.warning("source %s (%s): %s", source_id, result.url, feed.warning)
        todo, unchanged = await self._new_or_changed(source_id, feed.entries)
        articles = [entry.article for entry in todo]
        if self.fetch_pages:
            short = [i for i, entry in enumerate(todo) if entry.summary_only]
            if short:
                completed = await fill_from_pages([articles[i] for i in short], fetcher, concurrency=self.page_concurrency)
                for i, article in zip(short, completed):
                    articles[i] = article
        async with self._storing_turn(), self.db.session() as session:  # the one transaction of this poll
            source = await source_repo.claim_for_update(session, source_id, now)
            if source is None:
                return None  # removed while we were fetching
            poll = PollResult(source_id, source.url, title=feed.title or source.title, warning=feed.warning)
            poll.unchanged = unchanged
            for article in articles:
                article.source = source.title or article.source
            batch = [(article, entry.entry_hash) for entry, article in zip(todo, articles)]
            for stored in await repo.store_articles(session, batch, now=now, source_id=source_id, seen_at=now):
                if stored.created:
                    poll.added.append((stored.article.id, stored.article.title))
                elif stored.updated:
                    poll.updated.append((stored.article.id, stored.article.title))
                else:
                    poll.unchanged += 1
            moved_to = result.moved_to
            if moved_to and moved_to != source.url:
                if await source_repo.source_by_url(session, moved_to) is None:
                    log.info("source %s moved permanently: %s -> %s", source_id, source.url, moved_to)
                else:
                    log.warning("source %s moved to %s, which is already a source; keeping its URL", source_id, moved_to)
                    moved_to = None
            source.title = (feed.title or source.title)[:300]
            source.site_url = feed.site_url or source.site_url
            source.language = feed.language or source.language
            poll.recovered = source_repo.record_success(
                source, now=now, etag=result.etag, last_modified=result.last_modified, note=feed.warning, moved_to=moved_to
            )
            poll.url = source.url
        return poll

    def _storing_turn(self) -> AbstractAsyncContextManager[object]:
        return self._store_turn if self._store_turn is not None else nullcontext()

    async def _new_or_changed(self, source_id: int, entries: Sequence[FeedEntry]) -> tuple[list[FeedEntry], int]:
        """Entries to store: new ones, and this source's own entries whose feed text changed."""
        async with self.db.session() as session:
            known = await repo.known_entries(
                session,
                source_id,
                guids=[e.article.guid for e in entries if e.article.guid],
                urls=[e.article.url for e in entries if e.article.url],
            )
        by_guid = {guid: entry_hash for sid, guid, _, entry_hash in known if sid == source_id and guid}
        by_url = {url: (sid, entry_hash) for sid, _, url, entry_hash in known if url}
        todo: list[FeedEntry] = []
        unchanged = 0
        seen_in_this_feed: set[str] = set()
        for entry in entries:
            key = repo.guid_key(entry.article.guid)
            canonical = canonical_url(entry.article.url)
            identity = f"g:{key}" if key else f"u:{canonical}" if canonical else f"h:{entry.entry_hash}"
            if identity in seen_in_this_feed:
                unchanged += 1  # the same entry listed twice in one feed
                continue
            seen_in_this_feed.add(identity)
            if key is not None and key in by_guid:
                if by_guid[key] == entry.entry_hash:
                    unchanged += 1
                    continue
            elif canonical is not None and canonical in by_url:
                owner, entry_hash = by_url[canonical]
                if owner != source_id or entry_hash == entry.entry_hash:
                    unchanged += 1  # another source has this story, or it is our unchanged entry
                    continue
            todo.append(entry)
        return todo, unchanged

    # ------------------------------------------------------------------ telling the admins

    async def report(
        self, bot: Bot, admin_ids: Iterable[int], recovered: Sequence[PollResult] = (), *, now: datetime | None = None
    ) -> int:
        """Tell admins about sources failing for long (once per failing streak) and about recoveries.

        Returns how many sources were reported as failing.
        """
        now = now or self.clock()
        admins = sorted(set(admin_ids))
        for result in recovered:
            async with self.db.session() as session:
                source = await source_repo.get_source(session, result.source_id)
            if source is not None:
                await self._tell(bot, admins, render_recovery(source))
        async with self.db.session() as session:
            failing = await source_repo.sources_to_report(session, now)
        reported = 0
        for source in failing:
            log.error(
                "source %s (%s) has failed %s times in a row since %s: %s",
                source.id, source.url, source.consecutive_failures, source.failing_since, source.last_error,
            )  # fmt: skip
            told = await self._tell(bot, admins, render_failure_report(source, now))
            if told or not admins:
                if not admins:
                    log.warning("no ADMIN_IDS set: nobody to tell that source %s keeps failing", source.id)
                async with self.db.session() as session:
                    row = await source_repo.get_source(session, source.id)
                    if row is not None and row.reported_at is None:
                        row.reported_at = now
                reported += 1
        return reported

    async def _tell(self, bot: Bot, admins: Sequence[int], text: str) -> bool:
        told = False
        for admin_id in admins:
            try:
                await bot.send_message(admin_id, text)
                told = True
            except TelegramError:
                log.warning("could not tell admin %s about a source", admin_id, exc_info=True)
        return told
