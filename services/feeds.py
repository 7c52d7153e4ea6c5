"""Polling feed sources: fetch, parse, complete summaries from article pages, store, back off, report.

One poll of one source:
1. read the source row (short transaction); fetch its feed with the stored validators (no transaction open);
2. parse it (in a worker thread) and ask the database which entries are already stored unchanged, and which
   stored articles of the source still wait for their page;
3. fetch pages for entries that carry only a short summary: at most `page_fetches_per_poll`, newest first, a
   few at once and at most 2 at once per host, and none after `poll_timeout` seconds from the poll's start;
   the others are stored with their summary and marked, and later polls fetch their pages;
4. store every new or changed entry, every completed page and the source's new state in ONE transaction.
Any failure (network, HTTP status, not a feed, empty feed, oversized, timeout, a bug) rolls that transaction
back and records the error on the source in a separate one, with an exponential backoff; other sources are
not affected. A source failing for long (model.sources: REPORT_AFTER_FAILURES, REPORT_AFTER) is reported once to the admins, and
they are told again when it recovers.

In the bot, the periodic job (run_job) only starts polls: each poll of a due source is a task of its own, at most
`concurrency` at once, and a poll that ends starts the next due source itself. A slow source holds one slot, never
the others, and a source is never polled twice at once (every way of polling goes through one claim per source).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from compose.sources import render_failure_report, render_recovery
from ingest.feeds import FeedEntry, FeedError, ParsedFeed, discover_feed_links, parse_feed, sniff
from ingest.fetch import Fetcher, FetchError, FetchResult
from ingest.pages import HostGates, PageFill, fill_pages
from model.articles import MAX_FEED_TITLE_CHARS, ParsedArticle
from model.identity import canonical_url, guid_key
from services.alerts import AlertMatcher
from storage import articles as article_repo
from storage import follows as follow_repo
from storage import sources as source_repo
from storage.models import Source
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
DEFAULT_PAGE_CONCURRENCY = 4
DEFAULT_FETCH_TIMEOUT = 20.0
DEFAULT_MAX_FEED_BYTES = 5 * 1024 * 1024
# A summary-only entry's page is fetched once: a page that fails keeps the summary. Only a fetch cut off by the
# poll's deadline is tried again on a later poll, up to this many tries in all, so a page that always outlasts
# POLL_TIMEOUT is not fetched on every poll forever.
PAGE_TRIES = 2


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
            # Articles of an unchanged feed can still be updated: pages left over from earlier polls.
            return f"{name}: not modified" + (f", {len(self.updated)} updated from their pages" if self.updated else "")
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


@dataclass
class _Found:
    """What a poll has to store, before its pages are fetched."""

    todo: list[FeedEntry]  # new entries, and this source's entries whose feed text changed
    changed: set[int]  # indexes in `todo` of the changed ones (they have a row already)
    unchanged: int
    pending: list[article_repo.PendingPage]  # stored articles of this source still waiting for their page, newest first


@dataclass
class _Pages:
    """The outcome of a poll's page fetching, ready to store."""

    articles: list[ParsedArticle]  # `todo`'s articles, completed where their page was fetched
    tries: list[int | None]  # page_tries_left for each of them
    deferred: set[int]  # changed entries whose page was not tried: stored on a later poll instead (see _fetch_pages)
    rows: list[tuple[article_repo.PendingPage, PageFill]]  # stored articles whose page was tried


# Sends a report (Telegram HTML) to the admins. True when it is done with: someone got it, or there is nobody to
# tell; False (nobody could be reached) keeps a failing source unreported, so the next run tries again.
AdminReport = Callable[[str], Awaitable[bool]]


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
        report_to_admins: AdminReport | None = None,
        configured_feeds: Sequence[str] = (),
        alerts: AlertMatcher | None = None,
    ) -> None:
        self.db = db
        # New articles are matched against the chats' alerts as they are stored (services/alerts.py).
        self.alerts = alerts or AlertMatcher()
        self.configured_feeds = tuple(configured_feeds)  # the FEEDS setting: added (unchecked) by the first job run
        self.report_to_admins = report_to_admins  # None: nothing is reported (`newsbot sources poll`)
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
        # Shared by every poll: at most 2 page fetches at once per host, however many sources link to it.
        self.hosts = HostGates()
        self._configured = False
        # Sources being polled now, whoever polls them (the job, `poll`, `add`): the poll's result once it ends.
        self._polls: dict[int, asyncio.Future[PollResult | None]] = {}
        # The job's polls: tasks of their own (each also starts the next due source when it ends).
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots_taken = 0
        self._starting = asyncio.Lock()  # one look at the due sources at a time
        self._reporting = asyncio.Lock()  # one admin report at a time, so no source is reported twice
        self._stopping = False
        self._finished: list[PollResult] = []  # the job's polls that ended since its previous run
        # SQLite has one writer: polls that store at the same time only wait on its lock in sleeps of up to
        # 100 ms. Taking turns here instead keeps fetching and parsing concurrent and storing back to back.
        self._store_turn = asyncio.Lock() if db.engine.dialect.name == "sqlite" else None
        # Called after each poll of one source with its result and duration in seconds (the bot's metrics).
        self.poll_observer: Callable[[PollResult | None, float], None] | None = None

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

    async def add(
        self, url: str, *, interval_minutes: int | None = None, public: bool = True, added_by: int | None = None
    ) -> tuple[Source, PollResult | None]:
        """Check that the URL is a feed (or a page that names one), store it as a source and poll it now.

        Returns (source, result of its first poll); the result is None when the source already existed.
        `public=False`: a user's own feed, private to the chats that follow it (`added_by` is the user's chat).
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
        deadline = asyncio.get_running_loop().time() + self.poll_timeout
        claim: asyncio.Future[PollResult | None] | None = None
        result: PollResult | None = None
        async with self.fetcher() as fetcher:
            try:
                fetched = await self._fetch_feed(fetcher, url, etag=None, last_modified=None, now=now, discover=True)
            except (FetchError, FeedError) as exc:
                raise SourceError(f"cannot use {url} as a source: {exc}") from None
            assert fetched.feed is not None
            try:
                async with self.db.session() as session:
                    source, created = await source_repo.add_source(
                        session,
                        fetched.source_url,
                        interval_minutes=interval_minutes or self.default_interval,
                        now=now,
                        title=fetched.feed.title,
                        site_url=fetched.feed.site_url,
                        language=fetched.feed.language,
                        public=public,
                        added_by=added_by,
                    )
                    # Claimed before the commit makes the new (due) source visible: the job cannot poll it meanwhile.
                    claim = self._claim(source.id) if created else None
                if not created:
                    return source, None
                log.info("added source %s: %s (%s)", source.id, source.title, source.url)
                result = await self._poll_fetched(fetcher, source.id, fetched, now=now, deadline=deadline)
            finally:
                if claim is not None:
                    self._release(source.id, claim, result)
        async with self.db.session() as session:
            fresh = await source_repo.get_source(session, source.id)
        return fresh or source, result

    async def remove(self, source_id: int) -> Source | None:
        async with self.db.session() as session:
            return await source_repo.remove_source(session, source_id)

    # ------------------------------------------------------------------ the job: polls in slots

    async def run_job(self) -> PollSummary:
        """What the periodic job does: add configured feeds once, start polls of due sources, tell admins.

        It does not wait for the polls: each is a task of its own, `concurrency` at most, and one that ends starts
        the next due source at once. Returns the job's polls that ended since its previous run.
        """
        if self._stopping:
            return PollSummary()
        if not self._configured:
            await self.ensure_sources(self.configured_feeds)
            self._configured = True
        finished, self._finished = PollSummary(self._finished), []
        if finished.results:
            log.info(finished.line())
        await self._start_due()
        # Each poll reports when it ends; this also catches a source whose day of failing ends between polls.
        await self._report()
        return finished

    async def wait_idle(self) -> None:
        """Wait until the job's polls have ended, and the polls they started in turn."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def stop(self) -> None:
        """Start no more polls; cancel the job's polls in flight and wait for them.

        A cancelled poll stores nothing (its transaction rolls back) and its source stays due for the next start.
        """
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def resume(self) -> None:
        """Start polls again after stop() (an instance that lost leadership and has regained it)."""
        self._stopping = False

    async def _start_due(self) -> None:
        """Start polls of due sources that nobody is polling, as many as there are free slots."""
        async with self._starting:
            free = self.concurrency - self._slots_taken
            if free <= 0 or self._stopping:
                return
            # Taken before the query: a poll that ends meanwhile has stored its next poll time, but the query may
            # have read the row before that, so its source is not started again on that stale answer.
            busy = set(self._polls)
            async with self.db.session() as session:
                due = await source_repo.due_source_ids(session, self.clock(), limit=free + len(busy))
            for source_id in due:
                if free == 0:
                    break
                if source_id in busy:
                    continue
                claim = self._claim(source_id)
                if claim is None:  # `poll` or `add` took it since
                    continue
                free -= 1
                self._slots_taken += 1
                task = asyncio.create_task(self._poll_in_slot(source_id, claim), name=f"poll source {source_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _poll_in_slot(self, source_id: int, claim: asyncio.Future[PollResult | None]) -> None:
        result: PollResult | None = None
        try:
            async with self.fetcher() as fetcher:
                result = await self.poll_source(fetcher, source_id, now=self.clock())
        except Exception:  # poll_source records the source's own problems; this is the database failing
            log.error("polling source %s failed unexpectedly", source_id, exc_info=True)
            # Nothing was recorded, so the source is still due: starting the next one now could start it again
            # at once, and again. The job's next run fills the slot.
            return  # after the finally clause has released the claim and the slot
        finally:
            self._release(source_id, claim, result)
            self._slots_taken -= 1
        if result is not None:
            self._finished.append(result)
            log.debug(result.line())
        recovered = [result] if result is not None and result.recovered else []
        for step in (lambda: self._report(recovered), self._start_due):  # the freed slot goes to the next due source
            try:
                await step()
            except Exception:
                log.error("feed poller: after polling source %s", source_id, exc_info=True)

    async def _report(self, recovered: Sequence[PollResult] = ()) -> None:
        if self.report_to_admins is None:
            return
        async with self._reporting:
            await self.report(recovered)

    def _claim(self, source_id: int) -> asyncio.Future[PollResult | None] | None:
        """Mark the source as being polled; None when it is already (`self._polls[source_id]` gives that poll)."""
        if source_id in self._polls:
            return None
        claim: asyncio.Future[PollResult | None] = asyncio.get_running_loop().create_future()
        self._polls[source_id] = claim
        return claim

    def _release(self, source_id: int, claim: asyncio.Future[PollResult | None], result: PollResult | None) -> None:
        if self._polls.get(source_id) is claim:
            del self._polls[source_id]
        if not claim.done():
            claim.set_result(result)  # None when the poll raised or was cancelled: whoever waited gets no result

    # ------------------------------------------------------------------ polling

    async def poll_due(self, *, now: datetime | None = None) -> PollSummary:
        now = now or self.clock()
        async with self.db.session() as session:
            due = await source_repo.due_source_ids(session, now)
        return await self.poll(due, now=now)

    async def poll(self, source_ids: Sequence[int] | None = None, *, now: datetime | None = None) -> PollSummary:
        """Poll these sources (every source when None) now, `concurrency` at a time, and wait for them.

        A source that is being polled already (by the job) is not polled again: that poll's result is returned.
        """
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
                    claim = self._claim(source_id)
                    if claim is None:
                        return await asyncio.shield(self._polls[source_id])
                    result: PollResult | None = None
                    try:
                        result = await self.poll_source(fetcher, source_id, now=now)
                    finally:
                        self._release(source_id, claim, result)
                    return result

            results = await asyncio.gather(*(one(source_id) for source_id in source_ids))
        return PollSummary([r for r in results if r is not None])

    async def poll_source(self, fetcher: Fetcher, source_id: int, *, now: datetime) -> PollResult | None:
        """Poll one source; never raises for the source's own problems. None when the source is gone.

        Callers hold the source's claim (see _claim). Page fetching stops `poll_timeout` seconds after the start.
        """
        started = time.monotonic()
        result = await self._poll_source(fetcher, source_id, now=now)
        if self.poll_observer is not None:
            self.poll_observer(result, time.monotonic() - started)
        return result

    async def _poll_source(self, fetcher: Fetcher, source_id: int, *, now: datetime) -> PollResult | None:
        deadline = asyncio.get_running_loop().time() + self.poll_timeout
        async with self.db.session() as session:
            source = await source_repo.get_source(session, source_id)
            if source is None:
                return None
            url, etag, last_modified = source.url, source.etag, source.last_modified
        try:
            fetched = await self._fetch_feed(fetcher, url, etag=etag, last_modified=last_modified, now=now)
            return await self._poll_fetched(fetcher, source_id, fetched, now=now, deadline=deadline)
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

    @property
    def _pages_on(self) -> bool:
        return self.fetch_pages and self.page_fetches_per_poll > 0

    async def _poll_fetched(
        self, fetcher: Fetcher, source_id: int, fetched: FetchedFeed, *, now: datetime, deadline: float
    ) -> PollResult | None:
        result, feed = fetched.result, fetched.feed
        if feed is not None and feed.warning:
            log.warning("source %s (%s): %s", source_id, result.url, feed.warning)
        found = await self._new_or_changed(source_id, feed.entries if feed is not None else [])
        if feed is None and not found.pending:  # 304, and no page waiting: only the source's state to store
            async with self.db.session() as session:
                source = await source_repo.get_source(session, source_id)
                if source is None:
                    return None
                recovered = source_repo.record_success(
                    source, now=now, etag=result.etag, last_modified=result.last_modified, note=None
                )
                return PollResult(source_id, source.url, title=source.title, not_modified=True, recovered=recovered)
        pages = await self._fetch_pages(fetcher, found, now=now, deadline=deadline)
        await self.alerts.refresh(self.db)  # a rebuilt alert index is read before the write transaction, not in it
        async with self._storing_turn(), self.db.session() as session:  # the one transaction of this poll
            source = await source_repo.claim_for_update(session, source_id, now)
            if source is None:
                return None  # removed while we were fetching
            title = feed.title if feed is not None else ""
            poll = PollResult(source_id, source.url, title=title or source.title, not_modified=feed is None)
            poll.warning = feed.warning if feed is not None else None
            poll.unchanged = found.unchanged
            stored_entries = [i for i in range(len(found.todo)) if i not in pages.deferred]
            completed_rows = [(row, fill) for row, fill in pages.rows if fill.article is not row.parsed]
            batch: list[tuple[ParsedArticle, str | None]] = [
                (pages.articles[i], found.todo[i].entry_hash) for i in stored_entries
            ]
            batch += [(fill.article, row.entry_hash) for row, fill in completed_rows]
            tries = [pages.tries[i] for i in stored_entries] + [None] * len(completed_rows)
            for article, _ in batch:
                article.source = source.title or article.source
            stored_all = await article_repo.store_articles(
                session, batch, now=now, source_id=source_id, seen_at=now, page_tries=tries
            )
            # The stories this feed carried, new or already stored from another feed: its followers read them.
            await follow_repo.record_carriers(session, [(stored.article.id, source_id) for stored in stored_all])
            await self.alerts.record(session, [stored.article for stored in stored_all if stored.created], now=now)
            for position, stored in enumerate(stored_all):
                if stored.created:
                    poll.added.append((stored.article.id, stored.article.title))
                elif stored.updated:
                    poll.updated.append((stored.article.id, stored.article.title))
                elif position < len(stored_entries):
                    poll.unchanged += 1
            # Stored articles whose page was tried: done with, or cut off and one try fewer left.
            tries_left = {row.article_id: _tries_after(fill, row.tries_left) for row, fill in pages.rows}
            await article_repo.set_page_tries(session, tries_left)
            moved_to = None
            if feed is not None:  # a 304 keeps what the source knows
                moved_to = result.moved_to
                if moved_to and moved_to != source.url:
                    if await source_repo.source_by_url(session, moved_to) is None:
                        log.info("source %s moved permanently: %s -> %s", source_id, source.url, moved_to)
                    else:
                        log.warning(
                            "source %s moved to %s, which is already a source; keeping its URL", source_id, moved_to
                        )
                        moved_to = None
                source.title = (feed.title or source.title)[:MAX_FEED_TITLE_CHARS]
                source.site_url = feed.site_url or source.site_url
                source.language = feed.language or source.language
            # Entries left for later keep the previous validators, so the next poll gets the feed (not a 304) with them.
            etag, last_modified = (None, None) if pages.deferred else (result.etag, result.last_modified)
            poll.recovered = source_repo.record_success(
                source, now=now, etag=etag, last_modified=last_modified, note=poll.warning, moved_to=moved_to
            )
            poll.url = source.url
        return poll

    async def _fetch_pages(self, fetcher: Fetcher, found: _Found, *, now: datetime, deadline: float) -> _Pages:
        """Complete summary-only articles from their pages: this poll's entries and earlier polls' leftovers.

        At most `page_fetches_per_poll` pages, newest first (by publication time; an undated entry is new now).
        An entry whose page is not tried now is stored with its summary and `PAGE_TRIES` tries left, except a
        changed entry: its stored row keeps its text (perhaps a page's full text, better than the new summary)
        until a later poll stores the change with its page (the poll keeps the old validators for that).
        """
        todo = found.todo
        pages = _Pages(articles=[entry.article for entry in todo], tries=[None] * len(todo), deferred=set(), rows=[])
        if not self._pages_on:
            return pages
        # (newest first key, index in todo or None, the stored article or None, the article to complete)
        wanted: list[tuple[datetime, int | None, article_repo.PendingPage | None, ParsedArticle]] = []
        for i, entry in enumerate(todo):
            if entry.summary_only:
                pages.tries[i] = PAGE_TRIES
                wanted.append((entry.article.published_at or now, i, None, entry.article))
        # A stored article that a new or changed entry of this feed stands for is completed as that entry.
        guids = {key for key in (guid_key(entry.article.guid) for entry in todo) if key}
        urls = {url for url in (canonical_url(entry.article.url) for entry in todo) if url}
        for row in found.pending:
            if row.parsed.guid not in guids and row.canonical_url not in urls:
                wanted.append((row.published_at or now, None, row, row.parsed))
        if not wanted:
            return pages
        wanted.sort(key=lambda item: item[0], reverse=True)  # stable: equal times keep the feed's order
        chosen = wanted[: self.page_fetches_per_poll]
        fills = await fill_pages(
            [article for *_, article in chosen], fetcher, concurrency=self.page_concurrency, hosts=self.hosts,
            deadline=deadline,
        )  # fmt: skip
        tried: set[int] = set()
        for (_, index, stored, _), fill in zip(chosen, fills, strict=True):
            if stored is not None:
                if fill.tried:
                    pages.rows.append((stored, fill))
                continue
            assert index is not None
            pages.articles[index] = fill.article
            pages.tries[index] = _tries_after(fill, PAGE_TRIES)
            if fill.tried:
                tried.add(index)
        pages.deferred = {i for i in found.changed if todo[i].summary_only and i not in tried}
        return pages

    def _storing_turn(self) -> AbstractAsyncContextManager[object]:
        return self._store_turn if self._store_turn is not None else nullcontext()

    async def _new_or_changed(self, source_id: int, entries: Sequence[FeedEntry]) -> _Found:
        """Entries to store (new ones, and this source's own entries whose feed text changed), and the source's
        stored articles still waiting for their page."""
        async with self.db.session() as session:
            known = await article_repo.known_entries(
                session,
                source_id,
                guids=[e.article.guid for e in entries if e.article.guid],
                urls=[e.article.url for e in entries if e.article.url],
            )
            by_guid = {guid: entry_hash for sid, guid, _, entry_hash in known if sid == source_id and guid}
            by_url = {url: (sid, entry_hash) for sid, _, url, entry_hash in known if url}
            found = _Found(todo=[], changed=set(), unchanged=0, pending=[])
            seen_in_this_feed: set[str] = set()
            for entry in entries:
                key = guid_key(entry.article.guid)
                canonical = canonical_url(entry.article.url)
                identity = f"g:{key}" if key else f"u:{canonical}" if canonical else f"h:{entry.entry_hash}"
                if identity in seen_in_this_feed:
                    found.unchanged += 1  # the same entry listed twice in one feed
                    continue
                seen_in_this_feed.add(identity)
                if key is not None and key in by_guid:
                    if by_guid[key] == entry.entry_hash:
                        found.unchanged += 1
                        continue
                    found.changed.add(len(found.todo))
                elif canonical is not None and canonical in by_url:
                    owner, entry_hash = by_url[canonical]
                    if owner != source_id or entry_hash == entry.entry_hash:
                        found.unchanged += 1  # another source has this story, or it is our unchanged entry
                        continue
                    found.changed.add(len(found.todo))
                found.todo.append(entry)
            if self._pages_on:
                # Enough to fill the page budget even when changed entries stand for some of them.
                limit = self.page_fetches_per_poll + len(found.changed)
                found.pending = await article_repo.pending_pages(session, source_id, limit)
        return found

    # ------------------------------------------------------------------ telling the admins

    async def report(self, recovered: Sequence[PollResult] = (), *, now: datetime | None = None) -> int:
        """Tell admins about sources failing for long (once per failing streak) and about recoveries.

        Returns how many sources were reported as failing.
        """
        if self.report_to_admins is None:
            return 0
        now = now or self.clock()
        for result in recovered:
            async with self.db.session() as session:
                source = await source_repo.get_source(session, result.source_id)
            if source is not None:
                await self.report_to_admins(render_recovery(source))
        async with self.db.session() as session:
            failing = await source_repo.sources_to_report(session, now)
        reported = 0
        for source in failing:
            log.error(
                "source %s (%s) has failed %s times in a row since %s: %s",
                source.id, source.url, source.consecutive_failures, source.failing_since, source.last_error,
            )  # fmt: skip
            if await self.report_to_admins(render_failure_report(source, now)):
                async with self.db.session() as session:
                    row = await source_repo.get_source(session, source.id)
                    if row is not None and row.reported_at is None:
                        row.reported_at = now
                reported += 1
        return reported


def _tries_after(fill: PageFill, tries_left: int) -> int | None:
    """Page tries left after this poll: None when the page is done with (fetched, failed, or out of tries)."""
    if not fill.tried:
        return tries_left
    if fill.cut_off:
        return tries_left - 1 or None
    return None
