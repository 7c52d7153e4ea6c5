"""Two writers creating the same row at once: the loser gets the winner's row, and its transaction goes on.

The first writer inserts and keeps its transaction open; the second looks, finds nothing committed and inserts
too. On PostgreSQL the second insert waits for the first transaction, then meets the unique key: it must take
the first writer's row instead of failing (storage.session.add_unless_taken).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ingest.types import ParsedArticle
from storage import repositories as repo
from storage.models import Article, Source, Subscriber
from storage.session import Database
from storage.sources import add_source

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
Create = Callable[[AsyncSession, str], Awaitable[int]]  # creates the row with a label; returns its id


async def race(database: Database, create: Create) -> tuple[int, int]:
    other = Database.from_url(database.engine.url.render_as_string(hide_password=False))
    try:
        async with database.session() as first:
            first_id = await create(first, "first")

            async def second_writer() -> int:
                async with other.session() as second:
                    return await create(second, "second")

            racing = asyncio.create_task(second_writer())
            await asyncio.sleep(0.3)  # the second writer is now waiting for this transaction
        return first_id, await asyncio.wait_for(racing, 10)
    finally:
        await other.dispose()


async def count(database: Database, model: type) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_subscriber_created_by_two_writers_at_once_is_one_row(database: Database) -> None:
    async def create(session: AsyncSession, label: str) -> int:
        subscriber = await repo.get_or_create_subscriber(
            session, chat_id=55, chat_type="private", name=label, language="en", default_timezone="UTC"
        )
        await session.flush()
        return subscriber.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Subscriber) == 1
    async with database.session() as session:
        assert (await repo.get_subscriber(session, 55)).name == "second"  # type: ignore[union-attr]


async def test_a_source_added_by_two_writers_at_once_is_one_row(database: Database) -> None:
    async def create(session: AsyncSession, label: str) -> int:
        source, _ = await add_source(session, "https://news.example/feed.xml", interval_minutes=15, now=NOW, title=label)
        return source.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Source) == 1


async def test_an_article_stored_by_two_writers_at_once_is_one_row(database: Database) -> None:
    story = ParsedArticle(title="Harbour park approved", paragraphs=["The council voted 31 to 4."], url="https://news.example/a/1")

    async def create(session: AsyncSession, _label: str) -> int:
        return (await repo.store_article(session, story, now=NOW)).article.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Article) == 1
