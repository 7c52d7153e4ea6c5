"""Two writers creating the same row at once: the loser gets the winner's row, and its transaction goes on.

The first writer inserts and keeps its transaction open; the second looks, finds nothing committed and inserts
too. On PostgreSQL the second insert waits for the first transaction, then meets the unique key: it must take
the first writer's row instead of failing (storage.session.add_unless_taken). On SQLite an insert would wait for
the single write lock instead; but there today the first writer's row is committed as its savepoint ends (see
_blocked), so the second finds it: SQLite checks the outcome only, not the race.

The first writer commits only once the second is known to be waiting (seen in pg_locks on PostgreSQL), not
after a pause that a loaded machine may not honour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from model.articles import ParsedArticle
from storage import articles as article_repo
from storage import subscribers as subscriber_repo
from storage.models import Article, Source, Subscriber
from storage.session import Database
from storage.sources import add_source

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
Create = Callable[[AsyncSession, str], Awaitable[int]]  # creates the row with a label; returns its id
WAIT = 10.0  # seconds; only a failing test waits this long


async def race(database: Database, create: Create) -> tuple[int, int]:
    other = Database.from_url(database.engine.url.render_as_string(hide_password=False))
    inserting = _watch_inserts(other)
    try:
        async with database.session() as first:
            first_id = await create(first, "first")

            async def second_writer() -> int:
                async with other.session() as second:
                    return await create(second, "second")

            racing = asyncio.create_task(second_writer())
            await asyncio.wait_for(_blocked(database, inserting, racing), WAIT)
        return first_id, await asyncio.wait_for(racing, WAIT)
    finally:
        await other.dispose()


def _watch_inserts(other: Database) -> asyncio.Future[int | None]:
    """Resolves when `other` sends its first INSERT (by then it has looked and found nothing committed), with
    the server process id of its connection on PostgreSQL."""
    inserting: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def before_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and not inserting.done():
            driver = conn.connection.driver_connection
            inserting.set_result(driver.get_server_pid() if conn.dialect.name == "postgresql" else None)

    event.listen(other.engine.sync_engine, "before_cursor_execute", before_execute)
    return inserting


async def _blocked(database: Database, inserting: asyncio.Future[int | None], racing: asyncio.Task[int]) -> None:
    """Return once the second writer waits for the first writer's open transaction (on SQLite: or has finished,
    having found the first writer's row already committed)."""
    await asyncio.wait([inserting, racing], return_when=asyncio.FIRST_COMPLETED)
    if database.engine.dialect.name == "sqlite":
        # No lock table to look in: once the insert is sent, the single write lock is the first writer's until it
        # commits, so the insert cannot get ahead of that commit. And today the second writer finds the row
        # without inserting: pysqlite ends the transaction when the first writer's outermost savepoint (in
        # add_unless_taken) is released, so that row is committed before the first writer's block ends.
        return
    assert not racing.done(), "the second writer did not wait for the first"
    pid = inserting.result()
    # From a third connection: the second writer's insert waits on a lock the first transaction holds.
    waiting = text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :pid AND NOT granted)")
    async with database.engine.connect() as watcher:
        while not await watcher.scalar(waiting, {"pid": pid}):
            assert not racing.done(), "the second writer did not wait for the first"
            await asyncio.sleep(0.01)


async def count(database: Database, model: type) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_subscriber_created_by_two_writers_at_once_is_one_row(database: Database) -> None:
    async def create(session: AsyncSession, label: str) -> int:
        subscriber = await subscriber_repo.get_or_create_subscriber(
            session, chat_id=55, chat_type="private", name=label, language="en", default_timezone="UTC"
        )
        await session.flush()
        return subscriber.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Subscriber) == 1
    async with database.session() as session:
        assert (await subscriber_repo.get_subscriber(session, 55)).name == "second"  # type: ignore[union-attr]


async def test_a_source_added_by_two_writers_at_once_is_one_row(database: Database) -> None:
    async def create(session: AsyncSession, label: str) -> int:
        source, _ = await add_source(
            session, "https://news.example/feed.xml", interval_minutes=15, now=NOW, title=label
        )
        return source.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Source) == 1


async def test_an_article_stored_by_two_writers_at_once_is_one_row(database: Database) -> None:
    story = ParsedArticle(
        title="Harbour park approved", paragraphs=["The council voted 31 to 4."], url="https://news.example/a/1"
    )

    async def create(session: AsyncSession, _label: str) -> int:
        return (await article_repo.store_article(session, story, now=NOW)).article.id

    first_id, second_id = await race(database, create)
    assert first_id == second_id and await count(database, Article) == 1
