"""Settings: list settings written as one environment string (as in .env), commas and/or spaces between items;
the database pool's size."""

from __future__ import annotations

import asyncio
import re
from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import event, text

from bot.settings import load_settings
from storage.session import Database


def test_list_settings_accept_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "5, 7  9,")
    monkeypatch.setenv("FEEDS", "https://a.example/feed, http://b.example/rss https://a.example/feed")
    monkeypatch.setenv("BULLETIN_TIMES", "12:00,07:00 07:00")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == frozenset({5, 7, 9})
    assert settings.feeds == ("https://a.example/feed", "http://b.example/rss")  # order kept, repeats dropped
    assert settings.bulletin_times == (time(7, 0), time(12, 0))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "FEEDS",
            "https://ok.example/feed ftp://files.example/feed",
            "FEEDS takes http(s) URLs; not one: 'ftp://files.example/feed'",
        ),
        ("BULLETIN_TIMES", " , ", "BULLETIN_TIMES needs at least one time like 07:00"),
    ],
)
def test_bad_list_settings_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_settings(_env_file=None)


def test_database_pool_size_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).database_pool_size == 20
    monkeypatch.setenv("DATABASE_POOL_SIZE", "35")
    assert load_settings(_env_file=None).database_pool_size == 35
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="database_pool_size"):
        load_settings(_env_file=None)


async def _opened_by_two_bursts(url: str, pool_size: int | None, burst: int) -> int:
    """Connections the engine opens for two bursts of `burst` units of work at once, one after the other."""
    db = Database.from_url(url, pool_size=pool_size)
    opened = 0

    def on_connect(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine.sync_engine.pool, "connect", on_connect)
    try:
        for _ in range(2):
            ready = asyncio.Barrier(burst)

            async def unit_of_work(ready: asyncio.Barrier = ready) -> None:
                async with db.session() as session:
                    await session.execute(text("SELECT 1"))
                    await ready.wait()  # all of them hold a connection at once

            await asyncio.gather(*(unit_of_work() for _ in range(burst)))
    finally:
        await db.dispose()
    return opened


async def test_a_pool_as_large_as_the_bursts_keeps_its_connections(postgresql_url: str) -> None:
    # With SQLAlchemy's default of 5, the connections past 5 are closed when given back and opened again for the
    # next burst; with the pool the bot sets up, the second burst reuses the first one's.
    assert await _opened_by_two_bursts(postgresql_url, None, burst=12) == 5 + 7 + 7
    assert await _opened_by_two_bursts(postgresql_url, 20, burst=12) == 12


async def test_sqlite_keeps_its_own_pool(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'pool.sqlite3'}", pool_size=50)
    try:
        assert db.engine.sync_engine.pool.size() == 5  # SQLAlchemy's default for a file: pool_size is not applied
    finally:
        await db.dispose()
