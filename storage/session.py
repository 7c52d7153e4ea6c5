"""Engine and session factory. The unit of work (one session, committed at its edge) is `Database.session()`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# Connections opened past the pool's size for a burst; they are closed when given back to a full pool.
MAX_OVERFLOW = 10


def create_engine(url: str, *, pool_size: int | None = None, **kwargs: Any) -> AsyncEngine:
    """`pool_size`: the connections kept open (PostgreSQL; SQLite keeps its default). It should cover the
    database work one process does at once in its busy moments: past it, every burst opens connections that are
    closed again when given back (on PostgreSQL a server process forked and asyncpg's set-up each time, in the
    request that waits for it). Two webhook instances at 100 updates a second each opened about ten a second
    with SQLAlchemy's default of 5: p99 reply latency 264 ms, the median 8 ms. With 20, they held 240 a second
    at p99 28 ms (bench/webhook_bench.py)."""
    sqlite = url.startswith("sqlite")
    if sqlite:
        # A writer waits for the lock instead of failing at once when a CLI command and the bot overlap.
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    elif pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=MAX_OVERFLOW)
    engine = create_async_engine(url, pool_pre_ping=not sqlite, **kwargs)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_engine(url, **kwargs))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block succeeds, rolls back when it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection outside any transaction (autocommit), for work that is one statement: on PostgreSQL no
        BEGIN and COMMIT around it, two round trips fewer than a unit of work. Each statement commits as it runs."""
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def dispose(self) -> None:
        await self.engine.dispose()


_Row = TypeVar("_Row")


async def add_unless_taken(
    session: AsyncSession, row: _Row, find_taken: Callable[[], Awaitable[_Row | None]]
) -> tuple[_Row, bool]:
    """Insert `row`; if another writer stored the same unique key first, return theirs (`find_taken`).

    The insert runs in a savepoint, so losing that race does not abort the caller's transaction.
    Returns (row, created). An integrity error with nothing to find is a real error and is raised.
    """
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        taken = await find_taken()
        if taken is None:
            raise
        return taken, False
    return row, True
