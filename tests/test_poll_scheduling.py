"""Polling under load: sources polled independently in slots (the job), and each poll's page fetches bounded in
number (newest first, the rest on later polls), per host and in time. A local feed server whose answers the
tests hold on events, the real fetcher and parser, both databases. No sleeps: polls are awaited through events
the test sets (a wrapper around poll_source) and the server's own record of requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from bot.admins import admin_reporter
from ingest import pages
from ingest.pages import HostGates
from services.feeds import PAGE_TRIES, FeedService
from storage.models import Article
from storage.session import Database
from tests.feedserver import FeedServer, Gate
from tests.test_feed_polling import NOW, RSS2, RecordingBot, add_source, source_row

LIMIT = 10.0  # seconds a test waits for something that should happen at once; only reached when it fails


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as feed_server:
        yield feed_server
        for route in feed_server.routes.values():  # let held answers finish before the server goes
            if route.hold is not None:
                route.hold.set()
            if route.gate is not None:
                await route.gate.open()


def make_service(db: Database, **options: object) -> FeedService:
    settings: dict[str, object] = {"clock": lambda: NOW, "fetch_timeout": 30.0, "allow_private_urls": True}
    settings.update(options)
    return FeedService(db, **settings)  # type: ignore[arg-type]


class Watched:
    """Wraps a service's poll_source: the order polls start and end in, and an event per source set when it ends."""

    def __init__(self, service: FeedService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.order: list[tuple[str, int]] = []
        self.ended: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        real = service.poll_source

        async def poll_source(fetcher, source_id: int, *, now: datetime):  # type: ignore[no-untyped-def]
            self.order.append(("start", source_id))
            try:
                return await real(fetcher, source_id, now=now)
            finally:
                self.order.append(("end", source_id))
                self.ended[source_id].set()

        monkeypatch.setattr(service, "poll_source", poll_source)

    async def wait_ended(self, source_id: int) -> None:
        await asyncio.wait_for(self.ended[source_id].wait(), LIMIT)


def page_feed(
    server: FeedServer,
    count: int,
    *,
    path: str = "/feed.xml",
    pages: str = "/page",
    name: str = "Story",
    **page_options: object,
) -> str:
    """A feed of `count` entries with a one-line summary each, story n ("{name} n") published n minutes after
    NOW - 1 day, listed oldest first (so newest first is not the feed's order); its page is at {pages}/n.html."""
    items = []
    for n in range(count):
        published = format_datetime(NOW - timedelta(days=1) + timedelta(minutes=n))
        items.append(f"<item><title>{name} {n}</title><link>{server.url(f'{pages}/{n}.html')}</link><guid>{pages}-{n}</guid>"
                     f"<pubDate>{published}</pubDate><description>Short summary {n}.</description></item>")  # fmt: skip
        paragraphs = "".join(
            f"<p>Paragraph {p} of story {n}: the council met on Tuesday to discuss the harbour, the ferry timetable "
            f"and the budget for the coming year, and residents spoke at length.</p>"
            for p in range(4)
        )
        server.serve(f"{pages}/{n}.html", f"<html><head><title>Story {n}</title></head><body><article><h1>Story {n}"
                     f"</h1>{paragraphs}</article></body></html>", content_type="text/html", **page_options)  # fmt: skip
    feed = f"<rss version='2.0'><channel><title>Town pages</title><link>{server.base}/</link>{''.join(items)}</channel></rss>"
    return server.serve(path, feed)


class CountingGates(HostGates):
    """A service's per-host gates, counting the page fetches waiting at them, let through (fetching), and done."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = self.through = self.done = 0

    @asynccontextmanager
    async def hold(self, url: str) -> AsyncIterator[None]:
        self.waiting += 1
        entered = False
        try:
            async with super().hold(url):
                self.waiting, self.through, entered = self.waiting - 1, self.through + 1, True
                try:
                    yield
                finally:
                    self.through -= 1
        finally:
            if not entered:
                self.waiting -= 1
            self.done += 1


async def until(condition: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Wait for state the test can see (turns of the event loop; the bound only ends a failing test)."""
    try:
        async with asyncio.timeout(LIMIT):
            while not condition():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out waiting: {describe()}") from None


async def pass_pages_one_at_a_time(gate: Gate, gates: CountingGates, pages: int) -> int:
    """Let page fetches through the server's `gate` one at a time until `pages` (counted since `gates` was made)
    are done, each only once the fetcher could start no other: every wanted fetch is either waiting at its host gate
    or let through and held at the server. Returns the most held at once, so the peak is reached whatever the
    machine's speed, and a fetch past the per-host limit is always caught."""
    most = 0
    while gates.done < pages:
        await until(
            lambda: gates.waiting + gates.through + gates.done == pages and gate.held == gates.through,
            lambda: (
                f"{pages} page fetches: {gates.waiting} waiting at the host gate, {gates.through} let through, "
                f"{gates.done} done; {gate.held} held at the server"
            ),
        )
        most = max(most, gate.held)
        done = gates.done
        await gate.release()
        await until(lambda done=done: gates.done > done, lambda: "the released page fetch to end")
    return most


def is_page(path: str) -> bool:
    return path.endswith(".html")


def pages_requested(server: FeedServer, prefix: str = "/page/") -> list[int]:
    return [
        int(r.path.removeprefix(prefix).removesuffix(".html")) for r in server.requests if r.path.startswith(prefix)
    ]


async def stories(db: Database) -> dict[int, Article]:
    """Stored articles by story number."""
    async with db.session() as session:
        rows = await session.scalars(select(Article))
        return {int(a.title.removeprefix("Story ")): a for a in rows}


def completed(article: Article) -> bool:
    return article.body.startswith("Paragraph 0 of story")


# ---------------------------------------------------------------------------- sources polled independently


async def test_a_slow_source_holds_one_slot_while_the_others_are_polled(
    server: FeedServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    slow = await add_source(database, server.serve_file("/slow.xml", RSS2, hold=release))
    fast = await add_source(
        database, server.serve_file("/fast.json", "jsonfeed.json", content_type="application/feed+json")
    )
    bot = RecordingBot()
    service = make_service(database, report_to_admins=admin_reporter(bot, [7]))
    watched = Watched(service, monkeypatch)

    # The job starts both polls and returns; the fast source is polled while the slow one's feed is still held.
    await asyncio.wait_for(service.run_job(), LIMIT)
    await watched.wait_ended(fast)
    await asyncio.wait_for(server.wait_for_request("/slow.xml"), LIMIT)
    assert not watched.ended[slow].is_set()
    assert (await source_row(database, fast)).last_success_at == NOW

    # Ticks while the slow source is in flight (it is still due) do not poll it again; neither does `poll`, which
    # waits for that same poll and returns its result.
    summary = await asyncio.wait_for(service.run_job(), LIMIT)
    assert [result.source_id for result in summary.results] == [fast]  # the polls that ended since the last tick
    joined = asyncio.create_task(service.poll([slow]))
    release.set()
    [result] = (await asyncio.wait_for(joined, LIMIT)).results
    assert result.source_id == slow and result.ok and len(result.added) == 3
    await asyncio.wait_for(service.wait_idle(), LIMIT)
    assert len(server.requests_to("/slow.xml")) == 1
    assert watched.order.count(("start", slow)) == 1
    assert (await source_row(database, slow)).last_success_at == NOW
    assert bot.sent == []


async def test_a_due_source_starts_as_soon_as_a_slot_is_free(
    server: FeedServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_a, hold_b = asyncio.Event(), asyncio.Event()
    a = await add_source(database, server.serve_file("/a.xml", RSS2, hold=hold_a))
    b = await add_source(database, server.serve_file("/b.json", "jsonfeed.json", content_type="application/feed+json",
                                                     hold=hold_b))  # fmt: skip
    c = await add_source(database, server.serve_file("/c.xml", "atom-xhtml.xml", content_type="application/atom+xml"))
    service = make_service(database, concurrency=2)
    watched = Watched(service, monkeypatch)

    await asyncio.wait_for(service.run_job(), LIMIT)
    await asyncio.wait_for(server.wait_for_request("/a.xml"), LIMIT)
    await asyncio.wait_for(server.wait_for_request("/b.json"), LIMIT)
    assert server.requests_to("/c.xml") == []  # both slots are taken: c waits

    hold_b.set()  # b ends; its slot goes to c at once, with no other run of the job
    await watched.wait_ended(c)
    assert watched.order.index(("end", b)) < watched.order.index(("start", c))
    assert not watched.ended[a].is_set()
    assert (await source_row(database, c)).last_success_at == NOW

    hold_a.set()
    await asyncio.wait_for(service.wait_idle(), LIMIT)
    assert server.peak() == 2  # feeds only here: two slots
    assert sorted(source_id for kind, source_id in watched.order if kind == "start") == [a, b, c]


async def test_stopping_cancels_polls_in_flight_and_starts_no_more(
    server: FeedServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = await add_source(database, server.serve_file("/held.xml", RSS2, hold=asyncio.Event()))
    service = make_service(database)
    await asyncio.wait_for(service.run_job(), LIMIT)
    await asyncio.wait_for(server.wait_for_request("/held.xml"), LIMIT)

    await asyncio.wait_for(service.stop(), LIMIT)
    await asyncio.wait_for(service.wait_idle(), LIMIT)  # nothing left running
    source = await source_row(database, held)
    assert source.last_polled_at is None and source.next_poll_at is None  # nothing stored: still due at the next start
    assert (await asyncio.wait_for(service.run_job(), LIMIT)).results == []
    await asyncio.wait_for(service.wait_idle(), LIMIT)
    assert len(server.requests_to("/held.xml")) == 1


async def test_a_poll_that_crashes_is_not_restarted_at_once(
    server: FeedServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import sources as source_repo

    def database_trouble(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database trouble")

    monkeypatch.setattr(source_repo, "record_failure", database_trouble)  # the failure cannot even be recorded
    await add_source(database, server.url("/missing.xml"))
    service = make_service(database)
    await asyncio.wait_for(service.run_job(), LIMIT)
    await asyncio.wait_for(service.wait_idle(), LIMIT)  # still due, but left to the job's next run
    assert len(server.requests_to("/missing.xml")) == 1
    await asyncio.wait_for(service.run_job(), LIMIT)
    await asyncio.wait_for(service.wait_idle(), LIMIT)
    assert len(server.requests_to("/missing.xml")) == 2


# ---------------------------------------------------------------------------- pages: how many, per host, how long


async def test_a_poll_fetches_at_most_ten_pages_newest_first_and_later_polls_the_rest(
    server: FeedServer, database: Database
) -> None:
    # The server holds each page until the test lets it through, once the fetcher can start no other: the fetches
    # overlap as far as the per-host limit lets them.
    gate = Gate()
    await add_source(database, page_feed(server, 30, gate=gate))
    service = make_service(database)
    service.hosts = gates = CountingGates()

    polling = asyncio.create_task(service.poll(now=NOW))
    assert await pass_pages_one_at_a_time(gate, gates, 10) == 2
    [first] = (await polling).results
    assert first.ok and len(first.added) == 30
    assert sorted(pages_requested(server), reverse=True) == list(range(29, 19, -1))  # the newest ten
    by_story = await stories(database)
    assert [n for n in range(30) if completed(by_story[n])] == list(range(20, 30))
    assert all(
        by_story[n].body == f"Short summary {n}." and by_story[n].page_tries_left == PAGE_TRIES for n in range(20)
    )
    assert all(by_story[n].page_tries_left is None for n in range(20, 30))
    ids = {n: article.id for n, article in by_story.items()}

    # The feed has not changed (a 304): the next poll still completes the next ten newest, in place.
    later = NOW + timedelta(minutes=15)
    polling = asyncio.create_task(service.poll(now=later))
    assert await pass_pages_one_at_a_time(gate, gates, 20) == 2
    [second] = (await polling).results
    assert second.ok and second.not_modified and len(second.updated) == 10 and second.added == []
    assert sorted(pages_requested(server)[10:], reverse=True) == list(range(19, 9, -1))
    by_story = await stories(database)
    assert {n: article.id for n, article in by_story.items()} == ids
    assert [n for n in range(30) if completed(by_story[n])] == list(range(10, 30))
    assert all(by_story[n].updated_at == later and by_story[n].page_tries_left is None for n in range(10, 20))
    assert second.line().endswith("not modified, 10 updated from their pages")

    polling = asyncio.create_task(service.poll(now=later + timedelta(minutes=15)))
    assert await pass_pages_one_at_a_time(gate, gates, 30) == 2
    [third] = (await polling).results
    assert len(third.updated) == 10 and sorted(pages_requested(server)[20:]) == list(range(10))
    [fourth] = (await service.poll(now=later + timedelta(minutes=30))).results
    assert fourth.not_modified and fourth.updated == [] and len(pages_requested(server)) == 30  # each page once
    assert all(completed(article) for article in (await stories(database)).values())
    assert server.peak(is_page) == 2


async def test_pages_of_one_host_are_fetched_two_at_a_time_across_polls(server: FeedServer, database: Database) -> None:
    gate = Gate()
    await add_source(database, page_feed(server, 4, path="/one.xml", pages="/one", name="One", gate=gate))
    await add_source(database, page_feed(server, 4, path="/two.xml", pages="/two", name="Two", gate=gate))
    service = make_service(database)
    service.hosts = gates = CountingGates()
    polling = asyncio.create_task(service.poll(now=NOW))  # both sources at once, their pages on the same host
    assert await pass_pages_one_at_a_time(gate, gates, 8) == 2
    summary = await polling
    assert summary.failed == 0 and summary.added == 8
    assert len(pages_requested(server, "/one/")) == 4 and len(pages_requested(server, "/two/")) == 4
    assert server.peak(is_page) == 2  # one source's feed may be answered meanwhile: it is not a page


class DeadlineWhenStuck:
    """asyncio as ingest.pages sees it, except that a poll's page deadline comes as soon as its page fetching can go
    no further (every wanted fetch is held at the server or waits at its host gate), instead of after a fixed time
    that a slow machine might need just to start the fetches."""

    def __init__(self, server: FeedServer, gates: CountingGates) -> None:
        self.server, self.gates = server, gates
        self._tasks: set[asyncio.Task[None]] = set()

    def __getattr__(self, name: str) -> object:
        return getattr(asyncio, name)

    def timeout_at(self, when: float | None) -> asyncio.Timeout:
        if when is None:  # no deadline given: nothing to bring forward (and the held pages make the test fail)
            return asyncio.timeout_at(None)
        timeout = asyncio.timeout_at(None)
        arrived_before = len(pages_requested(self.server))
        task = asyncio.create_task(self._expire_when_stuck(timeout, arrived_before))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return timeout

    async def _expire_when_stuck(self, timeout: asyncio.Timeout, arrived_before: int) -> None:
        def stuck() -> bool:
            through, waiting = self.gates.through, self.gates.waiting
            arrived = len(pages_requested(self.server)) - arrived_before
            return through > 0 and arrived == through and (waiting == 0 or through >= 2)

        await until(stuck, lambda: f"page fetches stuck ({self.gates.through} through, {self.gates.waiting} waiting)")
        with contextlib.suppress(RuntimeError):  # the page fetching ended first: nothing left to cut off
            timeout.reschedule(asyncio.get_running_loop().time())

    def close(self) -> None:
        """Stop watching polls whose page fetching ended without getting stuck."""
        for task in self._tasks:
            task.cancel()


async def test_a_poll_ends_at_its_deadline_and_stores_what_it_has(
    server: FeedServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()  # set only when the server closes
    source_id = await add_source(database, page_feed(server, 3, hold=never))
    service = make_service(database, poll_timeout=3600)  # the page fetch itself would wait 30 s
    service.hosts = gates = CountingGates()
    deadline = DeadlineWhenStuck(server, gates)
    monkeypatch.setattr(pages, "asyncio", deadline)

    [result] = (await asyncio.wait_for(service.poll(now=NOW), LIMIT)).results
    assert result.ok and len(result.added) == 3
    by_story = await stories(database)
    assert [by_story[n].body for n in range(3)] == [f"Short summary {n}." for n in range(3)]
    # Two pages were cut off (two at once per host): one more try each; the third was never started.
    assert [by_story[n].page_tries_left for n in (2, 1, 0)] == [PAGE_TRIES - 1, PAGE_TRIES - 1, PAGE_TRIES]
    source = await source_row(database, source_id)
    assert source.last_success_at == NOW and source.consecutive_failures == 0 and source.last_error is None
    assert source.next_poll_at == NOW + timedelta(minutes=15)

    # Pages that always outlast the deadline are not fetched on every poll forever.
    for minutes in (15, 30, 45):
        [result] = (await asyncio.wait_for(service.poll(now=NOW + timedelta(minutes=minutes)), LIMIT)).results
        assert result.ok and result.updated == []
    assert sorted(pages_requested(server)) == [0, 0, 1, 1, 2, 2]
    assert all(article.page_tries_left is None for article in (await stories(database)).values())
    deadline.close()


async def test_a_changed_entry_keeps_its_stored_page_text_until_its_page_is_fetched_again(
    server: FeedServer, database: Database
) -> None:
    url = page_feed(server, 2)
    await add_source(database, url)
    service = make_service(database, page_fetches_per_poll=1)
    await service.poll(now=NOW)
    assert completed((await stories(database))[1]) and pages_requested(server) == [1]

    # Story 1 is corrected (summary and page) and a newer story 2 arrives: the one page fetch goes to story 2.
    # Story 1 is not stored with its new summary over its full text: it waits for its page, on the next poll.
    feed = server.routes["/feed.xml"].body.decode()
    newer = format_datetime(NOW)
    feed = feed.replace("Short summary 1.", "Corrected summary 1.").replace(
        "</channel>", f"<item><title>Story 2</title><link>{server.url('/page/2.html')}</link><guid>/page-2</guid>"
                      f"<pubDate>{newer}</pubDate><description>Short summary 2.</description></item></channel>")  # fmt: skip
    page_feed(server, 3)  # serves page 2 too (and the old feed, replaced below)
    corrected = server.routes["/page/1.html"].body.replace(b"on Tuesday", b"on Wednesday")
    server.serve("/page/1.html", corrected, content_type="text/html")
    server.serve("/feed.xml", feed)
    [second] = (await service.poll(now=NOW + timedelta(minutes=15))).results
    assert [title for _, title in second.added] == ["Story 2"] and second.updated == []
    assert pages_requested(server) == [1, 2]
    by_story = await stories(database)
    assert completed(by_story[1]) and completed(by_story[2]) and by_story[0].page_tries_left == PAGE_TRIES
    assert "on Tuesday" in by_story[1].body

    # Next poll: the feed again, not a 304 (the change is still to store). Story 1 (newer than story 0) gets its
    # page again and is stored changed; then story 0.
    [third] = (await service.poll(now=NOW + timedelta(minutes=30))).results
    assert not third.not_modified
    assert [title for _, title in third.updated] == ["Story 1"] and pages_requested(server) == [1, 2, 1]
    assert "on Wednesday" in (await stories(database))[1].body and completed((await stories(database))[1])
    [fourth] = (await service.poll(now=NOW + timedelta(minutes=45))).results
    assert fourth.not_modified and [title for _, title in fourth.updated] == ["Story 0"]
    assert pages_requested(server) == [1, 2, 1, 0]
    assert all(completed(article) and article.page_tries_left is None for article in (await stories(database)).values())
