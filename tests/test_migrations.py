"""Migrations on a fresh database of each backend: up over existing rows, down and up again, rows kept. The shared test databases only ever go up, so this one makes its own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from model.search import SearchQuery, parse_query
from storage.migrate import alembic_config, downgrade, upgrade
from storage.search import search_article_ids
from storage.session import create_engine
from tests.conftest import _create_postgres_database, _drop_postgres_database, _in_ci

SEARCH_PREVIOUS = "0005"  # the revision before 0006_search
INSERT_ARTICLE = text(
    "INSERT INTO articles (title, lead, body, authors, ingested_at, fingerprint, topics) "
    "VALUES ('Title', 'Lead', 'Lead', '[]', CURRENT_TIMESTAMP, 'fp-1', '[]')"
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    try:
        url = await _create_postgres_database()
    except (OSError, ConnectionError) as exc:
        if _in_ci():
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_0004_adds_page_tries_left_and_goes_down_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(INSERT_ARTICLE)
        await upgrade(engine)
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT page_tries_left FROM articles"))).scalar_one() is None
            await conn.execute(text("UPDATE articles SET page_tries_left = 2"))
            indexes = await conn.run_sync(lambda sync: {i["name"] for i in inspect(sync).get_indexes("articles")})
            assert "ix_articles_source_pending_page" in indexes

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0003"))
        async with engine.begin() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("articles")})
            assert "page_tries_left" not in columns
            assert (await conn.execute(text("SELECT title FROM articles"))).scalar_one() == "Title"

        await upgrade(engine)
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT page_tries_left FROM articles"))).scalar_one() is None
    finally:
        await engine.dispose()


async def test_0005_keeps_sources_public_and_chats_reading_everything_and_goes_down_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO sources (id, url, title, interval_minutes, created_at, consecutive_failures) "
                    "VALUES (1, 'https://example.com/feed', 'Example', 30, CURRENT_TIMESTAMP, 0)"
                )
            )
            await conn.execute(INSERT_ARTICLE)
            await conn.execute(text("UPDATE articles SET source_id = 1"))
            await conn.execute(
                text(
                    "INSERT INTO subscribers (chat_id, chat_type, name, timezone, active, created_at, "
                    "last_article_id) VALUES (5, 'private', 'Ann', 'UTC', true, CURRENT_TIMESTAMP, 0)"
                )
            )
        await upgrade(engine, "0005")
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT public FROM sources"))).scalar_one() in (True, 1)
            row = (await conn.execute(text("SELECT follows_all, topics, filter_terms FROM subscribers"))).one()
            assert row[0] in (True, 1)
            assert [json.loads(v) if isinstance(v, str) else v for v in row[1:]] == [[], []]
            carried = (await conn.execute(text("SELECT article_id, source_id FROM article_sources"))).all()
            assert [tuple(r) for r in carried] == [(1, 1)]
            assert (await conn.execute(text("SELECT source_id FROM articles"))).scalar_one() == 1

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0004"))
        async with engine.begin() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert not {"article_sources", "source_follows", "alerts", "alert_matches"} & tables
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("subscribers")})
            assert "follows_all" not in columns
            assert (await conn.execute(text("SELECT name FROM subscribers"))).scalar_one() == "Ann"
        await upgrade(engine, "0005")
    finally:
        await engine.dispose()


async def _search_ids(engine, words: str) -> list[int]:  # type: ignore[no-untyped-def]
    query = parse_query(words)
    assert isinstance(query, SearchQuery)
    async with AsyncSession(engine) as session:
        return await search_article_ids(session, query, limit=10)


async def test_0006_indexes_articles_stored_before_it_and_goes_down_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, SEARCH_PREVIOUS)
        async with engine.begin() as conn:
            await conn.execute(INSERT_ARTICLE)
            await conn.execute(
                text(
                    "INSERT INTO articles (title, lead, body, authors, ingested_at, fingerprint, topics) "
                    "VALUES ('Sanctions on cafés', 'Lead', 'Body', '[]', CURRENT_TIMESTAMP, 'fp-2', '[]')"
                )
            )
        await upgrade(engine, "0006")
        assert await _search_ids(engine, "cafe sanction") == [2]
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE articles SET title = 'Tariffs on tea' WHERE id = 2"))
        assert await _search_ids(engine, "sanction") == []
        assert await _search_ids(engine, "tariff") == [2]

        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), SEARCH_PREVIOUS))
        async with engine.begin() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert "search_queries" not in tables and "articles_fts" not in tables
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("articles")})
            assert "search_vector" not in columns
            # Rows written while the index is gone are found once it is back.
            await conn.execute(text("UPDATE articles SET title = 'Quotas on rice' WHERE id = 2"))
            await conn.execute(text("DELETE FROM articles WHERE id = 1"))

        await upgrade(engine, "0006")
        assert await _search_ids(engine, "quota rice") == [2]
        assert await _search_ids(engine, "tariff") == []
        assert await _search_ids(engine, "title") == []
    finally:
        await engine.dispose()


async def test_0007_keeps_every_row_that_refers_to_a_chat_and_allows_a_target_per_topic(fresh_url: str) -> None:
    """0007 rebuilds `subscribers` on SQLite: the rows of bulletin_times and deliveries that refer to it survive
    (with foreign keys on during the copy they would be deleted by the cascade)."""
    engine = create_engine(fresh_url)
    insert_chat = (
        "INSERT INTO subscribers (id, chat_id, chat_type, name, timezone, active, created_at, last_article_id) "
        "VALUES ({id}, {chat}, 'supergroup', 'Forum', 'UTC', true, CURRENT_TIMESTAMP, 0)"
    )
    try:
        await upgrade(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(text(insert_chat.format(id=1, chat=-1001)))
            await conn.execute(text("INSERT INTO bulletin_times (subscriber_id, local_time) VALUES (1, '08:00:00')"))
            await conn.execute(
                text(
                    "INSERT INTO deliveries (subscriber_id, chat_id, kind, text, status, attempts, created_at) "
                    "VALUES (1, -1001, 'manual', 'News', 'sent', 1, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(engine, "0007")
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT thread_id FROM subscribers"))).scalar_one() == 0
            assert (await conn.execute(text("SELECT count(*) FROM bulletin_times"))).scalar_one() == 1
            assert (await conn.execute(text("SELECT thread_id FROM deliveries"))).scalar_one() is None
            await conn.execute(
                text(insert_chat.format(id=2, chat=-1001).replace("last_article_id)", "last_article_id, thread_id)")
                     .replace("0)", "0, 7)"))
            )  # fmt: skip
            with pytest.raises(Exception, match="(?i)unique"):
                async with conn.begin_nested():
                    await conn.execute(text(insert_chat.format(id=3, chat=-1001)))

        await downgrade(engine, "0006")
        async with engine.begin() as conn:
            # The topic's row cannot stay (chat ids are unique again); the chat's own row and its rows stay.
            assert (await conn.execute(text("SELECT id FROM subscribers"))).scalars().all() == [1]
            assert (await conn.execute(text("SELECT count(*) FROM bulletin_times"))).scalar_one() == 1
            assert (await conn.execute(text("SELECT count(*) FROM deliveries"))).scalar_one() == 1
        await upgrade(engine)
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM deliveries"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_0009_keeps_each_bulletins_articles_in_order_and_goes_down_again(fresh_url: str) -> None:
    """0009 turns delivery_articles rows into each delivery's article_ids list, in position order; down again, the
    rows come back (but for articles deleted since, which the table's foreign key cannot hold)."""
    engine = create_engine(fresh_url)
    try:
        await upgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(INSERT_ARTICLE)
            for n in (2, 3):
                await conn.execute(text(INSERT_ARTICLE.text.replace("'fp-1'", f"'fp-{n}'")))
            await conn.execute(
                text(
                    "INSERT INTO subscribers (id, chat_id, chat_type, name, timezone, active, created_at, "
                    "last_article_id) VALUES (1, 5, 'private', 'Chat', 'UTC', true, CURRENT_TIMESTAMP, 0)"
                )
            )
            for delivery_id in (1, 2):
                await conn.execute(
                    text(
                        "INSERT INTO deliveries (id, subscriber_id, chat_id, kind, text, status, attempts, created_at) "
                        f"VALUES ({delivery_id}, 1, 5, 'manual', 'News', 'sent', 1, CURRENT_TIMESTAMP)"
                    )
                )
            await conn.execute(
                text(
                    "INSERT INTO delivery_articles (delivery_id, article_id, position) "
                    "VALUES (1, 3, 0), (1, 1, 2), (1, 2, 1)"
                )
            )
        await upgrade(engine, "0009")

        async def article_ids() -> dict[int, list[int]]:
            async with engine.begin() as conn:
                rows = await conn.execute(text("SELECT id, article_ids FROM deliveries ORDER BY id"))
                return {row.id: json.loads(row.article_ids) if isinstance(row.article_ids, str) else row.article_ids
                        for row in rows}  # fmt: skip

        assert await article_ids() == {1: [3, 2, 1], 2: []}
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE deliveries SET article_ids = '[2, 9]' WHERE id = 2"))  # 9: deleted since
        await downgrade(engine, "0008")
        async with engine.begin() as conn:
            links = (
                await conn.execute(
                    text("SELECT delivery_id, article_id FROM delivery_articles ORDER BY delivery_id, position")
                )
            ).all()
        assert [tuple(link) for link in links] == [(1, 3), (1, 2), (1, 1), (2, 2)]
        await upgrade(engine)
        assert await article_ids() == {1: [3, 2, 1], 2: [2]}
    finally:
        await engine.dispose()
