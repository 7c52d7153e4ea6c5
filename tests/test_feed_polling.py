"""Polling sources end to end: a local HTTP server, the real fetcher and parser, a real database (SQLite and
PostgreSQL). Time is passed in (`now=`), so backoff and the long-failure report need no sleeping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.admins import admin_reporter
from services.feeds import FeedService
from storage import articles as article_repo
from storage import sources as source_repo
from storage.models import Article, Source
from storage.session import Database
from tests.feedserver import FeedServer

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
RSS2 = "rss2-content-encoded.xml"


@pytest.fixture
def admins_bot() -> RecordingBot:
    """What the service's reports to admins 7 and 8 send."""
    return RecordingBot()


@pytest.fixture
def service(database: Database, admins_bot: RecordingBot) -> FeedService:
    return FeedService(
        database, clock=lambda: NOW, fetch_timeout=1.0, max_feed_bytes=256 * 1024, default_interval=15,
        allow_private_urls=True, report_to_admins=admin_reporter(admins_bot, [7, 8]),  # type: ignore[arg-type]
    )  # fmt: skip


async def add_source(db: Database, url: str, interval: int = 15) -> int:
    async with db.session() as session:
        source, _ = await source_repo.add_source(session, url, interval_minutes=interval, now=NOW)
        return source.id


async def source_row(db: Database, source_id: int) -> Source:
    async with db.session() as session:
        source = await session.get(Source, source_id)
        assert source is not None
        return source


async def articles(db: Database) -> list[Article]:
    async with db.session() as session:
        return list(await session.scalars(select(Article).order_by(Article.id)))


async def article_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Article)) or 0)


class RecordingBot:
    """Just enough of telegram.Bot for the admin reports: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send_message(self, chat_id: int, text: str, **_: object) -> None:
        self.sent.append((chat_id, text))


# ---------------------------------------------------------------------------- formats and de-duplication


async def test_first_poll_stores_every_entry_second_poll_is_conditional_and_adds_nothing(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    url = server.serve_file("/world/feed", RSS2, content_type="application/rss+xml; charset=UTF-8",
                            last_modified="Mon, 02 Mar 2026 09:15:00 GMT", gzip=True)  # fmt: skip
    source_id = await add_source(database, url)

    first = await service.poll(now=NOW)
    [result] = first.results
    assert result.ok and len(result.added) == 3 and result.unchanged == 0
    stored = await articles(database)
    storm = stored[0]
    assert storm.title == "Storm closes northern ports for a third day"
    assert storm.source == "The Harbour Gazette – World" and storm.source_id == source_id
    assert storm.authors == ["Ann Lee"] and storm.topics == ["Weather", "Shipping"]
    assert storm.published_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert storm.canonical_url == "https://gazette.example/world/2026/03/02/storm-closes-ports/"
    assert storm.guid == "https://gazette.example/?p=48211"
    assert storm.lead.startswith("Ferries stayed in harbour on Monday")
    assert server.requests_to("/world/feed")[0].headers.get("Accept-Encoding", "").find("gzip") >= 0

    source = await source_row(database, source_id)
    assert source.title == "The Harbour Gazette – World" and source.language == "en-GB"
    assert source.last_success_at == NOW and source.consecutive_failures == 0 and source.last_error is None
    assert source.etag and source.last_modified == "Mon, 02 Mar 2026 09:15:00 GMT"
    assert source.next_poll_at == NOW + timedelta(minutes=15)

    later = NOW + timedelta(minutes=15)
    second = await service.poll(now=later)
    assert second.results[0].not_modified and second.added == 0
    conditional = server.requests_to("/world/feed")[1].headers
    assert conditional["If-None-Match"] == source.etag
    assert conditional["If-Modified-Since"] == "Mon, 02 Mar 2026 09:15:00 GMT"
    assert await article_count(database) == 3
    assert (await source_row(database, source_id)).last_success_at == later


async def test_every_format_is_ingested(server: FeedServer, service: FeedService, database: Database) -> None:
    for path, name, kind in [
        ("/atom.xml", "atom-xhtml.xml", "application/atom+xml"),
        ("/rss1.rdf", "rss1-rdf.xml", "application/rdf+xml"),
        ("/feed.json", "jsonfeed.json", "application/feed+json"),
        ("/volga.xml", "cp1251-news.xml", "application/rss+xml; charset=utf-8"),  # wrong charset
        ("/volga-bare.xml", "cp1251-news.xml", None),  # no Content-Type at all
    ]:
        await add_source(database, server.serve_file(path, name, content_type=kind))
    summary = await service.poll(now=NOW)
    assert summary.failed == 0
    by_path = {r.url.removeprefix(server.base): r for r in summary.results}
    assert [len(by_path[p].added) for p in ("/atom.xml", "/rss1.rdf", "/feed.json")] == [2, 2, 2]
    # Both Volga sources carry the same story (polled concurrently: either may store it first).
    volga_results = [by_path["/volga.xml"], by_path["/volga-bare.xml"]]
    assert sorted((len(r.added), r.unchanged) for r in volga_results) == [(0, 1), (1, 0)]
    assert by_path["/volga.xml"].warning and "windows-1251" in by_path["/volga.xml"].warning
    titles = {a.title for a in await articles(database)}
    assert {"Brücke in Köln & Bonn wieder offen", "Glacier survey finds record retreat",
            "Marina expansion approved after long debate", "На Волге открылась навигация"} <= titles  # fmt: skip
    volga = await source_row(database, 4)
    assert volga.consecutive_failures == 0 and volga.last_error and volga.last_error.startswith("the server declares")


async def test_short_summaries_are_completed_from_the_article_page(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    server.serve_file("/news/harbour-reopens.html", "harbour-reopens.html", content_type="text/html; charset=utf-8")
    server.serve_file("/feeds/news/library-hours.html", "library-hours.html", content_type="text/html")
    # /news/gone-page.html is not served: 404, so that entry keeps its summary.
    await add_source(database, server.serve_file("/feeds/town.xml", "undated-relative.xml", content_type="text/xml"))
    [result] = (await service.poll(now=NOW)).results
    assert result.ok and len(result.added) == 3
    harbour, library, bakery = await articles(database)
    assert harbour.title == "Harbour reopens after storm"
    assert harbour.body.startswith("Millbrook harbour reopened on Monday morning")
    assert len(harbour.body.split("\n\n")) == 4 and "BoatFan99" not in harbour.body and "cookies" not in harbour.body
    assert harbour.authors == ["Ann Lee"]
    assert harbour.published_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # from the page
    assert library.authors == ["Sam Patel"] and library.body.startswith("Millbrook library will stay open")
    assert library.published_at == NOW  # no date in the feed nor the page: the time it was seen
    assert library.canonical_url == f"{server.base}/feeds/news/library-hours.html"  # utm_source dropped
    assert bakery.body == "The Hartley family bakery closes its doors on Saturday." and bakery.published_at == NOW
    assert len(server.requests_to("/news/gone-page.html")) == 1

    # The feed changes (a new entry): known entries are not fetched again.
    pages_before = len([r for r in server.requests if r.path.endswith(".html")])
    server.serve("/feeds/town.xml", server.load("undated-relative.xml").replace(
        b"<item>", b"<item><title>Ferry timetable changes</title><link>/news/ferry.html</link>"
                   b"<description>New times from June.</description></item><item>", 1), content_type="text/xml")  # fmt: skip
    [result] = (await service.poll(now=NOW + timedelta(hours=1))).results
    assert [title for _, title in result.added] == ["Ferry timetable changes"] and result.unchanged == 3
    assert len([r for r in server.requests if r.path.endswith(".html")]) == pages_before + 1


async def test_same_story_from_two_sources_and_over_time_is_stored_once(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    original = server.load(RSS2)
    await add_source(database, server.serve("/a.xml", original))
    # Another feed links the same stories without tracking parameters, with other GUIDs and a changed text for one:
    # the canonical URL says it is the same story.
    mirror = (original.replace(b"?utm_source=rss&amp;utm_medium=rss&amp;utm_campaign=storm", b"")
              .replace(b"?p=", b"?mirror=").replace(b"leaving hundreds", b"stranding hundreds"))  # fmt: skip
    await add_source(database, server.serve("/b.xml", mirror))
    # A third carries the fishing story's exact text under a different URL: the fingerprint says it is the same.
    copy = b"""<rss version="2.0"><channel><title>Copycat</title><item><title>Fishing fleet counts the cost &lt;of&gt; a lost week</title>
      <link>https://copycat.example/fishing</link><guid>copy-1</guid><description><![CDATA[<p>Skippers in the northern fleet say a week tied up in port has wiped out a month&#8217;s profit, and some crews have already left for work ashore.</p>
      <ul><li>Landings are down 40% on last March.</li><li>Fuel prices rose again in February.</li></ul>
      <p>The fishermen&#8217;s association will meet ministers on Thursday.</p>]]></description></item></channel></rss>"""
    await add_source(database, server.serve("/c.xml", copy))
    summary = await service.poll([1], now=NOW)
    assert summary.added == 3
    summary = await service.poll([2, 3], now=NOW)
    assert summary.added == 0 and summary.updated == 0
    assert await article_count(database) == 3
    assert {a.source_id for a in await articles(database)} == {1}


async def test_changed_entry_updates_in_place_and_a_new_guid_alone_changes_nothing(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    original = server.load(RSS2)
    await add_source(database, server.serve("/feed.xml", original))
    await service.poll(now=NOW)
    before = {a.title: a for a in await articles(database)}

    # The publisher re-issues a GUID: same story, no new article.
    server.serve("/feed.xml", original.replace(b"?p=48190", b"?p=77777"))
    [result] = (await service.poll(now=NOW + timedelta(minutes=15))).results
    assert result.added == [] and result.updated == [] and await article_count(database) == 3

    # The publisher corrects the storm story: the same row changes.
    corrected = original.replace(b"for a third day, leaving", b"for a fourth day, leaving").replace(
        b"Storm closes northern ports for a third day</title>", b"Storm closes northern ports for a fourth day</title>"
    )
    server.serve("/feed.xml", corrected)
    later = NOW + timedelta(minutes=30)
    [result] = (await service.poll(now=later)).results
    storm_id = before["Storm closes northern ports for a third day"].id
    assert result.updated == [(storm_id, "Storm closes northern ports for a fourth day")] and result.added == []
    after = {a.id: a for a in await articles(database)}
    assert len(after) == 3
    assert after[storm_id].title == "Storm closes northern ports for a fourth day"
    assert "for a fourth day, leaving" in after[storm_id].lead
    assert after[storm_id].updated_at == later and after[storm_id].ingested_at == NOW

    # Polling the corrected feed again changes nothing more.
    server.serve("/feed.xml", corrected + b"\n")  # new ETag, same entries
    [result] = (await service.poll(now=later + timedelta(minutes=15))).results
    assert result.added == [] and result.updated == [] and result.unchanged == 3


# ---------------------------------------------------------------------------- failures


async def test_each_kind_of_failure_is_recorded_and_other_sources_are_unaffected(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    good = await add_source(database, server.serve_file("/good.xml", RSS2))
    never = asyncio.Event()  # the slow feed is answered only after the poll: the fetch's 1 s timeout ends it
    cases = {
        await add_source(database, server.url("/missing.xml")): "HTTP 404",
        await add_source(database, server.serve("/broken.xml", status=500)): "HTTP 500",
        await add_source(database, server.serve_file("/slow.xml", RSS2, hold=never)): "timed out after 1 s",
        await add_source(database, server.serve_file("/home.html", "not-a-feed.html", content_type="text/html")):
            "not a feed: the server sent an HTML page",
        await add_source(database, server.serve("/huge.xml", endless=True)): "response too large",
        await add_source(database, server.serve_file("/empty.xml", "empty-channel.xml")): "the feed has no entries",
        await add_source(database, server.serve("/blank.xml", b"")): "empty response",
        await add_source(database, server.serve("/binary.xml", b"\x00\x01\x02\xff\xfe garbage")): "not a feed",
    }  # fmt: skip
    try:
        summary = await service.poll(now=NOW)
    finally:
        never.set()
    assert summary.failed == len(cases) and summary.added == 3
    for source_id, message in cases.items():
        source = await source_row(database, source_id)
        assert source.last_error is not None and message in source.last_error, (source.url, source.last_error)
        assert source.consecutive_failures == 1 and source.failing_since == NOW
        assert source.next_poll_at == NOW + timedelta(minutes=15)
    assert (await source_row(database, good)).consecutive_failures == 0
    assert {a.source_id for a in await articles(database)} == {good}


async def test_a_failure_while_storing_leaves_nothing_half_written(
    server: FeedServer, service: FeedService, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = await add_source(database, server.serve_file("/feed.xml", RSS2))
    real_store = article_repo.store_articles

    async def store_then_fail(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        await real_store(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("disk on fire")  # after every article was written in this transaction

    monkeypatch.setattr(article_repo, "store_articles", store_then_fail)
    [result] = (await service.poll(now=NOW)).results
    assert not result.ok and "RuntimeError: disk on fire" in (result.error or "")
    assert await article_count(database) == 0  # rolled back with the rest
    source = await source_row(database, source_id)
    assert source.consecutive_failures == 1 and source.etag is None  # validators not kept: next poll refetches

    monkeypatch.setattr(article_repo, "store_articles", real_store)
    [result] = (await service.poll(now=NOW + timedelta(minutes=15))).results
    assert result.ok and len(result.added) == 3


async def test_backoff_grows_is_capped_and_the_source_recovers_by_itself(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    source_id = await add_source(database, server.serve("/flaky.xml", status=503))
    now = NOW
    waits = []
    for _ in range(7):
        summary = await service.poll_due(now=now)
        assert summary.failed == 1
        source = await source_row(database, source_id)
        assert source.next_poll_at is not None
        waits.append(source.next_poll_at - now)
        # Not due before its time: nothing is polled.
        assert (await service.poll_due(now=source.next_poll_at - timedelta(seconds=1))).results == []
        now = source.next_poll_at
    assert waits == [timedelta(minutes=m) for m in (15, 30, 60, 120, 240, 360, 360)]

    server.serve_file("/flaky.xml", RSS2)
    [result] = (await service.poll_due(now=now)).results
    assert result.ok and len(result.added) == 3 and not result.recovered  # never reported, so no "recovered"
    source = await source_row(database, source_id)
    assert (source.consecutive_failures, source.failing_since, source.last_error) == (0, None, None)
    assert source.next_poll_at == now + timedelta(minutes=15)


async def test_long_failure_is_reported_once_to_admins_and_recovery_too(
    server: FeedServer, service: FeedService, database: Database, admins_bot: RecordingBot
) -> None:
    # Every 5 minutes: ten failures (backoff 5, 10, ... 320, then 360 min) come before 24 hours have passed.
    source_id = await add_source(database, server.serve("/down.xml", status=500), interval=5)
    bot = admins_bot
    now = NOW
    for _ in range(1, 10):
        await service.poll_due(now=now)
        assert await service.report(now=now) == 0
        now = (await source_row(database, source_id)).next_poll_at  # type: ignore[assignment]
    assert bot.sent == [] and now - NOW < timedelta(hours=24)
    await service.poll_due(now=now)  # the tenth failure in a row
    assert await service.report(now=now) == 1
    assert [chat for chat, _ in bot.sent] == [7, 8]
    assert "Source #1 keeps failing" in bot.sent[0][1] and "HTTP 500" in bot.sent[0][1]
    assert server.url("/down.xml") in bot.sent[0][1]
    assert (await source_row(database, source_id)).reported_at == now

    # Still failing: not reported again.
    now = (await source_row(database, source_id)).next_poll_at  # type: ignore[assignment]
    await service.poll_due(now=now)
    assert await service.report(now=now) == 0
    assert len(bot.sent) == 2

    # It works again: admins hear so, and a later streak would be reported afresh.
    server.serve_file("/down.xml", RSS2)
    now = (await source_row(database, source_id)).next_poll_at  # type: ignore[assignment]
    summary = await service.poll_due(now=now)
    assert summary.results[0].recovered
    await service.report(summary.results, now=now)
    assert [text for _, text in bot.sent[2:]] == ["✅ Source #1 works again: The Harbour Gazette – World"] * 2
    assert (await source_row(database, source_id)).reported_at is None


async def test_a_day_of_failures_is_reported_even_with_few_attempts(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    source_id = await add_source(database, server.url("/never.xml"), interval=600)
    await service.poll_due(now=NOW)
    assert await service.report(now=NOW + timedelta(hours=23)) == 0
    await service.poll_due(now=NOW + timedelta(hours=24))
    assert await service.report(now=NOW + timedelta(hours=24)) == 1
    source = await source_row(database, source_id)
    assert source.consecutive_failures == 2 and source.reported_at is not None


async def test_permanent_redirect_updates_the_url_temporary_does_not(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    target = server.serve_file("/new/feed.xml", RSS2)
    moved = await add_source(database, server.serve("/old/feed.xml", status=301, redirect_to="/new/feed.xml"))
    server.serve_file("/elsewhere.xml", "jsonfeed.json", content_type="application/feed+json")
    temporary = await add_source(database, server.serve("/temp.xml", status=302, redirect_to="/elsewhere.xml"))
    summary = await service.poll(now=NOW)
    assert summary.failed == 0 and summary.added == 5
    assert (await source_row(database, moved)).url == target
    assert (await source_row(database, temporary)).url == server.url("/temp.xml")


async def test_add_checks_the_url_follows_a_page_to_its_feed_and_polls(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    from services.feeds import SourceError

    server.serve_file("/feeds/undated-relative.xml", "undated-relative.xml")
    home = server.serve_file("/", "not-a-feed.html", content_type="text/html")
    source, result = await service.add(home)
    assert source.url == server.url("/feeds/undated-relative.xml") and source.title == "Millbrook Town News"
    assert source.interval_minutes == 15
    assert result is not None and result.ok and len(result.added) == 3
    again, nothing = await service.add(server.url("/feeds/undated-relative.xml"))
    assert again.id == source.id and nothing is None

    with pytest.raises(SourceError, match="HTTP 404"):
        await service.add(server.url("/nothing-here.xml"))
    with pytest.raises(SourceError, match="not a feed"):
        await service.add(server.serve_file("/page.html", "harbour-reopens.html", content_type="text/html"))
    async with database.session() as session:
        assert len(await source_repo.list_sources(session)) == 1


async def test_removing_a_source_keeps_its_articles(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    source_id = await add_source(database, server.serve_file("/feed.xml", RSS2))
    await service.poll(now=NOW)
    removed = await service.remove(source_id)
    assert removed is not None and removed.title == "The Harbour Gazette – World"
    stored = await articles(database)
    assert len(stored) == 3 and {a.source_id for a in stored} == {None}
    assert await service.remove(source_id) is None


async def test_sources_from_settings_are_added_once(service: FeedService, database: Database) -> None:
    created = await service.ensure_sources(["https://a.example/feed", "https://b.example/rss"])
    assert [s.url for s in created] == ["https://a.example/feed", "https://b.example/rss"]
    assert await service.ensure_sources(["https://a.example/feed"]) == []
    async with database.session() as session:
        rows = await source_repo.list_sources(session)
        assert [(s.interval_minutes, s.next_poll_at) for s in rows] == [(15, None), (15, None)]
        assert len(await source_repo.due_source_ids(session, NOW)) == 2
