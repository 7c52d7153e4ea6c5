"""/sources, /addsource, /removesource through the real Application and the fake Bot API, and the feeds job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.app import FEEDS_JOB
from storage import sources as source_repo
from storage.models import Article
from tests.conftest import RunningBot
from tests.feedserver import FeedServer

ADMIN = 999  # conftest's settings make user 999 the admin
USER = 4242


async def article_count(bot: RunningBot) -> int:
    async with bot.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Article)) or 0)


async def test_source_commands_are_refused_to_everyone_but_admins(bot: RunningBot, server: FeedServer) -> None:
    url = server.serve_file("/feed.xml", "rss2-content-encoded.xml")
    for command in [f"/addsource {url}", "/removesource 1", "/publish 1", "/unpublish 1"]:
        [reply] = await bot.ask(USER, command)
        assert reply.visible_text == "Sorry, only the bot's admins can manage news sources."
    # Everyone may list the sources they can follow; admins get the health view instead.
    [reply] = await bot.ask(USER, "/sources")
    assert reply.visible_text.startswith("There are no sources yet. Add a feed of your own with /add")
    # In a group, an admin is recognised by their user id, anyone else is not.
    [reply] = await bot.ask(-100777, f"/addsource@{bot.api.bot_username} {url}", chat_type="group", user_id=USER)
    assert reply.visible_text.startswith("Sorry, only")
    [reply] = await bot.ask(-100777, f"/sources@{bot.api.bot_username}", chat_type="group", user_id=ADMIN)
    assert reply.visible_text.startswith("No sources yet.")
    assert server.requests == [] and await article_count(bot) == 0


async def test_admin_adds_lists_and_removes_a_source(bot: RunningBot, server: FeedServer) -> None:
    url = server.serve_file("/feed.xml", "rss2-content-encoded.xml")
    [reply] = await bot.ask(ADMIN, "/sources")
    assert reply.visible_text == "No sources yet. Add a feed with /addsource <URL>."

    [added] = await bot.ask(ADMIN, f"/addsource {url} 30")
    lines = added.visible_text.splitlines()
    assert lines[0] == "✅ Added source #1 The Harbour Gazette – World, polled every 30 min."
    assert lines[1] == "3 new articles stored."
    assert lines[2].startswith("• Storm closes northern ports for a third day /read_")
    assert "• Fishing fleet counts the cost <of> a lost week /read_" in added.visible_text
    assert "&lt;of&gt;" in added.text  # feed text is escaped on the wire
    assert await article_count(bot) == 3

    [again] = await bot.ask(ADMIN, f"/addsource {url}")
    assert again.visible_text == "Already a source: #1 The Harbour Gazette – World"

    [listing] = await bot.ask(ADMIN, "/sources")
    text = listing.visible_text
    assert text.startswith("Sources (1)\n\n#1 The Harbour Gazette – World\n" + url + "\n")
    assert "✅ ok, just now · every 30 min · 3 articles" in text

    [removed] = await bot.ask(ADMIN, "/removesource 1")
    assert removed.visible_text == "🗑 Removed source #1 The Harbour Gazette – World. Its articles stay readable."
    [gone] = await bot.ask(ADMIN, "/removesource 1")
    assert gone.visible_text == "There is no source #1. /sources lists them."
    assert await article_count(bot) == 3


async def test_addsource_explains_what_is_wrong(bot: RunningBot, server: FeedServer) -> None:
    [reply] = await bot.ask(ADMIN, f"/addsource {server.url('/nothing.xml')}")
    assert reply.visible_text == f"❌ cannot use {server.url('/nothing.xml')} as a source: HTTP 404 Not Found"
    page = server.serve_file("/story.html", "harbour-reopens.html", content_type="text/html")
    [reply] = await bot.ask(ADMIN, f"/addsource {page}")
    assert reply.visible_text.endswith("not a feed: the server sent an HTML page")
    for bad in ["/addsource", "/addsource a b c", f"/addsource {page} 0", f"/addsource {page} soon"]:
        [reply] = await bot.ask(ADMIN, bad)
        assert reply.visible_text.startswith("Usage: /addsource <URL> [minutes]")
    for bad in ["/removesource", "/removesource one", "/removesource 1 2"]:
        [reply] = await bot.ask(ADMIN, bad)
        assert reply.visible_text == "Usage: /removesource <id>. /sources lists the ids."
    async with bot.db.session() as session:
        assert await source_repo.list_sources(session) == []


async def test_the_feeds_job_polls_due_sources_and_reports_long_failures_to_admins(
    bot: RunningBot, server: FeedServer
) -> None:
    now = datetime.now(UTC)
    good = server.serve_file("/good.xml", "jsonfeed.json", content_type="application/feed+json")
    async with bot.db.session() as session:
        await source_repo.add_source(session, good, interval_minutes=15, now=now)
        broken, _ = await source_repo.add_source(session, server.url("/broken.xml"), interval_minutes=15, now=now)
        broken.title = "Broken <b>Feed</b>"
        broken.consecutive_failures = 9
        broken.failing_since = now - timedelta(hours=3)
    application = bot.application
    [job] = application.job_queue.get_jobs_by_name(FEEDS_JOB)  # type: ignore[attr-defined]
    await job.run(application)  # type: ignore[arg-type]
    await bot.services.feeds.wait_idle()  # the job starts the polls; they run as tasks of their own

    assert await article_count(bot) == 2
    [report] = await bot.api.wait_for_messages(ADMIN, 1)
    assert report.visible_text.startswith("⚠️ Source #2 keeps failing\nBroken <b>Feed</b>\n")
    assert "10 failures in a row, the first 3 h ago." in report.visible_text
    assert "Last error: HTTP 404 Not Found" in report.visible_text
    async with bot.db.session() as session:
        row = await source_repo.get_source(session, broken.id)
        assert row is not None and row.reported_at is not None

    # The next run polls nothing (not due yet) and reports nothing again.
    await job.run(application)  # type: ignore[arg-type]
    await bot.services.feeds.wait_idle()
    assert len(bot.api.sent(ADMIN)) == 1
    [listing] = await bot.ask(ADMIN, "/sources")
    assert "Sources (2, 1 failing)" in listing.visible_text
    assert "⛔ 10 failures in a row (since 3 h ago)" in listing.visible_text
    assert "last error: HTTP 404 Not Found" in listing.visible_text


async def test_feeds_from_settings_are_added_by_the_first_job_run(
    fake_api,
    db_url: str,
    server: FeedServer,  # type: ignore[no-untyped-def]
) -> None:
    from tests.conftest import Clock, start_bot

    url = server.serve_file("/configured.xml", "atom-xhtml.xml", content_type="application/atom+xml")
    async with start_bot(fake_api, db_url, Clock(), feeds=(url,)) as running:
        [job] = running.application.job_queue.get_jobs_by_name(FEEDS_JOB)  # type: ignore[attr-defined]
        await job.run(running.application)  # type: ignore[arg-type]
        await running.services.feeds.wait_idle()
        async with running.db.session() as session:
            [source] = await source_repo.list_sources(session)
        assert source.url == url and source.title == "Rheinblick Nachrichten"
        assert await article_count(running) == 2


async def test_feeds_from_settings_exist_as_soon_as_the_bot_starts(fake_api, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import Clock, start_bot

    url = "http://127.0.0.1:9/never-polled.xml"
    async with start_bot(fake_api, db_url, Clock(), feeds=(url,)) as running, running.db.session() as session:
        [source] = await source_repo.list_sources(session)
    assert source.url == url and source.last_success_at is None
