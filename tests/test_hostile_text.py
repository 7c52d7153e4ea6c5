"""Text that used to break the database or a whole source, end to end on SQLite and PostgreSQL: a JSON Feed
with lone surrogates, NUL bytes, a 50-character language and an entry that fails to convert, polled through
FeedService from a local server; JSON nested 100,000 deep; and `newsbot ingest` / `newsbot sources add` of
such files and feeds in a real subprocess."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from bot.cli import ingest as ingest_cli
from bot.settings import Settings
from ingest.feeds import ParsedFeed
from model.articles import (
    MAX_DATELINE_CHARS,
    MAX_FEED_TITLE_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_URL_CHARS,
    ParsedArticle,
)
from model.identity import MAX_GUID_CHARS
from services.feeds import FeedService
from storage import articles as article_repo
from storage import sources as source_repo
from storage.models import Article, Source
from storage.session import Database
from tests.feedserver import FeedServer
from tests.test_cleantext import explode_on, hostile_json_feed
from tests.test_cli import clean_env, newsbot

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
DEEP_JSON = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
FEED_TITLE = ("Hostile \ufffd Gazette " + "t" * 320)[:MAX_FEED_TITLE_CHARS]


@pytest.fixture
def service(database: Database) -> FeedService:
    return FeedService(
        database,
        clock=lambda: NOW,
        fetch_timeout=2.0,
        max_feed_bytes=256 * 1024,
        default_interval=15,
        allow_private_urls=True,
    )


async def add_source(db: Database, url: str) -> int:
    async with db.session() as session:
        source, _ = await source_repo.add_source(session, url, interval_minutes=15, now=NOW)
        return source.id


async def stored(db_url: str) -> tuple[list[Article], list[Source]]:
    db = Database.from_url(db_url)
    try:
        async with db.session() as session:
            articles = list(await session.scalars(select(Article).order_by(Article.id)))
            sources = list(await session.scalars(select(Source).order_by(Source.id)))
            return articles, sources
    finally:
        await db.dispose()


async def test_the_migrated_columns_hold_what_ingest_cuts_values_to(database: Database) -> None:
    """The schema the migrations built, not the models: ingest's limits are exactly its column sizes."""
    expected = {
        ("articles", "source"): MAX_SOURCE_CHARS, ("articles", "dateline"): MAX_DATELINE_CHARS,
        ("articles", "guid"): MAX_GUID_CHARS, ("articles", "canonical_url"): MAX_URL_CHARS,
        ("sources", "title"): MAX_FEED_TITLE_CHARS, ("sources", "site_url"): MAX_URL_CHARS,
        ("sources", "language"): MAX_LANGUAGE_CHARS, ("sources", "url"): MAX_URL_CHARS,
    }  # fmt: skip

    def lengths(connection):  # type: ignore[no-untyped-def]
        inspector = inspect(connection)
        return {(table, column["name"]): getattr(column["type"], "length", None)
                for table in ("articles", "sources") for column in inspector.get_columns(table)}  # fmt: skip

    async with database.engine.connect() as connection:
        found = await connection.run_sync(lengths)
    assert {key: found[key] for key in expected} == expected
    # What else ingest fills is unbounded text (or JSON lists whose items ingest bounds).
    for column in ("title", "lead", "body", "url"):
        assert found[("articles", column)] is None


# Every control character, both halves of a surrogate pair alone and together, the Unicode line separators, and
# what is valid but odd (noncharacters, the last code point, a tag character, BOM): kept, and storable as it is.
ODD = "\ufffe\uffff\U0010ffff\U000e0001\ufeff"
WORST = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)])) + "\ud83d \udc00 \ud83d\ude00 \u2028\u2029" + ODD


async def test_the_worst_text_is_stored_on_both_databases(database: Database) -> None:
    """Straight to storage, without a parser: what a ParsedArticle and a ParsedFeed hold is always storable."""
    article = ParsedArticle(
        title=WORST + "Title" + "t" * 400, paragraphs=[WORST + "Body.", WORST], source=WORST + "s" * 300,
        authors=[WORST + "Ann"], dateline=WORST + "d" * 300, url="https://e.example/" + WORST, topics=[WORST + "x"],
        guid=WORST + "g" * 600,
    )  # fmt: skip
    feed = ParsedFeed(kind="json11", title=WORST + "f" * 400, site_url="https://e.example/" + WORST + "a" * 3000,
                      language=WORST + "en" * 30)  # fmt: skip
    async with database.session() as session:
        source, _ = await source_repo.add_source(session, "https://e.example/feed.json", interval_minutes=15, now=NOW,
                                                 title=feed.title, site_url=feed.site_url, language=feed.language)  # fmt: skip
        [result] = await article_repo.store_articles(
            session, [(article, "hash")], now=NOW, source_id=source.id, seen_at=NOW
        )
        assert result.created
    [row], [source] = await stored(database_url(database))
    assert row.title == ("\ufffd \ufffd 😀 " + ODD + "Title" + "t" * 400)[:300] and "\x00" not in row.body
    assert "\ufffd \ufffd 😀" in row.body and row.authors == [row.authors[0]] and row.authors[0].endswith("Ann")
    assert len(row.source or "") == MAX_SOURCE_CHARS and len(row.dateline or "") == MAX_DATELINE_CHARS
    assert len(source.title) == MAX_FEED_TITLE_CHARS and source.site_url is None
    assert len(source.language or "") == MAX_LANGUAGE_CHARS


def database_url(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


# ---------------------------------------------------------------------------- polling


async def test_hostile_json_feed_is_stored_clean_and_its_source_stays_ok(
    server: FeedServer, service: FeedService, database: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    explode_on(monkeypatch, "explodes")
    # No validators: every poll reads the whole feed again.
    feed = hostile_json_feed(server.base)
    url = server.serve("/hostile.json", feed, content_type="application/feed+json", etag=False)
    source_id = await add_source(database, url)

    [first] = (await service.poll(now=NOW)).results
    assert first.ok, first.error
    assert len(first.added) == 5 and first.warning == "skipped 1 entry that could not be read"
    [again] = (await service.poll(now=NOW)).results  # nothing about this feed fails a later poll either
    assert again.ok and not again.not_modified and again.added == [] and again.unchanged == 5

    articles, [source] = await stored(db_url)
    assert {a.guid: a.title for a in articles} == {
        "lone": "Lone \ufffd surrogate", "nul": "NUL in the title", "date": "Date out of range",
        "link": "Broken link", "fine": "Ordinary story",
    }  # fmt: skip
    by_guid = {a.guid: a for a in articles}
    assert by_guid["lone"].body == "A lone \ufffd surrogate in the body."
    assert by_guid["lone"].authors == ["Ann \ufffd Lee"]
    assert by_guid["nul"].body == "NUL and \ufffd in HTML.\n\nSecond paragraph." and by_guid["nul"].topics == ["ab"]
    # The source's own title is 300 long; its articles carry it cut to their 200-character column.
    assert all(a.source == FEED_TITLE[:MAX_SOURCE_CHARS] and a.source_id == source_id for a in articles)
    assert source.title == FEED_TITLE and source.language == ("en-GB-x-" + "a" * 42)[:MAX_LANGUAGE_CHARS]
    assert source.consecutive_failures == 0 and source.last_success_at == NOW
    assert source.last_error == "skipped 1 entry that could not be read"  # shown as a note, not as a failure


async def test_json_nested_100000_deep_fails_one_poll_with_one_line(
    server: FeedServer, service: FeedService, database: Database
) -> None:
    deep_id = await add_source(database, server.serve("/deep.json", DEEP_JSON, content_type="application/feed+json"))
    good_id = await add_source(database, server.serve("/ok.json", hostile_json_feed(server.base)))
    summary = await service.poll(now=NOW)
    by_id = {r.source_id: r for r in summary.results}
    assert not by_id[deep_id].ok and by_id[deep_id].error == "not a feed: JSON nested too deeply"
    assert by_id[good_id].ok and len(by_id[good_id].added) == 6


# ---------------------------------------------------------------------------- the command line


async def test_ingest_skips_each_bad_file_with_one_line_and_stores_the_good_ones(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "nul.txt").write_bytes(
        b"Harbour\x00 reopens after storm\n\nBy Ann\x00 Lee\n\nOSLO - The harbour\x00 reopened on Monday.\n\nShips queued.\n"
    )
    (tmp_path / "deep.json").write_bytes(DEEP_JSON)
    (tmp_path / "hostile.json").write_bytes(hostile_json_feed())
    (tmp_path / "only-nul.txt").write_bytes(b"\x00\x00\x00\n\x00")
    (tmp_path / "good.txt").write_text("Library extends hours\n\nThe library opens until ten from Monday.\n")
    names = ["nul.txt", "deep.json", "only-nul.txt", "hostile.json", "good.txt"]
    code, out, err = await newsbot("ingest", *names, cwd=tmp_path, env=clean_env(DATABASE_URL=db_url))

    assert code == 0, err
    assert "Traceback" not in out + err and "Error" not in err
    lines = out.strip().splitlines()
    assert lines[0].startswith("stored nul.txt as article 1: Harbour reopens after storm")
    assert lines[1] == "skipped deep.json: not a feed: JSON nested too deeply"
    assert lines[2].startswith("skipped only-nul.txt: The text is empty")
    assert lines[3:9] == [f"stored hostile.json entry {n} as article {n + 1}: {title}" for n, title in enumerate(
        ["Lone \ufffd surrogate", "NUL in the title", "Date out of range", "Broken link", "Explodes", "Ordinary story"],
        start=1)]  # fmt: skip
    assert lines[9].startswith("stored good.txt as article 8: Library extends hours") and len(lines) == 10

    articles, _ = await stored(db_url)
    assert (articles[0].title, articles[0].authors, articles[0].body) == (
        "Harbour reopens after storm",
        ["Ann Lee"],
        "The harbour reopened on Monday.\n\nShips queued.",
    )
    assert articles[1].source == FEED_TITLE[:MAX_SOURCE_CHARS]


async def test_sources_add_takes_a_hostile_feed_and_refuses_a_deep_one_in_one_line(
    tmp_path: Path, db_url: str, server: FeedServer
) -> None:
    env = clean_env(ALLOW_PRIVATE_URLS="true", DATABASE_URL=db_url)
    deep = server.serve("/deep.json", DEEP_JSON, content_type="application/feed+json")
    code, out, err = await newsbot("sources", "add", deep, cwd=tmp_path, env=env)
    assert (code, out) == (1, "")
    assert err.strip() == f"newsbot: cannot use {deep} as a source: not a feed: JSON nested too deeply"

    hostile = server.serve("/hostile.json", hostile_json_feed(server.base), content_type="application/feed+json")
    code, out, err = await newsbot("sources", "add", hostile, cwd=tmp_path, env=env)
    assert code == 0 and "Traceback" not in out + err, err
    lines = out.strip().splitlines()
    assert lines[0] == f"added source 1: {FEED_TITLE} <{hostile}>, polled every 15 min"
    assert lines[1].startswith(f"source 1 ({FEED_TITLE}): 6 new, 0 updated, 0 already stored")
    _, [source] = await stored(db_url)
    assert source.language == ("en-GB-x-" + "a" * 42)[:MAX_LANGUAGE_CHARS]


def test_ingest_turns_whatever_one_file_raises_into_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure nobody foresaw (here: storage refusing one file) skips that file and the batch goes on."""
    (tmp_path / "first.txt").write_text("Library extends hours\n\nThe library opens until ten from Monday.\n")
    (tmp_path / "second.txt").write_text("Harbour reopens after storm\n\nThe harbour reopened on Monday.\n")
    real = ingest_cli.ingest_feed_or_page

    async def failing(db: Database, name: str, label: str, **options: bool) -> bool | None:
        if name.endswith("first.txt"):
            raise RuntimeError("could not write\x00 \ud83d to disk")
        return await real(db, name, label, **options)

    monkeypatch.setattr(ingest_cli, "ingest_feed_or_page", failing)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    names = [str(tmp_path / "first.txt"), str(tmp_path / "second.txt")]
    assert asyncio.run(ingest_cli.ingest(settings, names)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"skipped {names[0]}: RuntimeError: could not write \ufffd to disk"
    assert lines[1].startswith(f"stored {names[1]} as article 1: Harbour reopens after storm") and len(lines) == 2


async def test_a_source_records_any_error_text_and_ignores_a_redirect_too_long_to_keep(database: Database) -> None:
    """Errors quote servers and parsers: a surrogate, a NUL or 3,000 characters must not make recording fail."""
    async with database.session() as session:
        source, _ = await source_repo.add_source(session, "https://feeds.example/a.xml", interval_minutes=15, now=NOW)
        source_id = source.id
    async with database.session() as session:
        source = await source_repo.get_source(session, source_id)
        assert source is not None
        source_repo.record_failure(source, now=NOW, error="HTTP 500 \ud800 said:\x00 " + "x" * 3_000)
    async with database.session() as session:
        source = await source_repo.get_source(session, source_id)
        assert source is not None and source.last_error is not None
        assert source.last_error.startswith("HTTP 500 \ufffd said: xxx") and len(source.last_error) == 2_000
        source_repo.record_success(
            source,
            now=NOW,
            etag=None,
            last_modified=None,
            note="repaired \x00feed",
            moved_to="https://x.example/" + "a" * 3_000,
        )
    async with database.session() as session:
        source = await source_repo.get_source(session, source_id)
        assert source is not None
        assert (source.url, source.last_error) == ("https://feeds.example/a.xml", "repaired feed")
