"""`newsbot sources ...` and `newsbot ingest` of feeds and pages, run as a user runs them: real subprocesses.

Each run costs a couple of seconds of start-up, so only the main round trip runs on both backends; the error
paths and ingest use a fresh SQLite file (storage itself is tested on both in test_feed_polling.py)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import Article, Source
from storage.session import Database
from tests.conftest import DATA
from tests.feedserver import FEEDS, FeedServer
from tests.test_cli import clean_env, newsbot


async def rows(db_url: str, model: type) -> list:  # type: ignore[type-arg]
    db = Database.from_url(db_url)
    try:
        async with db.session() as session:
            return list(await session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_sources_add_list_poll_remove(tmp_path: Path, db_url: str, server: FeedServer) -> None:
    env = clean_env(ALLOW_PRIVATE_URLS="true", DATABASE_URL=db_url)
    url = server.serve_file("/world/feed", "rss2-content-encoded.xml", content_type="application/rss+xml")

    code, out, err = await newsbot("sources", "add", url, "--interval", "20", cwd=tmp_path, env=env)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"added source 1: The Harbour Gazette – World <{url}>, polled every 20 min"
    assert lines[1] == "source 1 (The Harbour Gazette – World): 3 new, 0 updated, 0 already stored"
    assert lines[2].startswith("  + article ") and lines[2].endswith(": Storm closes northern ports for a third day")
    assert len(lines) == 5

    code, out, _ = await newsbot("sources", "list", cwd=tmp_path, env=env)
    assert code == 0
    assert out.strip().split("\t") == [
        "1",
        "✅ ok, just now",
        "every 20 min",
        "3 articles",
        f"The Harbour Gazette – World <{url}>",
    ]

    code, out, _ = await newsbot("sources", "poll", cwd=tmp_path, env=env)
    assert code == 0
    assert out.strip().splitlines() == [
        "source 1 (The Harbour Gazette – World): not modified",
        "feed poll: sources=1 added=0 updated=0 failed=0 not_modified=1",
    ]
    assert "If-None-Match" in server.requests_to("/world/feed")[-1].headers

    code, out, _ = await newsbot("sources", "remove", "1", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (0, f"removed source 1: The Harbour Gazette – World <{url}> (its articles are kept)")
    assert len(await rows(db_url, Article)) == 3 and await rows(db_url, Source) == []


def fresh_sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"


async def test_sources_add_refuses_what_is_not_a_feed_and_poll_reports_failures(
    tmp_path: Path, server: FeedServer
) -> None:
    env = clean_env(ALLOW_PRIVATE_URLS="true", DATABASE_URL=fresh_sqlite(tmp_path))
    code, out, err = await newsbot("sources", "list", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (0, "no sources; add one with: newsbot sources add URL"), err
    for command in (["poll", "7"], ["remove", "7"]):
        code, out, err = await newsbot("sources", *command, cwd=tmp_path, env=env)
        assert (code, out, err.strip()) == (1, "", "newsbot: there is no source 7")
    env["FEEDS"] = server.url("/down.xml")
    page = server.serve_file("/story.html", "harbour-reopens.html", content_type="text/html")
    code, out, err = await newsbot("sources", "add", page, cwd=tmp_path, env=env)
    assert code == 1 and out == ""
    assert err.strip().endswith(f"newsbot: cannot use {page} as a source: not a feed: the server sent an HTML page")
    # FEEDS is added (unchecked) by any sources command; polling it fails and says why.
    code, out, _ = await newsbot("sources", "poll", cwd=tmp_path, env=env)
    assert code == 1
    assert out.strip().splitlines() == [
        f"source 1 ({server.url('/down.xml')}): failed: HTTP 404 Not Found",
        "feed poll: sources=1 added=0 updated=0 failed=1 not_modified=0",
    ]
    code, out, _ = await newsbot("sources", "list", cwd=tmp_path, env=env)
    assert "⚠️ 1 failure in a row (since just now)" in out and "\tlast error: HTTP 404 Not Found" in out
    code, _, err = await newsbot("sources", "add", "https://example.org/f", "--interval", "0", cwd=tmp_path, env=env)
    assert code == 2 and "a number of minutes from 1 to 1440" in err


async def test_ingest_takes_feed_and_page_urls_and_files_besides_text(tmp_path: Path, server: FeedServer) -> None:
    db_url = fresh_sqlite(tmp_path)
    env = clean_env(ALLOW_PRIVATE_URLS="true", DATABASE_URL=db_url)
    feed_url = server.serve_file("/lake.json", "jsonfeed.json", content_type="application/feed+json")
    page_url = server.serve_file("/news/harbour-reopens.html", "harbour-reopens.html", content_type="text/html")
    text_file = DATA / "reuters-kremlin-talks.txt"
    code, out, err = await newsbot(
        "ingest", feed_url, page_url, str(FEEDS / "atom-xhtml.xml"), str(FEEDS / "library-hours.html"), str(text_file),
        server.url("/missing.xml"), cwd=tmp_path, env=env,
    )  # fmt: skip
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"stored {feed_url} entry 1 as article 1: Marina expansion approved")
    assert lines[1].startswith(f"stored {feed_url} entry 2 as article 2: Ice fishing season ends early")
    assert lines[2] == f"stored {page_url} as article 3: Harbour reopens after storm"
    assert lines[3].startswith(f"stored {FEEDS / 'atom-xhtml.xml'} entry 1 as article 4: Brücke in Köln & Bonn")
    assert lines[5] == f"stored {FEEDS / 'library-hours.html'} as article 6: Library extends its opening hours"
    assert lines[6].startswith(f"stored {text_file} as article 7: Kremlin calls talks")
    assert lines[7] == f"skipped {server.url('/missing.xml')}: cannot fetch it (HTTP 404 Not Found)"
    stored = await rows(db_url, Article)
    assert stored[0].source == "Lakeside Daily" and stored[0].source_id is None
    assert stored[2].authors == ["Ann Lee"] and "BoatFan99" not in stored[2].body

    # The same feed again, through a URL with tracking parameters: nothing new.
    code, out, _ = await newsbot("ingest", feed_url + "?utm_source=x", cwd=tmp_path, env=env)
    assert code == 0
    assert out.strip().splitlines() == [
        f"skipped {feed_url}?utm_source=x entry 1: already stored as article 1",
        f"skipped {feed_url}?utm_source=x entry 2: already stored as article 2",
    ]
    # A broken feed file is reported, and with nothing readable the exit status is 1.
    (tmp_path / "broken.xml").write_bytes(server.load("empty-channel.xml"))
    code, out, _ = await newsbot("ingest", "broken.xml", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (1, "skipped broken.xml: the feed has no entries (rss20)")
